// SPDX-License-Identifier: Apache-2.0
// Listener: a bound TCP or local (UNIX-domain) stream socket, its accept loop,
// connection limits and graceful drain. Protocol-agnostic: every accepted
// connection goes to a handler coroutine.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "base/log.hpp"
#include "base/metrics.hpp"
#include "base/result.hpp"
#include "runtime/connection.hpp"
#include "runtime/connection_limits.hpp"
#include "runtime/tls.hpp"

namespace tern::runtime {

// The per-connection entry point, e.g. a service's session coroutine. It owns the
// connection; when it returns (or throws) the connection is closed and its slot in
// the limits is freed. Exceptions are caught, logged and counted by the listener.
using ConnectionHandler = std::function<asio::awaitable<void>(std::unique_ptr<Connection>)>;

struct ListenerOptions {
  // Names the listener in logs and in the `listener` metrics label ("smtp", "http").
  std::string name = "listener";
  // An IPv4 or IPv6 literal ("0.0.0.0", "::", "127.0.0.1"); no host names.
  std::string address = "127.0.0.1";
  // 0 picks a free port; port() reports it.
  std::uint16_t port = 0;
  // Non-empty: listen on a local stream socket at this path instead of TCP
  // (`address` and `port` are then unused). At bind, an existing file there is
  // removed only if it is a socket nobody listens on (a connect attempt is
  // refused); anything else is an error. The file gets `local_mode` and, when
  // not -1, `local_uid`/`local_gid` before it accepts (bind runs as root, before
  // the privilege drop), and is removed again when the listener stops accepting
  // (if it is still the same file). Peers count against the total cap only.
  std::string local_path;
  std::uint32_t local_mode = 0660;
  std::int64_t local_uid = -1;
  std::int64_t local_gid = -1;
  // Non-null: implicit TLS (465, 993, 995, 443); the handshake happens before the
  // handler runs, with the context current at accept time.
  std::shared_ptr<TlsContexts> implicit_tls;
  Duration tls_handshake_timeout = std::chrono::seconds(30);
  // Open connections allowed on this listener, and from one peer address; used
  // only when `shared_limits` is null.
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 20;
  // Non-null: the caps are shared with every listener given the same object, so
  // they bound the whole process (ternd's [limits]); they may change while running.
  std::shared_ptr<ConnectionLimits> shared_limits;
  // A line sent before closing a connection refused by a limit, e.g.
  // "421 4.7.0 too many connections\r\n". Empty: close silently. Never sent on
  // implicit-TLS listeners (the client expects a handshake, not plain text).
  std::string over_limit_reply;
};

// Counters as of now; also exported as metrics when a Registry is given.
struct ListenerStats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected_global_limit = 0;
  std::uint64_t rejected_per_ip_limit = 0;
  std::uint64_t handler_failures = 0;  // handlers that threw
  std::int64_t open = 0;
};

// Lifecycle (all from the owning thread, typically main):
//   bind()  - as root, before dropping privileges; errors name address and reason
//   start() - after dropping privileges; accepting begins
//   drain() - on SIGTERM: stop accepting, wait for connections, then cancel them
// Each connection's coroutine runs on its own strand; the accept loop on another.
// The Listener must outlive the io_context threads' use of it only until drain()
// (or stop_accepting() + close_connections()) has finished; internal state is
// reference-counted so late completions never touch freed memory.
//
// Metrics (when `registry` is given), labelled listener="<name>":
//   tern_connections_accepted_total, tern_connections_rejected_total{reason=
//   "global_limit"|"per_ip_limit"}, tern_connections_open,
//   tern_connection_failures_total (handler threw).
class Listener {
 public:
  // Opens, binds and listens. Errors: kInvalidInput ("bind x:25: invalid
  // address"), kAlreadyExists ("bind 127.0.0.1:25: address already in use"),
  // kPermissionDenied ("bind 0.0.0.0:25: permission denied"), kIo otherwise.
  // Local sockets: "bind unix:/p: path too long" (kInvalidInput), "bind unix:/p:
  // a process is listening on it" and "bind unix:/p: exists and is not a
  // socket" (kAlreadyExists), "bind unix:/p: chown: operation not permitted".
  // `registry`, if given, must outlive the Listener.
  static Result<std::unique_ptr<Listener>> bind(asio::io_context& io, ListenerOptions options,
                                                log::Logger logger,
                                                metrics::Registry* registry = nullptr);

  ~Listener();  // stops accepting and cancels open connections
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound address and port (the real port when bound to port 0); a
  // default endpoint for a local socket.
  asio::ip::tcp::endpoint local_endpoint() const;

  std::uint16_t port() const { return local_endpoint().port(); }

  // For logs: "127.0.0.1:25", "[::1]:25" or "unix:/var/lib/tern/lmtp.sock".
  std::string address() const;

  const std::string& name() const;

  // Starts the accept loop. Requires: called once.
  void start(ConnectionHandler handler);

  // Closes the listening socket (and removes a local socket's file); open
  // connections continue. Thread-safe.
  void stop_accepting();

  // Closes every open connection now (their pending operations fail with
  // kCancelled, so handlers unwind). Thread-safe.
  void close_connections();

  // Stops accepting, waits up to `grace` for open connections to finish on their
  // own, then closes the rest and waits (up to 5 s) for their handlers to unwind.
  // Returns true when every connection finished within `grace`. May be awaited
  // from any executor.
  asio::awaitable<bool> drain(Duration grace);

  std::size_t open_connections() const;
  ListenerStats stats() const;

  struct State;

 private:
  explicit Listener(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace tern::runtime
