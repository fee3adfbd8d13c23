// SPDX-License-Identifier: Apache-2.0
// The flag and keyword arithmetic of STORE (RFC 9051 §6.4.6) and UNCHANGEDSINCE
// (RFC 7162 §3.1.3), once, for every storage backend.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.hpp"

namespace tern::domain {

// The system flag named `name` ("\\Seen", any case; RFC 9051 §2.3.2), or nullopt
// for a keyword or an unknown "\\" flag.
std::optional<Flag> system_flag(std::string_view name);

// Keywords are IMAP atoms, compared without ASCII case (RFC 9051 §9, note 1;
// Dovecot does the same): "$junk" names the keyword "$Junk". keyword_less is
// the order lists of keywords are kept in.
bool keyword_less(std::string_view a, std::string_view b);

// Keywords as entries keep them: sorted by keyword_less, and unique without case
// (the first spelling of a keyword stays).
std::vector<std::string> normalize_keywords(std::vector<std::string> keywords);

// Adds `keywords` (normalised) to a mailbox's defined keywords (normalised;
// Mailbox::keywords); a keyword defined in another spelling keeps the defined one.
// Returns true when the set grew.
bool define_keywords(std::vector<std::string>& defined, const std::vector<std::string>& keywords);

// Rewrites `keywords` (normalised) to the spellings `defined` (normalised) has,
// so that "project-x" put on a message lands as the mailbox's "Project-X", as
// the FLAGS response names it. Backends call it before entries take keywords.
void spell_as_defined(const std::vector<std::string>& defined, std::vector<std::string>& keywords);

// The text form backends keep a keyword list in (one column for an entry's or a
// mailbox's keywords): the keywords joined by single spaces, "" for none.
// Keywords are IMAP atoms (RFC 9051 §9 flag-keyword), which hold no space, so the
// form is unambiguous.
std::string join_keywords(const std::vector<std::string>& keywords);

// The inverse of join_keywords(): the words of `text` in order. Runs of spaces
// and leading or trailing spaces yield no empty keyword.
std::vector<std::string> split_keywords(std::string_view text);

// A FlagChange ready to apply: system flags masked to the known ones and keywords
// normalised. Build it once per change_flags() call.
struct PreparedFlagChange {
  FlagOp op = FlagOp::kAdd;
  Flags flags = 0;
  std::vector<std::string> keywords;
  std::optional<ModSeq> unchanged_since;
};

PreparedFlagChange prepare_flag_change(FlagChange change);

// RFC 7162 §3.1.3: true when `entry` changed after UNCHANGEDSINCE, so the change
// must not touch it and its UID is reported as a conflict.
bool violates_unchanged_since(const Entry& entry, const PreparedFlagChange& change);

// Applies `change` to `entry`'s flags and keywords. Returns false, leaving `entry`
// alone, when nothing would change (the entry then keeps its modseq).
bool apply_flag_change(Entry& entry, const PreparedFlagChange& change);

}  // namespace tern::domain
