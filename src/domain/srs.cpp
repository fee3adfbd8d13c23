// SPDX-License-Identifier: Apache-2.0
#include "domain/srs.hpp"

#include <array>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/ascii.hpp"
#include "sasl/base64.hpp"

namespace tern::domain {

namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr int kTimeSlots = 1024;  // two base32 characters

int day_slot(SystemTime now) {
  auto days = to_unix_seconds(now) / 86400;
  return static_cast<int>(((days % kTimeSlots) + kTimeSlots) % kTimeSlots);
}

std::string stamp_of(int slot) {
  return {kBase32[static_cast<std::size_t>((slot >> 5) & 31)],
          kBase32[static_cast<std::size_t>(slot & 31)]};
}

// -1 when the stamp is not two base32 characters (case-insensitive).
int slot_of(std::string_view stamp) {
  if (stamp.size() != 2) {
    return -1;
  }
  int slot = 0;
  for (char c : stamp) {
    auto pos = kBase32.find(ascii::to_upper(c));
    if (pos == std::string_view::npos) {
      return -1;
    }
    slot = slot * 32 + static_cast<int>(pos);
  }
  return slot;
}

bool is_separator(char c) {
  return c == '=' || c == '+' || c == '-';
}

// Splits at the first '@' after the local part: {local, domain}.
bool split(std::string_view address, std::string_view& local, std::string_view& domain) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return false;
  }
  local = address.substr(0, at);
  domain = address.substr(at + 1);
  return true;
}

}  // namespace

Srs::Srs(SrsConfig config) : config_(std::move(config)) {}

bool Srs::is_srs(std::string_view address) {
  return address.size() > 4 &&
         (ascii::iequals(address.substr(0, 4), "SRS0") ||
          ascii::iequals(address.substr(0, 4), "SRS1")) &&
         is_separator(address[4]);
}

std::string Srs::hash(std::string_view a, std::string_view b, std::string_view c) const {
  // libsrs2 hashes the lower-cased fields, so that a hop that changes the case of
  // the local part does not break the return path.
  std::string data = ascii::lower(a);
  data += ascii::lower(b);
  data += ascii::lower(c);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha1(), config_.secret.data(), static_cast<int>(config_.secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &length);
  auto encoded =
      sasl::base64_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), length));
  return encoded.substr(0, config_.hash_length);
}

bool Srs::hash_matches(std::string_view given, std::string_view a, std::string_view b,
                       std::string_view c) const {
  // Case-insensitive, as libsrs2 (SRS_HASH_INSENSITIVE): base64 is case-sensitive,
  // but some MTAs lower-case local parts; the 4 characters still carry ~20 bits.
  return given.size() == config_.hash_length && ascii::iequals(given, hash(a, b, c));
}

Result<std::string> Srs::forward(std::string_view sender, SystemTime now) const {
  std::string_view local;
  std::string_view host;
  if (!split(sender, local, host)) {
    return Error{ErrorCode::kInvalidInput, "srs: sender has no domain"};
  }
  if (ascii::iequals(host, config_.domain)) {
    return std::string(sender);  // already ours: nothing to rewrite
  }
  if (is_srs(local)) {
    // Another forwarder's SRS address: SRS1 keeps the first forwarder's host and
    // the opaque rest, so the bounce goes back hop by hop no longer than needed.
    std::string first_host;
    std::string rest;
    if (ascii::iequals(local.substr(0, 4), "SRS0")) {
      first_host = std::string(host);
      rest = std::string(local.substr(4));  // "=HHHH=TT=domain=user"
    } else {
      // SRS1<sep>HHHH=host=<rest>: keep host and rest, re-hash for us.
      auto body = local.substr(5);
      auto first = body.find('=');
      if (first == std::string_view::npos) {
        return Error{ErrorCode::kInvalidInput, "srs: malformed SRS1 address"};
      }
      auto after_hash = body.substr(first + 1);
      auto second = after_hash.find('=');
      if (second == std::string_view::npos) {
        return Error{ErrorCode::kInvalidInput, "srs: malformed SRS1 address"};
      }
      first_host = std::string(after_hash.substr(0, second));
      rest = std::string(after_hash.substr(second + 1));
    }
    return "SRS1=" + hash(first_host, rest, "") + "=" + first_host + "=" + rest + "@" +
           config_.domain;
  }
  auto stamp = stamp_of(day_slot(now));
  return "SRS0=" + hash(stamp, host, local) + "=" + stamp + "=" + std::string(host) + "=" +
         std::string(local) + "@" + config_.domain;
}

Result<std::string> Srs::reverse(std::string_view address, SystemTime now) const {
  std::string_view local;
  std::string_view host;
  if (!split(address, local, host) || !is_srs(local)) {
    return Error{ErrorCode::kInvalidInput, "srs: not an SRS address"};
  }
  bool srs1 = ascii::iequals(local.substr(0, 4), "SRS1");
  auto body = local.substr(5);
  auto first = body.find('=');
  if (first == std::string_view::npos) {
    return Error{ErrorCode::kInvalidInput, "srs: malformed address"};
  }
  auto given_hash = body.substr(0, first);
  auto rest = body.substr(first + 1);
  if (srs1) {
    // HHHH=host==HHHH=TT=host=user: the host, then the SRS0 part after "SRS0"
    auto second = rest.find('=');
    if (second == std::string_view::npos || second == 0) {
      return Error{ErrorCode::kInvalidInput, "srs: malformed SRS1 address"};
    }
    auto first_host = rest.substr(0, second);
    auto opaque = rest.substr(second + 1);  // "=HHHH=TT=host=user", SRS0's own separator
    if (!hash_matches(given_hash, first_host, opaque, "")) {
      return Error{ErrorCode::kPermissionDenied, "srs: hash does not match"};
    }
    return "SRS0" + std::string(opaque) + "@" + std::string(first_host);
  }
  // HHHH=TT=host=user (the user may itself contain '=')
  auto second = rest.find('=');
  if (second == std::string_view::npos) {
    return Error{ErrorCode::kInvalidInput, "srs: malformed SRS0 address"};
  }
  auto stamp = rest.substr(0, second);
  auto tail = rest.substr(second + 1);
  auto third = tail.find('=');
  if (third == std::string_view::npos || third == 0 || third + 1 == tail.size()) {
    return Error{ErrorCode::kInvalidInput, "srs: malformed SRS0 address"};
  }
  auto orig_host = tail.substr(0, third);
  auto orig_user = tail.substr(third + 1);
  if (!hash_matches(given_hash, stamp, orig_host, orig_user)) {
    return Error{ErrorCode::kPermissionDenied, "srs: hash does not match"};
  }
  int slot = slot_of(stamp);
  if (slot < 0) {
    return Error{ErrorCode::kInvalidInput, "srs: malformed timestamp"};
  }
  int age = ((day_slot(now) - slot) % kTimeSlots + kTimeSlots) % kTimeSlots;
  if (age > config_.max_age_days) {
    return Error{ErrorCode::kLimitExceeded, "srs: address expired"};
  }
  return std::string(orig_user) + "@" + std::string(orig_host);
}

}  // namespace tern::domain
