// SPDX-License-Identifier: Apache-2.0
// Connection: the byte stream a protocol session reads and writes, over TCP, TLS or
// a local (UNIX-domain) stream socket, with a timeout on every operation and an
// in-place STARTTLS upgrade.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "base/log.hpp"
#include "base/result.hpp"

namespace tern::runtime {

using Duration = std::chrono::steady_clock::duration;

// RFC 9266 §2: the label of the tls-exporter channel binding (32 bytes, no context).
inline constexpr std::string_view kTlsExporterLabel = "EXPORTER-Channel-Binding";
inline constexpr std::size_t kTlsExporterLength = 32;

// The identity of a peer on a local socket, from SO_PEERCRED (Linux, unix(7)): the
// process that connected and the user and group it ran as at connect time.
struct PeerCredentials {
  std::int64_t pid = -1;
  std::int64_t uid = -1;
  std::int64_t gid = -1;
};

// A connected byte stream. Sessions own it through std::unique_ptr and use it from
// one coroutine at a time; every member is bound to the connection's executor
// (its strand) except canceller(), which returns a thread-safe function.
//
// Errors never throw. They come back as Result errors:
//   kTimeout    the operation's timeout passed (the stream is then unusable)
//   kCancelled  the connection was closed by close() or by its canceller
//   kIo         the peer reset the stream, a TLS error, any other socket error
// An orderly end of stream from the peer is not an error: read_some() returns 0.
class Connection {
 public:
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads at least one byte into `buffer`, or returns 0 at end of stream.
  // Requires: `buffer` is not empty and stays valid until the read completes.
  virtual asio::awaitable<Result<std::size_t>> read_some(std::span<char> buffer,
                                                         Duration timeout) = 0;

  // Writes all of `bytes`. `timeout` bounds the whole write, so a client that
  // stops reading cannot hold the session forever.
  // Requires: `bytes` stays valid until the write completes (co_await at once).
  virtual asio::awaitable<Result<void>> write_all(std::string_view bytes, Duration timeout) = 0;

  // Upgrades a plain connection to TLS in place, as the server (STARTTLS, or
  // the start of an implicit-TLS connection). The connection keeps `context`
  // alive. Bytes the peer sent before the handshake that were already read are
  // the session's to discard (RFC 3207 §4.2); none are buffered here.
  // Errors: kInvalidInput if TLS is already active; kIo/kTimeout if the
  // handshake fails (the connection is then unusable).
  virtual asio::awaitable<Result<void>> start_tls(std::shared_ptr<asio::ssl::context> context,
                                                  Duration timeout) = 0;

  // The same as the client; `server_name` is sent as SNI when not empty.
  // Certificate verification is whatever `context` is configured to do.
  virtual asio::awaitable<Result<void>> start_tls_client(
      std::shared_ptr<asio::ssl::context> context, std::string server_name, Duration timeout) = 0;

  virtual bool is_tls() const = 0;

  // The negotiated protocol ("TLSv1.3") and cipher, or empty strings when plain.
  virtual std::string tls_version() const = 0;
  virtual std::string tls_cipher() const = 0;

  // Keying material exported from the TLS session (RFC 5705, RFC 8446 §7.5) with
  // `label` and no context, `length` bytes; "" when not TLS or the export fails.
  // SCRAM-PLUS uses tls_exporter(kTlsExporterLabel, 32) as its "tls-exporter"
  // channel binding (RFC 9266 §2).
  virtual std::string tls_exporter(std::string_view label, std::size_t length) const {
    (void)label;
    (void)length;
    return {};
  }

  // The "tls-unique" channel binding (RFC 5929 §3.1): the first Finished message
  // of the most recent handshake. "" when not TLS, and under TLS 1.3, where it is
  // not defined (RFC 9266 §1): only tls-exporter is offered there.
  virtual std::string tls_unique() const { return {}; }

  // Closes the stream at once; pending and later operations fail with kCancelled.
  virtual void close() = 0;

  // Returns a function that closes this connection from any thread (it posts to
  // the connection's strand). Calling it after the connection is gone is a no-op.
  virtual std::function<void()> canceller() = 0;

  virtual asio::any_io_executor executor() = 0;

  // A short unique id ("c4kq7vn2h3a0e"), for logs and for correlating records.
  const std::string& id() const { return id_; }

  // The peer's address (IPv4-mapped IPv6 addresses appear as IPv4) and port.
  // A local-socket peer has none: the unspecified address 0.0.0.0 and port 0;
  // check is_local() before using the address as a key (rate limits, Received:).
  const asio::ip::address& peer_address() const { return peer_address_; }

  std::uint16_t peer_port() const { return peer_port_; }

  // True for a peer on a local (UNIX-domain) socket.
  bool is_local() const { return credentials_.has_value(); }

  // The local peer's SO_PEERCRED identity; nullopt for TCP peers.
  const std::optional<PeerCredentials>& peer_credentials() const { return credentials_; }

  // A logger carrying conn=<id> and peer=<ip> on every record; for a local
  // peer peer=local, uid=<uid> and pid=<pid>.
  const log::Logger& logger() const { return logger_; }

 protected:
  Connection(std::string id, asio::ip::address peer_address, std::uint16_t peer_port,
             const log::Logger& logger);
  Connection(std::string id, PeerCredentials credentials, const log::Logger& logger);

 private:
  std::string id_;
  asio::ip::address peer_address_;
  std::uint16_t peer_port_;
  std::optional<PeerCredentials> credentials_;
  log::Logger logger_;
};

// Writes out what a sans-IO engine has queued and consumes it from the engine:
// the write step of a session that drives an engine (`engine.output()` gives the
// queued bytes, `engine.consume_output(n)` drops n of them; smtp::ServerEngine,
// pop3::ServerEngine). Nothing queued: true at once. On a failed write (timeout,
// reset) logs `failure` with the error at debug level on the connection's logger
// and returns false; the connection is then unusable and the engine keeps its
// output. Requires: no other write on `connection` until this completes.
template <class Engine>
asio::awaitable<bool> flush_output(Connection& connection, Engine& engine, Duration timeout,
                                   std::string_view failure) {
  std::string_view out = engine.output();
  if (out.empty()) {
    co_return true;
  }
  auto written = co_await connection.write_all(out, timeout);
  if (!written) {
    connection.logger().debug(failure, {{"error", written.error().message}});
    co_return false;
  }
  engine.consume_output(out.size());
  co_return true;
}

// Wraps an open TCP socket (accepted or connected). The socket's executor should
// be a strand, and the session coroutine should run on it.
std::unique_ptr<Connection> make_tcp_connection(asio::ip::tcp::socket socket, std::string id,
                                                const log::Logger& logger);

// Wraps an accepted local (UNIX-domain) stream socket and reads its peer's
// SO_PEERCRED (all -1 if the kernel does not say). The same rules as TCP: the
// socket's executor should be a strand. start_tls works on it as well, though
// no listener offers TLS on a local socket.
std::unique_ptr<Connection> make_local_connection(asio::local::stream_protocol::socket socket,
                                                  std::string id, const log::Logger& logger);

// Connects to the local stream socket at `path` within `timeout`, for tests and
// local clients. Errors name the path: "connect unix:/x.sock: connection refused".
// The returned connection's peer credentials are the listening process's.
asio::awaitable<Result<std::unique_ptr<Connection>>> connect_local(std::string path,
                                                                   Duration timeout, std::string id,
                                                                   log::Logger logger);

// Connects to `endpoint` on the calling coroutine's executor within `timeout`.
// Errors name the endpoint: "connect 127.0.0.1:25: connection refused".
asio::awaitable<Result<std::unique_ptr<Connection>>> connect_tcp(asio::ip::tcp::endpoint endpoint,
                                                                 Duration timeout, std::string id,
                                                                 log::Logger logger);

// Connects to a helper daemon's socket (clamd, a mail filter): the local socket at
// `unix_path` when it is not empty, else `tcp`; errors as above.
asio::awaitable<Result<std::unique_ptr<Connection>>> connect_socket(std::string unix_path,
                                                                    asio::ip::tcp::endpoint tcp,
                                                                    Duration timeout,
                                                                    std::string id,
                                                                    log::Logger logger);

// Renders "192.0.2.1:25" or "[2001:db8::1]:25".
std::string format_endpoint(const asio::ip::address& address, std::uint16_t port);

// Generates connection ids: a random prefix fixed per generator plus a counter,
// base32-encoded (13 characters, lower case), so ids are short, unique within a
// process and unlikely to repeat across restarts. Thread-safe.
class ConnectionIds {
 public:
  ConnectionIds();  // seeds the prefix from the system random source
  explicit ConnectionIds(std::uint32_t prefix);

  std::string next();

 private:
  std::uint64_t prefix_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace tern::runtime
