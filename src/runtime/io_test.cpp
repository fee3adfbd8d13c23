// SPDX-License-Identifier: Apache-2.0
#include "runtime/io.hpp"

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "runtime/testing.hpp"

namespace tern::runtime {
namespace {

using testing::run_for;

TEST(Offload, RunsOnThePoolAndResumesOnTheCallersStrand) {
  IoThreads io(2);
  io.start();
  BlockingPool pool(1);
  auto result = run_for(io.context(), [](BlockingPool& p) -> asio::awaitable<bool> {
    auto caller = std::this_thread::get_id();
    auto strand = co_await asio::this_coro::executor;
    std::thread::id worker = co_await offload(p, [] { return std::this_thread::get_id(); });
    bool resumed_on_strand =
        strand.target<asio::strand<asio::io_context::executor_type>>()->running_in_this_thread();
    co_return worker != caller&& resumed_on_strand;
  }(pool));
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(*result);
}

TEST(Offload, RethrowsWhatTheFunctionThrew) {
  IoThreads io(1);
  io.start();
  BlockingPool pool(1);
  auto result = run_for(io.context(), [](BlockingPool& p) -> asio::awaitable<std::string> {
    try {
      co_await offload(p, []() -> int { throw std::runtime_error("disk full"); });
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what());
    }
    co_return std::string("no exception");
  }(pool));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, "disk full");
}

TEST(Offload, SupportsVoidFunctions) {
  IoThreads io(1);
  io.start();
  BlockingPool pool(2);
  auto result = run_for(io.context(), [](BlockingPool& p) -> asio::awaitable<int> {
    int calls = 0;
    co_await offload(p, [&calls] { ++calls; });
    co_return calls;
  }(pool));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, 1);
}

TEST(AwaitFuture, ResumesWhenAnotherThreadFulfilsThePromise) {
  IoThreads io(2);
  io.start();
  Promise<std::string> promise;
  auto future = promise.future();
  std::thread producer;
  auto result = run_for(io.context(),
                        [](Future<std::string> f, Promise<std::string> p,
                           std::thread& t) -> asio::awaitable<std::string> {
                          t = std::thread([p]() mutable { p.set_value("stored"); });
                          auto executor = co_await asio::this_coro::executor;
                          co_return co_await await(executor, std::move(f));
                        }(std::move(future), promise, producer));
  producer.join();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, "stored");
}

TEST(AwaitFuture, ReturnsAtOnceForAReadyFuture) {
  IoThreads io(1);
  io.start();
  auto result = run_for(io.context(), []() -> asio::awaitable<int> {
    co_return co_await await(make_ready_future(42));
  }());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, 42);
}

// Starts an hour's sleep on a strand of `io`; `woke` gets what it returned. Gives
// the sleep 50 ms to begin.
void sleep_an_hour_in_background(IoThreads& io, StoppableSleep& sleep, std::promise<bool>& woke) {
  asio::co_spawn(
      asio::make_strand(io.context()),
      [](StoppableSleep& s, std::promise<bool>& done) -> asio::awaitable<void> {
        done.set_value(co_await s.sleep(std::chrono::hours(1)));
      }(sleep, woke),
      asio::detached);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// ternd's shutdown drops the work guard and joins the I/O threads: a periodic
// loop's hour-long wait must end at stop(), or the threads never run out of work.
TEST(StoppableSleep, StopEndsAPendingWaitSoTheThreadsRunOutOfWork) {
  IoThreads io(2);
  io.start();
  StoppableSleep sleep;
  std::promise<bool> woke;
  sleep_an_hour_in_background(io, sleep, woke);
  sleep.stop();
  auto result = woke.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_FALSE(result.get());
  io.request_stop();
  io.join();
  EXPECT_TRUE(io.context().stopped());
}

TEST(StoppableSleep, AfterStopEveryWaitEndsAtOnceAndAnUnstoppedOneRunsOut) {
  IoThreads io(1);
  io.start();
  StoppableSleep running;
  auto slept = run_for(io.context(), [](StoppableSleep& s) -> asio::awaitable<bool> {
    co_return co_await s.sleep(std::chrono::milliseconds(1));
  }(running));
  ASSERT_TRUE(slept.has_value());
  EXPECT_TRUE(*slept);
  StoppableSleep stopped;
  stopped.stop();
  EXPECT_TRUE(stopped.stopped());
  auto refused = run_for(io.context(), [](StoppableSleep& s) -> asio::awaitable<bool> {
    co_return co_await s.sleep(std::chrono::hours(1));
  }(stopped));
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(*refused);
}

// The report timer sleeps until stopped when nothing can come due; a SIGHUP
// wakes it to look at work another process stored.
TEST(StoppableSleep, WakeEndsAPendingWaitOrTheNextOneAndLeavesLaterOnesAlone) {
  IoThreads io(1);
  io.start();
  StoppableSleep sleep;
  std::promise<bool> woke;
  sleep_an_hour_in_background(io, sleep, woke);
  sleep.wake();
  auto result = woke.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(result.get());  // woken, not stopped
  // A wake while no wait is pending ends the next one at once, and only that one.
  sleep.wake();
  const auto before = std::chrono::steady_clock::now();
  auto next = run_for(io.context(), [](StoppableSleep& s) -> asio::awaitable<bool> {
    co_return co_await s.sleep(std::chrono::hours(1));
  }(sleep));
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(*next);
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  const auto later_start = std::chrono::steady_clock::now();
  auto later = run_for(io.context(), [](StoppableSleep& s) -> asio::awaitable<bool> {
    co_return co_await s.sleep(std::chrono::milliseconds(200));
  }(sleep));
  ASSERT_TRUE(later.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - later_start, std::chrono::milliseconds(200));
  sleep.stop();
  io.request_stop();
  io.join();
}

TEST(IoThreads, ZeroMeansOnePerCore) {
  IoThreads io(0);
  EXPECT_GE(io.size(), 1u);
}

}  // namespace
}  // namespace tern::runtime
