// SPDX-License-Identifier: Apache-2.0
// ASCII-only case handling for protocol tokens (SMTP verbs, IMAP atoms, header and
// parameter names, HTTP field names). Locale-free and byte-exact: bytes outside
// A-Z/a-z, including UTF-8, are never changed.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

namespace tern::ascii {

constexpr char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

constexpr char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c;
}

// True when `a` and `b` are equal ignoring ASCII case.
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) {
      return false;
    }
  }
  return true;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = to_lower(c);
  }
  return out;
}

inline std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = to_upper(c);
  }
  return out;
}

// The whole of `s` as a number in `base` (no sign for unsigned T, no spaces);
// nullopt for anything else, an empty string or a value out of T's range.
template <class T>
std::optional<T> to_number(std::string_view s, int base = 10) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace tern::ascii
