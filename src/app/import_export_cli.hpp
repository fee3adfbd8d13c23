// SPDX-License-Identifier: Apache-2.0
// `tern import maildir ADDRESS DIR` moves a Maildir++ tree, as Dovecot keeps it,
// into an account, keeping what IMAP clients cache by: each folder's UIDVALIDITY
// and every message's UID (from dovecot-uidlist), so a client that synced with
// Dovecot finds the same mailbox and downloads nothing again. Flags come from the
// file names, keywords from dovecot-keywords, the INTERNALDATE from the file's
// modification time (Dovecot's received date), subscriptions from the
// subscriptions file. Messages are stored with CRLF line ends, as tern stores
// everything it receives, so RFC822.SIZE is what Dovecot reported.
//
// Through domain::StoreImport, like `tern migrate`: each mailbox the tree has
// must be empty or absent in the account (a new account's special-use mailboxes
// are empty), so an import is not repeated over itself. Works while ternd runs.
//
// `tern import mbox ADDRESS FILE [MAILBOX]` appends the messages of an mbox file
// (Google Takeout and mutt write mboxrd, Dovecot mboxcl2, Thunderbird its own
// status fields) to a mailbox of the account, created if missing: each message
// split at a "From " line that follows an empty one and carries a date (its
// INTERNALDATE), its body unquoted (">From " to "From ") unless it has a
// Content-Length, its flags and keywords from Status, X-Status, X-Keywords and
// X-Mozilla-Status/-Keys, which are then left out of the stored message as
// Dovecot leaves them out. Ordinary appends: the quota applies, UIDs are the
// mailbox's next ones, and running it twice stores the messages twice.
//
// `tern import sieve ADDRESS DIR [ACTIVE]` stores the Sieve scripts of a
// Pigeonhole script directory (each DIR/NAME.sieve as script NAME, replacing one
// of that name) and activates the one the symlink ACTIVE (default
// DIR/../.dovecot.sieve, Pigeonhole's default) points to. Each is compiled
// first; one that does not compile is reported and left out (exit status 1), the
// others are imported.
//
// `tern export mbox ADDRESS MAILBOX FILE` writes one mailbox as an mbox file the
// way Dovecot does (mboxcl2: Content-Length, the body not quoted) with Status,
// X-Status, X-Keywords, X-UID and X-IMAPbase, so Dovecot serves it with the same
// UIDVALIDITY, UIDs, flags and keywords; `tern import mbox` and mutt read it too.
//
// `tern export maildir ADDRESS DIR` writes the account the other way: a
// Maildir++ tree Dovecot can serve with the same UIDVALIDITY, UIDs, flags,
// keywords, dates and subscriptions (a dovecot-uidlist and dovecot-keywords per
// folder, files with LF line ends and ",S=,W=" sizes, the mtime the INTERNALDATE),
// for a backup or for leaving tern. DIR must not exist or be empty. A mailbox
// whose name Maildir++ cannot hold (a '.' in a level) is reported and left out.
// Read only on the store; the tree is synced (syncfs) before the command returns.
//
// Exit status: 0 done, 1 no such user, a mailbox that holds mail (import),
// unreadable or unwritable files, a mailbox left out (export) or a store failure
// (what was done before stays), 2 usage.
#pragma once

#include <string>
#include <vector>

#include "domain/ports.hpp"

namespace tern::app {

// The usage lines of `tern import` and `tern export`, for the CLI's help.
extern const char* const kImportExportUsage;

// Runs `tern import FORMAT ARGS...`; `words` starts with the format.
int import_command(const std::vector<std::string>& words, domain::Storage& storage);

// Runs `tern export FORMAT ARGS...`; `words` starts with the format.
int export_command(const std::vector<std::string>& words, domain::Storage& storage);

}  // namespace tern::app
