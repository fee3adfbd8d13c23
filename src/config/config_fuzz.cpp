// SPDX-License-Identifier: Apache-2.0
// Fuzz target config_file: any bytes must yield Settings or an error, never a crash,
// an exception or an error message that breaks the one-problem-per-line format.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = tern::config::parse_config(text, "fuzz.toml", "/base");
  if (!result) {
    std::string_view message = result.error().message;
    // Every line of the message names the file first.
    std::size_t start = 0;
    while (start < message.size()) {
      if (message.substr(start, 10) != "fuzz.toml:") {
        std::abort();
      }
      std::size_t end = message.find('\n', start);
      if (end == std::string_view::npos) {
        break;
      }
      start = end + 1;
    }
  } else if (result->server.hostname.empty()) {
    std::abort();  // hostname is required, so success implies one
  }
  return 0;
}
