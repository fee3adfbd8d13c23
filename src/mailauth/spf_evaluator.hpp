// SPDX-License-Identifier: Apache-2.0
// SpfEvaluator: a sans-IO check_host() (RFC 7208 §4). It asks for DNS answers
// and is fed them, so the 10-DNS-mechanism limit (§4.6.4), the void-lookup limit,
// the per-record MX/PTR limits and macro expansion (§7) all live in testable
// code (ARCHITECTURE.md §3).
//
//   auto spf = SpfEvaluator::for_mail_from(ip, "user@example.com", "mx.example.com");
//   while (auto q = spf.pending_query()) spf.provide(resolver.lookup(q->name, q->type));
//   spf.result().result  // AuthResult::kPass, kFail, ...
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "dns/records.hpp"
#include "mailauth/auth_result.hpp"

namespace tern::mailauth {

struct SpfOptions {
  // The explanation of a "fail" when the record has no usable exp= (§6.2).
  std::string default_explanation = "SPF check failed; see https://www.rfc-editor.org/rfc/rfc7208";
  std::string receiver = "unknown";  // %{r}: the checking host's domain
  std::uint64_t timestamp = 0;       // %{t}: seconds since the epoch
  int max_dns_mechanisms = 10;       // §4.6.4: include a mx ptr exists redirect
  int max_void_lookups = 2;          // §4.6.4: NXDOMAIN / no-answer lookups
  int max_mx_names = 10;             // §4.6.4: MX names one "mx" may look at
  int max_ptr_names = 10;            // §4.6.4: PTR names one "ptr" (or %{p}) may look at
};

// Which identity was checked (RFC 7208 §2.3, §2.4).
enum class SpfIdentity : std::uint8_t { kMailFrom, kHelo };

struct SpfResult {
  AuthResult result = AuthResult::kNone;  // none neutral pass fail softfail temperror permerror
  std::string explanation;  // for "fail": exp= text after macro expansion, else the default
  std::string problem;      // for temperror/permerror: why (for logs and the A-R comment)
  std::string mechanism;    // the directive that matched, e.g. "-all", "" if none
};

class SpfEvaluator {
 public:
  // check_host(<ip>, <domain>, <sender>) with the HELO name for %{h} (§4.1).
  // `sender` is "local@domain"; `domain` is where the first record is sought.
  SpfEvaluator(const dns::IpAddress& ip, std::string domain, std::string sender, std::string helo,
               SpfOptions options = {});

  // The MAIL FROM identity (§2.4): the domain of `mail_from`, with "postmaster"
  // for an empty local-part; an empty reverse-path ("<>") checks the HELO
  // identity instead, as "postmaster@<helo>".
  static SpfEvaluator for_mail_from(const dns::IpAddress& ip, std::string_view mail_from,
                                    std::string_view helo, SpfOptions options = {});

  // The HELO identity (§2.3): "postmaster@<helo>" at <helo>.
  static SpfEvaluator for_helo(const dns::IpAddress& ip, std::string_view helo,
                               SpfOptions options = {});

  // The next DNS question, or nullopt when the result is known.
  std::optional<DnsQuery> pending_query() const { return pending_; }

  // Answers the pending question. Requires: pending_query() has a value.
  void provide(const dns::Answer& answer);

  // The outcome. Requires: pending_query() is nullopt.
  const SpfResult& result() const { return result_; }

  SpfIdentity identity() const { return identity_; }

  // The checked domain (what Authentication-Results names as smtp.mailfrom or
  // smtp.helo).
  const std::string& domain() const { return domain_; }

  // DNS questions asked so far (each distinct question once).
  std::size_t queries_asked() const { return answers_.size(); }

 private:
  void run();

  dns::IpAddress ip_;
  std::string domain_;
  std::string sender_;
  std::string helo_;
  SpfOptions options_;
  SpfIdentity identity_ = SpfIdentity::kMailFrom;
  // The evaluation is a pure function of the inputs and the answers so far: each
  // provide() re-runs it from the start over this cache until it needs a
  // question not answered yet (docs/adr/0011-mailauth.md).
  std::map<std::pair<std::string, dns::RecordType>, dns::Answer> answers_;
  std::optional<DnsQuery> pending_;
  SpfResult result_;
};

}  // namespace tern::mailauth
