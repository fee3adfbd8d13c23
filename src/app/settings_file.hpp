// SPDX-License-Identifier: Apache-2.0
// Reading the config file: the one place the daemon and the CLI touch it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "config/settings.hpp"
#include "domain/spam_filter.hpp"
#include "mailauth/dkim_keyring.hpp"

namespace tern::app {

// The config path used when none is given: ./var/tern.toml (what `make run` writes).
inline constexpr const char* kDefaultConfigPath = "var/tern.toml";

// Reads `path` and parses it with config::parse_config(), resolving relative paths
// against the file's own directory (made absolute). Errors are kNotFound/kIo for an
// unreadable file (the message names the path) and kInvalidInput for bad content
// (one line per problem, each naming the file, line and key).
Result<config::Settings> load_settings(const std::string& path);

// The [[dkim]] keys the settings name, read from their files: ternd reads them
// before the privilege drop (ARCHITECTURE.md §5) and signs submitted mail and
// report mail with them; `tern report --send-now` signs report mail with the same
// keys. A key file that is missing or not a usable RSA/Ed25519 key is an error
// (kInvalidInput) naming `config_path`, the entry's line and the key; the
// algorithm is the key's own.
Result<std::shared_ptr<const mailauth::DkimKeyring>> load_dkim_keys(
    const std::string& config_path, const std::vector<config::DkimKeySettings>& entries);

// The spam filter's policy from [spam].
domain::SpamPolicy spam_policy(const config::SpamSettings& settings);

}  // namespace tern::app
