// SPDX-License-Identifier: Apache-2.0
// Fuzz target dmarc_record: the DMARC record parser, the record check, and the
// organizational-domain lookup and alignment over the input as a name.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailauth/dmarc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)is_dmarc_record(text);
  (void)parse_dmarc_record(text);
  if (text.find('\0') == std::string_view::npos) {
    (void)organizational_domain(text);
    (void)is_aligned(text, "example.com", DmarcAlignment::kRelaxed);
  }
  return 0;
}
