// SPDX-License-Identifier: Apache-2.0
#include "runtime/listener.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <unordered_map>

#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/assert.hpp"

namespace tern::runtime {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

std::string lower_first(std::string text) {
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

Error bind_error(const asio::error_code& ec, const std::string& where) {
  ErrorCode code = ErrorCode::kIo;
  if (ec == asio::error::address_in_use) {
    code = ErrorCode::kAlreadyExists;
  } else if (ec == asio::error::access_denied || ec == asio::error::no_permission) {
    code = ErrorCode::kPermissionDenied;
  } else if (ec == asio::error::address_family_not_supported) {
    code = ErrorCode::kInvalidInput;
  }
  return fail(code, fmt::format("bind {}: {}", where, lower_first(ec.message())));
}

asio::ip::address normalize(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

}  // namespace

struct Listener::State {
  State(asio::io_context& io_context, ListenerOptions opts, log::Logger log,
        metrics::Registry* registry)
      : io(io_context),
        strand(asio::make_strand(io_context)),
        acceptor(strand),
        local_acceptor(strand),
        options(std::move(opts)),
        logger(log.with("listener", options.name)) {
    metrics::Labels labels{{"listener", options.name}};
    metrics::Registry& r = registry != nullptr ? *registry : own_registry;
    accepted = &r.counter("tern_connections_accepted_total", "Connections accepted.", labels);
    rejected_global =
        &r.counter("tern_connections_rejected_total", "Connections refused by a connection limit.",
                   {{"listener", options.name}, {"reason", "global_limit"}});
    rejected_per_ip =
        &r.counter("tern_connections_rejected_total", "Connections refused by a connection limit.",
                   {{"listener", options.name}, {"reason", "per_ip_limit"}});
    failures = &r.counter("tern_connection_failures_total",
                          "Connection handlers that ended with an exception.", labels);
    open_gauge = &r.gauge("tern_connections_open", "Connections currently open.", labels);
    limits = options.shared_limits ? options.shared_limits
                                   : std::make_shared<ConnectionLimits>(
                                         options.max_connections, options.max_connections_per_ip);
  }

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  asio::ip::tcp::acceptor acceptor;                       // used on `strand` only
  asio::local::stream_protocol::acceptor local_acceptor;  // likewise; when local_path
  ListenerOptions options;
  log::Logger logger;
  ConnectionHandler handler;
  ConnectionIds ids;
  bool started = false;

  metrics::Registry own_registry;  // used when the caller gives none
  metrics::Counter* accepted;
  metrics::Counter* rejected_global;
  metrics::Counter* rejected_per_ip;
  metrics::Counter* failures;
  metrics::Gauge* open_gauge;

  // Shared with the process's other listeners when the options name one.
  std::shared_ptr<ConnectionLimits> limits;

  std::mutex mutex;
  std::size_t open = 0;  // this listener's connections; guarded by mutex
  std::unordered_map<std::uint64_t, std::function<void()>> cancellers;  // guarded by mutex
  std::uint64_t next_serial = 0;                                        // guarded by mutex

  // The local socket file as bound, so that only that file is removed at stop
  // (a successor process may have replaced it by then).
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
  std::atomic<bool> socket_removed{false};

  bool is_local() const { return !options.local_path.empty(); }

  void remove_socket_file() {
    if (!is_local() || socket_removed.exchange(true)) {
      return;
    }

    struct stat st {};

    if (::lstat(options.local_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == socket_dev && st.st_ino == socket_ino &&
        ::unlink(options.local_path.c_str()) != 0) {
      // Typically a directory the service user may not write; the next start
      // finds the file stale and replaces it.
      logger.warn("cannot remove the socket file",
                  {{"path", options.local_path}, {"error", std::strerror(errno)}});
    }
  }

  using Admission = ConnectionLimits::Admission;

  // `ip` is nullopt for a local peer, which counts against the total cap only.
  Admission admit(const std::optional<asio::ip::address>& ip) {
    Admission admission = ip ? limits->admit(*ip) : limits->admit_local();
    if (admission == Admission::kAdmitted) {
      std::lock_guard lock(mutex);
      ++open;
      open_gauge->add();
    }
    return admission;
  }

  std::uint64_t track(std::function<void()> canceller) {
    std::lock_guard lock(mutex);
    std::uint64_t serial = next_serial++;
    cancellers.emplace(serial, std::move(canceller));
    return serial;
  }

  void release(std::uint64_t serial, const std::optional<asio::ip::address>& ip) {
    std::lock_guard lock(mutex);
    cancellers.erase(serial);
    if (ip) {
      limits->release(*ip);
    } else {
      limits->release_local();
    }
    --open;
    open_gauge->sub();
  }

  void close_all() {
    std::vector<std::function<void()>> to_cancel;
    {
      std::lock_guard lock(mutex);
      for (auto& [serial, cancel] : cancellers) {
        to_cancel.push_back(cancel);
      }
    }
    for (auto& cancel : to_cancel) {
      cancel();
    }
  }

  std::size_t open_count() {
    std::lock_guard lock(mutex);
    return open;
  }
};

namespace {

// Refuses a connection over a limit. The reply is one short line written with a
// non-blocking send: a fresh socket's send buffer is empty, so it fits, and a
// flood of refused connections can never tie up a coroutine each.
template <class Socket>
void refuse(Socket& socket, const Listener::State& state) {
  asio::error_code ec;
  if (!state.options.over_limit_reply.empty() && !state.options.implicit_tls) {
    socket.non_blocking(true, ec);
    socket.send(asio::buffer(state.options.over_limit_reply), 0, ec);
  }
  socket.shutdown(asio::socket_base::shutdown_both, ec);
  socket.close(ec);
}

// The per-connection boundary (docs/adr/0002-error-handling.md): whatever the
// handler throws stops here, is logged and counted, and the connection closes.
asio::awaitable<void> serve_connection(std::shared_ptr<Listener::State> state,
                                       std::unique_ptr<Connection> connection) {
  log::Logger logger = connection->logger();
  try {
    if (state->options.implicit_tls) {
      auto handshake = co_await connection->start_tls(state->options.implicit_tls->current(),
                                                      state->options.tls_handshake_timeout);
      if (!handshake) {
        logger.info("tls handshake failed", {{"error", handshake.error().message}});
        co_return;
      }
    }
    co_await state->handler(std::move(connection));
  } catch (const std::exception& e) {
    state->failures->inc();
    logger.error("connection failed", {{"error", e.what()}});
  } catch (...) {
    state->failures->inc();
    logger.error("connection failed", {{"error", "unknown exception"}});
  }
}

// The peer of an accepted socket: its address for TCP, nullopt for a local
// socket; false when the peer is already gone.
bool peer_of(asio::ip::tcp::socket& socket, std::optional<asio::ip::address>& ip) {
  asio::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) {
    return false;
  }
  ip = normalize(remote.address());
  return true;
}

bool peer_of(asio::local::stream_protocol::socket&, std::optional<asio::ip::address>& ip) {
  ip.reset();
  return true;
}

std::unique_ptr<Connection> wrap(asio::ip::tcp::socket socket, std::string id,
                                 const log::Logger& logger) {
  return make_tcp_connection(std::move(socket), std::move(id), logger);
}

std::unique_ptr<Connection> wrap(asio::local::stream_protocol::socket socket, std::string id,
                                 const log::Logger& logger) {
  return make_local_connection(std::move(socket), std::move(id), logger);
}

// One loop for TCP and local acceptors: the same admission, ids, logging,
// boundary and drain bookkeeping for both.
template <class Acceptor>
asio::awaitable<void> accept_loop(std::shared_ptr<Listener::State> state, Acceptor& acceptor) {
  asio::steady_timer backoff(state->strand);
  for (;;) {
    asio::any_io_executor connection_strand = asio::make_strand(state->io);
    auto [ec, socket] = co_await acceptor.async_accept(connection_strand, kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
        break;
      }
      // EMFILE/ENFILE/ENOBUFS: accepting again at once would spin; pause briefly
      // and let connections close.
      state->logger.warn("accept failed", {{"error", lower_first(ec.message())}});
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    std::optional<asio::ip::address> ip;
    if (!peer_of(socket, ip)) {
      continue;  // the peer is already gone
    }
    auto admission = state->admit(ip);
    if (admission != Listener::State::Admission::kAdmitted) {
      bool global = admission == Listener::State::Admission::kGlobalLimit;
      (global ? state->rejected_global : state->rejected_per_ip)->inc();
      state->logger.info("connection refused",
                         {{"peer", ip ? ip->to_string() : std::string("local")},
                          {"reason", global ? "global_limit" : "per_ip_limit"}});
      refuse(socket, *state);
      continue;
    }
    state->accepted->inc();
    auto connection = wrap(std::move(socket), state->ids.next(), state->logger);
    std::uint64_t serial = state->track(connection->canceller());
    connection->logger().debug("connection accepted");
    asio::co_spawn(connection_strand, serve_connection(state, std::move(connection)),
                   [state, serial, ip](std::exception_ptr) { state->release(serial, ip); });
  }
  state->logger.info("stopped accepting");
}

asio::awaitable<void> run_accept_loop(std::shared_ptr<Listener::State> state) {
  if (state->is_local()) {
    co_await accept_loop(state, state->local_acceptor);
  } else {
    co_await accept_loop(state, state->acceptor);
  }
}

std::string errno_text(int error) {
  return lower_first(std::strerror(error));
}

// Removes a stale socket file at `path`: one left by a process that died without
// cleaning up. A file that is not a socket, or a socket someone still accepts
// on, is left alone and reported.
Result<void> clear_stale_socket(const std::string& path, const std::string& where) {
  struct stat st {};

  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return ok();
    }
    return fail(ErrorCode::kIo, fmt::format("bind {}: {}", where, errno_text(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return fail(ErrorCode::kAlreadyExists,
                fmt::format("bind {}: exists and is not a socket", where));
  }
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0) {
    return fail(ErrorCode::kIo, fmt::format("bind {}: {}", where, errno_text(errno)));
  }
  ::sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  int rc = ::connect(probe, reinterpret_cast<const ::sockaddr*>(&address), sizeof address);
  int error = rc == 0 ? 0 : errno;
  ::close(probe);
  // A listener answers at once (or its backlog is full: EAGAIN); only a refused
  // connect means nobody is there.
  if (error != ECONNREFUSED) {
    return fail(ErrorCode::kAlreadyExists,
                fmt::format("bind {}: a process is listening on it", where));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail(ErrorCode::kIo,
                fmt::format("bind {}: remove stale socket: {}", where, errno_text(errno)));
  }
  return ok();
}

// Binds the local acceptor: stale-file check, bind, mode and owner, listen. The
// mode is set before listen(), so no peer can connect while it is still wider.
Result<void> bind_local(Listener::State& state) {
  const std::string& path = state.options.local_path;
  std::string where = "unix:" + path;
  if (path.empty() || path.size() >= sizeof(::sockaddr_un{}.sun_path)) {
    return fail(ErrorCode::kInvalidInput, fmt::format("bind {}: path too long (at most {} bytes)",
                                                      where, sizeof(::sockaddr_un{}.sun_path) - 1));
  }
  TERN_TRY_VOID(clear_stale_socket(path, where));
  asio::error_code ec;
  auto& acceptor = state.local_acceptor;
  asio::local::stream_protocol::endpoint endpoint(path);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (ec) {
    return bind_error(ec, where);
  }

  struct stat st {};

  if (::lstat(path.c_str(), &st) != 0) {
    return fail(ErrorCode::kIo, fmt::format("bind {}: {}", where, errno_text(errno)));
  }
  state.socket_dev = st.st_dev;
  state.socket_ino = st.st_ino;
  auto undo = [&](std::string what) {
    int error = errno;
    state.remove_socket_file();
    return fail(error == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                fmt::format("bind {}: {}: {}", where, what, errno_text(error)));
  };
  if (::chmod(path.c_str(), static_cast<mode_t>(state.options.local_mode)) != 0) {
    return undo("chmod");
  }
  if ((state.options.local_uid >= 0 || state.options.local_gid >= 0) &&
      ::lchown(path.c_str(), static_cast<uid_t>(state.options.local_uid),
               static_cast<gid_t>(state.options.local_gid)) != 0) {
    return undo("chown");
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    state.remove_socket_file();
    return bind_error(ec, where);
  }
  return ok();
}

}  // namespace

Listener::Listener(std::shared_ptr<State> state) : state_(std::move(state)) {}

Listener::~Listener() {
  stop_accepting();
  close_connections();
}

Result<std::unique_ptr<Listener>> Listener::bind(asio::io_context& io, ListenerOptions options,
                                                 log::Logger logger, metrics::Registry* registry) {
  if (!options.local_path.empty()) {
    auto state = std::make_shared<State>(io, std::move(options), std::move(logger), registry);
    TERN_TRY_VOID(bind_local(*state));
    return std::unique_ptr<Listener>(new Listener(std::move(state)));
  }
  asio::error_code ec;
  auto address = asio::ip::make_address(options.address, ec);
  std::string where = fmt::format("{}:{}", options.address, options.port);
  if (ec) {
    return fail(ErrorCode::kInvalidInput, fmt::format("bind {}: invalid address", where));
  }
  where = format_endpoint(address, options.port);
  auto state = std::make_shared<State>(io, std::move(options), std::move(logger), registry);
  asio::ip::tcp::endpoint endpoint(address, state->options.port);
  auto& acceptor = state->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) {
    return bind_error(ec, where);
  }
  // Restarting while old connections sit in TIME_WAIT must not fail the bind.
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (address.is_v6()) {
    // "::" means IPv6 only; configure "0.0.0.0" as well for IPv4, so the two
    // listeners and their limits stay separate and explicit.
    acceptor.set_option(asio::ip::v6_only(true), ec);
  }
  acceptor.bind(endpoint, ec);
  if (ec) {
    return bind_error(ec, where);
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return bind_error(ec, where);
  }
  return std::unique_ptr<Listener>(new Listener(std::move(state)));
}

asio::ip::tcp::endpoint Listener::local_endpoint() const {
  asio::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

std::string Listener::address() const {
  if (state_->is_local()) {
    return "unix:" + state_->options.local_path;
  }
  auto endpoint = local_endpoint();
  return format_endpoint(endpoint.address(), endpoint.port());
}

const std::string& Listener::name() const {
  return state_->options.name;
}

void Listener::start(ConnectionHandler handler) {
  TERN_ASSERT(!state_->started, "Listener::start is called once");
  state_->started = true;
  state_->handler = std::move(handler);
  state_->logger.info("listening", {{"address", address()}});
  asio::co_spawn(state_->strand, run_accept_loop(state_), asio::detached);
}

void Listener::stop_accepting() {
  // The file goes at once, so no new peer finds it (Postfix then defers); the
  // acceptor closes on its strand.
  state_->remove_socket_file();
  asio::post(state_->strand, [state = state_] {
    asio::error_code ignored;
    state->acceptor.close(ignored);
    state->local_acceptor.close(ignored);
  });
}

void Listener::close_connections() {
  state_->close_all();
}

asio::awaitable<bool> Listener::drain(Duration grace) {
  auto state = state_;
  stop_accepting();
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  // Polling keeps this simple and executor-agnostic; it runs only at shutdown.
  constexpr auto kPoll = std::chrono::milliseconds(20);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (state->open_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(kPoll);
    co_await timer.async_wait(kUseTuple);
  }
  if (state->open_count() == 0) {
    co_return true;
  }
  state->logger.info("closing connections after drain deadline",
                     {{"open", std::to_string(state->open_count())}});
  state->close_all();
  auto hard_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (state->open_count() > 0 && std::chrono::steady_clock::now() < hard_deadline) {
    timer.expires_after(kPoll);
    co_await timer.async_wait(kUseTuple);
  }
  co_return false;
}

std::size_t Listener::open_connections() const {
  return state_->open_count();
}

ListenerStats Listener::stats() const {
  ListenerStats stats;
  stats.accepted = state_->accepted->value();
  stats.rejected_global_limit = state_->rejected_global->value();
  stats.rejected_per_ip_limit = state_->rejected_per_ip->value();
  stats.handler_failures = state_->failures->value();
  stats.open = static_cast<std::int64_t>(state_->open_count());
  return stats;
}

}  // namespace tern::runtime
