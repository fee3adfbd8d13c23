// SPDX-License-Identifier: Apache-2.0
#include "domain/flags.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include "base/ascii.hpp"

namespace tern::domain {

std::optional<Flag> system_flag(std::string_view name) {
  static constexpr std::pair<std::string_view, Flag> kSystem[] = {
      {"\\Seen", kFlagSeen},       {"\\Answered", kFlagAnswered}, {"\\Flagged", kFlagFlagged},
      {"\\Deleted", kFlagDeleted}, {"\\Draft", kFlagDraft},
  };
  for (const auto& [spelled, flag] : kSystem) {
    if (ascii::iequals(spelled, name)) {
      return flag;
    }
  }
  return std::nullopt;
}

std::vector<std::string> normalize_keywords(std::vector<std::string> keywords) {
  std::sort(keywords.begin(), keywords.end());
  keywords.erase(std::unique(keywords.begin(), keywords.end()), keywords.end());
  return keywords;
}

bool define_keywords(std::vector<std::string>& defined, const std::vector<std::string>& keywords) {
  // The common case (every keyword already defined) allocates nothing.
  if (std::includes(defined.begin(), defined.end(), keywords.begin(), keywords.end())) {
    return false;
  }
  std::vector<std::string> merged;
  merged.reserve(defined.size() + keywords.size());
  std::set_union(defined.begin(), defined.end(), keywords.begin(), keywords.end(),
                 std::back_inserter(merged));
  defined = std::move(merged);
  return true;
}

std::string join_keywords(const std::vector<std::string>& keywords) {
  std::string out;
  for (const auto& keyword : keywords) {
    if (!out.empty()) {
      out += ' ';
    }
    out += keyword;
  }
  return out;
}

std::vector<std::string> split_keywords(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    if (end > start) {
      out.emplace_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

PreparedFlagChange prepare_flag_change(FlagChange change) {
  return PreparedFlagChange{change.op, static_cast<Flags>(change.flags & kAllFlags),
                            normalize_keywords(std::move(change.keywords)), change.unchanged_since};
}

bool violates_unchanged_since(const Entry& entry, const PreparedFlagChange& change) {
  return change.unchanged_since && value_of(entry.modseq) > value_of(*change.unchanged_since);
}

bool apply_flag_change(Entry& entry, const PreparedFlagChange& change) {
  Flags flags = entry.flags;
  std::vector<std::string> keywords;
  switch (change.op) {
    case FlagOp::kAdd:
      flags = static_cast<Flags>(flags | change.flags);
      std::set_union(entry.keywords.begin(), entry.keywords.end(), change.keywords.begin(),
                     change.keywords.end(), std::back_inserter(keywords));
      break;
    case FlagOp::kRemove:
      flags = static_cast<Flags>(flags & ~change.flags);
      std::set_difference(entry.keywords.begin(), entry.keywords.end(), change.keywords.begin(),
                          change.keywords.end(), std::back_inserter(keywords));
      break;
    case FlagOp::kReplace:
      flags = change.flags;
      keywords = change.keywords;
      break;
  }
  if (flags == entry.flags && keywords == entry.keywords) {
    return false;
  }
  entry.flags = flags;
  entry.keywords = std::move(keywords);
  return true;
}

}  // namespace tern::domain
