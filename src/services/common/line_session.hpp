// SPDX-License-Identifier: Apache-2.0
// services::LineSession: the I/O side of a sans-IO line-protocol engine
// (pop3::ServerEngine, managesieve::ServerEngine) for the events they share:
// writing what the engine queued, NeedInput (read and feed), and StartTls
// (handshake, then tls_started). The service's loop does the rest.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "domain/authenticator.hpp"
#include "runtime/connection.hpp"
#include "runtime/tls.hpp"
#include "services/common/login.hpp"

namespace tern::services {

// `Engine` has output(), consume_output(), receive(span) and
// tls_started(bool plaintext_allowed, sasl::ChannelBindings). `connection` and
// `engine` must outlive the LineSession; one coroutine drives it.
template <class Engine>
class LineSession {
 public:
  // Pipelined commands whose answers are large (POP3 RETR, ManageSieve
  // GETSCRIPT) are written out once this much is queued, so a client that
  // pipelines its whole maildrop cannot make the session buffer it.
  static constexpr std::size_t kFlushBytes = 256 * 1024;

  // `protocol` prefixes the log lines ("pop3").
  LineSession(runtime::Connection& connection, Engine& engine, runtime::Duration write_timeout,
              std::string protocol)
      : connection_(connection),
        engine_(engine),
        write_timeout_(write_timeout),
        protocol_(std::move(protocol)) {}

  // Writes what the engine queued: false when the write failed (logged).
  asio::awaitable<bool> flush() {
    return runtime::flush_output(connection_, engine_, write_timeout_, protocol_ + " write failed");
  }

  // flush() once kFlushBytes are queued; true otherwise.
  asio::awaitable<bool> flush_if_large() {
    if (engine_.output().size() < kFlushBytes) {
      co_return true;
    }
    co_return co_await flush();
  }

  // NeedInput: flushes, reads within `timeout` and feeds the engine. False when
  // the session is over (write failed, peer gone, timed out): logged at debug
  // as `ended` ("session ended without QUIT").
  asio::awaitable<bool> read(runtime::Duration timeout, std::string_view ended) {
    if (!co_await flush()) {
      co_return false;
    }
    auto n = co_await connection_.read_some(buffer_, timeout);
    if (!n || *n == 0) {
      connection_.logger().debug(protocol_ + " " + std::string(ended),
                                 {{"error", n ? std::string("eof") : n.error().message}});
      co_return false;
    }
    engine_.receive(std::span<const char>(buffer_.data(), *n));
    co_return true;
  }

  // StartTls: flushes the engine's go-ahead, runs the handshake as the server
  // and tells the engine. False when the session is over (logged as `command`
  // "STLS handshake failed").
  asio::awaitable<bool> start_tls(runtime::TlsContexts& tls, runtime::Duration timeout,
                                  bool allow_plaintext_on_loopback, std::string_view command) {
    if (!co_await flush()) {
      co_return false;
    }
    auto started = co_await connection_.start_tls(tls.current(), timeout);
    if (!started) {
      connection_.logger().info(protocol_ + " " + std::string(command) + " handshake failed",
                                {{"error", started.error().message}});
      co_return false;
    }
    engine_.tls_started(
        domain::plaintext_auth_allowed(true, connection_.peer_address().is_loopback(),
                                       allow_plaintext_on_loopback),
        channel_bindings_of(connection_));
    co_return true;
  }

 private:
  runtime::Connection& connection_;
  Engine& engine_;
  runtime::Duration write_timeout_;
  std::string protocol_;
  std::array<char, 16384> buffer_;
};

}  // namespace tern::services
