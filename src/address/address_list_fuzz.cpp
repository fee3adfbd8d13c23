// SPDX-License-Identifier: Apache-2.0
// Feeds arbitrary bytes to parse_address_list() with both readings of unquoted
// commas. It must never crash, every raw view must lie inside the input, and the
// ENVELOPE flattening must keep group markers balanced.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "address/address_list.hpp"

namespace {

void check_view(std::string_view input, std::string_view view) {
  if (view.empty()) {
    return;
  }
  if (view.data() < input.data() || view.data() + view.size() > input.data() + input.size()) {
    __builtin_trap();
  }
}

void check_mailbox(std::string_view input, const tern::address::Mailbox& m) {
  check_view(input, m.raw);
  check_view(input, m.display_name_raw);
  check_view(input, m.local_part_raw);
  check_view(input, m.domain_raw);
  if (m.local_part.size() > input.size() || m.domain.size() > input.size()) {
    __builtin_trap();
  }
  static_cast<void>(m.addr_spec());
}

void run(std::string_view input, bool merge) {
  tern::address::AddressListOptions options;
  options.merge_unquoted_comma_names = merge;
  options.limits.max_input_bytes = 4096;
  options.limits.max_addresses = 64;
  auto list = tern::address::parse_address_list(input, options);
  std::size_t mailboxes = 0;
  for (const auto& address : list.addresses) {
    if (const auto* m = std::get_if<tern::address::Mailbox>(&address)) {
      check_mailbox(input, *m);
      ++mailboxes;
    } else {
      const auto& group = std::get<tern::address::Group>(address);
      check_view(input, group.raw);
      check_view(input, group.display_name_raw);
      for (const auto& member : group.members) {
        check_mailbox(input, member);
        ++mailboxes;
      }
    }
  }
  if (mailboxes > options.limits.max_addresses || list.mailboxes().size() != mailboxes ||
      list.diagnostics.size() > options.limits.max_diagnostics) {
    __builtin_trap();
  }
  int depth = 0;
  for (const auto& item : tern::address::envelope_addresses(list)) {
    if (item.is_group_start()) {
      ++depth;
    } else if (item.is_group_end()) {
      --depth;
    }
    if (depth < 0 || depth > 1) {
      __builtin_trap();
    }
  }
  if (depth != 0) {
    __builtin_trap();
  }
  static_cast<void>(list.has_errors());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A copy of exactly `size` bytes, so ASan catches any read past the end.
  std::string copy(reinterpret_cast<const char*>(data), size);
  std::string_view input(copy);
  run(input, true);
  run(input, false);
  return 0;
}
