// SPDX-License-Identifier: Apache-2.0
#include "runtime/connection.hpp"

#include <algorithm>

#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "runtime/system_clock.hpp"

namespace tern::runtime {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::ip::address normalize(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// Error messages are lower case by house rule (docs/adr/0002-error-handling.md);
// system messages start with a capital.
std::string lower_first(std::string text) {
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

// The socket and its optional TLS layer, shared with the watchdog timer's handler
// and the canceller so neither can outlive what it touches. Only touched on the
// socket's strand. One template for TCP and local stream sockets, so timeouts,
// cancellation and TLS behave the same on both.
template <class Protocol>
struct Transport : std::enable_shared_from_this<Transport<Protocol>> {
  using Socket = typename Protocol::socket;

  explicit Transport(Socket s) : socket(std::move(s)), watchdog(socket.get_executor()) {}

  Socket socket;
  asio::steady_timer watchdog;
  std::shared_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<asio::ssl::stream<Socket&>> tls;
  std::uint64_t generation = 0;
  bool timed_out = false;
  bool closed = false;

  // One timer per connection, re-armed per operation. The generation check makes
  // a stale expiry (queued just as the operation finished) harmless. On expiry the
  // socket's operations are cancelled, which also aborts a TLS operation in flight.
  void arm(Duration timeout) {
    ++generation;
    timed_out = false;
    watchdog.expires_after(timeout);
    watchdog.async_wait([self = this->shared_from_this(), gen = generation](asio::error_code ec) {
      if (ec || gen != self->generation) {
        return;
      }
      self->timed_out = true;
      asio::error_code ignored;
      self->socket.cancel(ignored);
    });
  }

  void disarm() {
    ++generation;
    watchdog.cancel();
  }

  void close_now() {
    closed = true;
    asio::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_both, ignored);
    socket.close(ignored);
    watchdog.cancel();
  }

  Error error_for(const asio::error_code& ec, std::string_view what) const {
    if (timed_out) {
      return fail(ErrorCode::kTimeout, fmt::format("{} timed out", what));
    }
    if (closed) {
      return fail(ErrorCode::kCancelled, fmt::format("{}: connection closed", what));
    }
    return fail(ErrorCode::kIo, fmt::format("{}: {}", what, lower_first(ec.message())));
  }
};

template <class Protocol>
class StreamConnection final : public Connection {
 public:
  using Shared = std::shared_ptr<Transport<Protocol>>;

  StreamConnection(Shared transport, std::string id, asio::ip::address peer_address,
                   std::uint16_t peer_port, const log::Logger& logger)
      : Connection(std::move(id), peer_address, peer_port, logger), t_(std::move(transport)) {}

  StreamConnection(Shared transport, std::string id, PeerCredentials credentials,
                   const log::Logger& logger)
      : Connection(std::move(id), credentials, logger), t_(std::move(transport)) {}

  ~StreamConnection() override {
    try {
      t_->close_now();
    } catch (...) {
      // The timer's cancel() throws only if the reactor fails; the socket is
      // already closed, which is what matters to the peer.
    }
  }

  asio::awaitable<Result<std::size_t>> read_some(std::span<char> buffer,
                                                 Duration timeout) override {
    if (t_->closed) {
      co_return fail(ErrorCode::kCancelled, "read: connection closed");
    }
    auto self = t_;
    self->arm(timeout);
    auto [ec, n] = self->tls ? co_await self->tls->async_read_some(
                                   asio::buffer(buffer.data(), buffer.size()), kUseTuple)
                             : co_await self->socket.async_read_some(
                                   asio::buffer(buffer.data(), buffer.size()), kUseTuple);
    self->disarm();
    if (!ec || n > 0) {
      co_return n;
    }
    // A peer that closes without close_notify (RFC 8446 §6.1) is treated as an
    // ordinary end of stream; every tern protocol frames its own data, so a
    // truncation is visible to the session anyway.
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      if (!self->timed_out && !self->closed) {
        co_return std::size_t{0};
      }
    }
    co_return self->error_for(ec, "read");
  }

  asio::awaitable<Result<void>> write_all(std::string_view bytes, Duration timeout) override {
    if (t_->closed) {
      co_return fail(ErrorCode::kCancelled, "write: connection closed");
    }
    auto self = t_;
    self->arm(timeout);
    auto buffer = asio::buffer(bytes.data(), bytes.size());
    auto [ec, n] = self->tls ? co_await asio::async_write(*self->tls, buffer, kUseTuple)
                             : co_await asio::async_write(self->socket, buffer, kUseTuple);
    self->disarm();
    if (ec) {
      co_return self->error_for(ec, "write");
    }
    co_return ok();
  }

  asio::awaitable<Result<void>> start_tls(std::shared_ptr<asio::ssl::context> context,
                                          Duration timeout) override {
    co_return co_await handshake(std::move(context), asio::ssl::stream_base::server, {}, timeout);
  }

  asio::awaitable<Result<void>> start_tls_client(std::shared_ptr<asio::ssl::context> context,
                                                 std::string server_name,
                                                 Duration timeout) override {
    co_return co_await handshake(std::move(context), asio::ssl::stream_base::client,
                                 std::move(server_name), timeout);
  }

  bool is_tls() const override { return t_->tls != nullptr; }

  std::string tls_version() const override {
    return t_->tls ? SSL_get_version(t_->tls->native_handle()) : "";
  }

  std::string tls_cipher() const override {
    return t_->tls ? SSL_CIPHER_get_name(SSL_get_current_cipher(t_->tls->native_handle())) : "";
  }

  std::string tls_exporter(std::string_view label, std::size_t length) const override {
    if (!t_->tls || length == 0 || length > 1024) {
      return {};
    }
    std::string out(length, '\0');
    // use_context = 0: RFC 9266 §2 specifies no context value (an empty context
    // and none are different inputs in TLS 1.2).
    int ok = SSL_export_keying_material(t_->tls->native_handle(),
                                        reinterpret_cast<unsigned char*>(out.data()), out.size(),
                                        std::string(label).c_str(), label.size(), nullptr, 0, 0);
    return ok == 1 ? out : std::string();
  }

  std::string tls_unique() const override {
    if (!t_->tls) {
      return {};
    }
    SSL* ssl = t_->tls->native_handle();
    if (SSL_version(ssl) >= TLS1_3_VERSION) {
      return {};
    }
    // The first Finished of the handshake: the client's in a full handshake, the
    // server's in an abbreviated (resumed) one (RFC 5929 §3.1).
    bool ours_first = (SSL_is_server(ssl) != 0) == (SSL_session_reused(ssl) != 0);
    std::string out(64, '\0');
    std::size_t n = ours_first ? SSL_get_finished(ssl, out.data(), out.size())
                               : SSL_get_peer_finished(ssl, out.data(), out.size());
    out.resize(std::min(n, out.size()));
    return out;
  }

  void close() override { t_->close_now(); }

  std::function<void()> canceller() override {
    return [weak = std::weak_ptr<Transport<Protocol>>(t_)] {
      if (auto t = weak.lock()) {
        asio::post(t->socket.get_executor(), [t] { t->close_now(); });
      }
    };
  }

  asio::any_io_executor executor() override { return t_->socket.get_executor(); }

 private:
  asio::awaitable<Result<void>> handshake(std::shared_ptr<asio::ssl::context> context,
                                          asio::ssl::stream_base::handshake_type role,
                                          std::string server_name, Duration timeout) {
    auto self = t_;
    if (self->tls) {
      co_return fail(ErrorCode::kInvalidInput, "start tls: tls is already active");
    }
    if (self->closed) {
      co_return fail(ErrorCode::kCancelled, "tls handshake: connection closed");
    }
    self->tls_context = std::move(context);
    self->tls = std::make_unique<asio::ssl::stream<typename Protocol::socket&>>(self->socket,
                                                                                *self->tls_context);
    if (!server_name.empty()) {
      // RFC 6066 §3: server_name carries a host name, never an IP literal.
      // SSL_set_tlsext_host_name is a macro with a C cast; this is its expansion.
      SSL_ctrl(self->tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               server_name.data());
    }
    self->arm(timeout);
    auto [ec] = co_await self->tls->async_handshake(role, kUseTuple);
    self->disarm();
    if (ec) {
      co_return self->error_for(ec, "tls handshake");
    }
    co_return ok();
  }

  Shared t_;
};

using TcpTransport = Transport<asio::ip::tcp>;
using LocalTransport = Transport<asio::local::stream_protocol>;
using TcpConnection = StreamConnection<asio::ip::tcp>;
using LocalConnection = StreamConnection<asio::local::stream_protocol>;

PeerCredentials peer_credentials(asio::local::stream_protocol::socket& socket) {
  PeerCredentials out;
  ::ucred cred{};
  ::socklen_t length = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0 &&
      length == sizeof cred) {
    out.pid = cred.pid;
    out.uid = cred.uid;
    out.gid = cred.gid;
  }
  return out;
}

}  // namespace

Connection::Connection(std::string id, asio::ip::address peer_address, std::uint16_t peer_port,
                       const log::Logger& logger)
    : id_(std::move(id)),
      peer_address_(normalize(peer_address)),
      peer_port_(peer_port),
      logger_(logger.with("conn", id_).with("peer", peer_address_.to_string())) {}

Connection::Connection(std::string id, PeerCredentials credentials, const log::Logger& logger)
    : id_(std::move(id)),
      peer_address_(asio::ip::address_v4::any()),
      peer_port_(0),
      credentials_(credentials),
      logger_(logger.with("conn", id_)
                  .with("peer", "local")
                  .with("uid", std::to_string(credentials.uid))
                  .with("pid", std::to_string(credentials.pid))) {}

std::string format_endpoint(const asio::ip::address& address, std::uint16_t port) {
  if (address.is_v6()) {
    return fmt::format("[{}]:{}", address.to_string(), port);
  }
  return fmt::format("{}:{}", address.to_string(), port);
}

std::unique_ptr<Connection> make_tcp_connection(asio::ip::tcp::socket socket, std::string id,
                                                const log::Logger& logger) {
  asio::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  // Latency matters more than packet count for line-based protocols.
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  auto transport = std::make_shared<TcpTransport>(std::move(socket));
  return std::make_unique<TcpConnection>(std::move(transport), std::move(id), remote.address(),
                                         remote.port(), logger);
}

std::unique_ptr<Connection> make_local_connection(asio::local::stream_protocol::socket socket,
                                                  std::string id, const log::Logger& logger) {
  PeerCredentials credentials = peer_credentials(socket);
  auto transport = std::make_shared<LocalTransport>(std::move(socket));
  return std::make_unique<LocalConnection>(std::move(transport), std::move(id), credentials,
                                           logger);
}

asio::awaitable<Result<std::unique_ptr<Connection>>> connect_local(std::string path,
                                                                   Duration timeout, std::string id,
                                                                   log::Logger logger) {
  auto executor = co_await asio::this_coro::executor;
  auto transport = std::make_shared<LocalTransport>(asio::local::stream_protocol::socket(executor));
  transport->arm(timeout);
  auto [ec] = co_await transport->socket.async_connect(asio::local::stream_protocol::endpoint(path),
                                                       kUseTuple);
  transport->disarm();
  if (ec) {
    co_return transport->error_for(ec, fmt::format("connect unix:{}", path));
  }
  PeerCredentials credentials = peer_credentials(transport->socket);
  co_return std::unique_ptr<Connection>(
      std::make_unique<LocalConnection>(std::move(transport), std::move(id), credentials, logger));
}

asio::awaitable<Result<std::unique_ptr<Connection>>> connect_socket(std::string unix_path,
                                                                    asio::ip::tcp::endpoint tcp,
                                                                    Duration timeout,
                                                                    std::string id,
                                                                    log::Logger logger) {
  // Not a conditional expression of two co_awaits: GCC 12 destroys the result of
  // such an expression twice.
  if (unix_path.empty()) {
    co_return co_await connect_tcp(tcp, timeout, std::move(id), std::move(logger));
  }
  co_return co_await connect_local(std::move(unix_path), timeout, std::move(id), std::move(logger));
}

asio::awaitable<Result<std::unique_ptr<Connection>>> connect_tcp(asio::ip::tcp::endpoint endpoint,
                                                                 Duration timeout, std::string id,
                                                                 log::Logger logger) {
  auto executor = co_await asio::this_coro::executor;
  auto transport = std::make_shared<TcpTransport>(asio::ip::tcp::socket(executor));
  transport->arm(timeout);
  auto [ec] = co_await transport->socket.async_connect(endpoint, kUseTuple);
  transport->disarm();
  if (ec) {
    co_return transport->error_for(
        ec, fmt::format("connect {}", format_endpoint(endpoint.address(), endpoint.port())));
  }
  asio::error_code ignored;
  transport->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return std::unique_ptr<Connection>(std::make_unique<TcpConnection>(
      std::move(transport), std::move(id), endpoint.address(), endpoint.port(), logger));
}

ConnectionIds::ConnectionIds() {
  std::uint8_t bytes[4];
  SystemRandom().fill(bytes);
  prefix_ = (std::uint64_t{bytes[0]} << 24 | std::uint64_t{bytes[1]} << 16 |
             std::uint64_t{bytes[2]} << 8 | std::uint64_t{bytes[3]}) &
            0x3fffffffu;
}

ConnectionIds::ConnectionIds(std::uint32_t prefix) : prefix_(prefix & 0x3fffffffu) {}

std::string ConnectionIds::next() {
  // 30 bits of prefix and 35 bits of counter make 65 bits: 13 base32 digits.
  static constexpr char kDigits[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::uint64_t counter = counter_.fetch_add(1, std::memory_order_relaxed) & 0x7ffffffffull;
  std::string id(13, 'a');
  // Low bits (counter) at the end, so consecutive ids differ in their last digits.
  std::uint64_t low = counter;
  std::uint64_t high = prefix_;
  for (int i = 12; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kDigits[low & 31];
    low = (low >> 5) | ((high & 31) << 30);
    high >>= 5;
  }
  return id;
}

}  // namespace tern::runtime
