// SPDX-License-Identifier: Apache-2.0
// One SMTP AUTH exchange (RFC 4954) over the shared SASL mechanisms and the
// authentication use-cases: the session feeds it the engine's AuthStart and
// AuthResponse events and sends what it says. Synchronous (argon2 and directory
// lookups): the session runs it on the blocking pool; the transcript runner calls
// it directly.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/server_engine.hpp"

namespace tern::services::smtp {

// What to send next.
struct AuthOutcome {
  // Set: send it as a 334 challenge (ServerEngine::auth_challenge) and wait for
  // the response. Otherwise the exchange is over: send `reply` (auth_finish).
  std::optional<std::string> challenge;
  tern::smtp::Reply reply;
  // Wait this long before sending `reply` (the throttle's slow-down after failures).
  std::chrono::milliseconds delay{0};
  // The authenticated account when `reply` is 235.
  std::optional<domain::Account> account;
};

// Replies: 235 2.7.0 success; 535 5.7.8 wrong credentials (the same for unknown
// users); 454 4.7.0 when the client IP or the account is blocked by the
// AuthThrottle (checked before any password work) or the store failed; 504 5.5.4
// for an unknown mechanism. Every failure is recorded in the throttle; cancelling
// ("*", AuthAborted) is not a failure.
//
// `directory`, `throttle`, `random` and `clock` must outlive the exchange.
class AuthExchange {
 public:
  AuthExchange(domain::Directory& directory, domain::AuthThrottle& throttle,
               domain::AuthParams params, Random& random, const Clock& clock,
               std::string mock_secret);

  // `bindings`: the connection's channel bindings (empty without TLS); when it
  // has any, SCRAM-SHA-256-PLUS was advertised and is verified against them.
  AuthOutcome start(const tern::smtp::AuthStart& start, std::string_view ip,
                    const sasl::ChannelBindings& bindings = {});
  AuthOutcome respond(const tern::smtp::AuthResponse& response, std::string_view ip);

  void abort() { mechanism_.reset(); }

 private:
  AuthOutcome advance(sasl::StepResult result, std::string_view ip);
  AuthOutcome failure(std::string_view ip, std::string_view reason);
  // Ends the exchange with `reply`, not counted as a failure.
  AuthOutcome ended(const tern::smtp::Reply& reply);

  domain::Directory& directory_;
  domain::AuthThrottle& throttle_;
  domain::AuthParams params_;
  Random& random_;
  const Clock& clock_;
  std::string mock_secret_;
  std::unique_ptr<sasl::ServerMechanism> mechanism_;
  std::optional<domain::Account> account_;
  std::string user_;
};

}  // namespace tern::services::smtp
