// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/transport_security.hpp"

#include <algorithm>

#include <openssl/x509_vfy.h>

#include "base/ascii.hpp"
#include "runtime/io.hpp"

namespace tern::services::delivery {

namespace {

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

TlsAttempt sts_failure(const std::string& domain, std::string result, std::string detail,
                       const std::shared_ptr<const StsPolicy>& cached) {
  TlsAttempt attempt;
  attempt.policy_domain = domain;
  attempt.policy_type = "sts";
  if (cached) {
    attempt.policy_strings = cached->lines;
    attempt.mx_hosts = cached->mx;
  }
  attempt.result = std::move(result);
  attempt.failure_reason_code = std::move(detail);
  return attempt;
}

}  // namespace

domain::TlsSessionResult tls_session_result(const TlsAttempt& attempt, SystemTime time) {
  domain::TlsSessionResult out;
  out.time = time;
  out.policy_domain = attempt.policy_domain;
  out.policy_type = domain::parse_tls_policy_type(attempt.policy_type)
                        .value_or(domain::TlsPolicyType::kNoPolicyFound);
  out.policy_strings = attempt.policy_strings;
  out.mx_hosts = attempt.mx_hosts;
  out.result = domain::parse_tls_result_type(attempt.result)
                   .value_or(domain::TlsResultType::kValidationFailure);
  out.receiving_mx_hostname = attempt.receiving_mx_hostname;
  out.receiving_ip = attempt.receiving_ip;
  out.failure_reason_code = attempt.failure_reason_code;
  return out;
}

TlsReporter report_to_store(domain::ReportStore& store, const Clock& clock, log::Logger logger) {
  return [&store, &clock, logger](TlsAttempt attempt) {
    if (attempt.policy_domain.empty()) {
      return;  // nothing to report to (the store refuses it anyway)
    }
    store.record_tls(tls_session_result(attempt, clock.now()))
        .on_ready([logger](Result<void> done) {
          if (!done) {
            logger.warn("tls-rpt record failed", {{"error", done.error().message}});
          }
        });
  };
}

bool HostPolicy::tls_required() const {
  return kind == Kind::kDane || (kind == Kind::kSts && sts && sts->mode == StsMode::kEnforce);
}

TlsAttempt HostPolicy::attempt(std::string result) const {
  TlsAttempt out;
  out.policy_domain = policy_domain;
  out.result = std::move(result);
  switch (kind) {
    case Kind::kNone:
      out.policy_type = "no-policy-found";
      break;
    case Kind::kSts:
      out.policy_type = "sts";
      if (sts) {
        out.policy_strings = sts->lines;
        out.mx_hosts = sts->mx;
      }
      break;
    case Kind::kDane:
      out.policy_type = "tlsa";
      for (const auto& record : tlsa_all) {
        out.policy_strings.push_back(tlsa_presentation(record));
      }
      break;
  }
  return out;
}

std::string tls_result_for_pkix(long error) {
  switch (error) {
    case X509_V_OK:
      return "success";
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return "certificate-host-mismatch";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate-expired";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return "certificate-not-trusted";
    default:
      return "validation-failure";
  }
}

std::string tlsa_presentation(const dns::TlsaRecord& record) {
  return std::to_string(record.usage) + " " + std::to_string(record.selector) + " " +
         std::to_string(record.matching_type) + " " + hex(record.data);
}

TlsVerdict judge_tls(const HostPolicy& policy, const std::string& host,
                     const runtime::TlsPeerCheck& check) {
  TlsVerdict verdict;
  switch (policy.kind) {
    case HostPolicy::Kind::kDane: {
      if (policy.tlsa.empty()) {
        return verdict;  // RFC 7672 §2.2: no usable record, encryption suffices
      }
      const std::vector<std::string> names =
          policy.dane_names.empty() ? std::vector<std::string>{host, policy.policy_domain}
                                    : policy.dane_names;
      runtime::DaneResult dane = runtime::dane_verify(check.chain, policy.tlsa, names);
      switch (dane.outcome) {
        case runtime::DaneOutcome::kMatched:
          return verdict;
        case runtime::DaneOutcome::kNameMismatch:
          verdict.result = "certificate-host-mismatch";
          break;
        case runtime::DaneOutcome::kExpired:
          verdict.result = "certificate-expired";
          break;
        case runtime::DaneOutcome::kNoCertificate:
        case runtime::DaneOutcome::kNoMatch:
          verdict.result = "validation-failure";
          break;
      }
      // RFC 7672 §2.2: with usable TLSA records the host must authenticate; no
      // match means no delivery to it, never a plaintext retry.
      verdict.deliver = false;
      verdict.detail = "DANE: " + dane.detail;
      return verdict;
    }
    case HostPolicy::Kind::kSts:
    case HostPolicy::Kind::kNone: {
      if (!check.called) {
        verdict.result = "validation-failure";
        verdict.detail = "the server sent no certificate";
      } else if (check.pkix_error != X509_V_OK) {
        verdict.result = tls_result_for_pkix(check.pkix_error);
        verdict.detail = "certificate of " + host + ": " + check.pkix_error_text();
      } else {
        return verdict;
      }
      // RFC 8461 §5: only "enforce" withholds the message; "testing" reports.
      verdict.deliver = policy.kind == HostPolicy::Kind::kNone || !policy.tls_required();
      if (policy.kind == HostPolicy::Kind::kSts) {
        verdict.detail = "MTA-STS: " + verdict.detail;
      }
      return verdict;
    }
  }
  return verdict;
}

asio::awaitable<StsDiscovery> discover_sts(dns::Resolver& resolver, StsFetcher& fetcher,
                                           StsCache& cache, std::string domain, SystemTime now,
                                           log::Logger logger) {
  StsDiscovery out;
  std::optional<StsCache::Entry> cached = cache.fresh(domain, now);
  std::shared_ptr<const StsPolicy> cached_policy;
  if (cached) {
    cached_policy = std::make_shared<const StsPolicy>(cached->policy);
  }
  auto applied = [](std::shared_ptr<const StsPolicy> policy) {
    // RFC 8461 §5 (3): mode "none" is as if there were no policy.
    return policy && policy->mode != StsMode::kNone ? policy : nullptr;
  };
  dns::Answer txt =
      co_await runtime::await(resolver.lookup("_mta-sts." + domain, dns::RecordType::kTxt));
  std::optional<std::string> id = txt.ok() ? parse_sts_txt(txt.txt) : std::nullopt;
  if (!id) {
    // §3.1: no usable TXT record does not remove a cached policy (§5.1).
    out.policy = applied(cached_policy);
    co_return out;
  }
  if (cached_policy && cached_policy->id == *id) {
    out.policy = applied(cached_policy);
    co_return out;
  }
  if (!cache.may_fetch(domain, *id, now)) {
    out.policy = applied(cached_policy);  // §3.3: a failed id waits five minutes
    co_return out;
  }
  StsFetchResult fetched = co_await fetcher.fetch(domain, *id);
  if (fetched.policy) {
    logger.info("mta-sts policy fetched",
                {{"domain", domain},
                 {"id", *id},
                 {"mode", std::string(sts_mode_name(fetched.policy->mode))}});
    auto policy = std::make_shared<const StsPolicy>(*fetched.policy);
    auto stored = cache.store(
        domain, StsCache::Entry{std::move(*fetched.policy), now, std::move(fetched.body)});
    if (!stored) {
      logger.warn("mta-sts policy cache", {{"domain", domain}, {"error", stored.error().message}});
    }
    out.policy = applied(std::move(policy));
    co_return out;
  }
  cache.note_fetch_failure(domain, *id, now);
  // §3.3: operators should hear of failed refreshes (unless the policy is "none").
  logger.warn(
      "mta-sts policy fetch failed",
      {{"domain", domain}, {"id", *id}, {"result", fetched.result}, {"error", fetched.detail}});
  out.policy = applied(cached_policy);
  out.failure =
      sts_failure(domain, std::move(fetched.result), std::move(fetched.detail), cached_policy);
  co_return out;
}

std::vector<std::string> tlsa_base_candidates(const std::string& host, const std::string& expanded,
                                              bool chain_secure, bool first_link_secure) {
  if (expanded.empty() || expanded == host) {
    // RFC 7672 §2.2.2 "Non-CNAME": the host itself, if its addresses are secure.
    return chain_secure ? std::vector<std::string>{host} : std::vector<std::string>{};
  }
  if (chain_secure) {
    // "Secure CNAME": the fully expanded name first, then the initial name.
    return {expanded, host};
  }
  // "Insecure CNAME": the expansion is not to be trusted; the initial name still
  // is when the first CNAME response was secure.
  return first_link_secure ? std::vector<std::string>{host} : std::vector<std::string>{};
}

std::vector<std::string> dane_reference_names(const std::string& base, const std::string& host,
                                              const std::string& expanded,
                                              const std::string& domain,
                                              const std::string& domain_expanded) {
  std::vector<std::string> names;
  for (const std::string* name : {&base, &host, &expanded, &domain, &domain_expanded}) {
    if (!name->empty() && std::find(names.begin(), names.end(), *name) == names.end()) {
      names.push_back(*name);
    }
  }
  return names;
}

namespace {

// True for answers DANE must not pass over (RFC 7672 §2.2: "errors, 'bogus'
// results, or 'indeterminate' results ... MUST result in delaying or abandoning
// delivery").
bool dane_indeterminate(const dns::Answer& answer) {
  return answer.dnssec == dns::DnssecState::kBogus ||
         answer.status == dns::LookupStatus::kTemporary ||
         answer.status == dns::LookupStatus::kMalformed;
}

// The DaneLookup that skips `host` after `answer` to the question `what` failed.
DaneLookup dane_failure(const DaneQuery& query, const std::string& what,
                        const dns::Answer& answer) {
  DaneLookup out;
  HostPolicy policy;
  policy.kind = HostPolicy::Kind::kDane;
  policy.policy_domain = query.policy_domain;
  out.failure =
      policy.attempt(answer.dnssec == dns::DnssecState::kBogus ? "dnssec-invalid" : "tlsa-invalid");
  out.failure->receiving_mx_hostname = query.host;
  out.failure->failure_reason_code =
      what + ": " +
      (answer.error.empty() ? std::string(dns::lookup_status_name(answer.status)) : answer.error);
  out.error = "4.7.5 DANE: " + out.failure->failure_reason_code;
  return out;
}

}  // namespace

asio::awaitable<DaneLookup> lookup_dane(dns::Resolver& resolver, DaneQuery query) {
  const HostAddresses& addresses = query.addresses;
  if (addresses.addresses.empty()) {
    co_return DaneLookup{};
  }
  const std::string& expanded = addresses.canonical_name;
  bool first_link_secure = false;
  if (!expanded.empty() && !addresses.dnssec_secure) {
    // RFC 7672 §2.2.2 "Insecure CNAME": the resolver's address answer is insecure
    // as a whole; whether the initial CNAME response was secure needs its own
    // question.
    dns::Answer link =
        co_await runtime::await(resolver.lookup(query.host, dns::RecordType::kCname));
    if (dane_indeterminate(link)) {
      co_return dane_failure(query, "CNAME lookup of " + query.host, link);
    }
    first_link_secure = link.ok() && link.dnssec == dns::DnssecState::kSecure;
  }
  const std::vector<std::string> candidates =
      tlsa_base_candidates(query.host, expanded, addresses.dnssec_secure, first_link_secure);
  for (const std::string& base : candidates) {
    // RFC 7672 §2.2.3 / RFC 6698 §3: the TLSA owner is _<port>._tcp.<base>.
    const std::string owner = "_" + std::to_string(query.port) + "._tcp." + base;
    dns::Answer answer = co_await runtime::await(resolver.lookup(owner, dns::RecordType::kTlsa));
    if (dane_indeterminate(answer)) {
      // §2.2: a TLSA lookup that fails in a signed zone may be an attack hiding
      // the records; the host is not used (and plaintext never tried).
      co_return dane_failure(query, "TLSA lookup of " + owner, answer);
    }
    if (!answer.ok() || answer.dnssec != dns::DnssecState::kSecure) {
      continue;  // §2.2.3: insecure or no records: the next candidate
    }
    DaneLookup out;
    HostPolicy policy;
    policy.kind = HostPolicy::Kind::kDane;
    policy.policy_domain = query.policy_domain;
    policy.tlsa_all = answer.tlsa;
    for (const auto& record : answer.tlsa) {
      if (runtime::tlsa_usable(record)) {
        policy.tlsa.push_back(record);
      }
    }
    policy.tlsa_base = base;
    // §3.2.2: the expansion of an insecure chain is no reference identifier.
    policy.dane_names =
        dane_reference_names(base, query.host, addresses.dnssec_secure ? expanded : std::string(),
                             query.policy_domain, query.domain_expanded);
    out.policy = std::move(policy);
    co_return out;
  }
  co_return DaneLookup{};  // §2.2.3: no secure TLSA records, no DANE for this host
}

}  // namespace tern::services::delivery
