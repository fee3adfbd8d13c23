// SPDX-License-Identifier: Apache-2.0
// Fuzzes SRS address parsing: reverse() must never crash on any input, and what
// forward() writes must reverse to the original.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.hpp"
#include "domain/srs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const tern::domain::Srs srs(tern::domain::SrsConfig{"fuzz-secret", "fwd.example"});
  const auto now = tern::from_unix_seconds(1'790'000'000);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)srs.reverse(input, now);
  // An ordinary address (no '=' to confuse the fields) must come back unchanged.
  auto forwarded = srs.forward(input, now);
  if (forwarded && !tern::domain::Srs::is_srs(input) && input.find('=') == input.npos &&
      *forwarded != input) {
    auto back = srs.reverse(*forwarded, now);
    TERN_ASSERT(back && *back == input, "srs forward/reverse round trip");
  }
  return 0;
}
