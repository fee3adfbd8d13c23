// SPDX-License-Identifier: Apache-2.0
// services::imap::Service: the IMAP role (RFC 9051, RFC 3501) over runtime
// connections. One coroutine per connection drives imap::ServerEngine, runs the
// synchronous Handlers on the blocking pool, and wakes IDLE sessions through the
// ChangeHub (docs/adr/0009-imap-server.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "imap/server_engine.hpp"
#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "runtime/listener.hpp"
#include "runtime/tls.hpp"
#include "services/imap/change_hub.hpp"
#include "services/imap/handlers.hpp"

namespace tern::services::imap {

struct ServiceOptions {
  // Before login: short, so idle unauthenticated connections do not pile up.
  runtime::Duration preauth_timeout = std::chrono::seconds(60);
  // After login, between commands and during IDLE: RFC 9051 §5.4 asks for at least
  // 30 minutes of inactivity before an autologout.
  runtime::Duration idle_timeout = std::chrono::minutes(30);
  runtime::Duration write_timeout = std::chrono::seconds(60);
  runtime::Duration tls_timeout = std::chrono::seconds(30);
  // While idling, the store is also re-checked this often, for changes made outside
  // this process (LMTP in another ternd, `tern deliver`) that the hub cannot see.
  runtime::Duration idle_poll_interval = std::chrono::seconds(2);
  // The certificate for STARTTLS; null: STARTTLS is not offered.
  std::shared_ptr<runtime::TlsContexts> tls;
  bool offer_starttls = false;
  // Logged-in connections per account (Dovecot's mail_max_userip_connections is 10
  // per user and IP; per-IP totals are the listener's [limits]).
  std::size_t max_connections_per_user = 20;
  // Connections from one peer address, on top of the listener's [limits]; the next
  // is greeted with BYE. 0: no IMAP-specific cap.
  std::size_t max_connections_per_ip = 0;
  tern::imap::EngineLimits limits;
  Options handlers;
  domain::AuthParams auth_params;
  // Secret for the SCRAM fake salts of unknown users (sasl::ServerOptions).
  std::string mock_secret;
};

// Thread-safety: handler() connections run concurrently on their own strands; the
// hub and the per-user counts are shared under mutexes. The Service must outlive
// every connection given to handler(); `storage`, `pool`, `clock`, `random`,
// `registry` and `throttle` must outlive it.
class Service {
 public:
  Service(ServiceOptions options, domain::Storage& storage, runtime::BlockingPool& pool,
          const Clock& clock, Random& random, metrics::Registry& registry,
          domain::AuthThrottle& throttle, log::Logger logger);

  runtime::ConnectionHandler handler();

  // Serves one connection until LOGOUT, a timeout, the peer closing or an error.
  // Never throws for network, protocol or store errors; they are logged (store
  // exceptions answer the command with NO [SERVERBUG]).
  asio::awaitable<void> serve(std::unique_ptr<runtime::Connection> connection);

  ChangeHub& hub() { return hub_; }

 private:
  // Counts one more connection under `key` unless `limit` (0: none) is reached.
  template <typename Key>
  bool add_connection(std::unordered_map<Key, std::size_t>& counts, const Key& key,
                      std::size_t limit);
  template <typename Key>
  void remove_connection(std::unordered_map<Key, std::size_t>& counts, const Key& key);

  ServiceOptions options_;
  domain::Storage& storage_;
  runtime::BlockingPool& pool_;
  const Clock& clock_;
  metrics::Registry& registry_;
  log::Logger logger_;
  ChangeHub hub_;
  Shared shared_;
  std::mutex mutex_;
  std::unordered_map<std::int64_t, std::size_t> user_connections_;  // by account
  std::unordered_map<std::string, std::size_t> ip_connections_;     // by peer address
};

}  // namespace tern::services::imap
