// SPDX-License-Identifier: Apache-2.0
// Feeds arbitrary bytes to the SMTP path parsers. The first byte picks the
// options and the path kind. Whatever parses must render back to a path that
// parses to the same mailbox (quoting only when needed must not change meaning).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "address/smtp_path.hpp"

namespace {

using tern::address::EmailAddress;
using tern::address::PathOptions;

void check_same(const EmailAddress& a, const EmailAddress& b) {
  if (a.local_part != b.local_part || !(a.domain == b.domain) ||
      a.domain.kind() != b.domain.kind()) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::uint8_t mode = data[0];
  std::string copy(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view argument(copy);
  PathOptions options;
  options.smtputf8 = (mode & 1) != 0;
  options.strict = (mode & 2) != 0;
  // Re-parsing a rendered path must not trip a limit the original passed:
  // rendering may switch U-labels to longer A-labels.
  PathOptions reparse = options;
  reparse.limits.max_path_bytes = 4096;
  reparse.limits.max_domain_bytes = 4096;
  reparse.limits.max_local_part_bytes = 4096;
  reparse.strict = true;
  switch ((mode >> 2) % 3) {
    case 0: {
      auto path = tern::address::parse_reverse_path(argument, options);
      if (!path) {
        break;
      }
      if (path->end > argument.size()) {
        __builtin_trap();
      }
      auto again = tern::address::parse_reverse_path(
          tern::address::render_path(*path, options.smtputf8), reparse);
      if (!again || again->is_null() != path->is_null()) {
        __builtin_trap();
      }
      if (!path->is_null()) {
        check_same(*path->mailbox, *again->mailbox);
      }
      break;
    }
    case 1: {
      auto path = tern::address::parse_forward_path(argument, options);
      if (!path) {
        break;
      }
      if (path->end > argument.size()) {
        __builtin_trap();
      }
      auto again = tern::address::parse_forward_path(
          tern::address::render_path(*path, options.smtputf8), reparse);
      if (!again || again->is_bare_postmaster != path->is_bare_postmaster) {
        __builtin_trap();
      }
      check_same(path->mailbox, again->mailbox);
      break;
    }
    default: {
      auto address = tern::address::parse_email_address(argument, options);
      if (!address) {
        break;
      }
      auto again = tern::address::parse_email_address(
          tern::address::render_mailbox(*address, options.smtputf8), reparse);
      if (!again) {
        __builtin_trap();
      }
      check_same(*address, *again);
      break;
    }
  }
  return 0;
}
