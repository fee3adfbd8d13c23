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

bool keyword_less(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return ascii::to_lower(x) < ascii::to_lower(y);
  });
}

namespace {

struct KeywordLess {
  bool operator()(const std::string& a, const std::string& b) const { return keyword_less(a, b); }
};

bool same_keyword(const std::string& a, const std::string& b) {
  return ascii::iequals(a, b);
}

}  // namespace

std::vector<std::string> normalize_keywords(std::vector<std::string> keywords) {
  // Stable, so the first of two spellings is the one unique() keeps.
  std::stable_sort(keywords.begin(), keywords.end(), KeywordLess{});
  keywords.erase(std::unique(keywords.begin(), keywords.end(), same_keyword), keywords.end());
  return keywords;
}

bool define_keywords(std::vector<std::string>& defined, const std::vector<std::string>& keywords) {
  // The common case (every keyword already defined) allocates nothing.
  if (std::includes(defined.begin(), defined.end(), keywords.begin(), keywords.end(),
                    KeywordLess{})) {
    return false;
  }
  // set_union takes an element both ranges hold from the first: the defined spelling.
  std::vector<std::string> merged;
  merged.reserve(defined.size() + keywords.size());
  std::set_union(defined.begin(), defined.end(), keywords.begin(), keywords.end(),
                 std::back_inserter(merged), KeywordLess{});
  defined = std::move(merged);
  return true;
}

void spell_as_defined(const std::vector<std::string>& defined, std::vector<std::string>& keywords) {
  for (auto& keyword : keywords) {
    auto it = std::lower_bound(defined.begin(), defined.end(), keyword, KeywordLess{});
    if (it != defined.end() && same_keyword(*it, keyword)) {
      keyword = *it;
    }
  }
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
      // The entry's spelling of a keyword it has stays.
      flags = static_cast<Flags>(flags | change.flags);
      std::set_union(entry.keywords.begin(), entry.keywords.end(), change.keywords.begin(),
                     change.keywords.end(), std::back_inserter(keywords), KeywordLess{});
      break;
    case FlagOp::kRemove:
      flags = static_cast<Flags>(flags & ~change.flags);
      std::set_difference(entry.keywords.begin(), entry.keywords.end(), change.keywords.begin(),
                          change.keywords.end(), std::back_inserter(keywords), KeywordLess{});
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
