// SPDX-License-Identifier: Apache-2.0
#include "imap/thread.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace tern::imap {
namespace {

ThreadMessage message(std::uint32_t n, std::int64_t sent, std::string subject, std::string id,
                      std::vector<std::string> references = {}, bool reply = false) {
  ThreadMessage m;
  m.number = n;
  m.msn = n;
  m.sent = sent;
  m.subject = std::move(subject);
  m.message_id = std::move(id);
  m.references = std::move(references);
  m.reply_or_forward = reply;
  return m;
}

// RFC 5256 §3 ORDEREDSUBJECT: by base subject, then date; the first message the
// root, the others its children; threads by their first message's date.
TEST(ImapThread, OrderedSubject) {
  std::vector<ThreadMessage> in = {
      message(1, 50, "B", ""), message(2, 10, "A", ""), message(3, 40, "A", ""),
      message(4, 20, "A", ""), message(5, 30, "C", ""), message(6, 60, "B", ""),
  };
  EXPECT_EQ(thread_ordered_subject(in), "(2 (4)(3))(5)(1 6)");
  EXPECT_EQ(thread_ordered_subject({}), "");
}

// RFC 5256 §3 REFERENCES steps (1)-(3): chains, siblings, and a dummy for a
// message that is referred to but not there.
TEST(ImapThread, ReferencesBuildsTreesFromTheReferences) {
  std::vector<ThreadMessage> in = {
      message(1, 10, "PLAN", "a@x"),
      message(2, 20, "PLAN", "b@x", {"a@x"}, true),
      message(3, 30, "PLAN", "c@x", {"a@x", "b@x"}, true),
      message(4, 25, "PLAN", "d@x", {"a@x"}, true),
      message(5, 5, "OTHER", "e@x", {"gone@x"}, true),
      message(6, 6, "OTHER", "f@x", {"gone@x"}, true),
      message(7, 7, "LONE", "g@x", {"gone2@x"}, true),
  };
  // 5 and 6 share a missing parent: a dummy at the top keeps them; 7's missing
  // parent has one child, which takes its place.
  EXPECT_EQ(thread_references(in), "((5)(6))(7)(1 (2 3)(4))");
}

TEST(ImapThread, ReferencesMergesThreadsWithTheSameSubject) {
  std::vector<ThreadMessage> in = {
      message(1, 10, "PLAN", "a@x"),
      message(2, 20, "PLAN", "b@x", {}, true),  // a reply by subject only
      message(3, 30, "LUNCH", "c@x"),
      message(4, 40, "LUNCH", "d@x"),  // neither a reply: both under a new dummy
  };
  EXPECT_EQ(thread_references(in), "(1 2)((3)(4))");
}

TEST(ImapThread, ReferencesSurvivesLoopsDuplicatesAndMissingIds) {
  std::vector<ThreadMessage> in = {
      message(1, 10, "A", "a@x", {"b@x"}),
      message(2, 20, "B", "b@x", {"a@x"}),  // would close a loop: not linked
      message(3, 30, "C", "a@x"),           // a duplicate id: a message of its own
      message(4, 40, "D", "", {"a@x", "a@x", "c@x"}),
      message(5, 50, "E", "e@x", {"e@x"}),  // refers to itself
  };
  const std::string out = thread_references(in);
  for (const char* n : {"1", "2", "3", "4", "5"}) {
    EXPECT_NE(out.find(n), std::string::npos) << out;
  }
  EXPECT_EQ(out, "(2 1 4)(3)(5)");
}

// A chain of replies as long as a large mailbox: no recursion as deep as the
// chain (the handler's thread would overflow its stack).
TEST(ImapThread, ReferencesHandlesAChainAsLongAsTheMailbox) {
  constexpr std::uint32_t kCount = 200000;
  std::vector<ThreadMessage> in;
  in.reserve(kCount);
  for (std::uint32_t n = 1; n <= kCount; ++n) {
    std::vector<std::string> refs;
    if (n > 1) {
      refs.push_back(std::to_string(n - 1) + "@x");
    }
    in.push_back(message(n, n, "S", std::to_string(n) + "@x", std::move(refs)));
  }
  const std::string out = thread_references(in);
  EXPECT_EQ(out.substr(0, 10), "(1 2 3 4 5");
  EXPECT_EQ(out.substr(out.size() - 8), " 200000)");
  EXPECT_EQ(std::count(out.begin(), out.end(), '('), 1);
}

}  // namespace
}  // namespace tern::imap
