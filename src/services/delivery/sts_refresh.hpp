// SPDX-License-Identifier: Apache-2.0
// Getting MTA-STS policies (RFC 8461): the HTTPS fetch behind the StsFetcher
// port (so that discovery and refresh are tested with a fake), and the proactive
// refresh of every cached policy that ternd runs daily (§3.3, §10.2), so that a
// policy does not expire while its domain is under attack at the moment a
// delivery needs it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "dns/resolver.hpp"
#include "services/delivery/sts_policy.hpp"

namespace tern::services::delivery {

struct StsOptions {
  std::uint16_t port = 443;  // the policy host's HTTPS port (tests use others)
  std::string ca_file;       // "" = the system store
  std::chrono::milliseconds timeout{60'000};
};

// One policy fetch: a parsed policy, or a TLS-RPT result type saying why not.
struct StsFetchResult {
  std::optional<StsPolicy> policy;  // set on success (its id is the id asked for)
  std::string body;                 // the fetched text, for the cache file
  // On failure (RFC 8460 §4.3.2.2): "sts-policy-fetch-error", "sts-webpki-invalid"
  // or "sts-policy-invalid"; `detail` says what went wrong.
  std::string result;
  std::string detail;
};

// Fetches https://mta-sts.<domain>/.well-known/mta-sts.txt for the TXT id `id`.
// Never throws; every failure is a result. Implementations must be usable from
// several coroutines at once.
class StsFetcher {
 public:
  virtual ~StsFetcher() = default;
  virtual asio::awaitable<StsFetchResult> fetch(std::string domain, std::string id) = 0;
};

// The real fetch through runtime::https_get (RFC 8461 §3.3: PKIX-valid
// certificate for mta-sts.<domain>, status 200 only, no redirects, text/plain,
// a body that parses). The resolver must outlive the fetcher.
class HttpsStsFetcher final : public StsFetcher {
 public:
  HttpsStsFetcher(dns::Resolver& resolver, StsOptions options, log::Logger logger);

  asio::awaitable<StsFetchResult> fetch(std::string domain, std::string id) override;

 private:
  dns::Resolver& resolver_;
  StsOptions options_;
  log::Logger logger_;
};

// What the refresh did with one cached policy.
enum class StsRefreshOutcome : std::uint8_t {
  kExtended,  // the TXT id is unchanged: the cached policy's lifetime starts anew
  kUpdated,   // a new id (or an expired policy): a new policy was fetched and cached
  kFailed,    // TXT lookup or fetch failed, or the record is gone: the old policy
              // stays until its max_age runs out (warned unless its mode is none)
  kDropped,   // the policy had expired and could not be renewed: forgotten
};

std::string_view sts_refresh_outcome_name(StsRefreshOutcome outcome);

struct StsRefreshSummary {
  std::size_t extended = 0;
  std::size_t updated = 0;
  std::size_t failed = 0;
  std::size_t dropped = 0;
};

// Refreshes the cached policy of `domain` at `now` (RFC 8461 §3.3 "MTAs SHOULD
// proactively refresh cached policies before they expire"):
//   - the `_mta-sts` TXT id equals the cached policy's and the policy has not
//     expired: kExtended, the cache entry's time becomes `now` (the record says
//     the live policy is the cached one, so max_age counts from this check, as
//     §10.2 asks: "updating their cache's max age accordingly");
//   - another id, or the cached policy expired: the policy is fetched; success
//     replaces it (kUpdated); failure keeps the old one (kFailed), or forgets it
//     when it has expired (kDropped); failures wait five minutes per id (§3.3);
//   - no usable TXT record or a failed lookup: kFailed, or kDropped when expired.
// Nothing cached for `domain`: kDropped without a lookup.
asio::awaitable<StsRefreshOutcome> refresh_sts_policy(dns::Resolver& resolver, StsFetcher& fetcher,
                                                      StsCache& cache, std::string domain,
                                                      SystemTime now, log::Logger logger);

// refresh_sts_policy() for every domain the cache holds (StsCache::domains()),
// one after the other; logs a summary line.
asio::awaitable<StsRefreshSummary> refresh_sts_policies(dns::Resolver& resolver,
                                                        StsFetcher& fetcher, StsCache& cache,
                                                        SystemTime now, log::Logger logger);

}  // namespace tern::services::delivery
