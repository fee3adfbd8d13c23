// SPDX-License-Identifier: Apache-2.0
// Fuzz target pop3_engine: arbitrary client bytes into the POP3 engine, answered
// by the scripted test driver, in two chunks split at a point chosen by the first
// byte. The engine must never crash, hang, or grow its buffers without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pop3/testing_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  tern::pop3::Options options;
  options.plaintext_allowed = (data[0] & 1) != 0;
  options.stls_available = (data[0] & 2) != 0;
  options.sasl.mock_secret = "fuzz";
  tern::pop3::testing::Driver driver(options);
  driver.drive();
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t split = input.empty() ? 0 : data[0] % input.size();
  driver.feed(input.substr(0, split));
  driver.feed(input.substr(split));
  // Bounded memory: output is drained by the driver; the engine's own output
  // must be empty after each drive.
  if (!driver.engine().output().empty()) {
    __builtin_trap();
  }
  return 0;
}
