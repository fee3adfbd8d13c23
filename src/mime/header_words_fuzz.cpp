// SPDX-License-Identifier: Apache-2.0
// RFC 2047 decoding of arbitrary bytes must give valid UTF-8; encoding any UTF-8
// text and decoding it again must give the text back (blanks at the ends trimmed,
// as unfolding does). Also runs the RFC 2231 parameter parser, the Date parser
// (fields in range) and the base subject of RFC 5256 (UTF-8 in, UTF-8 out, never
// longer) on the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mime/charset.hpp"
#include "mime/header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string decoded = tern::mime::decode_words(in);
  if (!tern::mime::is_utf8(decoded)) {
    __builtin_trap();
  }
  if (auto date = tern::mime::parse_date_time(in)) {
    if (date->month < 1 || date->month > 12 || date->day < 1 || date->day > 31 || date->hour > 23 ||
        date->minute > 59 || date->second > 60 || date->zone_minutes < -6000 ||
        date->zone_minutes > 6000) {
      __builtin_trap();
    }
    (void)date->unix_seconds();
  }
  std::string base = tern::mime::base_subject(decoded);
  if (base.size() > decoded.size() || !tern::mime::is_utf8(base)) {
    __builtin_trap();
  }
  tern::mime::StructuredValue sv = tern::mime::parse_structured(in);
  for (const auto& p : sv.params) {
    // Every value is UTF-8 except a boundary, which is kept byte for byte.
    if (p.name != "boundary" && !tern::mime::is_utf8(p.value)) {
      __builtin_trap();
    }
  }
  // Round trip: header text never holds CR or LF; unfolding trims the ends.
  std::string text = tern::mime::sanitize_utf8(in);
  for (char& c : text) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  std::string_view t = text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
    t.remove_prefix(1);
  }
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
    t.remove_suffix(1);
  }
  std::string encoded = tern::mime::encode_words(t);
  if (tern::mime::decode_words(encoded) != t) {
    __builtin_trap();
  }
  return 0;
}
