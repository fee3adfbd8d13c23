// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/sts_refresh.hpp"

#include "base/ascii.hpp"
#include "runtime/https_client.hpp"
#include "runtime/io.hpp"

namespace tern::services::delivery {

namespace {

constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";  // RFC 8461 §3.3

// RFC 8461 §3.2: the media type must be text/plain; parameters are ignored.
bool is_text_plain(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') {
    content_type.remove_suffix(1);
  }
  return ascii::iequals(content_type, "text/plain");
}

bool expired(const StsCache::Entry& entry, SystemTime now) {
  return now >= entry.fetched + std::chrono::seconds(entry.policy.max_age);
}

}  // namespace

HttpsStsFetcher::HttpsStsFetcher(dns::Resolver& resolver, StsOptions options, log::Logger logger)
    : resolver_(resolver), options_(std::move(options)), logger_(std::move(logger)) {}

asio::awaitable<StsFetchResult> HttpsStsFetcher::fetch(std::string domain, std::string id) {
  runtime::HttpsGetRequest request;
  request.host = "mta-sts." + domain;
  request.port = options_.port;
  request.path = std::string(kPolicyPath);
  request.ca_file = options_.ca_file;
  request.timeout = options_.timeout;
  runtime::HttpsGetResult fetched = co_await runtime::https_get(resolver_, request, logger_);
  StsFetchResult out;
  if (fetched.failure == runtime::HttpsGetResult::Failure::kCertificate) {
    out.result = "sts-webpki-invalid";  // RFC 8460 §4.3.2.2
    out.detail = fetched.error;
  } else if (fetched.failure != runtime::HttpsGetResult::Failure::kNone) {
    out.result = "sts-policy-fetch-error";
    out.detail = fetched.error;
  } else if (fetched.status != 200) {
    // §3.3: only 200 is a policy; 3xx redirects are not followed.
    out.result = "sts-policy-fetch-error";
    out.detail = "HTTP status " + std::to_string(fetched.status) + " from " + request.host;
  } else if (!is_text_plain(fetched.content_type)) {
    out.result = "sts-policy-invalid";
    out.detail = "media type '" + fetched.content_type + "' is not text/plain";
  } else if (auto parsed = parse_sts_policy(fetched.body, id)) {
    out.policy = std::move(*parsed);
    out.body = std::move(fetched.body);
  } else {
    out.result = "sts-policy-invalid";
    out.detail = parsed.error().message;
  }
  co_return out;
}

std::string_view sts_refresh_outcome_name(StsRefreshOutcome outcome) {
  switch (outcome) {
    case StsRefreshOutcome::kExtended:
      return "extended";
    case StsRefreshOutcome::kUpdated:
      return "updated";
    case StsRefreshOutcome::kFailed:
      return "failed";
    case StsRefreshOutcome::kDropped:
      return "dropped";
  }
  return "failed";
}

asio::awaitable<StsRefreshOutcome> refresh_sts_policy(dns::Resolver& resolver, StsFetcher& fetcher,
                                                      StsCache& cache, std::string domain,
                                                      SystemTime now, log::Logger logger) {
  std::optional<StsCache::Entry> cached = cache.cached(domain);
  if (!cached) {
    co_return StsRefreshOutcome::kDropped;
  }
  const bool was_expired = expired(*cached, now);
  // RFC 8461 §3.3: administrators hear of failed refreshes, unless the cached
  // policy's mode is none (a domain leaving MTA-STS, §8.3).
  auto give_up = [&](const std::string& why) {
    if (was_expired) {
      cache.forget(domain);
      logger.info("mta-sts policy expired and not renewed", {{"domain", domain}, {"why", why}});
      return StsRefreshOutcome::kDropped;
    }
    if (cached->policy.mode != StsMode::kNone) {
      logger.warn("mta-sts policy refresh failed; the cached policy stays until it expires",
                  {{"domain", domain}, {"id", cached->policy.id}, {"why", why}});
    }
    return StsRefreshOutcome::kFailed;
  };
  dns::Answer txt =
      co_await runtime::await(resolver.lookup("_mta-sts." + domain, dns::RecordType::kTxt));
  std::optional<std::string> id = txt.ok() ? parse_sts_txt(txt.txt) : std::nullopt;
  if (!id) {
    // A missing record may be an attacker blocking DNS as much as a domain
    // leaving (which §8.3 asks to announce with mode none first): keep it.
    co_return give_up(txt.ok() || txt.status == dns::LookupStatus::kNoData ||
                              txt.status == dns::LookupStatus::kNxDomain
                          ? "no usable _mta-sts TXT record"
                          : "_mta-sts TXT lookup: " +
                                (txt.error.empty()
                                     ? std::string(dns::lookup_status_name(txt.status))
                                     : txt.error));
  }
  if (*id == cached->policy.id && !was_expired) {
    cached->fetched = now;
    auto stored = cache.store(domain, std::move(*cached));
    if (!stored) {
      logger.warn("mta-sts policy cache", {{"domain", domain}, {"error", stored.error().message}});
    }
    co_return StsRefreshOutcome::kExtended;
  }
  if (!cache.may_fetch(domain, *id, now)) {
    co_return give_up("a fetch of id " + *id + " failed less than five minutes ago");
  }
  StsFetchResult fetched = co_await fetcher.fetch(domain, *id);
  if (!fetched.policy) {
    cache.note_fetch_failure(domain, *id, now);
    co_return give_up(fetched.result + ": " + fetched.detail);
  }
  logger.info("mta-sts policy refreshed",
              {{"domain", domain},
               {"id", *id},
               {"mode", std::string(sts_mode_name(fetched.policy->mode))}});
  auto stored = cache.store(
      domain, StsCache::Entry{std::move(*fetched.policy), now, std::move(fetched.body)});
  if (!stored) {
    logger.warn("mta-sts policy cache", {{"domain", domain}, {"error", stored.error().message}});
  }
  co_return StsRefreshOutcome::kUpdated;
}

asio::awaitable<StsRefreshSummary> refresh_sts_policies(dns::Resolver& resolver,
                                                        StsFetcher& fetcher, StsCache& cache,
                                                        SystemTime now, log::Logger logger) {
  StsRefreshSummary summary;
  // One domain at a time: a daily pass has no hurry, and the policy hosts of
  // many domains are not hit at once.
  for (const std::string& domain : cache.domains()) {
    switch (co_await refresh_sts_policy(resolver, fetcher, cache, domain, now, logger)) {
      case StsRefreshOutcome::kExtended:
        ++summary.extended;
        break;
      case StsRefreshOutcome::kUpdated:
        ++summary.updated;
        break;
      case StsRefreshOutcome::kFailed:
        ++summary.failed;
        break;
      case StsRefreshOutcome::kDropped:
        ++summary.dropped;
        break;
    }
  }
  logger.info("mta-sts policies refreshed", {{"extended", std::to_string(summary.extended)},
                                             {"updated", std::to_string(summary.updated)},
                                             {"failed", std::to_string(summary.failed)},
                                             {"dropped", std::to_string(summary.dropped)}});
  co_return summary;
}

}  // namespace tern::services::delivery
