// SPDX-License-Identifier: Apache-2.0
// Header field decoding: unfolding (RFC 5322 §2.2.3), RFC 2047 encoded words,
// structured MIME values with RFC 2231 parameters, RFC 6532 UTF-8.
#pragma once

#include <cstdint>
#include <optional>
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

// A Date field's value (RFC 5322 §3.3), as written.
struct DateTime {
  int year = 0;
  int month = 0;  // 1-12
  int day = 0;    // 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int zone_minutes = 0;   // east of UTC; 0 for "-0000" and zones not understood
  bool has_time = false;  // false: no valid time, which counts as 00:00:00

  // The instant in seconds since the Unix epoch, the zone applied.
  std::int64_t unix_seconds() const;
};

// Parses a Date value: "[day-of-week ","] day month year [hour ":" minute [":" second]
// [zone]]", with comments skipped and the obsolete forms of RFC 5322 §4.3: two- and
// three-digit years, the zone names UT, GMT, EST, EDT, CST, CDT, MST, MDT, PST and
// PDT, military zones (read as -0000, as §4.3 says) and a day-of-week without its
// comma. A time or zone that cannot be read is left out (has_time false, zone 0),
// as RFC 5256 §2.2 asks of SORT; nullopt when the date itself cannot be read.
std::optional<DateTime> parse_date_time(std::string_view value);

// The msg-ids of a Message-ID, In-Reply-To or References value (RFC 5322 §3.6.4),
// in order, normalized as RFC 5256 §3 (THREAD=REFERENCES) asks: "<" and ">" and
// white space dropped, a quoted id-left unquoted, so `<"a.b"@x>` and `<a.b@x>` are
// one id. Text between msg-ids (comments, stray words) is skipped; a "<...>" with
// white space inside and no "@" is not an id. At most `max_ids`, the last ones.
std::vector<std::string> message_ids(std::string_view value, std::size_t max_ids = 1000);

// The "base subject" of RFC 5256 §2.1 (SORT, THREAD): `subject` already decoded to
// UTF-8 (step 1's RFC 2047 part); white space collapsed, then the reply and forward
// artifacts stripped: "Re:", "Fwd:", "Fw:" with "[blob]"s before them, a leading
// "[blob]" that is not all there is, trailing "(fwd)", and a "[fwd: ... ]" wrapper.
// Case is kept; comparisons use the i;unicode-casemap key. `reply_or_forward`, when
// given, is set to whether a "Re:"/"Fwd:", a "(fwd)" or a "[fwd: ]" was removed
// (what THREAD=REFERENCES calls a reply or forward).
std::string base_subject(std::string_view subject, bool* reply_or_forward = nullptr);

}  // namespace tern::mime
