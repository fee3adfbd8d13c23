// SPDX-License-Identifier: Apache-2.0
#include "runtime/connection_limits.hpp"

namespace tern::runtime {

ConnectionLimits::Admission ConnectionLimits::admit(const asio::ip::address& peer) {
  std::lock_guard lock(mutex_);
  if (open_ >= max_total_) {
    return Admission::kGlobalLimit;
  }
  auto it = per_ip_.find(peer);
  std::size_t from_peer = it == per_ip_.end() ? 0 : it->second;
  if (from_peer >= max_per_ip_) {
    return Admission::kPerIpLimit;
  }
  ++per_ip_[peer];
  ++open_;
  return Admission::kAdmitted;
}

void ConnectionLimits::release(const asio::ip::address& peer) {
  std::lock_guard lock(mutex_);
  auto it = per_ip_.find(peer);
  if (it != per_ip_.end() && --it->second == 0) {
    per_ip_.erase(it);
  }
  if (open_ > 0) {
    --open_;
  }
}

ConnectionLimits::Admission ConnectionLimits::admit_local() {
  std::lock_guard lock(mutex_);
  if (open_ >= max_total_) {
    return Admission::kGlobalLimit;
  }
  ++open_;
  return Admission::kAdmitted;
}

void ConnectionLimits::release_local() {
  std::lock_guard lock(mutex_);
  if (open_ > 0) {
    --open_;
  }
}

void ConnectionLimits::set_caps(std::size_t max_total, std::size_t max_per_ip) {
  std::lock_guard lock(mutex_);
  max_total_ = max_total;
  max_per_ip_ = max_per_ip;
}

std::size_t ConnectionLimits::open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

std::size_t ConnectionLimits::open_from(const asio::ip::address& peer) const {
  std::lock_guard lock(mutex_);
  auto it = per_ip_.find(peer);
  return it == per_ip_.end() ? 0 : it->second;
}

}  // namespace tern::runtime
