// SPDX-License-Identifier: Apache-2.0
#include "domain/mailbox_name.hpp"

#include "base/ascii.hpp"

namespace tern::domain {

std::string canonical_mailbox_name(std::string name) {
  // ASCII-only comparison: a UTF-8 name is never the inbox, whatever the locale.
  return ascii::iequals(name, kInboxName) ? std::string(kInboxName) : name;
}

bool is_valid_mailbox_name(std::string_view name) {
  return !name.empty() && name.front() != '/' && name.back() != '/' &&
         name.find("//") == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace tern::domain
