// SPDX-License-Identifier: Apache-2.0
#include "services/pop3/service.hpp"

#include <array>
#include <cstdio>
#include <variant>

#include "services/common/line_session.hpp"

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
      clock_(clock),
      random_(random),
      registry_(registry),
      login_("pop3", "POP3", storage.directory(), pool, clock, random, registry, throttle,
             options_.auth_params),
      logger_(std::move(logger)) {}

runtime::ConnectionHandler Service::handler() {
  return [this](std::unique_ptr<runtime::Connection> connection) {
    return serve(std::move(connection));
  };
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

// How POP3 words a refused login step (RFC 3206 §4: [AUTH] for credentials,
// [SYS/TEMP] for what may pass).
void refuse(engine::ServerEngine& engine, LoginRefusal refusal) {
  switch (refusal) {
    case LoginRefusal::kBlocked:
      engine.login_failed(engine::ResponseCode::kSysTemp,
                          "too many authentication failures, try again later");
      return;
    case LoginRefusal::kDenied:
      engine.login_failed(engine::ResponseCode::kAuth, "authentication failed");
      return;
    case LoginRefusal::kStoreError:
      engine.login_failed(engine::ResponseCode::kSysTemp, "temporary failure, try again later");
      return;
  }
}

}  // namespace

asio::awaitable<void> Service::authenticate_password(Session& s, std::string user,
                                                     std::string password) {
  auto checked =
      co_await login_.check_password(*s.connection, s.ip, std::move(user), std::move(password));
  if (!checked.account) {
    refuse(s.engine, checked.refusal);
    co_return;
  }
  co_await open_maildrop(s, std::move(*checked.account));
}

asio::awaitable<void> Service::lookup_scram(Session& s, std::string user) {
  auto checked = co_await login_.find_scram(*s.connection, s.ip, std::move(user));
  if (!checked.lookup) {
    refuse(s.engine, checked.refusal);
    co_return;
  }
  s.account = checked.lookup->account.value_or(domain::Account{});
  s.engine.supply_scram_credential(std::move(checked.lookup->credential));
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
    login_.count("in_use");
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
  login_.count("success");
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
  eo.sasl.channel_bindings = channel_bindings_of(*connection);
  eo.limits = options_.limits;
  Session s(*this, std::move(connection), std::move(eo));
  s.ip = s.connection->peer_address().to_string();
  const log::Logger& log = s.connection->logger();
  registry_.counter("tern_pop3_sessions_total", "POP3 sessions started.").inc();
  LineSession io(*s.connection, s.engine, options_.write_timeout, "pop3");
  for (;;) {
    if (!co_await io.flush_if_large()) {
      co_return;
    }
    engine::Event event = s.engine.next();
    if (std::holds_alternative<engine::NeedInput>(event)) {
      auto timeout = s.engine.state() == engine::State::kTransaction
                         ? options_.transaction_timeout
                         : options_.authorization_timeout;
      // RFC 1939 §6: a session that ends without QUIT deletes nothing.
      if (!co_await io.read(timeout, "session ended without QUIT")) {
        co_return;
      }
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
      co_await io.flush();
      co_return;
    }
    if (std::holds_alternative<engine::StartTls>(event)) {
      if (!co_await io.start_tls(*options_.tls, options_.tls_timeout,
                                 options_.allow_plaintext_on_loopback, "STLS")) {
        co_return;
      }
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
      login_.proved(s.ip, authenticated->user);
      if (s.account.address.empty()) {
        s.engine.login_failed(engine::ResponseCode::kAuth, "authentication failed");
        continue;
      }
      co_await open_maildrop(s, s.account);
      continue;
    }
    if (auto* failed = std::get_if<engine::AuthFailed>(&event)) {
      co_await login_.sasl_failed(*s.connection, s.ip, failed->user, failed->reason);
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
