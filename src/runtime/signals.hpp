// SPDX-License-Identifier: Apache-2.0
// SignalWatcher: turns SIGTERM/SIGINT into a stop request and SIGHUP into a reload
// request, delivered as ordinary callbacks on the io_context.
#pragma once

#include <functional>
#include <memory>

#include <asio.hpp>

#include "base/log.hpp"

namespace tern::runtime {

// Watches SIGTERM, SIGINT and SIGHUP through asio::signal_set (so the callbacks
// run on an I/O thread, not in a signal handler, and may do anything).
//   on_stop   - SIGTERM or SIGINT: begin draining; called on every such signal,
//               so a second Ctrl-C can escalate to an immediate stop
//   on_reload - SIGHUP: re-read configuration and TLS files, reopen logs
// Callbacks run one at a time. Construct before starting the I/O threads' work
// that might be interrupted; the watcher stays armed until cancel() or
// destruction.
class SignalWatcher {
 public:
  SignalWatcher(asio::io_context& io, std::function<void(int signal)> on_stop,
                std::function<void()> on_reload, log::Logger logger);
  ~SignalWatcher();  // cancels
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Stops watching; the signals regain their default behaviour only when the
  // io_context's signal service is destroyed. Thread-safe.
  void cancel();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tern::runtime
