// SPDX-License-Identifier: Apache-2.0
// Character classes shared by the address parsers (private to src/address).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::address::detail {

constexpr bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

constexpr bool is_hex_digit(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr bool is_non_ascii(unsigned char c) {
  return c >= 0x80;
}

// RFC 5322 §3.2.3 atext (ASCII part); RFC 5321 §4.1.2 uses the same set.
constexpr bool is_atext(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

// The length of the well-formed UTF-8 sequence (RFC 3629 §4: shortest form, no
// surrogates, at most U+10FFFF) that starts at s[i], or 0 when there is none.
constexpr std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c < 0x80) {
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1Fu;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0Fu;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (s.size() - i < n) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    auto next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (next & 0x3Fu);
  }
  bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// True when all of `s` is well-formed UTF-8.
constexpr bool is_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

// ASCII case-insensitive equality (ABNF strings, RFC 5234 §2.3).
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x != y && !(is_alpha(x) && (x | 0x20) == (y | 0x20))) {
      return false;
    }
  }
  return true;
}

// RFC 5322 §3.2.2 WSP plus the CR and LF of a folded field.
constexpr bool is_fws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// True when `local` can be written without quotes: RFC 5321 Dot-string /
// RFC 5322 dot-atom-text, with RFC 6531/6532 UTF-8 counted as atext.
constexpr bool is_dot_string(std::string_view local) {
  if (local.empty() || local.front() == '.' || local.back() == '.') {
    return false;
  }
  char previous = '\0';
  for (char ch : local) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (previous == '.') {
        return false;
      }
    } else if (!is_atext(c) && !is_non_ascii(c)) {
      return false;
    }
    previous = ch;
  }
  return true;
}

// Returns `text` as a quoted-string: '"' and '\' escaped with a backslash.
inline std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

// A local part as written in an address: unchanged when it is a dot-string,
// quoted otherwise (RFC 5321 §4.1.2, RFC 5322 §3.4.1: quote only when needed).
inline std::string render_local(std::string_view local) {
  return is_dot_string(local) ? std::string(local) : quote(local);
}

}  // namespace tern::address::detail
