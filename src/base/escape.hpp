// SPDX-License-Identifier: Apache-2.0
// Backslash escaping of text inside double quotes: JSON strings (RFC 8259 §7) for
// the JSON log sink and the test tools that print JSON, and the quoted values of
// the text log format. One loop, so the two forms cannot drift apart.
#pragma once

#include <string>
#include <string_view>

namespace tern {

// How a control byte other than \n, \r and \t is written.
enum class ControlEscape {
  kJson,  // \u00XX (RFC 8259 §7)
  kHex,   // \xXX (the text log format)
};

// Appends `value` to `out` with '"' and '\' backslash-escaped, LF, CR and TAB as
// \n, \r and \t, and the other control bytes (< 0x20, and DEL 0x7f) as `style`
// says. Every other byte, UTF-8 sequences included, is appended as it is: the
// caller sanitizes invalid UTF-8 first when its output must be valid UTF-8 JSON.
// Writes no surrounding quotes.
void append_escaped(std::string& out, std::string_view value, ControlEscape style);

// Appends `value` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view value);

// `value` as a JSON string, quotes included.
std::string json_string(std::string_view value);

}  // namespace tern
