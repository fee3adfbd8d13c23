// SPDX-License-Identifier: Apache-2.0
// `tern spam ...`: the built-in spam filter's models from the shell, while ternd
// runs (both open the same store; delivery reads the models at each message).
// MODEL is an account's address, or --site for the site-wide model every
// account's verdicts also use (domain/spam_filter.hpp).
//
//   train MODEL --spam|--ham PATH...
//                  teaches the model each message of PATH: a file holding one
//                  message, or a directory walked recursively (a Maildir, the
//                  SpamAssassin corpus), skipping dot files and Dovecot's and
//                  Maildir's own files. A message already learned with that label
//                  is not counted twice; one learned with the other label moves.
//   train ADDRESS --spam|--ham --mailbox NAME
//                  teaches the account's model the messages of its mailbox NAME
//                  (after an import: Junk as spam, the INBOX as ham)
//   check [ADDRESS] FILE
//                  the verdict on the message in FILE (- = standard input) with
//                  the site's model and, given ADDRESS, the account's, as delivery
//                  would classify it: "spam 0.998" (the class and the score), then
//                  the most telling tokens, one a line, with their spam probability
//   stats [MODEL]  messages learned as spam and as ham, and distinct tokens
//                  (default --site)
//   reset MODEL    empties the model
//
// Exit status: 0 done, 1 no such user or mailbox, an unreadable file or a store
// failure, 2 usage.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"
#include "domain/ports.hpp"

namespace tern::app {

// The usage lines of `tern spam`, for the CLI's help.
extern const char* const kSpamUsage;

// Runs `tern spam VERB ARGS...` on the store; `words` starts with the verb.
int spam_command(const std::vector<std::string>& words, const config::SpamSettings& settings,
                 domain::Storage& storage);

}  // namespace tern::app
