// SPDX-License-Identifier: Apache-2.0
// The tag=value list syntax shared by DKIM-Signature fields, DKIM key records
// (RFC 6376 §3.2) and DMARC records (RFC 7489 §6.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::mailauth {

// One tag of a tag-list. `name` and `value` are views into the parsed text, so
// they live as long as that text does.
struct Tag {
  std::string_view name;
  // The value with leading and trailing folding white space removed; interior
  // white space is kept (callers that need it gone, like base64 `b=`, strip it).
  std::string_view value;
  // Offset and length of `value` inside the parsed text. The DKIM verifier uses
  // them to blank the `b=` value in the raw field (RFC 6376 §3.7).
  std::size_t value_offset = 0;
};

// Parses `text` as a tag-list:
//   tag-list = tag-spec *( ";" tag-spec ) [ ";" ]
//   tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
// Tag names are ALPHA *(ALPHA / DIGIT / "_") and compared case-sensitively.
// Returns kInvalidInput for a malformed list, an empty tag name, a value holding
// characters outside tval (%x21-3A / %x3C-7E) or a tag named twice (RFC 6376
// §3.2: "Tags with duplicate names MUST NOT occur").
Result<std::vector<Tag>> parse_tag_list(std::string_view text);

// The first tag named `name`, or nullopt.
std::optional<Tag> find_tag(const std::vector<Tag>& tags, std::string_view name);

// True for SP, HTAB, CR and LF: the characters that may fold a tag value.
constexpr bool is_fws_char(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// `text` with every FWS character removed (base64 values may be folded).
std::string strip_fws(std::string_view text);

// A base64 tag value (b=, bh=, p=) with folding white space removed and decoded;
// nullopt if it is not canonical base64 (sasl::base64_decode).
std::optional<std::string> decode_base64_tag(std::string_view value);

// The decoded value of the base64 tag `name` (b=, bh=), which must be present
// and not empty. Errors: kInvalidInput "missing <name>=" or "<name>= is not base64".
Result<std::string> required_base64_tag(const std::vector<Tag>& tags, std::string_view name);

// The items of a colon-separated tag value (h=, q=, s=, t=), FWS removed from
// each; an empty value gives one empty item.
std::vector<std::string> split_colon_list(std::string_view value);

// A decimal tag value that fits in 64 bits (t=, x=, l=). Errors: kInvalidInput
// naming `name`.
Result<std::uint64_t> parse_tag_number(std::string_view name, std::string_view value);

}  // namespace tern::mailauth
