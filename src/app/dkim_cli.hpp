// SPDX-License-Identifier: Apache-2.0
// `tern dkim keygen|sign|verify`: DKIM keys and single messages from the command
// line (issue #8). Needs no config and no store.
#pragma once

#include <string>
#include <vector>

namespace tern::app {

// Runs `tern dkim VERB [OPTIONS]`; `words` starts with VERB. Returns the exit
// status: 0 success (verify: at least one signature passed), 1 failure (verify:
// none passed), 2 usage error.
int dkim_command(const std::vector<std::string>& words);

// The usage text of the dkim subcommands, for `tern --help`.
extern const char* const kDkimUsage;

}  // namespace tern::app
