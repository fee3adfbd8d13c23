// SPDX-License-Identifier: Apache-2.0
// Base64 (RFC 4648 §4) as SASL uses it: the protocols (SMTP AUTH, IMAP
// AUTHENTICATE, POP3 AUTH) carry every SASL message base64-encoded, and SCRAM
// carries salts, nonces' channel-binding data and proofs base64-encoded inside its
// messages. One strict codec for all of them, so no protocol decodes differently.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tern::sasl {

// Encodes `bytes` with the standard alphabet and "=" padding, no line breaks.
std::string base64_encode(std::string_view bytes);

// Decodes canonical base64: standard alphabet, length a multiple of 4, padding
// only at the end, no whitespace, and the unused bits of the last character zero
// (RFC 4648 §3.5), so every byte string has exactly one accepted encoding.
// Returns nullopt for anything else. The empty string decodes to "".
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tern::sasl
