// SPDX-License-Identifier: Apache-2.0
// Feeds arbitrary bytes as a Host header to mta_sts_host_domain(). It must never
// crash, and whatever it accepts must be a lower-case name that, with "mta-sts."
// in front, parses to itself again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/http/mta_sts.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view host(reinterpret_cast<const char*>(data), size);
  auto domain = tern::services::http::mta_sts_host_domain(host);
  if (domain) {
    if (domain->empty() ||
        domain->find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ:[ ") != std::string::npos) {
      __builtin_trap();
    }
    auto again = tern::services::http::mta_sts_host_domain("mta-sts." + *domain);
    if (!again || *again != *domain) {
      __builtin_trap();
    }
  }
  return 0;
}
