// SPDX-License-Identifier: Apache-2.0
// IMAP string syntax for the FETCH items tern renders (RFC 9051 §4.3, RFC 3501 §4.3):
// quoted strings, literals, NIL, and the parenthesised lists built from them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::mime::facts {

// Appends `value` as an IMAP string to `out`.
//
// A quoted string ("...", with `"` and `\` escaped by a backslash) is used when every
// octet is 7-bit, printable or TAB/SP, and the value is at most kMaxQuotedOctets
// long; anything else (CR, LF, NUL, other controls, 8-bit octets) becomes a
// synchronising literal `{n}\r\n<octets>` (RFC 9051 §4.3). NUL octets are replaced by "?"
// because a plain literal may not carry NUL (RFC 9051 §9: CHAR8 = %x01-ff); BINARY is
// the only way to fetch raw NULs.
void append_string(std::string& out, std::string_view value);

// Appends `value` as an nstring: NIL when `value` is absent (`present == false`),
// otherwise as append_string() does.
void append_nstring(std::string& out, std::string_view value, bool present);

// Appends `value` as a quoted string or literal after removing every CR and LF, the
// form ENVELOPE fields take: header values are unfolded (RFC 5322 §2.2.3) and a bare
// CR or LF has no meaning inside a field value. Dovecot does the same.
void append_unfolded_string(std::string& out, std::string_view value);

// Appends the decimal form of `n`.
void append_number(std::string& out, std::uint64_t n);

// Longest value rendered as a quoted string; longer ones become literals so a
// client's line-length limit is never hit by one field.
inline constexpr std::size_t kMaxQuotedOctets = 1024;

// True if append_string() would render `value` as a quoted string.
bool fits_quoted(std::string_view value);

// One address of an ENVELOPE list (RFC 9051 §7.5.2); a field that is NIL is absent.
// A group's start has no host and its name as `mailbox`; its end has neither.
struct EnvelopeAddress {
  std::optional<std::string> name;
  std::optional<std::string> adl;
  std::optional<std::string> mailbox;
  std::optional<std::string> host;
};

// An ENVELOPE read back into its fields (strings unquoted, literals taken whole).
struct Envelope {
  std::optional<std::string> date;
  std::optional<std::string> subject;
  std::vector<EnvelopeAddress> from, sender, reply_to, to, cc, bcc;
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;
};

// Reads an ENVELOPE as Facts::envelope holds it. kCorrupt for anything that is not
// "(" nstring SP nstring 6*(SP address-list) SP nstring SP nstring ")"; never reads
// past `text`, and allocates no more than `text.size()` in strings.
Result<Envelope> read_envelope(std::string_view text);

}  // namespace tern::mime::facts
