// SPDX-License-Identifier: Apache-2.0
// Per-client-IP event rates (connections, messages) over a fixed window, the
// way Postfix's anvil enforces smtpd_client_connection_rate_limit and
// smtpd_client_message_rate_limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.hpp"

namespace tern::services::smtp {

// Counts events per key (the client IP) in windows of `window`; allow() is false
// once a key has had `limit` events in the current window. `limit` 0 means no
// limit (Postfix's default for both rates). Memory is bounded: at most
// `max_keys` keys are tracked; when full, expired windows are dropped first, then
// the table is cleared (an attacker with that many addresses gets a fresh window,
// a bounded cost rather than unbounded memory).
// Thread-safe: one instance is shared by every session of a service.
class RateLimiter {
 public:
  RateLimiter(std::uint32_t limit, std::chrono::seconds window, std::size_t max_keys = 100000);

  // Records one event for `key` at `now` and says whether it is within the rate.
  bool allow(std::string_view key, Instant now);

  // Keys tracked now (tests, metrics).
  std::size_t tracked() const;

 private:
  struct Window {
    Instant start{};
    std::uint32_t count = 0;
  };

  std::uint32_t limit_;
  std::chrono::seconds window_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace tern::services::smtp
