// SPDX-License-Identifier: Apache-2.0
// mbox: reading a Unix mailbox file (RFC 4155's application/mbox) one line at a
// time, as `tern import mbox` does with exports from Google Takeout, Thunderbird,
// mutt or Dovecot: the "From " lines between messages, the ">From " quoting of
// mboxrd, and the status header fields mail programs keep there (Status,
// X-Status, X-Keywords, X-Mozilla-Status), which are the mailbox's metadata, not
// the message's. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::mbox {

// The date of a "From " separator line — "From <sender> <asctime> [zone]",
// asctime being "Www Mmm dd hh:mm:ss yyyy" (one or two spaces before a one-digit
// day, the year possibly before a zone), taken as UTC — in Unix seconds; nullopt
// when `line` is no separator. Requiring the date keeps a body line that merely
// starts with "From " from splitting a message that a writer did not quote.
std::optional<std::int64_t> separator_date(std::string_view line);

// A body line as stored (mboxrd, RFC 4155 §2 "quoted"): one '>' removed from a
// line of '>'s followed by "From ". Only for messages without a Content-Length
// field: writers that give the length (mboxcl2, Dovecot's) quote nothing.
std::string_view unquote(std::string_view line);

// True when the message's header has a Content-Length field (mboxcl2).
bool has_content_length(std::string_view message);

// What the status fields of a message's header say (the header is everything
// before the first empty line; fields are matched case-insensitively).
struct Status {
  bool seen = false;                  // Status: R; X-Mozilla-Status bit 0x0001
  bool answered = false;              // X-Status: A; X-Mozilla-Status 0x0002
  bool flagged = false;               // X-Status: F; X-Mozilla-Status 0x0004
  bool deleted = false;               // X-Status: D; X-Mozilla-Status 0x0008
  bool draft = false;                 // X-Status: T
  std::vector<std::string> keywords;  // X-Keywords (Dovecot, mutt), X-Mozilla-Keys
};

Status read_status(std::string_view message);

// `message` without the fields mail programs keep in mbox files for themselves
// (Status, X-Status, X-Keywords, X-UID, X-IMAPbase, X-IMAP, Content-Length,
// X-Mozilla-Status, X-Mozilla-Status2, X-Mozilla-Keys), folded lines included,
// as Dovecot leaves them out when it serves an mbox. Line ends are kept.
std::string without_status(std::string_view message);

// --- Writing, for `tern export mbox` (mboxcl2, as Dovecot writes it: the body
// unquoted, its length in Content-Length).

// "From MAILER-DAEMON <asctime>" for `date` (Unix seconds, written in UTC), which
// separator_date() reads back.
std::string separator_line(std::int64_t date);

// The status fields of `status` ("Status: RO" or "Status: O", X-Status and
// X-Keywords when there is something to say), "X-UID: n" and
// "Content-Length: n", each ending in "\n", which read_status() reads back.
std::string status_fields(const Status& status, std::uint32_t uid, std::uint64_t content_length);

// The first message's "X-IMAPbase: <uidvalidity> <uidnext> <keywords>" field:
// Dovecot takes the mailbox's UIDVALIDITY and next UID from it, and accepts only
// the keywords it declares in X-Keywords.
std::string base_field(std::uint32_t uid_validity, std::uint32_t uid_next,
                       const std::vector<std::string>& keywords);

}  // namespace tern::mbox
