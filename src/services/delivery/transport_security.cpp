// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/transport_security.hpp"

#include <openssl/x509_vfy.h>

#include "base/ascii.hpp"
#include "runtime/https_client.hpp"
#include "runtime/io.hpp"

namespace tern::services::delivery {

namespace {

constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";  // RFC 8461 §3.3

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

// RFC 8461 §3.2: the media type must be text/plain; parameters are ignored.
bool is_text_plain(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') {
    content_type.remove_suffix(1);
  }
  return ascii::iequals(content_type, "text/plain");
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
      runtime::DaneResult dane =
          runtime::dane_verify(check.chain, policy.tlsa, {host, policy.policy_domain});
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

asio::awaitable<StsDiscovery> discover_sts(dns::Resolver& resolver, StsCache& cache,
                                           std::string domain, StsOptions options,
                                           log::Logger logger) {
  StsDiscovery out;
  const auto now = StsCache::Clock::now();
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
  runtime::HttpsGetRequest request;
  request.host = "mta-sts." + domain;
  request.port = options.port;
  request.path = std::string(kPolicyPath);
  request.ca_file = options.ca_file;
  request.timeout = options.timeout;
  runtime::HttpsGetResult fetched = co_await runtime::https_get(resolver, request, logger);
  std::string result;
  std::string detail;
  if (fetched.failure == runtime::HttpsGetResult::Failure::kCertificate) {
    result = "sts-webpki-invalid";  // RFC 8460 §4.3.2.2
    detail = fetched.error;
  } else if (fetched.failure != runtime::HttpsGetResult::Failure::kNone) {
    result = "sts-policy-fetch-error";
    detail = fetched.error;
  } else if (fetched.status != 200) {
    // §3.3: only 200 is a policy; 3xx redirects are not followed.
    result = "sts-policy-fetch-error";
    detail = "HTTP status " + std::to_string(fetched.status) + " from " + request.host;
  } else if (!is_text_plain(fetched.content_type)) {
    result = "sts-policy-invalid";
    detail = "media type '" + fetched.content_type + "' is not text/plain";
  } else {
    auto parsed = parse_sts_policy(fetched.body, *id);
    if (parsed) {
      auto stored = cache.store(domain, StsCache::Entry{*parsed, now, fetched.body});
      if (!stored) {
        logger.warn("mta-sts policy cache",
                    {{"domain", domain}, {"error", stored.error().message}});
      }
      logger.info(
          "mta-sts policy fetched",
          {{"domain", domain}, {"id", *id}, {"mode", std::string(sts_mode_name(parsed->mode))}});
      out.policy = applied(std::make_shared<const StsPolicy>(std::move(*parsed)));
      co_return out;
    }
    result = "sts-policy-invalid";
    detail = parsed.error().message;
  }
  cache.note_fetch_failure(domain, *id, now);
  // §3.3: operators should hear of failed refreshes (unless the policy is "none").
  logger.warn("mta-sts policy fetch failed",
              {{"domain", domain}, {"id", *id}, {"result", result}, {"error", detail}});
  out.policy = applied(cached_policy);
  out.failure = sts_failure(domain, std::move(result), std::move(detail), cached_policy);
  co_return out;
}

asio::awaitable<DaneLookup> lookup_dane(dns::Resolver& resolver, std::string host,
                                        std::uint16_t port, std::string policy_domain) {
  DaneLookup out;
  // RFC 7672 §2.2.1 / RFC 6698 §3: the TLSA owner is _<port>._tcp.<host>.
  const std::string owner = "_" + std::to_string(port) + "._tcp." + host;
  dns::Answer answer = co_await runtime::await(resolver.lookup(owner, dns::RecordType::kTlsa));
  if (answer.dnssec == dns::DnssecState::kBogus || answer.status == dns::LookupStatus::kTemporary ||
      answer.status == dns::LookupStatus::kMalformed) {
    // §2.2: a TLSA lookup that fails in a signed zone may be an attack hiding the
    // records; the host is not used (and plaintext never tried).
    HostPolicy policy;
    policy.kind = HostPolicy::Kind::kDane;
    policy.policy_domain = policy_domain;
    out.failure = policy.attempt(answer.dnssec == dns::DnssecState::kBogus ? "dnssec-invalid"
                                                                           : "tlsa-invalid");
    out.failure->receiving_mx_hostname = host;
    out.failure->failure_reason_code =
        "TLSA lookup of " + owner + ": " +
        (answer.error.empty() ? std::string(dns::lookup_status_name(answer.status)) : answer.error);
    out.error = "4.7.5 DANE: " + out.failure->failure_reason_code;
    co_return out;
  }
  if (!answer.ok() || answer.dnssec != dns::DnssecState::kSecure) {
    co_return out;  // §2.2: no secure TLSA records, no DANE for this host
  }
  HostPolicy policy;
  policy.kind = HostPolicy::Kind::kDane;
  policy.policy_domain = std::move(policy_domain);
  policy.tlsa_all = answer.tlsa;
  for (const auto& record : answer.tlsa) {
    if (runtime::tlsa_usable(record)) {
      policy.tlsa.push_back(record);
    }
  }
  out.policy = std::move(policy);
  co_return out;
}

}  // namespace tern::services::delivery
