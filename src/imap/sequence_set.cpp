// SPDX-License-Identifier: Apache-2.0
#include "imap/sequence_set.hpp"

#include <algorithm>

namespace tern::imap {
namespace {

// seq-number = nz-number / "*"; nz-number = digit-nz *DIGIT, at most 2^32-1.
Result<std::uint32_t> parse_seq_number(std::string_view text) {
  if (text == "*") {
    return SequenceSet::kStar;
  }
  if (text.empty() || text.size() > 10 || text[0] < '1' || text[0] > '9') {
    return fail(ErrorCode::kInvalidInput, "invalid sequence number");
  }
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return fail(ErrorCode::kInvalidInput, "invalid sequence number");
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > 0xffffffffULL) {
    return fail(ErrorCode::kInvalidInput, "sequence number above 2^32-1");
  }
  return static_cast<std::uint32_t>(value);
}

}  // namespace

Result<SequenceSet> SequenceSet::parse(std::string_view text, bool allow_saved) {
  SequenceSet set;
  if (text == "$") {
    if (!allow_saved) {
      return fail(ErrorCode::kInvalidInput, "\"$\" is not allowed here");
    }
    set.saved_ = true;
    return set;
  }
  if (text.empty()) {
    return fail(ErrorCode::kInvalidInput, "empty sequence set");
  }
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    std::string_view part = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::size_t colon = part.find(':');
    Range range;
    if (colon == std::string_view::npos) {
      TERN_TRY(range.first, parse_seq_number(part));
      range.last = range.first;
    } else {
      TERN_TRY(range.first, parse_seq_number(part.substr(0, colon)));
      TERN_TRY(range.last, parse_seq_number(part.substr(colon + 1)));
    }
    set.ranges_.push_back(range);
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return set;
}

std::vector<SequenceSet::Range> SequenceSet::resolve(std::uint32_t largest) const {
  std::vector<Range> out;
  for (auto range : ranges_) {
    std::uint32_t a = range.first == kStar ? largest : range.first;
    std::uint32_t b = range.last == kStar ? largest : range.last;
    if (a > b) {
      std::swap(a, b);
    }
    if (a == 0) {
      // "*" of an empty mailbox is 0, which no message has: "*" alone is empty and
      // "n:*" covers 1..n (RFC 9051 §6.4.8: a range with "*" always spans to the
      // largest number in use, whichever end is larger). The caller intersects
      // the result with the numbers that exist.
      if (b == 0) {
        continue;
      }
      a = 1;
    }
    out.push_back(Range{a, b});
  }
  std::sort(out.begin(), out.end(),
            [](const Range& x, const Range& y) { return x.first < y.first; });
  std::vector<Range> merged;
  for (const auto& range : out) {
    if (!merged.empty() && static_cast<std::uint64_t>(merged.back().last) + 1 >= range.first) {
      merged.back().last = std::max(merged.back().last, range.last);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

bool SequenceSet::contains(std::uint32_t n, std::uint32_t largest) const {
  for (auto range : ranges_) {
    std::uint32_t a = range.first == kStar ? largest : range.first;
    std::uint32_t b = range.last == kStar ? largest : range.last;
    if (a > b) {
      std::swap(a, b);
    }
    if (n >= a && n <= b && n != 0) {
      return true;
    }
  }
  return false;
}

std::string SequenceSet::format(const std::vector<Range>& resolved) {
  std::string out;
  for (const auto& range : resolved) {
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(range.first);
    if (range.last != range.first) {
      out += ':';
      out += std::to_string(range.last);
    }
  }
  return out;
}

}  // namespace tern::imap
