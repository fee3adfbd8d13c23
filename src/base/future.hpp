// SPDX-License-Identifier: Apache-2.0
// Future<T>/Promise<T>: the completion type of the asynchronous storage ports
// (docs/adr/0003-storage-ports.md). Deliberately small: one value, one consumer.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace tern {

namespace detail {
template <class T>
struct FutureState {
  std::mutex mutex;
  std::condition_variable ready_cv;
  std::optional<T> value;
  std::function<void(T)> callback;
  bool consumed = false;
};
}  // namespace detail

// The consumer side of a single-shot asynchronous result.
//
// A Future is consumed exactly once, either by get() (blocks the calling thread; for
// CLI tools, tests and code already running on a blocking pool) or by on_ready()
// (never blocks; the callback runs on the thread that fulfils the promise, or at
// once on the calling thread if the value is already there). runtime::await()
// turns a Future into an Asio awaitable.
//
// Thread-safety: a Future may be consumed on a different thread than the one that
// fulfils its Promise. Moving a Future is not thread-safe.
template <class T>
class [[nodiscard]] Future {
 public:
  Future() = default;

  explicit Future(std::shared_ptr<detail::FutureState<T>> state) : state_(std::move(state)) {}

  // True once the value is present. A default-constructed Future is never ready.
  bool is_ready() const {
    if (!state_) {
      return false;
    }
    std::lock_guard lock(state_->mutex);
    return state_->value.has_value();
  }

  // Blocks until the value is present and returns it.
  // Requires: the Future is valid and not yet consumed.
  T get() {
    std::unique_lock lock(state_->mutex);
    state_->ready_cv.wait(lock, [&] { return state_->value.has_value(); });
    state_->consumed = true;
    T value = std::move(*state_->value);
    state_->value.reset();
    return value;
  }

  // Arranges for `callback(value)` to run once the value is present.
  // Requires: the Future is valid and not yet consumed.
  void on_ready(std::function<void(T)> callback) && {
    std::unique_lock lock(state_->mutex);
    if (state_->value.has_value()) {
      state_->consumed = true;
      T value = std::move(*state_->value);
      state_->value.reset();
      lock.unlock();
      callback(std::move(value));
      return;
    }
    state_->callback = std::move(callback);
  }

  bool valid() const { return state_ != nullptr; }

 private:
  std::shared_ptr<detail::FutureState<T>> state_;
};

// The producer side. set_value() may be called once, from any thread.
template <class T>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::FutureState<T>>()) {}

  // Returns the Future bound to this promise. Call once.
  Future<T> future() const { return Future<T>(state_); }

  void set_value(T value) {
    std::unique_lock lock(state_->mutex);
    if (state_->callback) {
      auto callback = std::move(state_->callback);
      state_->consumed = true;
      lock.unlock();
      callback(std::move(value));
      return;
    }
    state_->value.emplace(std::move(value));
    lock.unlock();
    state_->ready_cv.notify_all();
  }

 private:
  std::shared_ptr<detail::FutureState<T>> state_;
};

// Marks the current thread, for the scope's lifetime, as one that may block: it
// runs blocking work (a blocking-pool job) and will wait on get() anyway. A
// backend may then do a short read on this thread and return a ready Future,
// instead of handing the read to its own threads and waking this one when done
// (two thread switches per call; docs/adr/0017-reads-on-the-calling-thread.md).
// Never set on an I/O thread. The one piece of thread state in base.
class MayBlockScope {
 public:
  MayBlockScope() : previous_(flag()) { flag() = true; }

  ~MayBlockScope() { flag() = previous_; }

  MayBlockScope(const MayBlockScope&) = delete;
  MayBlockScope& operator=(const MayBlockScope&) = delete;

  // True inside a MayBlockScope on this thread.
  static bool active() { return flag(); }

 private:
  static bool& flag() {
    thread_local bool may_block = false;
    return may_block;
  }

  bool previous_;
};

// A Future that is ready at once; what synchronous backends (store::memory) return.
template <class T>
Future<T> make_ready_future(T value) {
  Promise<T> promise;
  auto future = promise.future();
  promise.set_value(std::move(value));
  return future;
}

}  // namespace tern
