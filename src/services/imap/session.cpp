// SPDX-License-Identifier: Apache-2.0
// The per-connection coroutine of the IMAP service.
//
// Reading is done by a second coroutine on the same strand, on demand: the main
// loop asks for input when the engine needs it and then waits for either the bytes,
// a ChangeHub wake-up (IDLE) or its deadline on one timer. That way an IDLE session
// can write updates while a read is pending, without cancelling reads (a cancelled
// TLS read leaves the stream unusable), and STARTTLS is only started when no read is
// in flight (the handshake bytes must reach the TLS layer, not the engine).
#include <algorithm>
#include <array>
#include <exception>
#include <memory>
#include <span>

#include <fmt/format.h>
#include <zlib.h>

#include "services/common/login.hpp"
#include "services/imap/service.hpp"

namespace tern::services::imap {

using tern::imap::ServerEngine;
using tern::imap::Status;

namespace {

constexpr auto kReadForever = std::chrono::hours(24 * 365);  // timeouts are the session's

// What the main loop and the reader coroutine share (same strand: no locks).
struct IoState {
  explicit IoState(asio::any_io_executor ex) : wake(ex), read_wake(ex) {}

  asio::steady_timer wake;       // the main loop waits here; cancel() wakes it
  asio::steady_timer read_wake;  // the reader waits here for want_read
  std::string inbox;             // bytes read, not yet given to the engine
  bool want_read = false;
  bool eof = false;
  bool stop = false;
  bool reader_done = false;
  bool hub_signal = false;
};

// Read buffers. An idle session (IDLE, or between commands) spends its life in a
// pending read, so the buffer that read waits with is memory every idle connection
// holds (bench/README.md, imap idle). Reads start small, in the coroutine frame;
// a read that fills the small buffer means data is streaming (an APPEND literal),
// and the next reads use a large heap buffer until one comes back less than half
// full, when it is released again.
constexpr std::size_t kSmallRead = 512;
constexpr std::size_t kLargeRead = 16384;

asio::awaitable<void> read_loop(std::shared_ptr<IoState> s, runtime::Connection* connection) {
  std::array<char, kSmallRead> small;
  std::unique_ptr<char[]> large;
  while (!s->stop) {
    if (!s->want_read) {
      asio::error_code ec;
      s->read_wake.expires_at(asio::steady_timer::time_point::max());
      co_await s->read_wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    std::span<char> buffer = large ? std::span<char>(large.get(), kLargeRead) : std::span(small);
    auto n = co_await connection->read_some(buffer, kReadForever);
    s->want_read = false;
    if (!n || *n == 0) {
      s->eof = true;
      s->wake.cancel();
      break;
    }
    s->inbox.append(buffer.data(), *n);
    if (!large && *n == buffer.size()) {
      large = std::make_unique_for_overwrite<char[]>(kLargeRead);
    } else if (large && *n < kLargeRead / 2) {
      large.reset();
    }
    s->wake.cancel();
  }
  s->reader_done = true;
  s->wake.cancel();
}

// Waits until the timer is cancelled (an event) or expires; true when it expired.
asio::awaitable<bool> wait_until(asio::steady_timer& timer, asio::steady_timer::time_point when) {
  asio::error_code ec;
  timer.expires_at(when);
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

// COMPRESS=DEFLATE (RFC 4978 §4): raw deflate (RFC 1951) both ways; every write
// ends with a sync flush so the peer can decode what it got.
class Deflate {
 public:
  Deflate() {
    ok_ = deflateInit2(&out_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) ==
              Z_OK &&
          inflateInit2(&in_, -15) == Z_OK;
  }

  ~Deflate() {
    deflateEnd(&out_);
    inflateEnd(&in_);
  }

  Deflate(const Deflate&) = delete;
  Deflate& operator=(const Deflate&) = delete;

  bool ok() const { return ok_; }

  bool compress(std::string_view bytes, std::string& out) {
    out_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    out_.avail_in = static_cast<uInt>(bytes.size());
    std::array<char, 16384> chunk;
    do {
      out_.next_out = reinterpret_cast<Bytef*>(chunk.data());
      out_.avail_out = static_cast<uInt>(chunk.size());
      if (deflate(&out_, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
        return false;
      }
      out.append(chunk.data(), chunk.size() - out_.avail_out);
    } while (out_.avail_out == 0);
    return true;
  }

  // Inflates `bytes`; false on a corrupt stream or when one read inflates beyond
  // `limit` (a decompression bomb; the reader's own limits apply after this).
  bool decompress(std::string_view bytes, std::string& out, std::size_t limit) {
    in_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    in_.avail_in = static_cast<uInt>(bytes.size());
    std::array<char, 16384> chunk;
    while (true) {
      in_.next_out = reinterpret_cast<Bytef*>(chunk.data());
      in_.avail_out = static_cast<uInt>(chunk.size());
      int rc = inflate(&in_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return false;  // Z_STREAM_END is an error too: the stream never ends (RFC 4978)
      }
      out.append(chunk.data(), chunk.size() - in_.avail_out);
      if (out.size() > limit) {
        return false;
      }
      // Done when the input is used up and inflate had room to spare.
      if (in_.avail_in == 0 && in_.avail_out != 0) {
        return true;
      }
      if (rc == Z_BUF_ERROR && in_.avail_out != 0) {
        return true;
      }
    }
  }

 private:
  z_stream out_{};
  z_stream in_{};
  bool ok_ = false;
};

}  // namespace

Service::Service(ServiceOptions options, domain::Storage& storage, runtime::BlockingPool& pool,
                 const Clock& clock, Random& random, metrics::Registry& registry,
                 domain::AuthThrottle& throttle, log::Logger logger)
    : options_(std::move(options)),
      storage_(storage),
      pool_(pool),
      clock_(clock),
      registry_(registry),
      logger_(std::move(logger)),
      shared_{storage, hub_,  throttle,          options_.auth_params,
              random,  clock, options_.handlers, options_.mock_secret} {
  // The reader refuses an APPEND literal above the limit before reading it.
  options_.limits.reader.max_append_bytes =
      static_cast<std::size_t>(options_.handlers.max_append_bytes);
  // A whole APPEND (MULTIAPPEND) always has room for one largest message.
  options_.limits.reader.max_append_command_bytes =
      std::max(options_.limits.reader.max_append_command_bytes,
               options_.limits.reader.max_append_bytes + options_.limits.reader.max_line_bytes);
}

runtime::ConnectionHandler Service::handler() {
  return [this](std::unique_ptr<runtime::Connection> connection) {
    return serve(std::move(connection));
  };
}

template <typename Key>
bool Service::add_connection(std::unordered_map<Key, std::size_t>& counts, const Key& key,
                             std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto& n = counts[key];
  if (limit != 0 && n >= limit) {
    if (n == 0) {
      counts.erase(key);
    }
    return false;
  }
  ++n;
  return true;
}

template <typename Key>
void Service::remove_connection(std::unordered_map<Key, std::size_t>& counts, const Key& key) {
  std::lock_guard lock(mutex_);
  auto it = counts.find(key);
  if (it != counts.end() && --it->second == 0) {
    counts.erase(it);
  }
}

asio::awaitable<void> Service::serve(std::unique_ptr<runtime::Connection> connection) {
  const log::Logger& log = connection->logger();
  auto ex = connection->executor();
  auto state = std::make_shared<IoState>(ex);
  ConnectionInfo info;
  info.peer_ip = connection->peer_address().to_string();
  info.loopback = connection->peer_address().is_loopback();
  info.tls = connection->is_tls();
  info.starttls_available = options_.tls && options_.offer_starttls && !connection->is_tls();
  info.channel_bindings = channel_bindings_of(*connection);
  Handlers handlers(shared_, info);
  ServerEngine engine(options_.limits);
  // [imap] max_connections_per_ip: a BYE greeting (RFC 9051 §7.1.5) refuses the
  // connection.
  const bool ip_counted =
      add_connection(ip_connections_, info.peer_ip, options_.max_connections_per_ip);
  if (ip_counted) {
    engine.untagged(handlers.greeting());
  } else {
    engine.bye("too many connections from your address");
  }
  asio::co_spawn(ex, read_loop(state, connection.get()), asio::detached);

  auto& commands = registry_.counter("tern_imap_commands_total", "IMAP commands handled.");
  std::optional<domain::AccountId> counted;  // the account whose connection we count
  ChangeHub::Token token = 0;
  bool idling = false;
  auto last_activity = std::chrono::steady_clock::now();

  std::unique_ptr<Deflate> zip;  // set once COMPRESS DEFLATE is active
  // Bytes one read may inflate to: the largest command the reader accepts, plus slack.
  const std::size_t inflate_limit = options_.limits.reader.max_append_bytes + 1024 * 1024;

  auto flush = [&]() -> asio::awaitable<bool> {
    std::string_view out = engine.output();
    if (out.empty()) {
      co_return true;
    }
    std::string compressed;
    std::string_view wire = out;
    if (zip) {
      if (!zip->compress(out, compressed)) {
        co_return false;
      }
      wire = compressed;
    }
    auto written = co_await connection->write_all(wire, options_.write_timeout);
    if (!written) {
      log.debug("imap write failed", {{"error", written.error().message}});
      co_return false;
    }
    engine.consume_output(out.size());
    co_return true;
  };

  // Runs a handler on the blocking pool; a throw answers NO [SERVERBUG] (B7 boundary 1).
  auto run = [&](auto fn) -> asio::awaitable<Next> {
    try {
      co_return co_await runtime::offload(pool_, std::move(fn));
    } catch (const std::exception& e) {
      log.error("imap handler failed", {{"error", e.what()}});
    } catch (...) {
      log.error("imap handler failed", {{"error", "unknown exception"}});
    }
    if (!engine.current_tag().empty()) {
      engine.complete(Status::kNo, "SERVERBUG", "internal error");
    }
    co_return Next::kDone;
  };

  // After a command: throttling delay, login bookkeeping, output.
  auto after = [&]() -> asio::awaitable<bool> {
    auto delay = handlers.take_delay();
    if (delay.count() > 0) {
      asio::steady_timer pause(ex, delay);
      asio::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!counted && handlers.account()) {
      auto key = static_cast<std::int64_t>(*handlers.account());
      if (!add_connection(user_connections_, key, options_.max_connections_per_user)) {
        engine.bye("too many connections for this account");
      } else {
        counted = handlers.account();
        std::weak_ptr<IoState> weak = state;
        token = hub_.subscribe(*counted, [weak, ex] {
          asio::post(ex, [weak] {
            if (auto s = weak.lock()) {
              s->hub_signal = true;
              s->wake.cancel();
            }
          });
        });
        handlers.set_hub_token(token);
      }
    }
    co_return co_await flush();
  };

  bool open = co_await flush();
  while (open) {
    tern::imap::Event event = engine.next();
    if (std::holds_alternative<tern::imap::NeedInput>(event)) {
      if (!co_await flush()) {
        break;
      }
      if (!state->inbox.empty()) {
        std::string bytes;
        bytes.swap(state->inbox);
        if (zip) {
          std::string plain;
          if (!zip->decompress(bytes, plain, inflate_limit)) {
            log.debug("imap inflate failed");
            break;
          }
          bytes.swap(plain);
        }
        engine.receive(std::string_view(bytes));
        last_activity = std::chrono::steady_clock::now();
        continue;
      }
      if (state->eof) {
        break;
      }
      if (idling && state->hub_signal) {
        state->hub_signal = false;
        co_await run([&] {
          handlers.idle_poll(engine);
          return Next::kWait;
        });
        continue;
      }
      state->hub_signal = false;
      state->want_read = true;
      state->read_wake.cancel();
      auto limit = handlers.account() ? options_.idle_timeout : options_.preauth_timeout;
      auto deadline = last_activity + limit;
      auto wake_at =
          idling
              ? std::min(deadline, std::chrono::steady_clock::now() + options_.idle_poll_interval)
              : deadline;
      bool expired = co_await wait_until(state->wake, wake_at);
      if (expired && std::chrono::steady_clock::now() >= deadline) {
        // RFC 9051 §7.1.5: BYE before closing an inactive session.
        engine.bye("autologout; idle for too long");
        co_await flush();
        break;
      }
      if (expired && idling) {
        co_await run([&] {
          handlers.idle_poll(engine);
          return Next::kWait;
        });
      }
      continue;
    }
    if (auto* ready = std::get_if<tern::imap::CommandReady>(&event)) {
      commands.inc();
      bool is_idle = std::holds_alternative<tern::imap::IdleCommand>(ready->command);
      Next next = co_await run([&] { return handlers.handle(*ready, engine); });
      while (next == Next::kMore && open) {
        open = co_await flush();  // a long FETCH goes out as it is produced
        next = co_await run([&] { return handlers.resume(engine); });
      }
      idling = is_idle && next == Next::kWait;
      open = open && co_await after();
      continue;
    }
    if (auto* auth = std::get_if<tern::imap::AuthResponse>(&event)) {
      co_await run([&] { return handlers.auth_response(auth->line, engine); });
      open = co_await after();
      continue;
    }
    if (std::holds_alternative<tern::imap::AuthCancelled>(event)) {
      handlers.auth_cancelled();
      open = co_await flush();
      continue;
    }
    if (auto* idle = std::get_if<tern::imap::IdleEnded>(&event)) {
      idling = false;
      if (idle->done) {
        co_await run([&] {
          handlers.idle_done(engine);
          return Next::kDone;
        });
      }
      open = co_await flush();
      continue;
    }
    if (std::holds_alternative<tern::imap::BeginTls>(event)) {
      // No read is in flight here: the reader only reads on request, and the
      // STARTTLS command came with the last bytes read.
      if (!co_await flush()) {
        break;
      }
      auto started = co_await connection->start_tls(options_.tls->current(), options_.tls_timeout);
      if (!started) {
        log.debug("imap starttls failed", {{"error", started.error().message}});
        break;
      }
      state->inbox.clear();
      engine.tls_started();
      handlers.tls_started(channel_bindings_of(*connection));
      continue;
    }
    if (std::holds_alternative<tern::imap::BeginCompress>(event)) {
      // RFC 4978 §3: the OK goes out uncompressed, everything after compressed.
      if (!co_await flush()) {
        break;
      }
      zip = std::make_unique<Deflate>();
      if (!zip->ok()) {
        break;
      }
      std::string pending = engine.take_buffered_input();
      if (!pending.empty()) {
        state->inbox.insert(0, pending);
      }
      continue;
    }
    // CloseConnection: LOGOUT, BYE, or a framing error; the engine queued the last words.
    co_await flush();
    break;
  }

  if (token != 0) {
    hub_.unsubscribe(token);
  }
  if (counted) {
    remove_connection(user_connections_, static_cast<std::int64_t>(*counted));
  }
  if (ip_counted) {
    remove_connection(ip_connections_, info.peer_ip);
  }
  // Stop the reader before the connection goes away.
  state->stop = true;
  connection->close();
  state->read_wake.cancel();
  while (!state->reader_done) {
    co_await wait_until(state->wake, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
}

}  // namespace tern::services::imap
