// SPDX-License-Identifier: Apache-2.0
#include "base/escape.hpp"

#include <fmt/format.h>

namespace tern {

void append_escaped(std::string& out, std::string_view value, ControlEscape style) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // RFC 8259 §7 requires escaping below 0x20; DEL is escaped too so that a
        // log line never carries a raw control byte to a terminal.
        if (u < 0x20 || u == 0x7f) {
          out += style == ControlEscape::kJson ? fmt::format("\\u{:04x}", u)
                                               : fmt::format("\\x{:02x}", u);
        } else {
          out += c;
        }
    }
  }
}

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  append_escaped(out, value, ControlEscape::kJson);
  out += '"';
}

std::string json_string(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  append_json_string(out, value);
  return out;
}

}  // namespace tern
