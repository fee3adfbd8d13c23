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
