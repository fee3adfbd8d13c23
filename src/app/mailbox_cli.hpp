// SPDX-License-Identifier: Apache-2.0
// `tern mailbox ...`: reading a mailbox's messages from the shell, while ternd
// runs (both open the same store). Read only: nothing here changes the store, so
// it is safe beside a running daemon on any backend (sqlite or postgres), and
// what it prints is what another process finds committed in the store.
//
//   cat ADDRESS [MAILBOX]    every message of the mailbox (default INBOX), in UID
//                            order, each framed as `git cat-file --batch` frames
//                            objects: a line "<uid> <size>\n", then exactly <size>
//                            raw bytes as stored, then "\n". The bytes are not
//                            escaped or converted (CRLF, NUL and 8-bit survive), so
//                            a reader splits the stream by the sizes, never by lines.
//
// The integration tests read mailboxes this way, so the same test proves delivery
// on every backend (issue #9).
//
// Exit status: 0 done (an empty mailbox prints nothing), 1 no such user or
// mailbox, or a store failure, 2 usage.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/ports.hpp"

namespace tern::app {

// The usage lines of `tern mailbox`, for the CLI's help.
extern const char* const kMailboxUsage;

// Runs `tern mailbox VERB ARGS...`; `words` starts with the verb. Messages go to
// `out` (standard output in the CLI; a binary stream).
int mailbox_command(const std::vector<std::string>& words, domain::Storage& storage,
                    std::FILE* out);

// What the commands that read or write one account's mail share
// (import_export_cli.cpp too):

// The account `address` names; kNotFound "no such user ..." when none.
Result<domain::Account> find_user(domain::Storage& storage, const std::string& address);

// The account's mailbox `name`, INBOX in any case being the INBOX (RFC 9051 §5.1);
// kNotFound naming both when there is none.
Result<domain::Mailbox> find_mailbox(domain::Storage& storage, const domain::Account& account,
                                     std::string_view name);

// Calls `on_entry` for each entry of `box` in UID order, reading kUidChunk at a
// time so a large mailbox never sits in memory whole. Only UIDs below the
// snapshot's uid_next: messages appended meanwhile are left for the next walk
// instead of chasing a tail. Stops at the first error `on_entry` returns.
Result<void> each_entry(domain::Storage& storage, domain::AccountId account,
                        const domain::Mailbox& box,
                        const std::function<Result<void>(const domain::Entry&)>& on_entry);

}  // namespace tern::app
