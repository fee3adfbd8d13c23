// SPDX-License-Identifier: Apache-2.0
// sasl::ServerExchange: one server-side SASL exchange as a sans-IO line-protocol
// engine runs it (POP3 AUTH, ManageSieve AUTHENTICATE). It checks the mechanism
// against what was advertised, decodes the client's base64, remembers the name
// the client gave, and turns every mechanism step into what the engine does
// next. The protocol's framing stays with the engine: how a challenge is
// written, what cancels, and how a refusal is worded.
//
// The four events an exchange ends in are shared, so the engines' Event variants
// hold these very types:
//   CheckPassword        PLAIN/LOGIN finished: verify the password;
//   NeedScramCredential  SCRAM: look up the credential, then call
//                        supply_scram_credential();
//   Authenticated        SCRAM proved the password;
//   AuthFailed           the exchange failed: count it for the brute-force policy.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "base/clock.hpp"
#include "sasl/mechanism.hpp"

namespace tern::sasl {

// PLAIN or LOGIN finished: verify `password` for `user`.
struct CheckPassword {
  std::string user;
  std::string password;
  bool operator==(const CheckPassword&) const = default;
};

// SCRAM: look up `user`'s credential and supply it (or refuse at once, when the
// brute-force policy says so).
struct NeedScramCredential {
  std::string user;
  bool operator==(const NeedScramCredential&) const = default;
};

// A mechanism that proves the password itself (SCRAM) succeeded for `user`.
struct Authenticated {
  std::string user;
  bool operator==(const Authenticated&) const = default;
};

// The exchange failed (wrong proof, malformed message, bad base64, cancelled).
// `user` is "" when the client never named one.
struct AuthFailed {
  std::string user;
  std::string reason;  // for the log; never sent
  bool operator==(const AuthFailed&) const = default;
};

// Send `data` (raw bytes; the engine base64-encodes them in its own framing) and
// feed the client's answer to respond().
struct Challenge {
  std::string data;
  bool operator==(const Challenge&) const = default;
};

class ServerExchange {
 public:
  using Outcome =
      std::variant<Challenge, CheckPassword, NeedScramCredential, Authenticated, AuthFailed>;

  // Why begin() refused a mechanism. No exchange runs after a refusal and
  // nothing counts as a failed login: the client never tried a password.
  enum class Refusal {
    kUnsupported,     // not a mechanism this session advertises
    kNeedsEncryption  // PLAIN or LOGIN where plaintext is not allowed (no TLS)
  };

  // The mechanisms to advertise now, strongest first (sasl::advertised_mechanisms).
  static std::vector<std::string> advertised(bool plaintext_allowed, const ServerOptions& options);

  // Picks mechanism `name` (case-insensitive) if this session advertises it.
  // `random` must outlive the exchange.
  std::optional<Refusal> begin(std::string_view name, bool plaintext_allowed,
                               const ServerOptions& options, Random& random);

  // Starts the mechanism begin() picked. `initial_base64` is the initial
  // response as the client sent it (an empty one as ""), nullopt when none.
  Outcome start(std::optional<std::string_view> initial_base64);

  // The client's base64 answer to the last Challenge.
  Outcome respond(std::string_view base64);

  // SCRAM, after NeedScramCredential: the account's credential, or nullopt for
  // an unknown user (the exchange then fails like a wrong password).
  Outcome supply_scram_credential(std::optional<ScramCredential> credential);

  // Ends the exchange as failed: the client cancelled or broke the framing.
  Outcome fail(std::string reason);

  // Drops the exchange without an outcome (the engine answered it otherwise).
  void reset() { mechanism_.reset(); }

  // True from begin() until an outcome that ends the exchange (CheckPassword,
  // Authenticated, AuthFailed): the engine reads the client's lines as SASL
  // responses meanwhile.
  bool active() const { return mechanism_ != nullptr; }

 private:
  Outcome on_step(StepResult result);

  std::unique_ptr<ServerMechanism> mechanism_;
  std::string user_;  // the last authentication identity the client gave
};

// The outcome as an engine's Event (a variant holding the four shared events);
// nullopt for a Challenge, which the engine writes itself.
template <class Event>
std::optional<Event> event_of(ServerExchange::Outcome outcome) {
  return std::visit(
      [](auto&& step) -> std::optional<Event> {
        if constexpr (std::is_same_v<std::decay_t<decltype(step)>, Challenge>) {
          return std::nullopt;
        } else {
          return Event(std::move(step));
        }
      },
      std::move(outcome));
}

}  // namespace tern::sasl
