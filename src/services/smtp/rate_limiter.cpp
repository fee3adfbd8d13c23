// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/rate_limiter.hpp"

namespace tern::services::smtp {

RateLimiter::RateLimiter(std::uint32_t limit, std::chrono::seconds window, std::size_t max_keys)
    : limit_(limit), window_(window), max_keys_(max_keys == 0 ? 1 : max_keys) {}

bool RateLimiter::allow(std::string_view key, Instant now) {
  if (limit_ == 0) {
    return true;
  }
  std::lock_guard lock(mutex_);
  auto it = windows_.find(std::string(key));
  if (it == windows_.end()) {
    if (windows_.size() >= max_keys_) {
      std::erase_if(windows_,
                    [&](const auto& entry) { return now - entry.second.start >= window_; });
      if (windows_.size() >= max_keys_) {
        windows_.clear();
      }
    }
    it = windows_.emplace(std::string(key), Window{now, 0}).first;
  }
  Window& w = it->second;
  if (now - w.start >= window_) {
    w = Window{now, 0};
  }
  if (w.count >= limit_) {
    return false;
  }
  ++w.count;
  return true;
}

std::size_t RateLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return windows_.size();
}

}  // namespace tern::services::smtp
