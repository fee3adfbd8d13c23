// SPDX-License-Identifier: Apache-2.0
// ternd's wiring: settings -> TLS, listeners, privilege drop, storage, services,
// signals. The only place that knows every concrete part.
#pragma once

#include <string>

namespace tern::app {

// Runs the daemon with the config at `config_path` until SIGTERM/SIGINT, and
// returns the process exit status:
//   0  stopped cleanly after draining
//   1  a startup step failed (one line on stderr names the problem: the config
//      file, line and key; a missing certificate; an address already in use)
//   2  the config file is invalid or unreadable
int run_daemon(const std::string& config_path);

}  // namespace tern::app
