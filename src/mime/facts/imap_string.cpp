// SPDX-License-Identifier: Apache-2.0
#include "mime/facts/imap_string.hpp"

namespace tern::mime::facts {

bool fits_quoted(std::string_view value) {
  if (value.size() > kMaxQuotedOctets) {
    return false;
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    // RFC 9051 §9: QUOTED-CHAR is any TEXT-CHAR (CHAR minus CR LF); controls other
    // than TAB are legal but clients choke on them, so they go into a literal.
    if (u >= 0x80 || (u < 0x20 && u != '\t') || u == 0x7f) {
      return false;
    }
  }
  return true;
}

void append_string(std::string& out, std::string_view value) {
  if (fits_quoted(value)) {
    out.push_back('"');
    for (char c : value) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    out.push_back('"');
    return;
  }
  out.push_back('{');
  append_number(out, value.size());
  out += "}\r\n";
  for (char c : value) {
    out.push_back(c == '\0' ? '?' : c);
  }
}

void append_nstring(std::string& out, std::string_view value, bool present) {
  if (!present) {
    out += "NIL";
    return;
  }
  append_string(out, value);
}

void append_unfolded_string(std::string& out, std::string_view value) {
  std::string unfolded;
  unfolded.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') {
      unfolded.push_back(c);
    }
  }
  append_string(out, unfolded);
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  std::size_t len = 0;
  do {
    buf[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  while (len > 0) {
    out.push_back(buf[--len]);
  }
}

}  // namespace tern::mime::facts
