// SPDX-License-Identifier: Apache-2.0
// `tern sieve ...`: an account's Sieve scripts (RFC 5228) from the shell, as a
// ManageSieve client (RFC 5804) manages them, while ternd runs (both open the
// same store; delivery reads the active script at each message).
//
//   list ADDRESS                 one line per script, by name; " ACTIVE" after the
//                                active one
//   put ADDRESS NAME FILE [--activate]
//                                stores FILE (- = standard input) as script NAME,
//                                replacing one of that name (which stays active if
//                                it was). The script is compiled first, as
//                                PUTSCRIPT checks it: one that does not compile is
//                                refused with the compiler's "line N: ..." and
//                                nothing is stored
//   get ADDRESS NAME             the script's text, as stored
//   activate ADDRESS NAME        makes it the one delivery runs
//   deactivate ADDRESS           no script runs (delivery keeps every message)
//   rename ADDRESS OLD NEW       keeps the text and the active state
//   del ADDRESS NAME             refused for the active script, as DELETESCRIPT is
//
//   test SCRIPT MESSAGE [--from ADDR] [--to ADDR] [--mailbox NAME]... [--spam-score N]
//                                needs no config or store: runs SCRIPT on the
//                                message in file MESSAGE and prints what delivery
//                                would do, one action a line, in a fixed form that
//                                tests compare with Dovecot Pigeonhole's sieve-test:
//                                  store "MAILBOX" [flags: FLAG...]   (keep: "INBOX")
//                                  redirect "ADDRESS"
//                                  discard
//                                  vacation
//                                MAILBOX and ADDRESS are quoted as Sieve strings
//                                ('"' and '\' escaped); flags are listed once
//                                each and sorted ignoring case, system flags
//                                spelled as in RFC 9051 (\Seen). A runtime error
//                                is printed as "error: ..." on standard error
//                                first (the actions are then the implicit keep
//                                and a vacation that ran before the error).
//                                --from and --to are the envelope (defaults
//                                sender@example.com, recipient@example.com); INBOX
//                                and each --mailbox exist for `mailboxexists`.
//                                --spam-score N (0 to 100, decimals allowed) is
//                                the spam filter's score in percent, which
//                                `spamtest` reads (sieve::Environment::spam_score
//                                = N / 100); without it the message counts as not
//                                tested for spam, as for an untrained model.
//
// Exit status: 0 done, 1 no such user or script, a script that does not compile,
// a refused change or a store failure, 2 usage.
#pragma once

#include <string>
#include <vector>

#include "domain/ports.hpp"

namespace tern::app {

// The usage lines of `tern sieve`, for the CLI's help.
extern const char* const kSieveUsage;

// Runs `tern sieve VERB ARGS...` on the store; `words` starts with the verb.
// Not `test` (sieve_test_command, which needs no store).
int sieve_command(const std::vector<std::string>& words, domain::Storage& storage);

// Runs `tern sieve test ARGS...`; `words` are the arguments after "test".
int sieve_test_command(const std::vector<std::string>& words);

}  // namespace tern::app
