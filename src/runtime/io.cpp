// SPDX-License-Identifier: Apache-2.0
#include "runtime/io.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "base/assert.hpp"

namespace tern::runtime {
namespace {

std::size_t resolve_thread_count(std::size_t threads) {
  if (threads != 0) {
    return threads;
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

}  // namespace

IoThreads::IoThreads(std::size_t threads)
    : context_(static_cast<int>(resolve_thread_count(threads))),
      thread_count_(resolve_thread_count(threads)) {}

IoThreads::~IoThreads() {
  if (!threads_.empty()) {
    stop();
    join();
  }
}

void IoThreads::start() {
  TERN_ASSERT(threads_.empty(), "IoThreads::start is called once");
  work_.emplace(context_.get_executor());
  for (std::size_t i = 0; i < thread_count_; ++i) {
    // Handlers do not throw (errors are values, and connection coroutines catch at
    // their boundary), so run() returning by exception is a bug worth a crash.
    threads_.emplace_back([this] { context_.run(); });
  }
}

void IoThreads::request_stop() {
  work_.reset();
}

void IoThreads::stop() {
  work_.reset();
  context_.stop();
}

asio::awaitable<bool> StoppableSleep::sleep(std::chrono::steady_clock::duration duration) {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      co_return false;
    }
    if (woken_) {
      woken_ = false;
      co_return true;
    }
    timer_ = timer;
  }
  // A stop() from here on posts its cancel to this strand, where it runs only
  // after this coroutine has suspended in async_wait: the cancel cannot be lost.
  timer->expires_after(duration);
  std::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::lock_guard lock(mutex_);
  if (timer_ == timer) {
    timer_.reset();
  }
  woken_ = false;  // this wait is what a wake() ended
  co_return !stopped_;
}

void StoppableSleep::stop() {
  std::shared_ptr<asio::steady_timer> timer;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    timer = std::move(timer_);
  }
  if (timer) {
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
}

void StoppableSleep::wake() {
  std::shared_ptr<asio::steady_timer> timer;
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
    timer = timer_;
  }
  if (timer) {
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
}

bool StoppableSleep::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

void IoThreads::join() {
  for (auto& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  threads_.clear();
}

BlockingPool::BlockingPool(std::size_t threads)
    : thread_count_(resolve_thread_count(threads)), pool_(thread_count_) {}

BlockingPool::~BlockingPool() {
  join();
}

void BlockingPool::join() {
  pool_.join();
}

bool configure_allocator() {
#if defined(__GLIBC__)
  // Setting M_MMAP_THRESHOLD also turns off the dynamic adjustment (mallopt(3)).
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold)) == 1;
#else
  return false;
#endif
}

}  // namespace tern::runtime
