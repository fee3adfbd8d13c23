// SPDX-License-Identifier: Apache-2.0
#include "services/cluster/change_listener.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>

#include <asio/experimental/as_tuple.hpp>
#include <libpq-fe.h>

namespace tern::services::cluster {

namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
// Connecting and the LISTEN round trip must finish within this; waiting for
// notifications has no deadline (silence is the normal state).
constexpr std::chrono::seconds kRoundTripTimeout{10};

enum class Wait { kRead, kWrite };

// The account id of a notification payload: a positive decimal, nothing else.
std::optional<domain::AccountId> parse_account(std::string_view payload) {
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), id);
  if (ec != std::errc() || end != payload.data() + payload.size() || id <= 0) {
    return std::nullopt;
  }
  return domain::AccountId{id};
}

bool plain_identifier(std::string_view name) {
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

struct ChangeListener::State {
  State(asio::any_io_executor executor, ChangeListenerOptions opts, OnChange change,
        OnReconnect reconnect)
      : strand(asio::make_strand(executor)),
        options(std::move(opts)),
        on_change(std::move(change)),
        on_reconnect(std::move(reconnect)),
        timeout(strand),
        backoff(strand) {}

  ~State() { close(); }

  asio::strand<asio::any_io_executor> strand;
  ChangeListenerOptions options;
  OnChange on_change;
  OnReconnect on_reconnect;

  // Touched only on `strand`.
  asio::steady_timer timeout;
  asio::steady_timer backoff;
  std::optional<asio::posix::stream_descriptor> socket;
  PGconn* conn = nullptr;

  mutable std::mutex mutex;  // guards below; held while a callback runs
  bool stopped = false;
  bool listening = false;
  ChangeListenerStats stats;

  bool is_stopped() const {
    std::lock_guard lock(mutex);
    return stopped;
  }

  void set_listening(bool value) {
    std::lock_guard lock(mutex);
    listening = value && !stopped;
  }

  // libpq owns the descriptor: release it from asio before PQfinish closes it.
  void close() {
    if (socket) {
      socket->release();
      socket.reset();
    }
    if (conn != nullptr) {
      PQfinish(conn);
      conn = nullptr;
    }
  }

  // Wraps libpq's current socket (it may change while connecting, one per host tried).
  bool attach() {
    int fd = PQsocket(conn);
    if (fd < 0) {
      return false;
    }
    if (!socket || socket->native_handle() != fd) {
      if (socket) {
        socket->release();
      }
      socket.emplace(strand, fd);
    }
    return true;
  }

  // Waits until the socket is ready; false on timeout, stop or error.
  asio::awaitable<bool> wait(Wait what, bool with_timeout) {
    if (!attach()) {
      co_return false;
    }
    if (with_timeout) {
      timeout.expires_after(kRoundTripTimeout);
      timeout.async_wait([this](std::error_code ec) {
        if (!ec && socket) {
          std::error_code ignored;  // the throwing overload would escape the handler
          socket->cancel(ignored);
        }
      });
    }
    auto [ec] = co_await socket->async_wait(what == Wait::kRead
                                                ? asio::posix::stream_descriptor::wait_read
                                                : asio::posix::stream_descriptor::wait_write,
                                            kUseTuple);
    if (with_timeout) {
      timeout.cancel();
    }
    co_return !ec && !is_stopped();
  }

  void fail(std::string_view what) {
    std::string reason = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) {
      reason.pop_back();
    }
    options.logger.warn("postgres change listener: " + std::string(what), {{"reason", reason}});
    close();
  }

  // Non-blocking connect (libpq's PQconnectPoll protocol), then LISTEN.
  asio::awaitable<bool> connect_and_listen() {
    conn = PQconnectStart(options.conninfo.c_str());
    if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) {
      fail("connect failed");
      co_return false;
    }
    // libpq prints server notices ("terminating connection due to administrator
    // command") on stderr, which is ternd's log stream: log them instead.
    PQsetNoticeProcessor(
        conn,
        [](void* self, const char* message) {
          std::string text = message;
          while (!text.empty() && text.back() == '\n') {
            text.pop_back();
          }
          static_cast<State*>(self)->options.logger.info("postgres change listener: notice",
                                                         {{"notice", text}});
        },
        this);
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    while (poll != PGRES_POLLING_OK) {
      if (poll == PGRES_POLLING_FAILED) {
        fail("connect failed");
        co_return false;
      }
      if (!co_await wait(poll == PGRES_POLLING_READING ? Wait::kRead : Wait::kWrite, true)) {
        fail("connect timed out or stopped");
        co_return false;
      }
      poll = PQconnectPoll(conn);
    }
    if (PQsetnonblocking(conn, 1) != 0 ||
        PQsendQuery(conn, ("LISTEN \"" + options.channel + "\"").c_str()) == 0) {
      fail("LISTEN failed");
      co_return false;
    }
    for (;;) {
      int flushed = PQflush(conn);
      if (flushed == 0) {
        break;
      }
      if (flushed < 0 || !co_await wait(Wait::kWrite, true)) {
        fail("LISTEN failed");
        co_return false;
      }
    }
    bool ok = true;
    for (;;) {
      if (PQisBusy(conn) != 0) {
        if (!co_await wait(Wait::kRead, true) || PQconsumeInput(conn) == 0) {
          fail("LISTEN failed");
          co_return false;
        }
        continue;
      }
      PGresult* result = PQgetResult(conn);
      if (result == nullptr) {
        break;
      }
      ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
      PQclear(result);
    }
    if (!ok) {
      fail("LISTEN refused");
      co_return false;
    }
    // Before the first notification of this connection is read: the store
    // forgets the notices it expected, which were sent while nobody listened.
    if (options.on_listening) {
      options.on_listening();
    }
    {
      std::lock_guard lock(mutex);
      ++stats.connects;
    }
    set_listening(true);
    co_return true;
  }

  // Delivers the notifications libpq has buffered. The payload is the account id
  // (store/postgres: pg_notify(kChangeChannel, '<account id>')).
  void deliver() {
    while (PGnotify* note = PQnotifies(conn)) {
      std::optional<domain::AccountId> account = parse_account(note->extra);
      const int sender = note->be_pid;
      PQfreemem(note);
      const bool own =
          account && options.own_notification && options.own_notification(sender, *account);
      std::lock_guard lock(mutex);
      if (stopped) {
        return;
      }
      if (!account) {
        ++stats.ignored;
        continue;
      }
      if (own) {
        ++stats.own;
        continue;
      }
      ++stats.notifications;
      on_change(*account);
    }
  }

  // Reads notifications until the connection fails or stop().
  asio::awaitable<void> receive() {
    // (A loop with a condition and a final co_return: GCC 12 miscompiles a void
    // coroutine whose body ends in an endless for(;;).)
    bool alive = true;
    while (alive) {
      deliver();
      if (!co_await wait(Wait::kRead, false)) {
        alive = false;
      } else if (PQconsumeInput(conn) == 0) {
        set_listening(false);
        fail("connection lost");
        alive = false;
      }
    }
    co_return;
  }

  asio::awaitable<void> run(std::shared_ptr<State> self) {
    std::chrono::milliseconds delay = options.min_backoff;
    bool first = true;
    while (!is_stopped()) {
      if (co_await connect_and_listen()) {
        delay = options.min_backoff;
        if (!first && on_reconnect) {
          std::lock_guard lock(mutex);
          if (!stopped) {
            on_reconnect();
          }
        }
        first = false;
        co_await receive();
        set_listening(false);
        close();
      }
      if (is_stopped()) {
        break;
      }
      backoff.expires_after(delay);
      co_await backoff.async_wait(kUseTuple);
      delay = std::min(delay * 2, options.max_backoff);
    }
    close();
    (void)self;  // kept alive until here
  }
};

ChangeListener::ChangeListener(asio::any_io_executor executor, ChangeListenerOptions options,
                               OnChange on_change, OnReconnect on_reconnect)
    : state_(std::make_shared<State>(std::move(executor), std::move(options), std::move(on_change),
                                     std::move(on_reconnect))) {}

ChangeListener::~ChangeListener() {
  try {
    stop();
  } catch (...) {
    // Only the post() of the cancellation can throw (std::bad_alloc); the
    // coroutine then stops at its next wake-up, when it sees `stopped`.
  }
}

void ChangeListener::start() {
  if (!plain_identifier(state_->options.channel)) {
    state_->options.logger.error("postgres change listener: bad channel name",
                                 {{"channel", state_->options.channel}});
    return;
  }
  asio::co_spawn(state_->strand, state_->run(state_), asio::detached);
}

void ChangeListener::stop() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopped) {
      return;
    }
    state_->stopped = true;
    state_->listening = false;
  }
  asio::post(state_->strand, [state = state_] {
    state->timeout.cancel();
    state->backoff.cancel();
    if (state->socket) {
      std::error_code ignored;
      state->socket->cancel(ignored);
    }
  });
}

bool ChangeListener::listening() const {
  std::lock_guard lock(state_->mutex);
  return state_->listening;
}

ChangeListenerStats ChangeListener::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

}  // namespace tern::services::cluster
