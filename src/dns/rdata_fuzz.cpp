// SPDX-License-Identifier: Apache-2.0
// Fuzz target dns_rdata: the first byte picks a record type, the rest is rdata;
// a second pass reads the input as text for normalize_name and IpAddress::parse.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dns/records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using tern::dns::RecordType;
  constexpr std::array<RecordType, 9> kTypes{
      RecordType::kA,   RecordType::kNs,   RecordType::kCname, RecordType::kPtr, RecordType::kMx,
      RecordType::kTxt, RecordType::kAaaa, RecordType::kSrv,   RecordType::kTlsa};
  if (size == 0) {
    return 0;
  }
  tern::dns::Answer answer;
  (void)tern::dns::parse_rdata(kTypes[data[0] % kTypes.size()],
                               std::span<const std::uint8_t>(data + 1, size - 1), answer);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)tern::dns::normalize_name(text);
  if (auto ip = tern::dns::IpAddress::parse(text)) {
    // Formatting and re-parsing is the identity.
    auto again = tern::dns::IpAddress::parse(ip->format());
    if (!again || *again != *ip) {
      __builtin_trap();
    }
    (void)ip->reverse_name();
  }
  return 0;
}
