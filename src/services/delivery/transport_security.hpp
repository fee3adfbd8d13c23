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
#include "services/delivery/sts_policy.hpp"

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
//   kDane: runtime::dane_verify() with the reference names {host, policy_domain}
//     (RFC 7672 §3.2.2); no usable records accept any certificate.
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

struct StsOptions {
  std::uint16_t port = 443;  // the policy host's HTTPS port (tests use others)
  std::string ca_file;       // "" = the system store
  std::chrono::milliseconds timeout{60'000};
};

struct StsDiscovery {
  // The policy to apply (mode testing or enforce); nullopt for none or "none".
  std::shared_ptr<const StsPolicy> policy;
  // A reportable failure (RFC 8461 §6): the TXT record was there, but no policy
  // could be fetched (result "sts-policy-fetch-error", "sts-webpki-invalid",
  // "sts-policy-invalid"); `policy` may still be a cached one.
  std::optional<TlsAttempt> failure;
};

// RFC 8461 §5.1: a fresh cached policy whose id still matches the `_mta-sts` TXT
// record is used as is; a new id (or none cached) fetches
// https://mta-sts.<domain>/.well-known/mta-sts.txt (at most every five minutes
// per id after a failure); a failed fetch or a missing TXT record keeps the
// cached unexpired policy.
asio::awaitable<StsDiscovery> discover_sts(dns::Resolver& resolver, StsCache& cache,
                                           std::string domain, StsOptions options,
                                           log::Logger logger);

struct DaneLookup {
  std::optional<HostPolicy> policy;  // set when DANE applies to the host
  // The TLSA lookup of a host in a signed zone failed or was bogus (RFC 7672
  // §2.2: the host must not be used); the TLS-RPT failure to record.
  std::optional<TlsAttempt> failure;
  std::string error;  // "4.7.5 ..." text when `failure` is set
};

// Looks up _<port>._tcp.<host> TLSA (RFC 7672 §2.2.1); call only when the MX and
// the host's address answers were DNSSEC-secure. A secure answer with records
// gives a kDane policy; insecure, NXDOMAIN or NODATA gives none; bogus or a
// temporary failure gives `failure`.
asio::awaitable<DaneLookup> lookup_dane(dns::Resolver& resolver, std::string host,
                                        std::uint16_t port, std::string policy_domain);

}  // namespace tern::services::delivery
