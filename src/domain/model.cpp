// SPDX-License-Identifier: Apache-2.0
#include "domain/model.hpp"

#include <cstdint>

#include "base/utf8.hpp"

namespace tern::domain {

bool is_valid_sieve_script_name(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return false;
  }
  for (std::size_t i = 0; i < name.size();) {
    auto cp = utf8::next(name, i);
    if (!cp || *cp < 0x20 || (*cp >= 0x7f && *cp <= 0x9f) || *cp == 0x2028 || *cp == 0x2029 ||
        *cp == '/') {
      return false;
    }
  }
  return true;
}

std::string_view special_use_attribute(SpecialUse use) {
  switch (use) {
    case SpecialUse::kNone:
      return "";
    case SpecialUse::kAll:
      return "\\All";
    case SpecialUse::kArchive:
      return "\\Archive";
    case SpecialUse::kDrafts:
      return "\\Drafts";
    case SpecialUse::kFlagged:
      return "\\Flagged";
    case SpecialUse::kJunk:
      return "\\Junk";
    case SpecialUse::kSent:
      return "\\Sent";
    case SpecialUse::kTrash:
      return "\\Trash";
  }
  return "";
}

}  // namespace tern::domain
