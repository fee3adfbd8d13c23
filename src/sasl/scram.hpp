// SPDX-License-Identifier: Apache-2.0
// SCRAM-SHA-256 (RFC 5802, RFC 7677): the stored credential, and the client side
// of the exchange. The server side is a ServerMechanism (sasl/mechanism.hpp).
//
// tern does not apply SASLprep (RFC 4013) to user names or passwords: they are
// used as the UTF-8 bytes the client sends, like PLAIN. Clients that do apply it
// (most do, as a no-op on ASCII) interoperate for every ASCII and NFC password.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace tern::sasl {

// RFC 7677 §4: at least 4096 PBKDF2 iterations. Credentials asking for more than
// kMaxScramIterations are refused (a corrupted row must not stall a client).
constexpr std::uint32_t kMinScramIterations = 4096;
constexpr std::uint32_t kMaxScramIterations = 10'000'000;
constexpr std::size_t kScramSaltBytes = 16;

// The per-user secret a server needs for SCRAM-SHA-256 (RFC 5802 §3): never the
// password, only what proves knowledge of it.
struct ScramCredential {
  std::uint32_t iterations = kMinScramIterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // H(ClientKey), 32 bytes
  std::string server_key;  // HMAC(SaltedPassword, "Server Key"), 32 bytes
  friend bool operator==(const ScramCredential&, const ScramCredential&) = default;
};

// Derives the credential from a password and a salt (PBKDF2-HMAC-SHA-256,
// `iterations` rounds). Deterministic; costs `iterations` HMACs, so run it on the
// blocking pool or in the CLI. Errors: kInvalidInput for an empty password, an
// empty salt, or iterations outside [kMinScramIterations, kMaxScramIterations].
Result<ScramCredential> derive_scram_credential(std::string_view password, std::string_view salt,
                                                std::uint32_t iterations);

// The same with a fresh kScramSaltBytes salt from `random` (which must be
// cryptographically strong).
Result<ScramCredential> make_scram_credential(std::string_view password, std::uint32_t iterations,
                                              Random& random);

// The stored form, Dovecot's SCRAM-SHA-256 scheme without its "{...}" prefix:
//   SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>
std::string format_scram_credential(const ScramCredential& credential);

// Parses the stored form (an optional "{SCRAM-SHA-256}" prefix is accepted, so a
// Dovecot passdb value can be imported as is). nullopt when malformed, when the
// keys are not 32 bytes, or when the iteration count is outside the limits above.
std::optional<ScramCredential> parse_scram_credential(std::string_view stored);

// How a client uses channel binding (RFC 5802 §6, the gs2-cbind-flag).
enum class ClientBinding {
  kNone,     // "n": the client does not support channel binding
  kNotUsed,  // "y": the client supports it but thinks the server does not
  kUsed,     // "p=<type>": SCRAM-SHA-256-PLUS with `binding_type` and `binding_data`
};

// The client side of SCRAM-SHA-256(-PLUS): for tests, the CLI and outbound
// smarthost AUTH. Usage: first() → send; final(server-first) → send;
// verify(server-final) → authenticated server. Not thread-safe.
// The username and password are SASLprep'd (query profile, RFC 5802 §2.2 and
// §5.1); one SASLprep refuses is used as given.
class ScramClient {
 public:
  // `binding_type` ("tls-exporter", "tls-unique") and `binding_data` are used only
  // with ClientBinding::kUsed. `random` must outlive the client.
  ScramClient(std::string username, std::string password, std::string authzid,
              ClientBinding binding, std::string binding_type, std::string binding_data,
              Random& random);

  // The client-first-message, "n,,n=user,r=<nonce>".
  std::string first();

  // Checks the server-first-message (our nonce prefix, a salt, an iteration count
  // within [1, kMaxScramIterations]) and returns the client-final-message with the
  // proof. Costs the server's iteration count in HMACs.
  // Errors: kInvalidInput for a malformed or inconsistent server message.
  Result<std::string> final(std::string_view server_first);

  // Checks the server-final-message's signature in constant time.
  // Errors: kInvalidInput when malformed, kPermissionDenied for "e=..." or a wrong
  // signature (the server does not know the password: do not trust it).
  Result<void> verify(std::string_view server_final) const;

 private:
  std::string username_;
  std::string password_;
  std::string authzid_;
  ClientBinding binding_;
  std::string binding_type_;
  std::string binding_data_;
  Random& random_;
  std::string nonce_;
  std::string first_bare_;
  std::string server_signature_;
};

// The PLAIN initial response (RFC 4616 §2): authzid NUL authcid NUL password.
std::string plain_client_response(std::string_view authzid, std::string_view authcid,
                                  std::string_view password);

namespace detail {
// Building blocks shared by the server mechanism and the client.
std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// Encodes a saslname (RFC 5802 §5.1): "," as "=2C", "=" as "=3D".
std::string encode_saslname(std::string_view name);
// Decodes a saslname; nullopt for "=" not followed by "2C" or "3D", or for "," .
std::optional<std::string> decode_saslname(std::string_view text);
}  // namespace detail

}  // namespace tern::sasl
