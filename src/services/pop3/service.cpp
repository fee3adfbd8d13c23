// SPDX-License-Identifier: Apache-2.0
#include "services/pop3/service.hpp"

#include <array>
#include <cstdio>
#include <variant>

namespace tern::services::pop3 {

namespace engine = ::tern::pop3;

std::string uidl(domain::UidValidity uid_validity, domain::Uid uid) {
  std::array<char, 17> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%08X%08X",
                static_cast<unsigned>(domain::value_of(uid)),
                static_cast<unsigned>(domain::value_of(uid_validity)));
  return std::string(buffer.data(), 16);
}

// Per-connection state. The lock, when held, is released by the destructor, so
// every way out of serve() (QUIT, timeout, peer gone, error) unlocks.
struct Service::Session {
  Session(Service& service, std::unique_ptr<runtime::Connection> c, engine::Options options)
      : owner(service), connection(std::move(c)), engine(std::move(options), service.random_) {}

  ~Session() {
    if (locked) {
      owner.unlock(account.id);
    }
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Service& owner;
  std::unique_ptr<runtime::Connection> connection;
  engine::ServerEngine engine;
  std::string ip;
  domain::Account account;  // valid once logged in (or after a SCRAM lookup)
  bool locked = false;
  domain::MailboxId inbox{};
  std::vector<domain::Entry> entries;  // the snapshot, message number i+1
};

Service::Service(Options options, domain::Storage& storage, runtime::BlockingPool& pool,
                 const Clock& clock, Random& random, metrics::Registry& registry,
                 domain::AuthThrottle& throttle, log::Logger logger)
    : options_(std::move(options)),
      storage_(storage),
      pool_(pool),
      clock_(clock),
      random_(random),
      registry_(registry),
      throttle_(throttle),
      logger_(std::move(logger)) {}

runtime::ConnectionHandler Service::handler() {
  return [this](std::unique_ptr<runtime::Connection> connection) {
    return serve(std::move(connection));
  };
}

void Service::count_auth(std::string_view result) {
  registry_
      .counter("tern_pop3_auth_total", "POP3 authentication attempts, by result.",
               {{"result", std::string(result)}})
      .inc();
}

bool Service::is_locked(domain::AccountId account) const {
  std::lock_guard lock(mutex_);
  return locked_.contains(account);
}

bool Service::try_lock(domain::AccountId account) {
  std::lock_guard lock(mutex_);
  return locked_.insert(account).second;
}

void Service::unlock(domain::AccountId account) {
  std::lock_guard lock(mutex_);
  locked_.erase(account);
}

namespace {

sasl::ChannelBindings bindings_of(const runtime::Connection& c) {
  sasl::ChannelBindings b;
  if (c.is_tls()) {
    b.tls_exporter = c.tls_exporter(runtime::kTlsExporterLabel, runtime::kTlsExporterLength);
    b.tls_unique = c.tls_unique();
  }
  return b;
}

}  // namespace

// Applies the brute-force policy before an attempt: true when the attempt was
// refused (the engine has been answered); otherwise after any delay it imposes.
asio::awaitable<bool> Service::throttled(Session& s, const std::string& user) {
  auto decision = throttle_.check(s.ip, user, clock_.monotonic());
  if (decision.blocked) {
    count_auth("blocked");
    s.connection->logger().info("pop3 login blocked by the auth throttle", {{"user", user}});
    s.engine.login_failed(engine::ResponseCode::kSysTemp,
                          "too many authentication failures, try again later");
    co_return true;
  }
  if (decision.delay.count() > 0) {
    asio::steady_timer timer(s.connection->executor(), decision.delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return false;
}

asio::awaitable<void> Service::authenticate_password(Session& s, std::string user,
                                                     std::string password) {
  if (co_await throttled(s, user)) {
    co_return;
  }
  auto& directory = storage_.directory();
  auto params = options_.auth_params;
  // argon2 is CPU- and memory-heavy: never on an I/O thread. The job is a named
  // local: GCC 12 relocates lambda temporaries in a co_await operand bitwise,
  // which breaks captured short (SSO) strings.
  auto credentials = std::make_shared<std::pair<std::string, std::string>>(user, password);
  auto job = [&directory, credentials, params, this] {
    return domain::authenticate(directory, credentials->first, credentials->second, params,
                                random_);
  };
  auto result = co_await runtime::offload(pool_, std::move(job));
  if (!result) {
    if (result.error().code == ErrorCode::kPermissionDenied) {
      throttle_.record_failure(s.ip, user, clock_.monotonic());
      count_auth("failure");
      s.connection->logger().info("pop3 login failed", {{"user", user}});
      s.engine.login_failed(engine::ResponseCode::kAuth, "authentication failed");
    } else {
      s.connection->logger().error("pop3 login: store error", {{"error", result.error().message}});
      s.engine.login_failed(engine::ResponseCode::kSysTemp, "temporary failure, try again later");
    }
    co_return;
  }
  throttle_.record_success(s.ip, user, clock_.monotonic());
  co_await open_maildrop(s, std::move(*result));
}

asio::awaitable<void> Service::lookup_scram(Session& s, std::string user) {
  if (co_await throttled(s, user)) {
    co_return;
  }
  auto& directory = storage_.directory();
  auto name = std::make_shared<const std::string>(user);
  auto job = [&directory, name] { return domain::find_scram_credential(directory, *name); };
  auto lookup = co_await runtime::offload(pool_, std::move(job));
  if (!lookup) {
    s.connection->logger().error("pop3 scram lookup: store error",
                                 {{"error", lookup.error().message}});
    s.engine.login_failed(engine::ResponseCode::kSysTemp, "temporary failure, try again later");
    co_return;
  }
  if (lookup->account) {
    s.account = *lookup->account;
  } else {
    s.account = domain::Account{};
  }
  s.engine.supply_scram_credential(lookup->credential);
}

asio::awaitable<void> Service::open_maildrop(Session& s, domain::Account account) {
  auto now = clock_.monotonic();
  if (options_.login_delay_seconds) {
    std::lock_guard lock(mutex_);
    auto it = last_login_.find(domain::value_of(account.id));
    if (it != last_login_.end() &&
        now - it->second < std::chrono::seconds(*options_.login_delay_seconds)) {
      s.engine.login_failed(engine::ResponseCode::kLoginDelay, "logged in too recently");
      co_return;
    }
  }
  // RFC 1939 §8: one POP3 session per maildrop at a time.
  if (!try_lock(account.id)) {
    count_auth("in_use");
    s.engine.login_failed(engine::ResponseCode::kInUse, "maildrop in use by another session");
    co_return;
  }
  s.account = std::move(account);
  s.locked = true;
  auto mailboxes = co_await runtime::await(storage_.mail().mailboxes(s.account.id));
  const domain::Mailbox* inbox = nullptr;
  if (mailboxes) {
    for (const auto& m : *mailboxes) {
      if (m.name == "INBOX") {
        inbox = &m;
      }
    }
  }
  if (inbox == nullptr) {
    unlock(s.account.id);
    s.locked = false;
    s.connection->logger().error("pop3: cannot open INBOX",
                                 {{"user", s.account.address},
                                  {"error", mailboxes ? "no INBOX" : mailboxes.error().message}});
    s.engine.login_failed(engine::ResponseCode::kSysTemp, "cannot open the maildrop");
    co_return;
  }
  s.inbox = inbox->id;
  domain::UidValidity validity = inbox->uid_validity;
  // The snapshot (RFC 1939 §8): messages arriving later are not seen until the
  // next session. Every UID below uid_next covers what exists now.
  auto entries = co_await runtime::await(
      storage_.mail().entries(s.account.id, s.inbox, domain::Uid{1}, domain::Uid{0xffffffffu}));
  if (!entries) {
    unlock(s.account.id);
    s.locked = false;
    s.connection->logger().error("pop3: cannot list INBOX", {{"error", entries.error().message}});
    s.engine.login_failed(engine::ResponseCode::kSysTemp, "cannot open the maildrop");
    co_return;
  }
  s.entries = std::move(*entries);
  std::vector<engine::MaildropEntry> maildrop;
  maildrop.reserve(s.entries.size());
  for (const auto& e : s.entries) {
    // Stored messages are CRLF-canonical (domain::to_crlf on every
    // delivery path), so the stored size is the size RETR sends before stuffing.
    maildrop.push_back(engine::MaildropEntry{e.size, uidl(validity, e.uid)});
  }
  {
    std::lock_guard lock(mutex_);
    last_login_[domain::value_of(s.account.id)] = now;
  }
  count_auth("success");
  s.connection->logger().info(
      "pop3 login", {{"user", s.account.address}, {"messages", std::to_string(s.entries.size())}});
  s.engine.login_succeeded(std::move(maildrop));
}

asio::awaitable<void> Service::serve(std::unique_ptr<runtime::Connection> connection) {
  engine::Options eo;
  bool tls = connection->is_tls();
  bool loopback = connection->peer_address().is_loopback();
  eo.tls_active = tls;
  eo.stls_available = options_.offer_stls && options_.tls != nullptr;
  eo.plaintext_allowed =
      domain::plaintext_auth_allowed(tls, loopback, options_.allow_plaintext_on_loopback);
  eo.login_delay_seconds = options_.login_delay_seconds;
  eo.sasl.mock_secret = options_.mock_secret;
  eo.sasl.channel_bindings = bindings_of(*connection);
  eo.limits = options_.limits;
  Session s(*this, std::move(connection), std::move(eo));
  s.ip = s.connection->peer_address().to_string();
  const log::Logger& log = s.connection->logger();
  registry_.counter("tern_pop3_sessions_total", "POP3 sessions started.").inc();
  std::array<char, 16384> buffer;

  auto flush = [&]() -> asio::awaitable<bool> {
    return runtime::flush_output(*s.connection, s.engine, options_.write_timeout,
                                 "pop3 write failed");
  };

  // Pipelined RETRs (RFC 2449 §6.6) each queue a whole message: write them out
  // as they accumulate, so a client pipelining its whole maildrop cannot make
  // the session buffer it.
  constexpr std::size_t kFlushBytes = 256 * 1024;
  for (;;) {
    if (s.engine.output().size() >= kFlushBytes && !co_await flush()) {
      co_return;
    }
    engine::Event event = s.engine.next();
    if (std::holds_alternative<engine::NeedInput>(event)) {
      if (!co_await flush()) {
        co_return;
      }
      auto timeout = s.engine.state() == engine::State::kTransaction
                         ? options_.transaction_timeout
                         : options_.authorization_timeout;
      auto n = co_await s.connection->read_some(buffer, timeout);
      if (!n || *n == 0) {
        // RFC 1939 §6: a session that ends without QUIT deletes nothing.
        log.debug("pop3 session ended without QUIT",
                  {{"error", n ? std::string("eof") : n.error().message}});
        co_return;
      }
      s.engine.receive(std::span<const char>(buffer.data(), *n));
      continue;
    }
    if (std::holds_alternative<engine::Close>(event)) {
      // The maildrop is free before the client reads the last reply: QUIT's
      // deletions are stored by now, and a client that reconnects at once (a
      // poller, a test) would otherwise race the destructor's unlock and get
      // [IN-USE].
      if (s.locked) {
        unlock(s.account.id);
        s.locked = false;
      }
      co_await flush();
      co_return;
    }
    if (std::holds_alternative<engine::StartTls>(event)) {
      if (!co_await flush()) {
        co_return;
      }
      auto started =
          co_await s.connection->start_tls(options_.tls->current(), options_.tls_timeout);
      if (!started) {
        log.info("pop3 STLS handshake failed", {{"error", started.error().message}});
        co_return;
      }
      s.engine.tls_started(
          domain::plaintext_auth_allowed(true, loopback, options_.allow_plaintext_on_loopback),
          bindings_of(*s.connection));
      continue;
    }
    if (auto* check = std::get_if<engine::CheckPassword>(&event)) {
      co_await authenticate_password(s, std::move(check->user), std::move(check->password));
      continue;
    }
    if (auto* need = std::get_if<engine::NeedScramCredential>(&event)) {
      co_await lookup_scram(s, std::move(need->user));
      continue;
    }
    if (auto* authenticated = std::get_if<engine::Authenticated>(&event)) {
      throttle_.record_success(s.ip, authenticated->user, clock_.monotonic());
      if (s.account.address.empty()) {
        s.engine.login_failed(engine::ResponseCode::kAuth, "authentication failed");
        continue;
      }
      co_await open_maildrop(s, s.account);
      continue;
    }
    if (auto* failed = std::get_if<engine::AuthFailed>(&event)) {
      throttle_.record_failure(s.ip, failed->user, clock_.monotonic());
      count_auth("failure");
      log.info("pop3 SASL authentication failed",
               {{"user", failed->user}, {"reason", failed->reason}});
      auto decision = throttle_.check(s.ip, failed->user, clock_.monotonic());
      if (decision.delay.count() > 0 && !decision.blocked) {
        asio::steady_timer timer(s.connection->executor(), decision.delay);
        co_await timer.async_wait(asio::use_awaitable);
      }
      s.engine.login_failed(engine::ResponseCode::kAuth, "authentication failed");
      continue;
    }
    if (auto* retrieve = std::get_if<engine::Retrieve>(&event)) {
      const auto& entry = s.entries.at(retrieve->index);
      auto raw = co_await runtime::await(storage_.mail().read_message(s.account.id, entry.message));
      if (!raw) {
        log.error("pop3 RETR: cannot read message", {{"error", raw.error().message}});
        s.engine.retrieve_failed(
            raw.error().code == ErrorCode::kNotFound ? engine::ResponseCode::kNone
                                                     : engine::ResponseCode::kSysTemp,
            raw.error().code == ErrorCode::kNotFound ? "message was removed by another session"
                                                     : "cannot read the message");
        continue;
      }
      registry_.counter("tern_pop3_retrieved_bytes_total", "Message bytes sent by RETR and TOP.")
          .inc(raw->size());
      s.engine.send_message(*raw);
      continue;
    }
    if (auto* update = std::get_if<engine::Update>(&event)) {
      bool ok = true;
      if (!update->deleted.empty()) {
        std::vector<domain::Uid> uids;
        uids.reserve(update->deleted.size());
        for (auto index : update->deleted) {
          uids.push_back(s.entries.at(index).uid);
        }
        // Through the MailStore port, so IMAP sessions see EXPUNGE/VANISHED.
        auto expunged = co_await runtime::await(
            storage_.mail().expunge(s.account.id, s.inbox, std::move(uids)));
        if (!expunged) {
          ok = false;
          log.error("pop3 UPDATE: expunge failed", {{"error", expunged.error().message}});
        } else {
          log.info("pop3 UPDATE", {{"user", s.account.address},
                                   {"deleted", std::to_string(update->deleted.size())}});
        }
      }
      s.engine.update_done(ok);
      continue;
    }
  }
}

}  // namespace tern::services::pop3
