// SPDX-License-Identifier: Apache-2.0
// dnsbl::parse_site on arbitrary text: never crashes; what it accepts has a
// zone with a dot and a weight in range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dnsbl/dnsbl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto site = tern::dnsbl::parse_site(std::string_view(reinterpret_cast<const char*>(data), size));
  if (site && (site->zone.find('.') == std::string_view::npos || site->weight < -1000 ||
               site->weight > 1000)) {
    std::abort();
  }
  return 0;
}
