// SPDX-License-Identifier: Apache-2.0
// Fuzz target managesieve_engine: arbitrary client bytes into the ManageSieve
// engine, answered by the scripted test driver, in two chunks split at a point
// chosen by the first byte. The engine must never crash, hang, or grow its
// buffers without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "managesieve/testing_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  tern::managesieve::Options options;
  options.plaintext_allowed = (data[0] & 1) != 0;
  options.starttls_available = (data[0] & 2) != 0;
  options.sieve_extensions = "fileinto";
  options.sasl.mock_secret = "fuzz";
  // Small limits, so the fuzzer reaches them.
  options.limits.max_line_bytes = 256;
  options.limits.max_literal_bytes = 1024;
  options.limits.max_preauth_literal_bytes = 128;
  options.limits.max_skip_bytes = 4096;
  tern::managesieve::testing::Driver driver(options);
  driver.drive();
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t split = input.empty() ? 0 : data[0] % input.size();
  driver.feed(input.substr(0, split));
  driver.feed(input.substr(split));
  if (!driver.engine().output().empty()) {
    __builtin_trap();
  }
  return 0;
}
