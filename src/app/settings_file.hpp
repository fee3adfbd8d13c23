// SPDX-License-Identifier: Apache-2.0
// Reading the config file: the one place the daemon and the CLI touch it.
#pragma once

#include <string>

#include "base/result.hpp"
#include "config/settings.hpp"

namespace tern::app {

// The config path used when none is given: ./var/tern.toml (what `make run` writes).
inline constexpr const char* kDefaultConfigPath = "var/tern.toml";

// Reads `path` and parses it with config::parse_config(), resolving relative paths
// against the file's own directory (made absolute). Errors are kNotFound/kIo for an
// unreadable file (the message names the path) and kInvalidInput for bad content
// (one line per problem, each naming the file, line and key).
Result<config::Settings> load_settings(const std::string& path);

}  // namespace tern::app
