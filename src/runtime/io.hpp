// SPDX-License-Identifier: Apache-2.0
// The threads of the process: one io_context run by N I/O threads, a bounded pool
// for blocking work, and the two bridges from coroutines to them: offload() and
// await() (ARCHITECTURE.md §5).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <asio.hpp>

#include "base/future.hpp"

namespace tern::runtime {

// One asio::io_context and the threads that run it.
//
// Lifecycle: construct, start(), ... request_stop() or stop(), join(). The context
// is kept alive by a work guard between start() and request_stop(), so it does not
// run out of work while listeners are idle.
// Thread-safety: start/request_stop/stop/join are called from the owning (main)
// thread; context() may be used from any thread.
class IoThreads {
 public:
  // `threads` == 0 means one per core (std::thread::hardware_concurrency, at least 1).
  explicit IoThreads(std::size_t threads);
  ~IoThreads();  // stops and joins
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  asio::io_context& context() { return context_; }

  asio::io_context::executor_type executor() { return context_.get_executor(); }

  std::size_t size() const { return thread_count_; }

  // Starts the threads. Requires: not started yet.
  void start();

  // Lets the threads exit once every pending handler and coroutine has finished
  // (the graceful path, after listeners have drained).
  void request_stop();

  // Stops the context at once; pending handlers are abandoned.
  void stop();

  // Waits for the threads to exit.
  void join();

 private:
  asio::io_context context_;
  std::size_t thread_count_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

// A sleep that another thread can end, for the daemon's periodic loops (the
// MTA-STS refresh, the report timer). A pending timer is work: after
// IoThreads::request_stop() it would keep the I/O threads, and so ternd, running
// until it fires; stop() at shutdown cancels it.
//
// Requires: sleep() is awaited from a coroutine running on a strand (stop() posts
// the cancel to the timer's executor, which must serialise it with the waiter).
// Thread-safety: stop(), wake() and stopped() from any thread.
class StoppableSleep {
 public:
  // Waits `duration`; false when stop() was called before or during the wait.
  asio::awaitable<bool> sleep(std::chrono::steady_clock::duration duration);

  // Ends the current wait (if any) and every later one at once.
  void stop();

  // Ends the current wait early (sleep() returns true), or, when none is pending
  // (the loop is busy), the next one at once: work that arrived from elsewhere is
  // looked at now rather than at the end of the sleep.
  void wake();

  bool stopped() const;

 private:
  mutable std::mutex mutex_;
  bool stopped_ = false;                       // guarded by mutex_
  bool woken_ = false;                         // a wake() not yet seen; guarded by mutex_
  std::shared_ptr<asio::steady_timer> timer_;  // the pending wait's; guarded by mutex_
};

// A fixed number of threads for blocking work (SQLite, fsync, argon2, heavy MIME).
// The thread count is the bound on concurrent blocking calls; further work queues.
//
// Thread-safety: executor() may be used from any thread.
class BlockingPool {
 public:
  // `threads` == 0 means one per core.
  explicit BlockingPool(std::size_t threads);
  ~BlockingPool();  // joins; queued work still runs
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  asio::thread_pool::executor_type executor() { return pool_.get_executor(); }

  std::size_t size() const { return thread_count_; }

  // Stops accepting work and waits for the threads.
  void join();

 private:
  std::size_t thread_count_;
  asio::thread_pool pool_;
};

namespace detail {
// What travels from the pool (or a Promise) back to the coroutine: the value or
// the exception `fn` threw.
template <class T>
struct Outcome {
  std::optional<T> value;
  std::exception_ptr error;
};

template <class F>
using OffloadValue = std::conditional_t<std::is_void_v<std::invoke_result_t<F>>, std::monostate,
                                        std::invoke_result_t<F>>;

template <class T>
T unwrap(Outcome<T>& outcome) {
  if (outcome.error) {
    std::rethrow_exception(outcome.error);
  }
  return std::move(*outcome.value);
}
}  // namespace detail

// Runs `fn()` on `pool` and resumes the calling coroutine on its own executor
// (its strand) with the result. An exception thrown by `fn` is rethrown in the
// coroutine; blocking code should return Result instead.
// Requires: `pool` outlives the call. `fn` is moved to the pool thread, so it must
// own (or safely share) everything it touches.
template <class F>
asio::awaitable<std::invoke_result_t<F>> offload(BlockingPool& pool, F fn) {
  using Value = detail::OffloadValue<F>;
  auto initiate = [&pool, fn = std::move(fn)](auto handler) mutable {
    // The work guard keeps the coroutine's context alive while the pool runs.
    auto resume_executor = asio::get_associated_executor(handler);
    auto work = asio::make_work_guard(resume_executor);
    asio::post(pool.executor(), [fn = std::move(fn), handler = std::move(handler),
                                 work = std::move(work)]() mutable {
      detail::Outcome<Value> outcome;
      // A pool thread may block: storage reads then run right here.
      MayBlockScope may_block;
      try {
        if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
          fn();
          outcome.value.emplace();
        } else {
          outcome.value.emplace(fn());
        }
      } catch (...) {
        outcome.error = std::current_exception();
      }
      // The guard travels with the handler and is released on the coroutine's
      // executor: released here, it could let run() return and the context be
      // destroyed while this thread still touched it.
      auto ex = work.get_executor();
      asio::dispatch(
          ex, [handler = std::move(handler), outcome = std::move(outcome),
               work = std::move(work)]() mutable { std::move(handler)(std::move(outcome)); });
    });
  };
  auto outcome =
      co_await asio::async_initiate<decltype(asio::use_awaitable), void(detail::Outcome<Value>)>(
          std::move(initiate), asio::use_awaitable);
  if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
    detail::unwrap(outcome);
  } else {
    co_return detail::unwrap(outcome);
  }
}

// Suspends until `future` is fulfilled and returns its value, resuming on the
// coroutine's executor (not on the thread that fulfilled the promise).
// `executor` is the executor to keep busy while waiting; pass the coroutine's own
// (co_await asio::this_coro::executor).
// Requires: `future` is valid and not yet consumed. There is no timeout: storage
// ports always complete their futures.
template <class T, class Executor>
asio::awaitable<T> await(Executor executor, Future<T> future) {
  auto initiate = [executor, future = std::move(future)](auto handler) mutable {
    // Future::on_ready takes a std::function, which must be copyable; the Asio
    // handler is move-only, so it travels in a shared box.
    using Handler = decltype(handler);
    struct Waiter {
      Handler handler;
      asio::executor_work_guard<Executor> work;
    };
    auto waiter =
        std::make_shared<Waiter>(Waiter{std::move(handler), asio::make_work_guard(executor)});
    std::move(future).on_ready([waiter](T value) mutable {
      // The waiter (and its work guard) moves on to the coroutine's executor and
      // is released there; the fulfilling thread keeps no reference, since its
      // release could come after run() returned and the context was destroyed.
      auto ex = asio::get_associated_executor(waiter->handler, waiter->work.get_executor());
      asio::dispatch(ex, [waiter = std::move(waiter), value = std::move(value)]() mutable {
        std::move(waiter->handler)(std::move(value));
      });
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      std::move(initiate), asio::use_awaitable);
}

// await() on the calling coroutine's executor.
template <class T>
asio::awaitable<T> await(Future<T> future) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await await(executor, std::move(future));
}

// Sets the process's malloc up for a server that holds many idle connections and
// runs work on many threads; a daemon calls it first thing in main(). With glibc it
// fixes the mmap threshold at kMmapThreshold. glibc otherwise raises the threshold
// each time a mapped block is freed (up to 32 MiB), after which large temporary
// buffers (an Argon2 work area per login, a message being appended, a FETCH batch)
// come from the arena of whichever of the blocking threads ran the work and stay
// resident after they are freed: each thread's arena ends up keeping its own copy.
// With the threshold fixed they are mapped and unmapped. Measured with
// bench/imap_bench.py (idle part, bench/README.md): 34 → 15 KiB per idle IMAP
// connection at 1,000 connections with this alone. Returns false where the
// allocator is not glibc's (nothing is changed).
bool configure_allocator();

inline constexpr std::size_t kMmapThreshold = 128 * 1024;  // glibc's initial default

}  // namespace tern::runtime
