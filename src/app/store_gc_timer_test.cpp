// SPDX-License-Identifier: Apache-2.0
// StoreGcTimer: a pass collects what no one references, and the loop runs passes
// until it is stopped.
#include "app/store_gc_timer.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "store/memory/memory_storage.hpp"

namespace tern::app {
namespace {

using std::chrono::milliseconds;

// A blob that put() stored and no message references: the next collection's.
domain::BlobId unreferenced_blob(domain::Storage& storage, const std::string& bytes) {
  auto id = storage.blobs().put(bytes).get();
  EXPECT_TRUE(id);
  return id ? *id : domain::BlobId{};
}

TEST(StoreGcTimer, APassCollectsUnreferencedBlobs) {
  store::memory::MemoryStorage storage;
  runtime::BlockingPool pool{1};
  StoreGcTimer timer(storage, pool, log::Logger());
  auto id = unreferenced_blob(storage, "orphan");
  auto collected = timer.run_once();
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 1u);
  EXPECT_FALSE(storage.blobs().get(id).get());
  collected = timer.run_once();
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 0u);
}

TEST(StoreGcTimer, TheLoopCollectsUntilStopped) {
  store::memory::MemoryStorage storage;
  runtime::BlockingPool pool{1};
  asio::io_context io;
  StoreGcTimer timer(storage, pool, log::Logger(), milliseconds(1), milliseconds(5));
  timer.start(io);
  std::thread runner([&] { io.run(); });
  for (int round = 0; round < 2; ++round) {
    auto id = unreferenced_blob(storage, "orphan " + std::to_string(round));
    bool gone = false;
    for (int i = 0; i < 2000 && !gone; ++i) {
      gone = !storage.blobs().get(id).get();
      std::this_thread::sleep_for(milliseconds(1));
    }
    EXPECT_TRUE(gone) << "round " << round;
  }
  timer.stop();
  runner.join();  // the loop ended: nothing keeps io running
}

}  // namespace
}  // namespace tern::app
