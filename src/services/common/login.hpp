// SPDX-License-Identifier: Apache-2.0
// services::LoginGate: the login steps every line-protocol service takes the same
// way (POP3, ManageSieve): the brute-force policy before any password work,
// argon2 on the blocking pool, the SCRAM credential lookup, the failure count
// with the slow-down it imposes, and the tern_<protocol>_auth_total counter.
// Each service words its refusals to the client itself, from what the gate says.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/metrics.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "sasl/mechanism.hpp"

namespace tern::services {

// The channel bindings of `connection` for SCRAM-SHA-256-PLUS: none without TLS.
sasl::ChannelBindings channel_bindings_of(const runtime::Connection& connection);

// Why a login step did not go on. Each is counted and logged by the gate.
enum class LoginRefusal {
  kBlocked,     // the throttle refuses this IP or user for now ("blocked")
  kDenied,      // wrong password or unknown user ("failure")
  kStoreError,  // the directory failed: a temporary failure
};

struct PasswordCheck {
  std::optional<domain::Account> account;  // set when the password is right
  LoginRefusal refusal = LoginRefusal::kDenied;
};

struct ScramCheck {
  std::optional<domain::ScramLookup> lookup;  // set unless refused
  LoginRefusal refusal = LoginRefusal::kStoreError;
};

// Thread-safety: one gate serves every session of a service concurrently; it
// holds references only. `directory`, `pool`, `clock`, `random`, `registry` and
// `throttle` must outlive it.
class LoginGate {
 public:
  // `protocol`: the log prefix and metric infix ("pop3"); `display`: its name
  // in the metric's help text ("POP3").
  LoginGate(std::string protocol, std::string display, domain::Directory& directory,
            runtime::BlockingPool& pool, const Clock& clock, Random& random,
            metrics::Registry& registry, domain::AuthThrottle& throttle, domain::AuthParams params);

  // A password login (USER/PASS, PLAIN, LOGIN): the throttle first (waiting the
  // delay it asks for), then argon2 on the pool. A right password resets the
  // throttle's count for the IP and user.
  asio::awaitable<PasswordCheck> check_password(runtime::Connection& connection,
                                                const std::string& ip, std::string user,
                                                std::string password);

  // SCRAM: the throttle first, then the account's credential (an unknown user
  // is a lookup without account, answered like a wrong proof).
  asio::awaitable<ScramCheck> find_scram(runtime::Connection& connection, const std::string& ip,
                                         std::string user);

  // A SASL exchange that proved the password (SCRAM) for `user`.
  void proved(const std::string& ip, const std::string& user);

  // A SASL exchange failed: counted for the throttle and logged; waits the
  // slow-down the throttle then asks for.
  asio::awaitable<void> sasl_failed(runtime::Connection& connection, const std::string& ip,
                                    const std::string& user, const std::string& reason);

  // tern_<protocol>_auth_total{result}: "success" and anything a service adds
  // ("in_use"); the gate counts "blocked" and "failure" itself.
  void count(std::string_view result);

 private:
  // The throttle's verdict before an attempt, after any delay it imposes: true
  // when refused (counted and logged).
  asio::awaitable<bool> throttled(runtime::Connection& connection, const std::string& ip,
                                  const std::string& user);

  std::string protocol_;
  std::string display_;
  domain::Directory& directory_;
  runtime::BlockingPool& pool_;
  const Clock& clock_;
  Random& random_;
  metrics::Registry& registry_;
  domain::AuthThrottle& throttle_;
  domain::AuthParams params_;
};

}  // namespace tern::services
