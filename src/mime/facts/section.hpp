// SPDX-License-Identifier: Apache-2.0
// FETCH sections over stored facts: BODY[section]<partial> (RFC 9051 §6.4.5) and
// BINARY[section] / BINARY.SIZE[section] (RFC 3516), answered from the part table
// and the raw message without parsing the MIME tree again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mime/facts/facts.hpp"

namespace tern::mime::facts {

// The part after the part numbers (RFC 9051 §9 section-msgtext / section-text).
enum class SectionText : std::uint8_t {
  kNone,             // BODY[] or BODY[1.2]: the whole message or the part's body
  kHeader,           // HEADER
  kHeaderFields,     // HEADER.FIELDS (...)
  kHeaderFieldsNot,  // HEADER.FIELDS.NOT (...)
  kText,             // TEXT
  kMime,             // MIME (only after part numbers)
};

// A parsed section specifier, the text between "[" and "]".
struct Section {
  std::vector<std::uint32_t> part;  // "1.2" → {1, 2}; empty for the top level
  SectionText text = SectionText::kNone;
  std::vector<std::string> fields;  // HEADER.FIELDS[.NOT] names as given (upper-cased)

  bool operator==(const Section&) const = default;
};

// Parses a section specifier ("", "1.2", "HEADER", "2.HEADER.FIELDS (FROM TO)",
// "1.MIME", ...; keywords case-insensitive) following the RFC 9051 §9 grammar:
// part numbers are nz-numbers; MIME needs part numbers; field names are astrings
// (atoms or quoted strings; literals are the command reader's business).
// Returns kInvalidInput for anything else.
Result<Section> parse_section(std::string_view spec);

// Resolves part numbers to an index into facts.parts (RFC 9051 §6.4.5): a multipart
// part's N is its Nth child; a message/rfc822 part's numbers continue into the
// encapsulated message's body; a non-multipart entity has only part 1, itself.
// Returns kNotFound when no such part exists.
Result<std::uint32_t> resolve_part(const Facts& facts, const std::vector<std::uint32_t>& part);

// The octets of BODY[section] (before any <partial>):
//  - no text: the whole message (empty part numbers) or the part's body;
//  - MIME: the part's MIME header, blank line included;
//  - HEADER / TEXT / HEADER.FIELDS[.NOT]: of the message (empty part numbers), of the
//    encapsulated message (a message/rfc822 part), or of the part's own header and
//    body (any other part; Dovecot and Stalwart answer the same);
//  - HEADER.FIELDS: the fields named, in message order, with their folding, then the
//    blank line (RFC 9051 §6.4.5); .NOT: every other field.
// Requires: `raw` is the message the facts were computed from.
// Returns kNotFound for a part that does not exist; kInvalidInput for MIME without
// part numbers.
Result<std::string> body_section(std::string_view raw, const Facts& facts, const Section& section);

// BINARY[part] (RFC 3516 §4.2): the part's body with its Content-Transfer-Encoding
// undone (the whole message, unchanged, for empty part numbers; a multipart or
// message part's body unchanged). Returns kNotFound for a missing part and
// kPermanent with the message "unknown-cte" when the encoding is one tern cannot
// decode; the server answers that with NO [UNKNOWN-CTE] (RFC 3516 §4.3).
Result<std::string> binary_section(std::string_view raw, const Facts& facts,
                                   const std::vector<std::uint32_t>& part);

// BINARY.SIZE[part] (RFC 3516 §4.2) from the stored part table; errors as
// binary_section().
Result<std::uint64_t> binary_size(const Facts& facts, const std::vector<std::uint32_t>& part);

// Applies <origin.length> (RFC 9051 §6.4.5): the octets from `origin`, at most
// `length` of them; empty when origin is past the end.
std::string_view partial(std::string_view octets, std::uint64_t origin,
                         std::optional<std::uint64_t> length);

}  // namespace tern::mime::facts
