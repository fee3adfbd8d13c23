// SPDX-License-Identifier: Apache-2.0
#include "sasl/password_hash.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace tern::sasl {
namespace {

// The same ceilings config accepts for [auth] (config_file.cpp): a stored hash
// asking for more is refused instead of allocating gigabytes on a login attempt.
constexpr std::uint32_t kMaxMemoryKib = 4 * 1024 * 1024;
constexpr std::uint32_t kMaxIterations = 1000;
constexpr std::uint32_t kMaxParallelism = 255;
// The same idea for crypt(3): bcrypt cost 16 is ~4 s and SHA-crypt at 10M rounds
// several seconds; anything above is a corrupt or hostile row, not a real hash.
constexpr std::uint32_t kMaxBcryptCost = 16;
constexpr std::uint32_t kMaxShaCryptRounds = 10'000'000;

// The fields of an argon2 PHC string that decide whether to verify or rehash.
struct PhcHash {
  argon2_type type = Argon2_id;
  std::uint32_t version = ARGON2_VERSION_10;
  std::uint32_t memory_kib = 0;
  std::uint32_t iterations = 0;
  std::uint32_t parallelism = 0;
  std::size_t salt_bytes = 0;
  std::size_t hash_bytes = 0;
};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

char ascii_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != ascii_upper(b[i])) {
      return false;
    }
  }
  return true;
}

// Consumes "<name>=<decimal>" from the front of `s`.
bool take_number(std::string_view& s, std::string_view name, std::uint32_t& out) {
  if (!starts_with(s, name) || s.size() <= name.size() || s[name.size()] != '=') {
    return false;
  }
  s.remove_prefix(name.size() + 1);
  std::uint64_t value = 0;
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') {
    value = value * 10 + static_cast<std::uint64_t>(s[digits] - '0');
    if (value > UINT32_MAX) {
      return false;
    }
    ++digits;
  }
  if (digits == 0) {
    return false;
  }
  s.remove_prefix(digits);
  out = static_cast<std::uint32_t>(value);
  return true;
}

// The byte length of an unpadded base64 field (PHC strings use no padding), or
// nullopt if it holds anything but base64 characters.
std::optional<std::size_t> base64_bytes(std::string_view field) {
  for (char c : field) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) {
      return std::nullopt;
    }
  }
  if (field.size() % 4 == 1) {
    return std::nullopt;
  }
  return field.size() * 3 / 4;
}

// Parses "$argon2id$v=19$m=...,t=...,p=...$salt$hash" (and "$argon2i$", and the
// pre-1.3 form without "v="), the exact shape libargon2 writes and reads.
std::optional<PhcHash> parse_phc(std::string_view s) {
  PhcHash phc;
  if (starts_with(s, "$argon2id$")) {
    phc.type = Argon2_id;
    s.remove_prefix(10);
  } else if (starts_with(s, "$argon2i$")) {
    phc.type = Argon2_i;
    s.remove_prefix(9);
  } else {
    return std::nullopt;
  }
  if (starts_with(s, "v=")) {
    if (!take_number(s, "v", phc.version) || !starts_with(s, "$")) {
      return std::nullopt;
    }
    s.remove_prefix(1);
  }
  if (!take_number(s, "m", phc.memory_kib) || !starts_with(s, ",")) {
    return std::nullopt;
  }
  s.remove_prefix(1);
  if (!take_number(s, "t", phc.iterations) || !starts_with(s, ",")) {
    return std::nullopt;
  }
  s.remove_prefix(1);
  if (!take_number(s, "p", phc.parallelism) || !starts_with(s, "$")) {
    return std::nullopt;
  }
  s.remove_prefix(1);
  std::size_t dollar = s.find('$');
  if (dollar == std::string_view::npos) {
    return std::nullopt;
  }
  auto salt = base64_bytes(s.substr(0, dollar));
  auto hash = base64_bytes(s.substr(dollar + 1));
  if (!salt || !hash) {
    return std::nullopt;
  }
  phc.salt_bytes = *salt;
  phc.hash_bytes = *hash;
  return phc;
}

bool verify_argon2(std::string_view password, std::string_view stored,
                   std::optional<argon2_type> required) {
  auto phc = parse_phc(stored);
  if (!phc || (required && phc->type != *required)) {
    return false;
  }
  bool sane = (phc->version == ARGON2_VERSION_10 || phc->version == ARGON2_VERSION_13) &&
              phc->parallelism >= 1 && phc->parallelism <= kMaxParallelism &&
              phc->iterations >= 1 && phc->iterations <= kMaxIterations &&
              phc->memory_kib <= kMaxMemoryKib &&
              static_cast<std::uint64_t>(phc->memory_kib) >= 8ULL * phc->parallelism &&
              phc->salt_bytes >= ARGON2_MIN_SALT_LENGTH && phc->hash_bytes >= ARGON2_MIN_OUTLEN;
  if (!sane) {
    return false;
  }
  std::string encoded(stored);  // argon2_verify wants a NUL-terminated string
  return argon2_verify(encoded.c_str(), password.data(), password.size(), phc->type) == ARGON2_OK;
}

bool is_crypt_hash(std::string_view stored) {
  for (std::string_view prefix : {"$6$", "$5$", "$2y$", "$2b$", "$2a$", "$y$", "$1$"}) {
    if (starts_with(stored, prefix)) {
      return true;
    }
  }
  return false;
}

bool is_bcrypt_hash(std::string_view stored) {
  return starts_with(stored, "$2y$") || starts_with(stored, "$2b$") || starts_with(stored, "$2a$");
}

// False when a bcrypt cost or SHA-crypt rounds= value exceeds the ceilings above.
bool has_sane_cost(std::string_view stored) {
  if (is_bcrypt_hash(stored)) {
    std::string_view cost = stored.substr(4, 2);
    return cost.size() == 2 && cost[0] >= '0' && cost[0] <= '9' && cost[1] >= '0' &&
           cost[1] <= '9' &&
           static_cast<std::uint32_t>((cost[0] - '0') * 10 + (cost[1] - '0')) <= kMaxBcryptCost;
  }
  if (starts_with(stored, "$5$rounds=") || starts_with(stored, "$6$rounds=")) {
    std::string_view rest = stored.substr(3);
    std::uint32_t rounds = 0;
    return take_number(rest, "rounds", rounds) && rounds <= kMaxShaCryptRounds;
  }
  return true;
}

bool verify_crypt(std::string_view password, std::string_view stored) {
  // crypt(3) takes C strings: a NUL would silently shorten the password.
  if (stored.empty() || stored.front() == '*' || password.find('\0') != std::string_view::npos ||
      stored.find('\0') != std::string_view::npos || !has_sane_cost(stored)) {
    return false;
  }
  std::string phrase(password);
  std::string setting(stored);
  // struct crypt_data is ~32 KiB; keep it off the (possibly small) caller stack.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  bool match = out != nullptr && std::strlen(out) == stored.size() &&
               CRYPTO_memcmp(out, stored.data(), stored.size()) == 0;
  OPENSSL_cleanse(phrase.data(), phrase.size());
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return match;
}

// Compares SHA-256 digests rather than the strings, so neither the content nor
// the length of the stored password leaks through timing.
bool verify_plain(std::string_view password, std::string_view stored) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> a{};
  std::array<unsigned char, EVP_MAX_MD_SIZE> b{};
  unsigned int a_len = 0;
  unsigned int b_len = 0;
  if (EVP_Digest(password.data(), password.size(), a.data(), &a_len, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(stored.data(), stored.size(), b.data(), &b_len, EVP_sha256(), nullptr) != 1 ||
      a_len != b_len) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a_len) == 0;
}

// Splits a Dovecot "{SCHEME}rest" value; nullopt when there is no prefix.
std::optional<std::pair<std::string_view, std::string_view>> split_scheme(std::string_view stored) {
  if (!starts_with(stored, "{")) {
    return std::nullopt;
  }
  std::size_t close = stored.find('}');
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  return std::pair{stored.substr(1, close - 1), stored.substr(close + 1)};
}

bool verify_with_scheme(std::string_view password, std::string_view scheme, std::string_view rest) {
  auto is = [&](std::string_view name) { return equals_ignoring_case(scheme, name); };
  if (is("ARGON2ID")) {
    return verify_argon2(password, rest, Argon2_id);
  }
  if (is("ARGON2I")) {
    return verify_argon2(password, rest, Argon2_i);
  }
  if (is("SHA512-CRYPT")) {
    return starts_with(rest, "$6$") && verify_crypt(password, rest);
  }
  if (is("SHA256-CRYPT")) {
    return starts_with(rest, "$5$") && verify_crypt(password, rest);
  }
  if (is("BLF-CRYPT")) {
    return is_bcrypt_hash(rest) && verify_crypt(password, rest);
  }
  if (is("MD5-CRYPT")) {
    return starts_with(rest, "$1$") && verify_crypt(password, rest);
  }
  if (is("CRYPT")) {
    return verify_crypt(password, rest);
  }
  if (is("PLAIN") || is("CLEAR") || is("CLEARTEXT")) {
    return verify_plain(password, rest);
  }
  return false;
}

}  // namespace

Result<std::string> hash_password(std::string_view password, const Argon2Params& params,
                                  Random& random) {
  if (password.empty()) {
    return fail(ErrorCode::kInvalidInput, "empty password");
  }
  std::array<std::uint8_t, kArgon2SaltBytes> salt{};
  random.fill(std::span<std::uint8_t>(salt));
  std::size_t length = argon2_encodedlen(params.iterations, params.memory_kib, params.parallelism,
                                         kArgon2SaltBytes, kArgon2HashBytes, Argon2_id);
  std::string encoded(length, '\0');
  int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism,
                                 password.data(), password.size(), salt.data(), salt.size(),
                                 kArgon2HashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    ErrorCode code =
        rc == ARGON2_MEMORY_ALLOCATION_ERROR ? ErrorCode::kTemporary : ErrorCode::kInvalidInput;
    return fail(code, std::string("argon2id: ") + argon2_error_message(rc));
  }
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view password, std::string_view stored) {
  // An empty password is never a credential, whatever is stored (an empty
  // {PLAIN} value included).
  if (password.empty() || stored.empty()) {
    return false;
  }
  if (auto scheme = split_scheme(stored)) {
    return verify_with_scheme(password, scheme->first, scheme->second);
  }
  if (starts_with(stored, "$argon2")) {
    return verify_argon2(password, stored, std::nullopt);
  }
  if (is_crypt_hash(stored)) {
    return verify_crypt(password, stored);
  }
  return false;
}

bool needs_rehash(std::string_view stored, const Argon2Params& params) {
  if (auto scheme = split_scheme(stored)) {
    if (!equals_ignoring_case(scheme->first, "ARGON2ID")) {
      return true;
    }
    stored = scheme->second;
  }
  auto phc = parse_phc(stored);
  if (!phc || phc->type != Argon2_id) {
    return true;
  }
  return phc->version != ARGON2_VERSION_13 || phc->memory_kib < params.memory_kib ||
         phc->iterations < params.iterations || phc->salt_bytes < kArgon2SaltBytes ||
         phc->hash_bytes < kArgon2HashBytes;
}

}  // namespace tern::sasl
