// SPDX-License-Identifier: Apache-2.0
// Mailbox names on the wire: modified UTF-7 (RFC 3501 §5.1.3, still used by
// IMAP4rev1 clients that have not enabled UTF8=ACCEPT) and its UTF-8 form
// (RFC 9051 §5.1, RFC 6855).
#pragma once

#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::imap {

// Decodes a modified UTF-7 name to UTF-8. Strict, like Dovecot: kInvalidInput for
// a "&" run that is not valid modified base64, encodes printable ASCII, encodes
// nothing ("&-" is the only way to write "&"), has non-zero padding bits, ends
// inside a UTF-16 surrogate pair, or for raw control or 8-bit bytes outside "&...-".
Result<std::string> decode_mutf7(std::string_view name);

// Encodes a UTF-8 name as modified UTF-7. kInvalidInput if `name` is not valid
// UTF-8. decode_mutf7(encode_mutf7(x)) == x for every valid x.
Result<std::string> encode_mutf7(std::string_view name);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace tern::imap
