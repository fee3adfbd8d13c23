// SPDX-License-Identifier: Apache-2.0
// Header field decoding: unfolding (RFC 5322 §2.2.3), RFC 2047 encoded words,
// structured MIME values with RFC 2231 parameters, RFC 6532 UTF-8.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mime/message.hpp"

namespace tern::mime {

// Removes folding: every CRLF or bare LF (and any CR before it) that is followed by
// WSP is deleted, keeping the WSP (RFC 5322 §2.2.3). A line end not followed by WSP
// (only possible at the very end) is dropped too. Leading and trailing WSP of the
// whole value are removed. Never fails.
std::string unfold(std::string_view value);

// Decodes the RFC 2047 encoded words in an unstructured value (already unfolded or
// not; folding is removed first) and returns UTF-8. Rules and leniencies:
//  - `=?charset[*lang]?B|Q?text?=` in B (RFC 2047 §4.1) or Q (§4.2) form;
//  - whitespace between two adjacent encoded words is dropped (RFC 2047 §6.2);
//  - adjacent words in the same charset are joined before conversion, so a
//    multibyte character split across two words survives;
//  - words not separated from text by whitespace and words inside quoted strings
//    are decoded too (common in the wild, as Dovecot and Thunderbird do);
//  - an unknown charset is treated as ISO-8859-1 if the bytes are not UTF-8;
//  - text outside encoded words that is not valid UTF-8 (raw 8-bit) is converted
//    from `fallback_charset` (RFC 6532 UTF-8 passes unchanged);
//  - malformed words stay as literal text.
// Never fails; invalid bytes become U+FFFD.
std::string decode_words(std::string_view value, std::string_view fallback_charset = "");

// Encodes `utf8` for an unstructured header value (RFC 2047 §5 (1)): returned as is
// when it is printable ASCII; otherwise the runs of words that need it become
// `=?UTF-8?Q?...?=` words (`?B?` when that is at least a quarter shorter) of at most
// 75 characters, separated by a single space, never splitting a UTF-8 sequence. The
// caller folds at the spaces.
std::string encode_words(std::string_view utf8);

// A parsed structured value `token/token *(; param)` or `token *(; param)`.
struct StructuredValue {
  std::string value;  // the leading token(s), lower case; "type/subtype" for Content-Type
  std::vector<Parameter> params;
};

// Parses a Content-Type / Content-Disposition value (RFC 2045 §5.1, RFC 2183 §2)
// with RFC 2231 parameters: continuations `name*0`, `name*1*` joined in numeric order
// (plain and extended segments mixed), `name*=charset'lang'%XX` decoded and
// converted to UTF-8; comments skipped; quoted strings unescaped; RFC 2047 words in
// quoted values decoded (non-standard, common). A parameter repeated keeps the
// first. Lenient: a missing `;`, blanks around `=`, unquoted values with tspecials
// up to the next `;`. Never fails; empty `value` when there is no leading token.
StructuredValue parse_structured(std::string_view raw_value);

// Parses a Content-Type value into `type`; returns false (leaving the RFC 2045 §5.2
// default) when there is no usable `type/subtype`.
bool parse_content_type(std::string_view raw_value, ContentType& type);

// Parses a Content-Transfer-Encoding value (case-insensitive token, comments and
// blanks ignored).
TransferEncoding parse_transfer_encoding(std::string_view raw_value);

}  // namespace tern::mime
