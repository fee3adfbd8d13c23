// SPDX-License-Identifier: Apache-2.0
// DMARC (RFC 7489): the policy record, organizational domains from the public
// suffix list, identifier alignment, and a sans-IO evaluator that finds the
// policy with DNS answers it is fed (§6.6.3) and decides the disposition.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "dns/records.hpp"
#include "mailauth/auth_result.hpp"
#include "mailauth/dkim_verifier.hpp"

namespace tern::mailauth {

enum class DmarcPolicy : std::uint8_t { kNone, kQuarantine, kReject };

// "none", "quarantine", "reject".
std::string_view dmarc_policy_name(DmarcPolicy policy);

// adkim= / aspf= (RFC 7489 §3.1): relaxed compares organizational domains,
// strict the exact names.
enum class DmarcAlignment : std::uint8_t { kRelaxed, kStrict };

struct DmarcRecord {
  DmarcPolicy policy = DmarcPolicy::kNone;                   // p=
  std::optional<DmarcPolicy> subdomain_policy;               // sp=
  int percent = 100;                                         // pct= 0..100
  DmarcAlignment dkim_alignment = DmarcAlignment::kRelaxed;  // adkim=
  DmarcAlignment spf_alignment = DmarcAlignment::kRelaxed;   // aspf=
  std::vector<std::string> aggregate_uris;                   // rua=, as written
  std::vector<std::string> failure_uris;                     // ruf=
  std::string failure_options = "0";                         // fo=
  std::uint32_t report_interval = 86400;                     // ri=, seconds
};

// True if a TXT record's text is a DMARC record: it starts with "v=DMARC1"
// followed by ";", white space or the end (RFC 7489 §6.4: v= must come first).
bool is_dmarc_record(std::string_view text);

// Parses a DMARC record (RFC 7489 §6.3, §6.4). Unknown tags are ignored. A
// missing or invalid p= is read as p=none when rua= names a mailto: URI and is an
// error otherwise (§6.6.3); an invalid sp= falls back to p= the same way.
// Errors (kInvalidInput): not "v=DMARC1" first, a malformed tag-list, p= missing
// or invalid without rua=, pct= not 0..100, ri= not a number.
Result<DmarcRecord> parse_dmarc_record(std::string_view text);

// The organizational domain of `domain` (RFC 7489 §3.2): the public suffix plus
// one label, from the public suffix list compiled into libpsl (Debian's
// `publicsuffix` data; no file is read). A name that is itself a public suffix, or
// that the list does not know, is its own organizational domain. Lower case.
std::string organizational_domain(std::string_view domain);

// True if `a` and `b` are aligned under `mode` (RFC 7489 §3.1.1, §3.1.2).
bool is_aligned(std::string_view a, std::string_view b, DmarcAlignment mode);

// What the evaluator needs to know about a message.
struct DmarcInput {
  std::string from_domain;             // RFC5322.From domain (§3.1; one From address)
  std::vector<DkimResult> dkim;        // every DKIM-Signature's result
  AuthResult spf = AuthResult::kNone;  // SPF result for spf_domain
  std::string spf_domain;              // the MAIL FROM domain (or HELO if MAIL FROM was <>)
  // A number in 0..99 drawn by the caller (time and randomness are parameters):
  // the policy applies when sample < pct= (§6.6.4).
  std::uint32_t sample = 0;
};

enum class DmarcDisposition : std::uint8_t { kNone, kQuarantine, kReject };

struct DmarcResult {
  AuthResult result = AuthResult::kNone;  // none, pass, fail, temperror, permerror
  std::string policy_domain;              // where the record was found
  std::optional<DmarcRecord> record;
  DmarcPolicy policy = DmarcPolicy::kNone;  // p= or sp=, whichever applies
  // What the receiver should do: the policy for a failing message, lowered one
  // step when pct= sampled it out (§6.6.4); kNone for anything but "fail".
  DmarcDisposition disposition = DmarcDisposition::kNone;
  bool dkim_aligned = false;  // a passing DKIM signature with an aligned d=
  bool spf_aligned = false;   // an SPF pass for an aligned domain
  std::string problem;        // why, for temperror/permerror
};

class DmarcEvaluator {
 public:
  explicit DmarcEvaluator(DmarcInput input);

  // The next TXT query (_dmarc.<from domain>, then _dmarc.<organizational
  // domain>), or nullopt when the result is known.
  std::optional<DnsQuery> pending_query() const { return pending_; }

  // Answers the pending query.
  void provide(const dns::Answer& answer);

  // Requires: pending_query() is nullopt.
  const DmarcResult& result() const { return result_; }

 private:
  void apply(const DmarcRecord& record, std::string policy_domain, bool at_org_domain);

  DmarcInput input_;
  std::string org_domain_;
  bool asked_org_ = false;
  std::optional<DnsQuery> pending_;
  DmarcResult result_;
};

}  // namespace tern::mailauth
