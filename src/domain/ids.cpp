// SPDX-License-Identifier: Apache-2.0
#include "domain/ids.hpp"

#include <algorithm>

#include "mailauth/dkim_crypto.hpp"

namespace tern::domain {

std::string sha256_hex(std::string_view bytes) {
  // The one SHA-256 the tree has (OpenSSL EVP, mailauth/dkim_crypto.hpp); only
  // the hex form is the blob id's.
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string digest = mailauth::sha256(bytes);
  std::string hex;
  hex.reserve(2 * digest.size());
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace tern::domain
