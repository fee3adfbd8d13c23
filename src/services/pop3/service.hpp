// SPDX-License-Identifier: Apache-2.0
// The POP3 service (issue #6): drives pop3::ServerEngine over runtime connections,
// authenticates through domain/authenticator.hpp with the shared AuthThrottle,
// locks and snapshots the INBOX, serves RETR/TOP from the MailStore and applies
// deletions with MailStore::expunge at QUIT (so IMAP sessions see them).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "pop3/server_engine.hpp"
#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "runtime/listener.hpp"
#include "runtime/tls.hpp"
#include "services/common/login.hpp"

namespace tern::services::pop3 {

struct Options {
  // Idle time allowed before login (AUTHORIZATION): short, so idle unauthenticated
  // connections do not pile up.
  runtime::Duration authorization_timeout = std::chrono::seconds(60);
  // RFC 1939 §3: the autologout timer in TRANSACTION is at least 10 minutes.
  runtime::Duration transaction_timeout = std::chrono::minutes(10);
  runtime::Duration write_timeout = std::chrono::seconds(60);
  runtime::Duration tls_timeout = std::chrono::seconds(30);
  // The certificate for STLS; null: STLS is not offered.
  std::shared_ptr<runtime::TlsContexts> tls;
  // Offer STLS on plain connections (listener tls = "starttls").
  bool offer_stls = false;
  bool allow_plaintext_on_loopback = true;
  domain::AuthParams auth_params;
  // RFC 2449 §6.8 LOGIN-DELAY: minimum seconds between two logins of one account;
  // nullopt: not enforced, not advertised.
  std::optional<std::uint32_t> login_delay_seconds;
  // Engine limits (line lengths, errors per session). Connections per IP are
  // capped by the listener ([limits]); per account, the maildrop lock allows one
  // logged-in POP3 session at a time.
  ::tern::pop3::Limits limits;
  // Secret for the SCRAM fake salts of unknown users (sasl::ServerOptions).
  std::string mock_secret;
};

// Thread-safety: handler() connections run concurrently on their own strands;
// the maildrop locks and login-delay table are shared under a mutex. The Service
// must outlive every connection given to handler() (destroy it after the
// listeners drained). `storage`, `pool`, `clock`, `random`, `registry` and
// `throttle` must outlive it.
class Service {
 public:
  Service(Options options, domain::Storage& storage, runtime::BlockingPool& pool,
          const Clock& clock, Random& random, metrics::Registry& registry,
          domain::AuthThrottle& throttle, log::Logger logger);

  runtime::ConnectionHandler handler();

  // Serves one connection until QUIT, a timeout, the peer closing, or an error.
  // Without QUIT nothing is deleted (RFC 1939 §6). Never throws for network,
  // protocol or store errors; they are logged.
  asio::awaitable<void> serve(std::unique_ptr<runtime::Connection> connection);

  // Whether `account` holds the maildrop lock now (tests, metrics).
  bool is_locked(domain::AccountId account) const;

 private:
  struct Session;

  asio::awaitable<void> authenticate_password(Session& s, std::string user, std::string password);
  asio::awaitable<void> lookup_scram(Session& s, std::string user);
  asio::awaitable<void> open_maildrop(Session& s, domain::Account account);
  bool try_lock(domain::AccountId account);
  void unlock(domain::AccountId account);

  Options options_;
  domain::Storage& storage_;
  const Clock& clock_;
  Random& random_;
  metrics::Registry& registry_;
  LoginGate login_;  // counts tern_pop3_auth_total
  log::Logger logger_;
  mutable std::mutex mutex_;
  std::set<domain::AccountId> locked_;
  std::unordered_map<std::int64_t, Instant> last_login_;
};

// The UIDL of a message (RFC 1939 §7): Dovecot's default pop3_uidl_format
// "%08Xu%08Xv", the IMAP UID then UIDVALIDITY in 8 upper-case hex digits each.
// UIDs are never reused within a UIDVALIDITY and UIDVALIDITY changes whenever a
// mailbox is recreated, so the pair is unique for the life of the account and
// stable across sessions, restarts and store rebuilds that keep UIDs; and an
// account migrated from Dovecot with its UIDs keeps its UIDLs, so clients do not
// download everything again.
std::string uidl(domain::UidValidity uid_validity, domain::Uid uid);

}  // namespace tern::services::pop3
