// SPDX-License-Identifier: Apache-2.0
// Fuzzes the TLS report reader (RFC 8460 §4.4 JSON) and the RFC 3339 date parser
// on arbitrary bytes: a report or an error, never a crash, a hang or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/reports/tls_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)tern::domain::reports::parse_tls_json(input);
  (void)tern::domain::reports::parse_rfc3339(input);
  return 0;
}
