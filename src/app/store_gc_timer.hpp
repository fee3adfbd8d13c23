// SPDX-License-Identifier: Apache-2.0
// ternd's store garbage collection: BlobStore::collect_garbage() on the blocking
// pool, first a few minutes after start (to reclaim what a crash left behind)
// and then every hour. For the sqlite backend that removes unreferenced blobs,
// orphan blob files, and segments without live spans, and compacts mostly dead
// segments (docs/adr/0020-message-segments.md). With greylisting on, each pass
// also purges the greylist records no attempt can use any more.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include <asio.hpp>

#include "base/log.hpp"
#include "base/result.hpp"
#include "domain/ports.hpp"
#include "runtime/io.hpp"

namespace tern::app {

class StoreGcTimer {
 public:
  // Everything passed in must outlive the timer and the pool's queued work.
  StoreGcTimer(domain::Storage& storage, runtime::BlockingPool& pool, log::Logger logger,
               std::chrono::steady_clock::duration first = std::chrono::minutes(10),
               std::chrono::steady_clock::duration every = std::chrono::hours(1));

  // Spawns the loop on a strand of `context`; it ends at stop().
  void start(asio::io_context& context);

  // Ends the loop (for shutdown): its pending wait is cancelled, and a pass
  // already on the pool finishes without scheduling another.
  void stop() { sleep_.stop(); }

  // Each pass also deletes greylist records last seen more than `horizon` ago
  // (GreylistStore::purge_greylist); unset: none are.
  void purge_greylist_after(std::chrono::seconds horizon) { greylist_horizon_ = horizon; }

  // One collection, as the loop runs it on the pool (public for tests): what
  // collect_garbage() removed, logged.
  Result<std::uint64_t> run_once();

 private:
  asio::awaitable<void> loop();

  domain::Storage& storage_;
  runtime::BlockingPool& pool_;
  log::Logger logger_;
  const std::chrono::steady_clock::duration first_;
  const std::chrono::steady_clock::duration every_;
  runtime::StoppableSleep sleep_;
  std::optional<std::chrono::seconds> greylist_horizon_;
};

}  // namespace tern::app
