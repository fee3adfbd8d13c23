// SPDX-License-Identifier: Apache-2.0
// The config file parser: TOML text -> validated Settings (docs/adr/0006-configuration.md).
// No file I/O: app/ reads the file and passes its text and name.
#pragma once

#include <string_view>

#include "base/result.hpp"
#include "config/settings.hpp"

namespace tern::config {

// Parses and validates a tern config file.
//
// `text` is the file's contents; `file_name` is only used in messages (as given,
// e.g. "var/tern.toml"); `base_dir` is the directory relative paths are resolved
// against, normally the config file's own directory (app/ passes it absolute, so
// the settings hold absolute paths; "" leaves relative paths relative to the
// working directory). Resolution is lexical: nothing is looked up on disk.
//
// Path keys: server.data_dir is resolved against base_dir; store.path against the
// resolved data_dir; tls.cert, tls.key and dkim[].key against base_dir. Absolute paths stay.
//
// Validation is strict: unknown tables and keys, wrong types, values out of range
// or outside their enumeration, duplicate listener names or addresses, a TLS
// listener without [tls] cert and key, and role/TLS combinations that
// is_allowed_tls_mode() refuses are all errors.
//
// Errors: kInvalidInput. The message holds every problem found, one per line,
// sorted by line; each line stands alone and names the file, the line and the
// dotted key:
//   var/tern.toml:12: unknown key "server.hostnme"
//   var/tern.toml:7: log.level: expected one of debug, info, warn, error, got "loud"
//   var/tern.toml:3: limits.max_connections: expected an integer, got a string
//   var/tern.toml:20: listener[1].tls: role http accepts none, implicit, got "starttls"
// A TOML syntax error stops parsing and is reported alone, with a column:
//   var/tern.toml:4:9: syntax error: <toml++'s description>
// A key that is missing altogether is reported at its table's line, or line 1.
//
// Never throws: toml++ reports syntax errors by exception, and every exception is
// caught here (a std::bad_alloc becomes kInternal).
Result<Settings> parse_config(std::string_view text, std::string_view file_name,
                              std::string_view base_dir);

}  // namespace tern::config
