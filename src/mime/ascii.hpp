// SPDX-License-Identifier: Apache-2.0
// ASCII character helpers shared by the mime sources (internal; not locale-aware on
// purpose: mail syntax is defined on octets).
#pragma once

#include "base/ascii.hpp"

namespace tern::mime::ascii {

using ::tern::ascii::iequals;

// 'A'..'Z' to 'a'..'z'; every other byte unchanged.
inline char lower(char c) {
  return ::tern::ascii::to_lower(c);
}

// RFC 5234 WSP: space or horizontal tab.
inline bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

// The value of a hexadecimal digit (either case), or -1.
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace tern::mime::ascii
