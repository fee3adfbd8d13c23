// SPDX-License-Identifier: Apache-2.0
#include "domain/model.hpp"

namespace tern::domain {

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
