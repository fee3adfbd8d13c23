// SPDX-License-Identifier: Apache-2.0
// Outbound transport security policy (issue #8): which TLS a destination's MX
// hosts must offer, from DANE (RFC 7672) or MTA-STS (RFC 8461), how a finished
// handshake is judged against it, and the TLS-RPT record (RFC 8460) of each
// attempt. SmtpTransport asks these functions; the judging is pure so that every
// enforcement decision is unit-tested without a network.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "dns/resolver.hpp"
#include "domain/ports.hpp"
#include "domain/report_model.hpp"
#include "runtime/tls_client.hpp"
#include "services/delivery/mx_plan.hpp"
#include "services/delivery/sts_policy.hpp"
#include "services/delivery/sts_refresh.hpp"

namespace tern::services::delivery {

// One outbound TLS attempt as TLS-RPT counts it (RFC 8460 §4.4), in the report's
// own tokens so that the transport does not depend on how reports are stored.
struct TlsAttempt {
  std::string policy_domain;  // the recipient domain (or smart host's, RFC 8461 §3.4)
  std::string policy_type;    // "sts" | "tlsa" | "no-policy-found"
  // STS: the policy's lines; TLSA: each record as "3 1 1 <hex>".
  std::vector<std::string> policy_strings;
  std::vector<std::string> mx_hosts;  // STS: the policy's mx patterns
  // "success" or an RFC 8460 §4.3 result-type: "starttls-not-supported",
  // "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
  // "validation-failure", "tlsa-invalid", "dnssec-invalid",
  // "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid".
  std::string result = "success";
  std::string receiving_mx_hostname;  // "" for policy fetch failures
  std::string receiving_ip;
  std::string failure_reason_code;  // free text: what went wrong
  friend bool operator==(const TlsAttempt&, const TlsAttempt&) = default;
};

// Receives one TlsAttempt per outbound TLS attempt (or policy failure). Called on
// the transport's strand; must not block (post to the report store).
using TlsReporter = std::function<void(TlsAttempt)>;

// The report store's form of `attempt` at `time` (RFC 8460 tokens parsed back;
// an unknown token becomes validation-failure / no-policy-found).
domain::TlsSessionResult tls_session_result(const TlsAttempt& attempt, SystemTime time);

// A TlsReporter that records each attempt in `store` (ReportStore::record_tls),
// stamped with `clock`, logging a store error instead of failing anything. The
// store and clock must outlive the reporter.
TlsReporter report_to_store(domain::ReportStore& store, const Clock& clock, log::Logger logger);

// What one MX host demands.
struct HostPolicy {
  enum class Kind {
    kNone,  // no policy: opportunistic TLS per [outbound] tls
    kSts,   // MTA-STS: `sts` (mode testing or enforce) applies
    kDane,  // DANE: DNSSEC-validated TLSA records (RFC 7672 §2.2)
  };
  Kind kind = Kind::kNone;
  std::string policy_domain;
  std::shared_ptr<const StsPolicy> sts;  // kSts
  // kDane: the usable records (runtime::tlsa_usable); empty means a TLSA RRset
  // with no usable record: TLS is still mandatory but unauthenticated (§2.2).
  std::vector<dns::TlsaRecord> tlsa;
  std::vector<dns::TlsaRecord> tlsa_all;  // kDane: every record, for reports
  // kDane: the TLSA base domain the records came from (RFC 7672 §2.2.3: the
  // host's CNAME-expanded name or the host itself), sent as SNI (§8.1).
  std::string tlsa_base;
  // kDane: the reference identifiers for DANE-TA name checks (RFC 7672 §3.2.2),
  // the TLSA base domain first; empty means {MX host, policy_domain}.
  std::vector<std::string> dane_names;

  // TLS is mandatory and plaintext is never a fallback: DANE, or STS enforce.
  bool tls_required() const;

  // The TLS-RPT policy fields for an attempt with this policy.
  TlsAttempt attempt(std::string result) const;
};

// The verdict on one finished handshake.
struct TlsVerdict {
  bool deliver = true;             // go on with the session (false: 4.7.5, next host)
  std::string result = "success";  // TLS-RPT result type
  std::string detail;              // why, for DSN text and the report
};

// Judges the certificate check of a completed handshake with `host` (the MX name)
// for `policy`:
//   kDane: runtime::dane_verify() with the reference names `dane_names` (or
//     {host, policy_domain} when empty; RFC 7672 §3.2.2); no usable records
//     accept any certificate.
//   kSts: PKIX and the MX name must both hold (RFC 8461 §4.2); failures deliver
//     only in testing mode.
//   kNone: always delivers; the result still says what PKIX found.
TlsVerdict judge_tls(const HostPolicy& policy, const std::string& host,
                     const runtime::TlsPeerCheck& check);

// The TLS-RPT result type for an OpenSSL X509_V_ERR_* code (RFC 8460 §4.3.1).
std::string tls_result_for_pkix(long error);

// "3 1 1 a1b2..." (RFC 6698 §2.2 presentation form, data in lower-case hex).
std::string tlsa_presentation(const dns::TlsaRecord& record);

// ----- discovery (does DNS and HTTPS through the given ports)

struct StsDiscovery {
  // The policy to apply (mode testing or enforce); nullopt for none or "none".
  std::shared_ptr<const StsPolicy> policy;
  // A reportable failure (RFC 8461 §6): the TXT record was there, but no policy
  // could be fetched (result "sts-policy-fetch-error", "sts-webpki-invalid",
  // "sts-policy-invalid"); `policy` may still be a cached one.
  std::optional<TlsAttempt> failure;
};

// RFC 8461 §5.1 at `now`: a fresh cached policy whose id still matches the
// `_mta-sts` TXT record is used as is; a new id (or none cached) fetches the
// policy through `fetcher` (at most every five minutes per id after a failure);
// a failed fetch or a missing TXT record keeps the cached unexpired policy.
asio::awaitable<StsDiscovery> discover_sts(dns::Resolver& resolver, StsFetcher& fetcher,
                                           StsCache& cache, std::string domain, SystemTime now,
                                           log::Logger logger);

struct DaneLookup {
  std::optional<HostPolicy> policy;  // set when DANE applies to the host
  // A lookup for a host whose answers are (partly) DNSSEC-secure failed or was
  // bogus (RFC 7672 §2.2: the host must not be used); the TLS-RPT failure.
  std::optional<TlsAttempt> failure;
  std::string error;  // "4.7.5 ..." text when `failure` is set
};

// The candidate TLSA base domains of an MX host, best first (RFC 7672 §2.2.2,
// §2.2.3), from what its address lookups found:
//   not an alias (`expanded` ""): {host} when the address answers were secure;
//   an alias whose whole chain was secure ("Secure CNAME"): {expanded, host};
//   an alias whose chain was not ("Insecure CNAME"): {host} when the first
//     CNAME link itself was secure (`first_link_secure`), else none: an insecure
//     step ends the expansion and DANE does not apply.
std::vector<std::string> tlsa_base_candidates(const std::string& host, const std::string& expanded,
                                              bool chain_secure, bool first_link_secure);

// The DANE-TA reference identifiers (RFC 7672 §3.2.2) for a host reached by a
// secure MX lookup: the TLSA base domain first, then the MX host and, when its
// chain was secure, its expansion (`expanded`, may be ""), then the next-hop
// domain and its CNAME expansion (`domain_expanded`, may be ""). No duplicates.
std::vector<std::string> dane_reference_names(const std::string& base, const std::string& host,
                                              const std::string& expanded,
                                              const std::string& domain,
                                              const std::string& domain_expanded);

// What lookup_dane() needs to know about one MX host.
struct DaneQuery {
  std::string host;             // the MX host name
  HostAddresses addresses;      // resolve_host(host): security and CNAME expansion
  std::uint16_t port = 25;      // the SMTP port (the "_<port>" label)
  std::string policy_domain;    // the next-hop domain
  std::string domain_expanded;  // MxHosts::canonical_name ("" when no alias)
};

// DANE for one MX host; call only when the MX answer was DNSSEC-secure. Finds
// the candidate TLSA base domains (tlsa_base_candidates(); for an alias whose
// chain is insecure it asks for the CNAME at the host to learn whether the first
// link is secure), then looks up _<port>._tcp.<candidate> TLSA in order
// (RFC 7672 §2.2.3): the first secure answer with records gives a kDane policy;
// insecure, NXDOMAIN or NODATA moves to the next candidate; none left gives no
// policy; a bogus or temporarily failed lookup gives `failure` (§2.2: errors
// "MUST result in delaying or abandoning delivery").
asio::awaitable<DaneLookup> lookup_dane(dns::Resolver& resolver, DaneQuery query);

}  // namespace tern::services::delivery
