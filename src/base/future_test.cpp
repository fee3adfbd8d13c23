// SPDX-License-Identifier: Apache-2.0
#include "base/future.hpp"

#include <thread>

#include <gtest/gtest.h>

namespace tern {
namespace {

TEST(Future, ReadyFutureGivesItsValue) {
  auto future = make_ready_future(42);
  EXPECT_TRUE(future.is_ready());
  EXPECT_EQ(future.get(), 42);
}

TEST(Future, CallbackRunsAtOnceWhenAlreadyReady) {
  int seen = 0;
  make_ready_future(7).on_ready([&](int v) { seen = v; });
  EXPECT_EQ(seen, 7);
}

TEST(Future, CallbackRunsWhenPromiseIsFulfilledLater) {
  Promise<std::string> promise;
  std::string seen;
  promise.future().on_ready([&](std::string v) { seen = std::move(v); });
  EXPECT_TRUE(seen.empty());
  promise.set_value("done");
  EXPECT_EQ(seen, "done");
}

TEST(Future, GetBlocksUntilAnotherThreadFulfils) {
  Promise<int> promise;
  auto future = promise.future();
  std::thread producer([&] { promise.set_value(5); });
  EXPECT_EQ(future.get(), 5);
  producer.join();
}

TEST(MayBlockScope, MarksOnlyThisThreadAndNests) {
  EXPECT_FALSE(MayBlockScope::active());
  {
    MayBlockScope outer;
    EXPECT_TRUE(MayBlockScope::active());
    bool other_thread = true;
    std::thread([&] { other_thread = MayBlockScope::active(); }).join();
    EXPECT_FALSE(other_thread);
    {
      MayBlockScope inner;
      EXPECT_TRUE(MayBlockScope::active());
    }
    EXPECT_TRUE(MayBlockScope::active());  // the inner scope restored, not cleared
  }
  EXPECT_FALSE(MayBlockScope::active());
}

}  // namespace
}  // namespace tern
