// SPDX-License-Identifier: Apache-2.0
// The THREAD algorithms of RFC 5256 §3, ORDEREDSUBJECT and REFERENCES, over values
// the caller has read from the messages: pure functions, no store, no parsing of
// messages (the handler reads ENVELOPEs and headers; mime computes base subjects
// and message ids).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tern::imap {

// One searched message, as the threading algorithms see it.
struct ThreadMessage {
  std::uint32_t number = 0;       // what the response lists: the MSN, or the UID for UID THREAD
  std::uint32_t msn = 0;          // the mailbox order, the last tie-breaker
  std::int64_t sent = 0;          // RFC 5256 §2.2 sent date, Unix seconds
  std::string subject;            // the base subject's collation key (i;unicode-casemap)
  bool reply_or_forward = false;  // its base subject extraction removed an artifact
  std::string message_id;         // normalized; "" when there is none or it is invalid
  // The References ids in order, or, without any, the first In-Reply-To id.
  std::vector<std::string> references;
};

// The threads as the THREAD response lists them after "THREAD": a thread-list per
// thread, "(1 2 (3)(4))" (RFC 5256 §5). "" for no messages.
//
// ORDEREDSUBJECT: messages grouped by base subject, each group by sent date (the
// first is the root, the others its children), groups by their first message's
// sent date.
std::string thread_ordered_subject(std::vector<ThreadMessage> messages);

// REFERENCES: parent/child links from the references (steps 1-3), the roots by
// sent date (4), threads with the same base subject merged (5), every set of
// siblings by sent date (6). Linear in the messages and references, apart from
// the sorts and the loop checks (each the smaller of the depth above the new
// parent and the subtree below the new child). No recursion: a chain of replies
// may be as long as the mailbox.
std::string thread_references(std::vector<ThreadMessage> messages);

}  // namespace tern::imap
