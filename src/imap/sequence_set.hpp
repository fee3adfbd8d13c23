// SPDX-License-Identifier: Apache-2.0
// IMAP sequence sets (RFC 9051 §9 sequence-set, RFC 5182 "$" for SEARCHRES).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::imap {

// A parsed sequence set: message sequence numbers or UIDs, as the command says.
// "*" is kept symbolic (kStar) until resolved against the mailbox, because its
// value depends on the mailbox at the time the command runs (RFC 9051 §6.4.8:
// "*" is the largest number in use; for UIDs of an empty mailbox, "*" still
// names the range end).
class SequenceSet {
 public:
  static constexpr std::uint32_t kStar = 0;  // never a valid number (nz-number)

  struct Range {
    std::uint32_t first = 0;  // kStar or 1..2^32-1
    std::uint32_t last = 0;   // kStar or 1..2^32-1; order as written (RFC: "2:4" == "4:2")
  };

  // Parses "1,3:5,7:*" or "$" (saved search result, RFC 5182). Errors:
  // kInvalidInput for anything else (empty parts, zero, numbers above 2^32-1,
  // trailing commas). `allow_saved` says whether "$" is permitted here.
  static Result<SequenceSet> parse(std::string_view text, bool allow_saved = true);

  bool is_saved_result() const { return saved_; }

  const std::vector<Range>& ranges() const { return ranges_; }

  // The set resolved with "*" = `largest` (the highest MSN or UID in the mailbox;
  // 0 for an empty mailbox, which makes "*" match nothing): ascending, merged,
  // non-overlapping [first, last] ranges. Requires: !is_saved_result().
  std::vector<Range> resolve(std::uint32_t largest) const;

  // True when `n` is in the set with "*" = `largest`.
  bool contains(std::uint32_t n, std::uint32_t largest) const;

  // Renders resolved ranges in the compact IMAP form ("1:3,7"), e.g. for
  // APPENDUID/COPYUID and ESEARCH ALL.
  static std::string format(const std::vector<Range>& resolved);

 private:
  std::vector<Range> ranges_;
  bool saved_ = false;
};

}  // namespace tern::imap
