// SPDX-License-Identifier: Apache-2.0
#include "services/imap/mailbox_view.hpp"

#include <gtest/gtest.h>

#include "services/imap/change_hub.hpp"

namespace tern::services::imap {
namespace {

using domain::Uid;

domain::Entry entry(std::uint32_t uid, std::uint64_t modseq, domain::Flags flags = 0) {
  domain::Entry e;
  e.uid = Uid{uid};
  e.modseq = domain::ModSeq{modseq};
  e.flags = flags;
  return e;
}

MailboxView view_of(std::vector<std::uint32_t> uids) {
  domain::Mailbox mailbox;
  mailbox.highest_modseq = domain::ModSeq{10};
  std::vector<domain::Entry> entries;
  for (auto u : uids) {
    entries.push_back(entry(u, 5));
  }
  MailboxView view;
  view.reset(mailbox, entries, false);
  return view;
}

TEST(MailboxViewTest, MsnUidMap) {
  auto view = view_of({3, 5, 9});
  EXPECT_EQ(view.exists(), 3u);
  EXPECT_EQ(view.uid_at(2), Uid{5});
  EXPECT_EQ(view.msn_of(Uid{9}), 3u);
  EXPECT_FALSE(view.msn_of(Uid{4}));
}

TEST(MailboxViewTest, ResolveMsnAndUidSets) {
  auto view = view_of({3, 5, 9});
  auto all = view.resolve(*tern::imap::SequenceSet::parse("1:*"), false);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  // RFC 9051 §6.4.8: UIDs not in the mailbox are skipped, "*" is the highest UID.
  auto uids = view.resolve(*tern::imap::SequenceSet::parse("4:*"), true);
  ASSERT_TRUE(uids);
  ASSERT_EQ(uids->size(), 2u);
  EXPECT_EQ((*uids)[0], std::make_pair(2u, Uid{5}));
  // An MSN beyond EXISTS is an error; "*" of an empty mailbox too.
  EXPECT_FALSE(view.resolve(*tern::imap::SequenceSet::parse("4"), false));
  EXPECT_FALSE(view_of({}).resolve(*tern::imap::SequenceSet::parse("*"), false));
  EXPECT_TRUE(view_of({}).resolve(*tern::imap::SequenceSet::parse("1:*"), true)->empty());
  EXPECT_FALSE(view.resolve(*tern::imap::SequenceSet::parse("$"), true));
}

// RFC 9051 §7.3.5: FLAGS lists the mailbox's keywords and is resent, before the
// responses that use it, when a change brings a keyword the client was not told of.
TEST(MailboxViewTest, NewKeywordsResendFlagsFirst) {
  domain::Mailbox mailbox;
  mailbox.keywords = {"$Work"};
  auto stray = entry(2, 5);
  stray.keywords = {"$Junk"};  // a backend that predates Mailbox::keywords
  MailboxView view;
  view.reset(mailbox, {entry(1, 5), stray}, false);
  EXPECT_EQ(view.keywords(), (std::vector<std::string>{"$Junk", "$Work"}));
  EXPECT_FALSE(view.take_new_keywords());
  auto lines = view.flags_responses();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk $Work)");
  EXPECT_EQ(lines[1],
            "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk $Work "
            "\\*)] flags permitted");

  domain::MailboxChanges changes;
  auto flagged = entry(1, 11);
  flagged.keywords = {"$Work"};  // known: nothing to resend
  changes.changed = {flagged};
  EXPECT_EQ(view.sync(changes, true), std::vector<std::string>{"1 FETCH (UID 1 FLAGS ($Work))"});

  auto added = entry(3, 12);
  added.keywords = {"new"};
  changes.changed = {added};
  auto out = view.sync(changes, true);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk $Work new)");
  EXPECT_EQ(out[2], "3 EXISTS");

  // An own change: the caller sends the responses (take_new_keywords()).
  auto own = entry(2, 13);
  own.keywords = {"mine"};
  view.saw_own_change(own);
  EXPECT_TRUE(view.take_new_keywords());
  EXPECT_FALSE(view.take_new_keywords());
}

TEST(MailboxViewTest, ReadOnlyViewsPermitNoFlags) {
  domain::Mailbox mailbox;
  mailbox.keywords = {"k"};
  MailboxView view;
  view.reset(mailbox, {}, true);
  EXPECT_EQ(view.flags_responses()[1], "OK [PERMANENTFLAGS ()] read-only mailbox");
}

TEST(MailboxViewTest, ExpungesWaitUntilAllowed) {
  auto view = view_of({3, 5, 9});
  domain::MailboxChanges changes;
  changes.vanished = {Uid{3}, Uid{9}};
  changes.highest = domain::ModSeq{12};
  // During FETCH/STORE/SEARCH: nothing is announced and MSNs stay put.
  EXPECT_TRUE(view.sync(changes, false).empty());
  EXPECT_EQ(view.exists(), 3u);
  EXPECT_TRUE(view.is_expunged(Uid{3}));
  EXPECT_EQ(view.msn_of(Uid{5}), 2u);
  // Later, with nothing new in the store, the pending expunges go out, each MSN
  // computed after the previous removal.
  domain::MailboxChanges none;
  none.highest = domain::ModSeq{12};
  EXPECT_EQ(view.sync(none, true), (std::vector<std::string>{"1 EXPUNGE", "2 EXPUNGE"}));
  EXPECT_EQ(view.exists(), 1u);
  EXPECT_EQ(view.msn_of(Uid{5}), 1u);
}

TEST(MailboxViewTest, NewMessagesAndFlagChanges) {
  auto view = view_of({3, 5});
  domain::MailboxChanges changes;
  changes.changed = {entry(11, 14), entry(5, 13, domain::kFlagSeen), entry(10, 12)};
  changes.highest = domain::ModSeq{14};
  EXPECT_EQ(view.sync(changes, true),
            (std::vector<std::string>{"2 FETCH (UID 5 FLAGS (\\Seen))", "4 EXISTS"}));
  EXPECT_EQ(view.msn_of(Uid{10}), 3u);
  EXPECT_EQ(view.highest_modseq(), domain::ModSeq{14});
  // The session's own STORE is not announced twice.
  view.saw_own_change(entry(3, 15, domain::kFlagFlagged));
  domain::MailboxChanges own;
  own.changed = {entry(3, 15, domain::kFlagFlagged)};
  own.highest = domain::ModSeq{15};
  EXPECT_TRUE(view.sync(own, true).empty());
}

TEST(MailboxViewTest, FormatFlags) {
  EXPECT_EQ(format_flags(domain::kFlagSeen | domain::kFlagDeleted, {"$Junk"}),
            "\\Seen \\Deleted $Junk");
  EXPECT_EQ(format_flags(0, {}), "");
  EXPECT_EQ(format_flags(domain::kFlagSeen, {}, true), "\\Recent \\Seen");
}

TEST(MailboxViewTest, RecentRangesAndRemoval) {
  auto view = view_of({3, 5, 7, 9});
  view.add_recent(Uid{4}, Uid{7});  // 5 and 7
  view.add_recent(Uid{6}, Uid{9});  // 7 again and 9: no duplicate
  EXPECT_EQ(view.recent_count(), 3u);
  EXPECT_FALSE(view.is_recent(Uid{3}));
  EXPECT_TRUE(view.is_recent(Uid{9}));
  EXPECT_EQ(view.flags_of(entry(5, 1, domain::kFlagSeen)), "\\Recent \\Seen");
  view.remove(Uid{7});
  EXPECT_EQ(view.recent_count(), 2u);
  view.add_recent(Uid{9}, Uid{9});  // an empty range
  EXPECT_EQ(view.recent_count(), 2u);
}

TEST(ChangeHubTest, RecentClaimsAreExclusive) {
  ChangeHub hub;
  domain::MailboxId box{7};
  EXPECT_EQ(hub.recent_claimed(box), Uid{0});
  EXPECT_EQ(hub.claim_recent(box, Uid{5}), Uid{0});  // first claimer gets 1..5
  EXPECT_EQ(hub.claim_recent(box, Uid{5}), Uid{5});  // the next gets nothing
  EXPECT_EQ(hub.claim_recent(box, Uid{3}), Uid{5});  // never lowered
  EXPECT_EQ(hub.recent_claimed(box), Uid{5});
  EXPECT_EQ(hub.recent_claimed(domain::MailboxId{8}), Uid{0});
}

}  // namespace
}  // namespace tern::services::imap
