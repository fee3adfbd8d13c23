// SPDX-License-Identifier: Apache-2.0
// maildir: reading what a Maildir holds besides the messages themselves, as
// Dovecot writes it (https://cr.yp.to/proto/maildir.html, Dovecot's Maildir++
// layout): the info flags in a file name, the dovecot-uidlist that keeps UIDs and
// UIDVALIDITY, the dovecot-keywords file behind the keyword letters, the folder
// names of Maildir++ and the subscriptions file. `tern import maildir` walks the
// directories and hands these functions their names and contents. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::maildir {

// A message file's name: "<base>[,S=<size>][,W=<vsize>][:2,<flags>]".
struct FileName {
  std::string base;                    // up to the first ':' (what dovecot-uidlist names)
  std::string flags;                   // the letters after ":2,", in the name's order
  std::optional<std::uint64_t> vsize;  // W=: the size with CRLF line ends
};

FileName parse_file_name(std::string_view name);

// The standard info flags (Maildir spec "Info semantics"). Dovecot maps P
// (passed) to no IMAP flag; lower-case letters are keywords (dovecot-keywords).
inline constexpr char kFlagDraft = 'D';
inline constexpr char kFlagFlagged = 'F';
inline constexpr char kFlagReplied = 'R';
inline constexpr char kFlagSeen = 'S';
inline constexpr char kFlagTrashed = 'T';

// dovecot-uidlist: the mailbox's UIDVALIDITY, its next UID and the UID of each
// file (named by its base). Versions 1 ("1 <uidvalidity> <nextuid>", lines
// "<uid> <file>") and 3 ("3 V<uidvalidity> N<nextuid> ...", lines
// "<uid> [<key><value> ...] :<file>"). kInvalidInput for anything else; entries
// ascend by UID.
struct UidList {
  std::uint32_t uid_validity = 0;
  std::uint32_t next_uid = 0;

  struct Entry {
    std::uint32_t uid = 0;
    std::string base;
  };

  std::vector<Entry> entries;
};

Result<UidList> parse_uidlist(std::string_view text);

// dovecot-keywords: lines "<index> <name>"; the keyword letter 'a' + index names
// it. Returns the names by index ("" where an index is missing), at most 26.
std::vector<std::string> parse_keywords(std::string_view text);

// The mailbox a Maildir++ folder directory holds (".Sent", ".Lists.tern"): the
// part after the leading '.', its '.' separators as "/", each level decoded from
// modified UTF-7 (RFC 3501 §5.1.3, as Dovecot names folders). nullopt for a
// name that is no folder ("cur", "tmp", ".", "..", a name with an empty level or
// undecodable UTF-7).
std::optional<std::string> folder_mailbox(std::string_view directory);

// The subscriptions file of a Maildir++ root: Dovecot's version 2 ("V\t2" then a
// blank line, then one name per line with the hierarchy levels separated by
// TABs) or the older one-name-per-line form, whose names use '.' for the
// hierarchy. Mailbox names with "/" for the hierarchy, in file order.
std::vector<std::string> parse_subscriptions(std::string_view text);

// --- Writing, for `tern export maildir`: what the readers above read back, in
// the forms Dovecot 2.3 writes.

// "<base>:2,<flags>" with the flag letters in ASCII order (as the Maildir spec
// asks), each once.
std::string file_name(std::string_view base, std::string_view flags);

// dovecot-uidlist version 3: "3 V<uidvalidity> N<nextuid>" and a line
// "<uid> :<base>" per entry (ascending).
std::string uidlist_text(const UidList& list);

// dovecot-keywords: "<index> <name>" for each name, in order.
std::string keywords_text(const std::vector<std::string>& names);

// The Maildir++ directory of a mailbox other than INBOX ("Lists/Café" →
// ".Lists.Caf&AOk-"). kInvalidInput for a name Maildir++ cannot hold: an empty
// level or one with a '.' (its separator), or INBOX itself (the root).
Result<std::string> folder_directory(std::string_view mailbox);

// The subscriptions file in Dovecot's version 2 format.
std::string subscriptions_text(const std::vector<std::string>& mailboxes);

}  // namespace tern::maildir
