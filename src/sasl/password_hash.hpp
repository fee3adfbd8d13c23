// SPDX-License-Identifier: Apache-2.0
// Stored-password hashing and verification (docs/adr/0007-password-hashing.md):
// argon2id for everything new, legacy crypt(3) and Dovecot schemes verified so
// accounts migrated from Dovecot or Postfix+Dovecot setups can log in and be upgraded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace tern::sasl {

// argon2id cost parameters (RFC 9106 §4). The defaults are RFC 9106's second
// recommended option scaled to t=3, m=64 MiB: about 50-100 ms on one core.
// config::AuthSettings carries the configured values.
struct Argon2Params {
  std::uint32_t memory_kib = 65536;  // m: at least 8 * parallelism
  std::uint32_t iterations = 3;      // t: at least 1
  std::uint32_t parallelism = 1;     // p: lanes; libargon2 runs them on one thread here
  friend bool operator==(const Argon2Params&, const Argon2Params&) = default;
};

// Salt and tag sizes of the hashes this component produces (RFC 9106 §3.1
// recommends 16-byte salts and 32-byte tags for password storage).
constexpr std::size_t kArgon2SaltBytes = 16;
constexpr std::size_t kArgon2HashBytes = 32;

// Hashes `password` with argon2id and a fresh 16-byte salt from `random`, and
// returns the PHC string:
//   $argon2id$v=19$m=65536,t=3,p=1$<salt, base64 unpadded>$<hash, base64 unpadded>
//
// Errors:
//   kInvalidInput  `password` is empty, or `params` are outside libargon2's limits
//   kTemporary     the memory for the hash could not be allocated
//
// `random` must be cryptographically strong (runtime's OS random; tests may seed
// a fake). CPU and memory heavy (params.memory_kib of RAM for the duration): call
// it from the blocking pool or the CLI, never on an I/O thread. Thread-safe.
Result<std::string> hash_password(std::string_view password, const Argon2Params& params,
                                  Random& random);

// True when `password` matches `stored`. Never throws and never crashes on
// malformed input: anything it cannot parse or does not support is "no match".
//
// `stored` may be:
//   - a PHC string "$argon2id$..." or "$argon2i$..." (argon2d is refused);
//   - a crypt(3) hash checked with libxcrypt: "$6$" SHA-512, "$5$" SHA-256,
//     "$2y$", "$2b$", "$2a$" bcrypt, "$y$" yescrypt, "$1$" MD5;
//   - any of those behind a Dovecot scheme prefix (case-insensitive):
//     {ARGON2ID}, {ARGON2I}, {SHA512-CRYPT} ($6$ only), {SHA256-CRYPT} ($5$ only),
//     {BLF-CRYPT} (bcrypt only), {MD5-CRYPT} ($1$ only), {CRYPT} (any crypt(3)
//     hash libxcrypt supports, including traditional DES);
//   - {PLAIN}<password> (also {CLEAR}, {CLEARTEXT}). Plain text is accepted only
//     with the prefix, so a stored value that merely looks odd is never taken as a
//     password.
// Comparisons tern makes itself are constant-time (CRYPTO_memcmp over the crypt
// output; over SHA-256 digests for {PLAIN}, so the length does not leak either);
// libargon2 compares its tags in constant time.
//
// A password containing a NUL byte never matches a crypt(3) hash (crypt would see
// only its prefix). A hash whose cost would stall a login is refused rather than
// computed: argon2 beyond the limits config accepts (m > 4 GiB, t > 1000,
// p > 255), bcrypt cost > 16, SHA-crypt rounds > 10,000,000.
//
// Same cost as hash_password() for argon2: call it from the blocking pool.
// Thread-safe.
bool verify_password(std::string_view password, std::string_view stored);

// True when `stored` should be replaced by hash_password(password, params) after a
// successful login: it is not argon2id (any legacy scheme, argon2i, {PLAIN}), it
// cannot be parsed, its version is not 19, its memory or iteration cost is below
// `params`, or its salt or tag is shorter than this component produces. A
// different parallelism alone does not trigger a rehash (it changes speed, not
// strength). Cheap: parses the string, hashes nothing.
bool needs_rehash(std::string_view stored, const Argon2Params& params);

}  // namespace tern::sasl
