// SPDX-License-Identifier: Apache-2.0
// MTA-STS as a sending MTA sees it (RFC 8461): the `_mta-sts` TXT record, the
// policy body fetched over HTTPS, MX pattern matching, and a cache of fetched
// policies that honours max_age and survives restarts (a file per domain).
// Pure except StsCache's files; the fetch and the daily refresh are in
// sts_refresh.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "dns/records.hpp"

namespace tern::services::delivery {

enum class StsMode : std::uint8_t { kNone, kTesting, kEnforce };

// "none" | "testing" | "enforce".
std::string_view sts_mode_name(StsMode mode);

// A parsed policy (RFC 8461 §3.2) plus the TXT id it was fetched under.
struct StsPolicy {
  std::string id;  // the `_mta-sts` TXT id= at fetch time
  StsMode mode = StsMode::kNone;
  std::vector<std::string> mx;  // patterns, lower case: "mail.example.org", "*.example.net"
  std::uint32_t max_age = 0;    // seconds, at most 31557600
  // The policy's fields as "key: value" lines, in file order (the TLS-RPT
  // "policy-string", RFC 8460 §4.4).
  std::vector<std::string> lines;
  friend bool operator==(const StsPolicy&, const StsPolicy&) = default;
};

// The id= of the one `_mta-sts` TXT record that starts with "v=STSv1;" (RFC 8461
// §3.1: records that do not are discarded; none or several usable ones, or a
// syntactically invalid one, mean "no policy"). Strings of one record are
// joined without spaces. nullopt when there is no usable record.
std::optional<std::string> parse_sts_txt(const std::vector<dns::TxtRecord>& records);

// Parses a policy body (RFC 8461 §3.2): LF or CRLF separated "key: value"
// fields; version must be the first field and be "STSv1"; mode and max_age are
// required; at least one mx unless mode is none; unknown fields are ignored and
// a repeated non-mx field keeps its first value. `id` is copied into the result.
// Errors: kInvalidInput naming the problem ("mode: unknown value 'strict'").
Result<StsPolicy> parse_sts_policy(std::string_view body, std::string id);

// RFC 8461 §4.1: `host` (an MX name, any case, trailing dot allowed) matches
// `pattern` exactly, or "*.suffix" matches exactly one label before suffix
// ("*.example.com" matches "mail.example.com", not "example.com" nor
// "a.b.example.com").
bool sts_mx_matches(std::string_view pattern, std::string_view host);

// True when any of the policy's patterns matches `host`.
bool sts_policy_allows(const StsPolicy& policy, std::string_view host);

// Fetched policies by domain, with their fetch time. With a directory, each
// policy is also written to <dir>/<domain> (the id, the fetch time and the body)
// and read back on first use after a restart, so an attacker who blocks the
// fetch after a restart still meets the cached policy (RFC 8461 §10).
//
// Thread-safety: all members may be called concurrently.
class StsCache {
 public:
  using Clock = std::chrono::system_clock;

  // `directory` "" keeps policies in memory only; it is created when missing.
  explicit StsCache(std::string directory = {});

  struct Entry {
    StsPolicy policy;
    // When the policy was fetched, or last confirmed by a refresh that found the
    // same `_mta-sts` id (sts_refresh.hpp); max_age counts from here.
    Clock::time_point fetched;
    std::string body;  // what was fetched, for the file
  };

  // The cached entry for `domain` that has not outlived its max_age at `now`
  // (RFC 8461 §5.1 step 1); nullopt when there is none or it expired.
  std::optional<Entry> fresh(const std::string& domain, Clock::time_point now);

  // The cached entry for `domain` whether or not it expired (memory, else its
  // file); nullopt when there is none.
  std::optional<Entry> cached(const std::string& domain);

  // Every domain with a cached entry: those in memory and those with a readable
  // file name in the directory (policies cached before a restart), sorted.
  std::vector<std::string> domains();

  // Drops the entry of `domain` and its file (an expired policy not renewed).
  void forget(const std::string& domain);

  // Stores a freshly fetched policy (replacing an older one) and writes its file.
  // Errors: kIo when the file cannot be written (the memory copy is kept).
  Result<void> store(const std::string& domain, Entry entry);

  // Records a failed fetch of `id` at `now`, and asks whether a fetch of `id`
  // may be tried at `now`: RFC 8461 §3.3 asks to wait at least five minutes per
  // id after a failure.
  void note_fetch_failure(const std::string& domain, const std::string& id, Clock::time_point now);
  bool may_fetch(const std::string& domain, const std::string& id, Clock::time_point now);

  static constexpr std::chrono::minutes kRetryAfterFailure{5};

 private:
  std::optional<Entry> load_file(const std::string& domain);
  // The entry in memory, loaded from its file on first use. Requires mutex_.
  const Entry* find_locked(const std::string& domain);

  std::string directory_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;                                       // guarded by mutex_
  std::map<std::string, std::pair<std::string, Clock::time_point>> failures_;  // guarded
};

}  // namespace tern::services::delivery
