// SPDX-License-Identifier: Apache-2.0
// Server-side SASL mechanisms (RFC 4422) as sans-IO state machines: PLAIN
// (RFC 4616), LOGIN (draft-murchison-sasl-login), SCRAM-SHA-256 and
// SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, channel bindings RFC 9266 tls-exporter
// and RFC 5929 tls-unique). Shared by SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH.
//
// The messages here are raw bytes: the protocol decodes the client's base64 (with
// sasl::base64_decode) before calling step() and encodes challenges after. "*"
// (cancel) is the protocol's business too: it just drops the mechanism.
//
// A mechanism never touches the directory. When it needs the account it stops and
// says so (kCheckPassword, kNeedScramCredential); the session does the lookup (on
// the blocking pool, through domain/authenticator.hpp) and carries on.
//
// Typical session code:
//   auto mech = make_server_mechanism(name, options, random);   // nullptr: unknown
//   StepResult r = mech->start(initial_response);               // optional
//   loop:
//     kChallenge            → send r.data, read the response, r = mech->step(resp)
//     kNeedScramCredential  → look up r.identity.authcid,
//                             r = mech->supply_scram_credential(credential or nullopt)
//     kCheckPassword        → verify r.identity.password for r.identity.authcid: done
//     kSuccess              → authenticated as r.identity.authcid (authzid); done
//     kFailure              → reply the protocol's failure; r.reason is for the log
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "sasl/scram.hpp"

namespace tern::sasl {

enum class StepKind {
  kChallenge,            // send `data` as a challenge, feed the client's answer to step()
  kCheckPassword,        // PLAIN/LOGIN finished: the caller verifies identity.password
  kNeedScramCredential,  // SCRAM: call supply_scram_credential() for identity.authcid
  kSuccess,              // authenticated (SCRAM: the server proof was already sent)
  kFailure,              // failed; `reason` (lower case, no secrets) is for logs
};

// Who the client claims to be. `password` is set only by PLAIN and LOGIN.
struct Identity {
  std::string authcid;  // the authentication identity (the login name)
  std::string authzid;  // requested authorization identity; "" = same as authcid
  std::string password;
};

struct StepResult {
  StepKind kind = StepKind::kFailure;
  std::string data;    // kChallenge: the challenge bytes (may be empty)
  std::string reason;  // kFailure: why
  Identity identity;   // filled from kCheckPassword/kNeedScramCredential on
};

// Channel-binding data of the current TLS connection (RFC 9266, RFC 5929). Empty
// strings when not available (no TLS, or tls-unique under TLS 1.3).
struct ChannelBindings {
  std::string tls_exporter;
  std::string tls_unique;

  bool any() const { return !tls_exporter.empty() || !tls_unique.empty(); }
};

struct ServerOptions {
  // RFC 4616 §2 / RFC 5802 §5.1: an authzid other than the authcid is refused
  // (kFailure) unless this is set (e.g. for a master-user policy).
  bool allow_foreign_authzid = false;
  // Whether SCRAM-SHA-256-PLUS is in the list this server advertised. A client
  // sending gs2 flag "y" while it was advertised has been downgraded: fail
  // (RFC 5802 §6).
  bool plus_advertised = false;
  ChannelBindings channel_bindings;
  // Bytes per client message, and client messages per exchange; beyond either
  // the mechanism fails.
  std::size_t max_message_bytes = 8192;
  std::size_t max_steps = 4;
  // A secret mixed into the salt of the fake credential used for unknown users,
  // so SCRAM answers the same way for every name and does not reveal which
  // accounts exist. The daemon fills it with random bytes once.
  std::string mock_secret;
};

// One exchange. Not thread-safe; one per AUTH command.
class ServerMechanism {
 public:
  virtual ~ServerMechanism() = default;

  // The IANA name ("PLAIN", "SCRAM-SHA-256-PLUS").
  virtual std::string_view name() const = 0;

  // Begins the exchange. `initial_response` is the decoded SASL-IR / AUTH
  // argument; nullopt when the client sent none (an empty one is "").
  virtual StepResult start(std::optional<std::string_view> initial_response) = 0;

  // Feeds the client's (decoded) answer to the last kChallenge.
  virtual StepResult step(std::string_view response) = 0;

  // SCRAM only: the account's credential, or nullopt when the user is unknown or
  // has none (the exchange then fails at the proof, like a wrong password, so
  // the client cannot tell the cases apart). Other mechanisms return kFailure.
  virtual StepResult supply_scram_credential(std::optional<ScramCredential> credential);
};

// Which mechanisms to advertise, strongest first: SCRAM-SHA-256-PLUS (when
// `channel_binding` is available), SCRAM-SHA-256, then PLAIN and LOGIN when
// `plaintext_allowed` (TLS active, or the loopback policy).
std::vector<std::string> advertised_mechanisms(bool plaintext_allowed, bool channel_binding);

// A server mechanism for `name` (ASCII case-insensitive), or nullptr when the
// name is unknown. The caller checks that `name` was advertised. `random` (the
// server nonce) must outlive the mechanism.
std::unique_ptr<ServerMechanism> make_server_mechanism(std::string_view name,
                                                       const ServerOptions& options,
                                                       Random& random);

}  // namespace tern::sasl
