// SPDX-License-Identifier: Apache-2.0
// The ManageSieve service (RFC 5804): drives managesieve::ServerEngine over
// runtime connections, authenticates through domain/authenticator.hpp with the
// shared AuthThrottle, compiles scripts with sieve::compile and keeps them in the
// Directory port, where delivery (domain::deliver) finds the active one.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "managesieve/server_engine.hpp"
#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "runtime/listener.hpp"
#include "runtime/tls.hpp"
#include "services/common/login.hpp"
#include "sieve/sieve.hpp"

namespace tern::services::managesieve {

struct Options {
  // Idle time allowed before login: short, so idle unauthenticated connections
  // do not pile up (RFC 5804 §1.2 allows less than 30 minutes there).
  runtime::Duration preauth_timeout = std::chrono::seconds(60);
  // RFC 5804 §1.2: no less than 30 minutes after successful authentication.
  runtime::Duration authenticated_timeout = std::chrono::minutes(30);
  runtime::Duration write_timeout = std::chrono::seconds(60);
  runtime::Duration tls_timeout = std::chrono::seconds(30);
  // The certificate for STARTTLS; null: STARTTLS is not offered.
  std::shared_ptr<runtime::TlsContexts> tls;
  // Offer STARTTLS on plain connections (listener tls = "starttls").
  bool offer_starttls = false;
  bool allow_plaintext_on_loopback = true;
  domain::AuthParams auth_params;
  // The largest script PUTSCRIPT stores (HAVESPACE answers by it too); the
  // compiler's own limit by default (1 MiB). The engine's literal limit
  // (limits.max_literal_bytes) must be a little above it.
  std::size_t max_script_bytes = sieve::CompileLimits{}.max_script_bytes;
  // Engine limits (line, literal sizes, errors per session). Connections per IP
  // are capped by the listener ([limits]).
  ::tern::managesieve::Limits limits;
  // Secret for the SCRAM fake salts of unknown users (sasl::ServerOptions).
  std::string mock_secret;
};

// Thread-safety: handler() connections run concurrently on their own strands and
// share nothing but the store, the throttle and the metrics. The Service must
// outlive every connection given to handler() (destroy it after the listeners
// drained). `storage`, `pool`, `clock`, `random`, `registry` and `throttle` must
// outlive it.
class Service {
 public:
  Service(Options options, domain::Storage& storage, runtime::BlockingPool& pool,
          const Clock& clock, Random& random, metrics::Registry& registry,
          domain::AuthThrottle& throttle, log::Logger logger);

  runtime::ConnectionHandler handler();

  // Serves one connection until LOGOUT, a timeout, the peer closing, or an
  // error. Never throws for network, protocol or store errors; they are logged.
  asio::awaitable<void> serve(std::unique_ptr<runtime::Connection> connection);

 private:
  struct Session;

  asio::awaitable<void> authenticate_password(Session& s, std::string user, std::string password);
  asio::awaitable<void> lookup_scram(Session& s, std::string user);
  void logged_in(Session& s, domain::Account account);
  // Runs one authenticated-state command event and answers the engine.
  asio::awaitable<void> run_command(Session& s, ::tern::managesieve::Event& event);
  // Compiles `text` on the blocking pool: nullopt when it compiles, else the
  // error ("line N: ...").
  asio::awaitable<std::optional<std::string>> compile_error(std::string text);

  Options options_;
  domain::Storage& storage_;
  runtime::BlockingPool& pool_;
  Random& random_;
  metrics::Registry& registry_;
  LoginGate login_;  // counts tern_managesieve_auth_total
  log::Logger logger_;
};

}  // namespace tern::services::managesieve
