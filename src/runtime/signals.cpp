// SPDX-License-Identifier: Apache-2.0
#include "runtime/signals.hpp"

#include <csignal>
#include <string>

namespace tern::runtime {

struct SignalWatcher::State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, std::function<void(int)> stop, std::function<void()> reload,
        log::Logger log)
      : signals(asio::make_strand(io), SIGTERM, SIGINT, SIGHUP),
        on_stop(std::move(stop)),
        on_reload(std::move(reload)),
        logger(std::move(log)) {}

  asio::signal_set signals;
  std::function<void(int)> on_stop;
  std::function<void()> on_reload;
  log::Logger logger;

  void wait() {
    signals.async_wait([self = shared_from_this()](asio::error_code ec, int signal) {
      if (ec) {
        return;  // cancelled
      }
      if (signal == SIGHUP) {
        self->logger.info("reload requested", {{"signal", "SIGHUP"}});
        if (self->on_reload) {
          self->on_reload();
        }
      } else {
        self->logger.info("stop requested", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
        if (self->on_stop) {
          self->on_stop(signal);
        }
      }
      self->wait();
    });
  }
};

SignalWatcher::SignalWatcher(asio::io_context& io, std::function<void(int)> on_stop,
                             std::function<void()> on_reload, log::Logger logger)
    : state_(std::make_shared<State>(io, std::move(on_stop), std::move(on_reload),
                                     std::move(logger))) {
  state_->wait();
}

SignalWatcher::~SignalWatcher() {
  cancel();
}

void SignalWatcher::cancel() {
  asio::post(state_->signals.get_executor(), [state = state_] {
    asio::error_code ignored;
    state->signals.cancel(ignored);
  });
}

}  // namespace tern::runtime
