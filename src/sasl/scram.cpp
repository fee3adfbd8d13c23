// SPDX-License-Identifier: Apache-2.0
#include "sasl/scram.hpp"

#include <array>
#include <charconv>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sasl/base64.hpp"
#include "sasl/saslprep.hpp"

namespace tern::sasl {
namespace detail {

std::string sha256(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string encode_saslname(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> decode_saslname(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ',') {
      return std::nullopt;
    }
    if (c == '=') {
      std::string_view esc = text.substr(i + 1, 2);
      if (esc == "2C") {
        out += ',';
      } else if (esc == "3D") {
        out += '=';
      } else {
        return std::nullopt;  // RFC 5802 §5.1: any other "=" escape is invalid
      }
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace detail

namespace {

std::optional<std::uint32_t> parse_u32(std::string_view text) {
  std::uint32_t value = 0;
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (std::size_t i = 0; i < out.size() && i < b.size(); ++i) {
    out[i] = static_cast<char>(out[i] ^ b[i]);
  }
  return out;
}

std::string salted_password(std::string_view password, std::string_view salt,
                            std::uint32_t iterations) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                    static_cast<int>(out.size()), out.data());
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

// Splits "a=x,b=y" into attribute/value pairs; nullopt when a part is not
// "<letter>=<value>".
std::optional<std::vector<std::pair<char, std::string_view>>> split_attributes(
    std::string_view text) {
  std::vector<std::pair<char, std::string_view>> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    std::string_view part =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (part.size() < 2 || part[1] != '=' ||
        !((part[0] >= 'a' && part[0] <= 'z') || (part[0] >= 'A' && part[0] <= 'Z'))) {
      return std::nullopt;
    }
    out.emplace_back(part[0], part.substr(2));
    if (comma == std::string_view::npos) {
      break;
    }
    pos = comma + 1;
  }
  return out;
}

}  // namespace

Result<ScramCredential> derive_scram_credential(std::string_view password, std::string_view salt,
                                                std::uint32_t iterations) {
  if (password.empty() || salt.empty()) {
    return fail(ErrorCode::kInvalidInput, "scram: empty password or salt");
  }
  if (iterations < kMinScramIterations || iterations > kMaxScramIterations) {
    return fail(ErrorCode::kInvalidInput, "scram: iteration count out of range");
  }
  // RFC 5802 §3: SaltedPassword, ClientKey, StoredKey, ServerKey.
  std::string salted = salted_password(password, salt, iterations);
  ScramCredential c;
  c.iterations = iterations;
  c.salt = std::string(salt);
  c.stored_key = detail::sha256(detail::hmac_sha256(salted, "Client Key"));
  c.server_key = detail::hmac_sha256(salted, "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  return c;
}

Result<ScramCredential> make_scram_credential(std::string_view password, std::uint32_t iterations,
                                              Random& random) {
  std::array<std::uint8_t, kScramSaltBytes> salt{};
  random.fill(salt);
  return derive_scram_credential(
      password, std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
      iterations);
}

std::string format_scram_credential(const ScramCredential& c) {
  return "SCRAM-SHA-256$" + std::to_string(c.iterations) + ":" + base64_encode(c.salt) + "$" +
         base64_encode(c.stored_key) + ":" + base64_encode(c.server_key);
}

std::optional<ScramCredential> parse_scram_credential(std::string_view stored) {
  constexpr std::string_view kPrefix = "{SCRAM-SHA-256}";
  if (stored.substr(0, kPrefix.size()) == kPrefix) {
    stored.remove_prefix(kPrefix.size());
  }
  constexpr std::string_view kScheme = "SCRAM-SHA-256$";
  if (stored.substr(0, kScheme.size()) != kScheme) {
    return std::nullopt;
  }
  stored.remove_prefix(kScheme.size());
  std::size_t dollar = stored.find('$');
  if (dollar == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view params = stored.substr(0, dollar);
  std::string_view keys = stored.substr(dollar + 1);
  std::size_t c1 = params.find(':');
  std::size_t c2 = keys.find(':');
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) {
    return std::nullopt;
  }
  auto iterations = parse_u32(params.substr(0, c1));
  auto salt = base64_decode(params.substr(c1 + 1));
  auto stored_key = base64_decode(keys.substr(0, c2));
  auto server_key = base64_decode(keys.substr(c2 + 1));
  if (!iterations || !salt || !stored_key || !server_key || salt->empty() ||
      stored_key->size() != SHA256_DIGEST_LENGTH || server_key->size() != SHA256_DIGEST_LENGTH ||
      *iterations < kMinScramIterations || *iterations > kMaxScramIterations) {
    return std::nullopt;
  }
  return ScramCredential{*iterations, std::move(*salt), std::move(*stored_key),
                         std::move(*server_key)};
}

ScramClient::ScramClient(std::string username, std::string password, std::string authzid,
                         ClientBinding binding, std::string binding_type, std::string binding_data,
                         Random& random)
    // RFC 5802 §2.2 and §5.1: the client normalises both (a query, RFC 3454 §7).
    : username_(saslprep_or_as_is(std::move(username))),
      password_(saslprep_or_as_is(std::move(password))),
      authzid_(std::move(authzid)),
      binding_(binding),
      binding_type_(std::move(binding_type)),
      binding_data_(std::move(binding_data)),
      random_(random) {}

namespace {

std::string gs2_header(ClientBinding binding, std::string_view type, std::string_view authzid) {
  std::string h;
  switch (binding) {
    case ClientBinding::kNone:
      h = "n";
      break;
    case ClientBinding::kNotUsed:
      h = "y";
      break;
    case ClientBinding::kUsed:
      h = "p=" + std::string(type);
      break;
  }
  h += ",";
  if (!authzid.empty()) {
    h += "a=" + detail::encode_saslname(authzid);
  }
  h += ",";
  return h;
}

}  // namespace

std::string ScramClient::first() {
  std::array<std::uint8_t, 18> raw{};
  random_.fill(raw);
  nonce_ = base64_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  first_bare_ = "n=" + detail::encode_saslname(username_) + ",r=" + nonce_;
  return gs2_header(binding_, binding_type_, authzid_) + first_bare_;
}

Result<std::string> ScramClient::final(std::string_view server_first) {
  auto attrs = split_attributes(server_first);
  if (!attrs || attrs->size() < 3 || (*attrs)[0].first != 'r' || (*attrs)[1].first != 's' ||
      (*attrs)[2].first != 'i') {
    return fail(ErrorCode::kInvalidInput, "scram: malformed server-first-message");
  }
  std::string_view nonce = (*attrs)[0].second;
  auto salt = base64_decode((*attrs)[1].second);
  auto iterations = parse_u32((*attrs)[2].second);
  if (nonce.size() <= nonce_.size() || nonce.substr(0, nonce_.size()) != nonce_ || !salt ||
      salt->empty() || !iterations || *iterations < 1 || *iterations > kMaxScramIterations) {
    return fail(ErrorCode::kInvalidInput, "scram: inconsistent server-first-message");
  }
  std::string cbind = gs2_header(binding_, binding_type_, authzid_);
  if (binding_ == ClientBinding::kUsed) {
    cbind += binding_data_;
  }
  std::string without_proof = "c=" + base64_encode(cbind) + ",r=" + std::string(nonce);
  std::string auth_message = first_bare_ + "," + std::string(server_first) + "," + without_proof;
  std::string salted = salted_password(password_, *salt, *iterations);
  std::string client_key = detail::hmac_sha256(salted, "Client Key");
  std::string stored_key = detail::sha256(client_key);
  std::string signature = detail::hmac_sha256(stored_key, auth_message);
  std::string proof = xor_bytes(client_key, signature);
  server_signature_ = detail::hmac_sha256(detail::hmac_sha256(salted, "Server Key"), auth_message);
  OPENSSL_cleanse(salted.data(), salted.size());
  return without_proof + ",p=" + base64_encode(proof);
}

Result<void> ScramClient::verify(std::string_view server_final) const {
  if (server_final.substr(0, 2) == "e=") {
    return fail(ErrorCode::kPermissionDenied,
                "scram: server error " + std::string(server_final.substr(2)));
  }
  if (server_final.substr(0, 2) != "v=") {
    return fail(ErrorCode::kInvalidInput, "scram: malformed server-final-message");
  }
  std::string_view value = server_final.substr(2);
  value = value.substr(0, value.find(','));
  auto signature = base64_decode(value);
  if (!signature || server_signature_.empty() || signature->size() != server_signature_.size() ||
      CRYPTO_memcmp(signature->data(), server_signature_.data(), signature->size()) != 0) {
    return fail(ErrorCode::kPermissionDenied, "scram: wrong server signature");
  }
  return ok();
}

std::string plain_client_response(std::string_view authzid, std::string_view authcid,
                                  std::string_view password) {
  std::string out(authzid);
  out += '\0';
  out += authcid;
  out += '\0';
  out += password;
  return out;
}

}  // namespace tern::sasl
