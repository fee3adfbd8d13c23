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

const EmailAddress* mailbox_of(const tern::address::ReversePath& path) {
  return path.mailbox ? &*path.mailbox : nullptr;
}

const EmailAddress* mailbox_of(const tern::address::ForwardPath& path) {
  return &path.mailbox;
}

bool same_kind(const tern::address::ReversePath& a, const tern::address::ReversePath& b) {
  return a.is_null() == b.is_null();
}

bool same_kind(const tern::address::ForwardPath& a, const tern::address::ForwardPath& b) {
  return a.is_bare_postmaster == b.is_bare_postmaster;
}

// Parses `argument`; whatever parses must end inside it and survive a render
// and re-parse unchanged.
template <class Parse>
void round_trip(Parse parse, std::string_view argument, const PathOptions& options,
                const PathOptions& reparse) {
  auto path = parse(argument, options);
  if (!path) {
    return;
  }
  if (path->end > argument.size()) {
    __builtin_trap();
  }
  auto again = parse(tern::address::render_path(*path, options.smtputf8), reparse);
  if (!again || !same_kind(*path, *again)) {
    __builtin_trap();
  }
  if (const EmailAddress* mailbox = mailbox_of(*path)) {
    check_same(*mailbox, *mailbox_of(*again));
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
    case 0:
      round_trip([](std::string_view a,
                    const PathOptions& o) { return tern::address::parse_reverse_path(a, o); },
                 argument, options, reparse);
      break;
    case 1:
      round_trip([](std::string_view a,
                    const PathOptions& o) { return tern::address::parse_forward_path(a, o); },
                 argument, options, reparse);
      break;
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
