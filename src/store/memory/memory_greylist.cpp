// SPDX-License-Identifier: Apache-2.0
#include "store/memory/memory_greylist.hpp"

namespace tern::store::memory {

namespace d = tern::domain;

d::Async<d::GreylistVerdict> MemoryGreylistStore::check_greylist(d::GreylistTriplet triplet,
                                                                 d::GreylistPolicy policy,
                                                                 std::int64_t now) {
  std::lock_guard lock(mutex_);
  std::uint64_t client_passes = 0;
  if (policy.auto_allow_after > 0) {
    // The client's records are adjacent in the map: they share its first key.
    for (auto it = records_.lower_bound(Key{triplet.client, "", ""});
         it != records_.end() && std::get<0>(it->first) == triplet.client; ++it) {
      client_passes += it->second.passed ? 1 : 0;
    }
  }
  Key key{std::move(triplet.client), std::move(triplet.sender), std::move(triplet.recipient)};
  auto found = records_.find(key);
  std::optional<d::GreylistRecord> record;
  if (found != records_.end()) {
    record = found->second;
  }
  auto decision = d::decide_greylist(record, client_passes, policy, now);
  records_[std::move(key)] = decision.record;
  return make_ready_future<Result<d::GreylistVerdict>>(decision.verdict);
}

d::Async<std::uint64_t> MemoryGreylistStore::purge_greylist(std::int64_t before) {
  std::lock_guard lock(mutex_);
  std::uint64_t purged = std::erase_if(
      records_, [before](const auto& item) { return item.second.last_seen < before; });
  return make_ready_future<Result<std::uint64_t>>(purged);
}

}  // namespace tern::store::memory
