// SPDX-License-Identifier: Apache-2.0
// UTF-8 (RFC 3629) a byte at a time: the one encoder and the one well-formedness
// check that mime, imap, sieve and domain share.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tern::utf8 {

// Appends the encoding of `cp` (at most U+10FFFF; the caller has checked it).
void append(std::string& out, char32_t cp);

// The length of the well-formed UTF-8 sequence at text[pos] (RFC 3629 §4: no
// overlong forms, surrogates or values above U+10FFFF), or 0 when the bytes
// there are none. Requires pos < text.size().
std::size_t sequence_length(std::string_view text, std::size_t pos);

// The code point at text[pos], advancing pos past it; nullopt (pos unchanged)
// when the bytes there are not well-formed UTF-8. Requires pos < text.size().
std::optional<char32_t> next(std::string_view text, std::size_t& pos);

}  // namespace tern::utf8
