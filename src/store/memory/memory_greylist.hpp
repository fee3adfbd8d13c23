// SPDX-License-Identifier: Apache-2.0
// MemoryStorage's domain::GreylistStore: the triplets' records in a map under a
// mutex of their own; every future is ready at once.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "domain/ports.hpp"

namespace tern::store::memory {

class MemoryGreylistStore final : public domain::GreylistStore {
 public:
  domain::Async<domain::GreylistVerdict> check_greylist(domain::GreylistTriplet triplet,
                                                        domain::GreylistPolicy policy,
                                                        std::int64_t now) override;
  domain::Async<std::uint64_t> purge_greylist(std::int64_t before) override;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // client, sender, recipient

  std::mutex mutex_;
  std::map<Key, domain::GreylistRecord> records_;
};

}  // namespace tern::store::memory
