// SPDX-License-Identifier: Apache-2.0
// clamd::parse_reply on arbitrary bytes: never crashes, and only the exact
// "stream: OK" reply reads as clean.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "clamd/clamd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view reply(reinterpret_cast<const char*>(data), size);
  auto result = tern::clamd::parse_reply(reply);
  if (result.kind == tern::clamd::ScanResult::Kind::kClean) {
    while (!reply.empty() && (reply.back() == '\0' || reply.back() == '\n')) {
      reply.remove_suffix(1);
    }
    if (reply != "stream: OK") {
      std::abort();
    }
  }
  return 0;
}
