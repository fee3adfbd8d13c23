// SPDX-License-Identifier: Apache-2.0
#include "app/store_gc_timer.hpp"

#include <string>

namespace tern::app {

StoreGcTimer::StoreGcTimer(domain::Storage& storage, runtime::BlockingPool& pool,
                           log::Logger logger, std::chrono::steady_clock::duration first,
                           std::chrono::steady_clock::duration every)
    : storage_(storage), pool_(pool), logger_(std::move(logger)), first_(first), every_(every) {}

void StoreGcTimer::start(asio::io_context& context) {
  asio::co_spawn(asio::make_strand(context), loop(), asio::detached);
}

asio::awaitable<void> StoreGcTimer::loop() {
  for (auto wait = first_; co_await sleep_.sleep(wait); wait = every_) {
    co_await runtime::offload(pool_, [this] { return run_once(); });
  }
}

Result<std::uint64_t> StoreGcTimer::run_once() {
  if (greylist_horizon_) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto purged = storage_.greylist().purge_greylist(now - greylist_horizon_->count()).get();
    if (!purged) {
      logger_.error("greylist purge failed", {{"error", purged.error().message}});
    } else if (*purged > 0) {
      logger_.info("greylist records purged", {{"removed", std::to_string(*purged)}});
    }
  }
  auto collected = storage_.blobs().collect_garbage().get();
  if (!collected) {
    logger_.error("store garbage collection failed", {{"error", collected.error().message}});
  } else if (*collected > 0) {
    logger_.info("store garbage collected", {{"removed", std::to_string(*collected)}});
  }
  return collected;
}

}  // namespace tern::app
