// SPDX-License-Identifier: Apache-2.0
// InboundVerifier: every check the MX runs on one received message — SPF for
// MAIL FROM and HELO (RFC 7208), every DKIM signature (RFC 6376), the ARC chain
// (RFC 8617 §5.2), iprev (RFC 8601 §3) and then DMARC (RFC 9989) from the SPF
// and DKIM results — driven as one sans-IO unit (ARCHITECTURE.md §3).
//
// The evaluators that do not depend on each other run side by side: the verifier
// hands out every question that can be asked now, so the caller resolves them
// in parallel; DMARC starts once SPF (MAIL FROM) and DKIM are known. Answers are
// shared between the evaluators of this one message (the DKIM and ARC keys are
// often the same TXT record, the SPF records of MAIL FROM and HELO too); nothing
// outlives the verifier, so no answer is cached beyond its TTL or across
// messages. The caller owns the clock: when its deadline passes it calls
// expire(), every question still open is answered "temporary failure", and the
// affected methods end as temperror (RFC 8601 §2.7).
//
//   InboundVerifier v(input, options);
//   while (!v.done()) {
//     for (const DnsQuery& q : v.take_queries()) start(q);   // in parallel
//     wait for one answer, or the deadline:  v.provide(q, answer)  |  v.expire();
//   }
//   v.verdict().authentication_results  // the one field for the top of the header
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dns/records.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/auth_result.hpp"
#include "mailauth/authentication_results.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/dmarc.hpp"
#include "mailauth/iprev.hpp"
#include "mailauth/spf_evaluator.hpp"

namespace tern::mailauth {

// What the SMTP session knows about the message.
struct InboundInput {
  dns::IpAddress client_ip;
  std::string helo;       // the HELO/EHLO argument as given
  std::string mail_from;  // the reverse-path "local@domain"; "" for the null path <>
  // The message as received (header and body, CRLF or LF). Only read by the
  // constructor, which does all hashing; no reference is kept.
  std::string_view message;
};

struct InboundOptions {
  std::string authserv_id;  // whose Authentication-Results field this is (RFC 8601 §2.5)
  std::string receiver;     // our host name, SPF's %{r} (RFC 7208 §7.3)
  std::uint64_t now = 0;    // seconds since the epoch: SPF %{t}, DKIM x= (RFC 6376 §3.5)
  BodyLengthPolicy body_length = BodyLengthPolicy::kPolicyIfAppended;  // DKIM l= (§8.2)
  // DMARC pct= sampling (RFC 7489 §6.6.4, kept by RFC 9989 appendix A.6 as
  // dmarc_testing() describes): a number in 0..99 the caller drew.
  std::uint32_t dmarc_sample = 0;
  // Sealers (ARC-Seal d= of the newest set, lower case) whose passing chain
  // lifts a DMARC reject/quarantine disposition (RFC 7489 §7.2 local policy,
  // RFC 8617 §7.2). Empty (the default, as Postfix/OpenDMARC): ARC never overrides.
  std::vector<std::string> trusted_arc_sealers;
};

// The outcome of every method, and what follows from it.
struct InboundVerdict {
  // MAIL FROM identity (RFC 7208 §2.4); for the null path this is the HELO
  // identity as "postmaster@<helo>" and spf_helo stays empty.
  SpfResult spf_mail_from;
  std::string spf_mail_from_domain;  // smtp.mailfrom (or the HELO name for <>)
  bool spf_mail_from_is_helo = false;
  // The HELO identity (§2.3), when MAIL FROM was not null and HELO is a domain name.
  std::optional<SpfResult> spf_helo;
  std::string helo_domain;
  std::vector<DkimResult> dkim;  // one per DKIM-Signature, message order
  ArcResult arc;
  IprevResult iprev;
  DmarcResult dmarc;
  std::string from_domain;  // the RFC5322.From domain DMARC evaluated ("" if none)
  // What to do by DMARC: dmarc.disposition, lowered to kNone when a trusted
  // sealer's passing ARC chain vouches for the message (arc_override set).
  DmarcDisposition disposition = DmarcDisposition::kNone;
  bool arc_override = false;
  bool deadline_passed = false;  // some answer never came: those methods are temperror
  // The resinfos in this order: spf (mailfrom), spf (helo), dkim per signature,
  // dmarc, arc, iprev — and the whole field built from them, ending in CRLF.
  std::vector<MethodResult> methods;
  std::string authentication_results;
};

// Not thread-safe: one caller drives it (any thread, one call at a time).
class InboundVerifier {
 public:
  // Parses and hashes everything (DKIM bodies and headers, the ARC chain): call it
  // off the I/O thread for large messages. Never fails: a malformed message or
  // field becomes the method's permerror/fail result.
  InboundVerifier(const InboundInput& input, InboundOptions options);
  ~InboundVerifier();
  InboundVerifier(const InboundVerifier&) = delete;
  InboundVerifier& operator=(const InboundVerifier&) = delete;

  // The questions that can be asked now and were not handed out before (each
  // distinct (name, type) at most once per message). Empty when everything
  // open is already waiting for an answer, or when done().
  std::vector<DnsQuery> take_queries();

  // The answer to a question take_queries() gave. Every evaluator waiting on it
  // continues; unknown or repeated answers are ignored.
  void provide(const DnsQuery& query, const dns::Answer& answer);

  // The deadline passed: open and future questions are answered "temporary
  // failure" at once, so done() is true on return.
  void expire();

  bool done() const { return done_; }

  // Requires: done().
  const InboundVerdict& verdict() const { return verdict_; }

 private:
  struct Evaluators;
  using Key = std::pair<std::string, dns::RecordType>;

  void advance();
  void finish();

  InboundOptions options_;
  dns::IpAddress client_ip_;
  std::unique_ptr<Evaluators> evaluators_;
  std::map<Key, dns::Answer> answers_;  // this message's answers, shared by the evaluators
  std::set<Key> asked_;                 // handed out by take_queries()
  std::vector<DnsQuery> outbox_;        // not handed out yet
  bool expired_ = false;
  bool done_ = false;
  InboundVerdict verdict_;
};

// The Author Domain DMARC evaluates (RFC 9989 §5.3.1): the domain of the
// From field's mailboxes, lower case. nullopt when the header has no From field,
// more than one, a From without a mailbox, or mailboxes in different domains.
std::optional<std::string> rfc5322_from_domain(std::string_view message);

}  // namespace tern::mailauth
