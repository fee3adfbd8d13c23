// SPDX-License-Identifier: Apache-2.0
// Feeds arbitrary bytes to the MTA-STS parsers: as a policy body, as `_mta-sts`
// TXT strings (split at NUL bytes), and as MX pattern and host (split at the first
// newline). None may crash; an accepted policy must keep its invariants (mode
// none or at least one mx, max_age within RFC 8461's bound, version first).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "services/delivery/sts_policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::services::delivery;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto policy = parse_sts_policy(input, "id");
  if (policy) {
    if ((policy->mx.empty() && policy->mode != StsMode::kNone) || policy->max_age > 31557600 ||
        policy->lines.empty() || policy->lines.front() != "version: STSv1") {
      __builtin_trap();
    }
    for (const auto& pattern : policy->mx) {
      // A concrete pattern matches itself.
      if (!pattern.starts_with("*.") && !sts_mx_matches(pattern, pattern)) {
        __builtin_trap();
      }
    }
  }
  tern::dns::TxtRecord record;
  std::size_t start = 0;
  while (start <= input.size()) {
    const std::size_t end = std::min(input.find('\0', start), input.size());
    record.strings.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  auto id = parse_sts_txt({record});
  if (id && (id->empty() || id->size() > 32)) {
    __builtin_trap();
  }
  const std::size_t newline = input.find('\n');
  if (newline != std::string_view::npos) {
    (void)sts_mx_matches(input.substr(0, newline), input.substr(newline + 1));
  }
  return 0;
}
