// SPDX-License-Identifier: Apache-2.0
// ternd: the mail server daemon. `ternd -c tern.toml`.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <sys/stat.h>

#include "app/daemon.hpp"
#include "app/settings_file.hpp"
#include "runtime/io.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: ternd [-c CONFIG]\n"
    "Runs tern with CONFIG (default ./var/tern.toml) until SIGTERM or SIGINT;\n"
    "SIGHUP reloads the configuration and the certificates.\n";

}  // namespace

int main(int argc, char** argv) {
  // Before any thread or allocation of note (runtime/io.hpp says why).
  tern::runtime::configure_allocator();
  // Mail, keys and the store are private to the service user.
  ::umask(0077);
  std::string config_path = tern::app::kDefaultConfigPath;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else {
      std::fprintf(stderr, "ternd: unknown argument %s\n%s", argv[i], kUsage.data());
      return 2;
    }
  }
  // Boundary 4 of docs/adr/0002-error-handling.md: nothing escapes main.
  try {
    return tern::app::run_daemon(config_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ternd: internal error: %s\n", e.what());
    return 70;
  }
}
