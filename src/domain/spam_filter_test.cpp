// SPDX-License-Identifier: Apache-2.0
#include "domain/spam_filter.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "domain/accounts.hpp"
#include "domain/delivery.hpp"
#include "domain/ids.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::domain {
namespace {

// Messages of two clearly different kinds, each a little different from the
// next so that every one is a message of its own.
std::string spammy(int i) {
  return "From: Deals <deals@offers.example>\r\nSubject: cheap pills discount " +
         std::to_string(i) +
         "\r\n\r\nbuy cheap pills now, online pharmacy discount, winner casino bonus "
         "offer number " +
         std::to_string(i) + "\r\n";
}

std::string hammy(int i) {
  return "From: Carol <carol@example.org>\r\nSubject: project meeting notes " + std::to_string(i) +
         "\r\n\r\nthe quarterly project meeting agenda, please review the minutes "
         "before thursday, item " +
         std::to_string(i) + "\r\n";
}

class SpamFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.directory().add_domain("example.org").get());
    alice_ = provision_account(store_, NewAccount{"alice@example.org", "x", 0})->id;
    bob_ = provision_account(store_, NewAccount{"bob@example.org", "x", 0})->id;
  }

  void teach(std::optional<AccountId> account, int count, SpamLabel label) {
    for (int i = 0; i < count; ++i) {
      std::string raw = label == SpamLabel::kSpam ? spammy(i) : hammy(i);
      auto learned =
          store_.spam().learn_spam(lesson_of(account, raw, sha256_hex(raw), label)).get();
      ASSERT_TRUE(learned);
      EXPECT_EQ(*learned, SpamLearned::kLearned);
    }
  }

  Mailbox box_named(AccountId account, std::string_view name) {
    auto boxes = store_.mail().mailboxes(account).get();
    for (const auto& box : *boxes) {
      if (box.name == name) {
        return box;
      }
    }
    ADD_FAILURE() << "no mailbox " << name;
    return {};
  }

  std::size_t count_in(AccountId account, std::string_view name) {
    auto entries =
        store_.mail().entries(account, box_named(account, name).id, Uid{1}, Uid{0xffffffffu}).get();
    return entries ? entries->size() : 0;
  }

  store::memory::MemoryStorage store_;
  AccountId alice_{};
  AccountId bob_{};
};

TEST_F(SpamFilterTest, LessonOfMoveIntoAndOutOfJunk) {
  Mailbox inbox{};
  inbox.name = "INBOX";
  Mailbox junk{};
  junk.name = "Spam";
  junk.special_use = SpecialUse::kJunk;
  Mailbox named_junk{};
  named_junk.name = "Junk";  // no special use: the name decides, as for delivery
  Mailbox trash{};
  trash.name = "Deleted";
  trash.special_use = SpecialUse::kTrash;
  Mailbox archive{};
  archive.name = "Archive";
  archive.special_use = SpecialUse::kArchive;

  EXPECT_EQ(lesson_of_move(inbox, junk), SpamLabel::kSpam);
  EXPECT_EQ(lesson_of_move(archive, named_junk), SpamLabel::kSpam);
  EXPECT_EQ(lesson_of_move(junk, inbox), SpamLabel::kHam);
  EXPECT_EQ(lesson_of_move(named_junk, archive), SpamLabel::kHam);
  EXPECT_EQ(lesson_of_move(inbox, archive), SpamLabel::kHam);  // filed: wanted
  EXPECT_EQ(lesson_of_move(trash, inbox), SpamLabel::kHam);
  EXPECT_EQ(lesson_of_move(junk, trash), std::nullopt);  // deleting says nothing
  EXPECT_EQ(lesson_of_move(inbox, trash), std::nullopt);
  EXPECT_EQ(lesson_of_move(junk, named_junk), std::nullopt);
  Mailbox spam_folder{};
  spam_folder.name = "Spam";
  EXPECT_EQ(lesson_of_move(inbox, spam_folder), SpamLabel::kSpam);
}

TEST_F(SpamFilterTest, LessonOfJunkKeywords) {
  EXPECT_EQ(label_of_keyword("$Junk"), SpamLabel::kSpam);
  EXPECT_EQ(label_of_keyword("$junk"), SpamLabel::kSpam);  // keywords ignore case
  EXPECT_EQ(label_of_keyword("Junk"), SpamLabel::kSpam);   // older Thunderbird
  EXPECT_EQ(label_of_keyword("$NotJunk"), SpamLabel::kHam);
  EXPECT_EQ(label_of_keyword("$NOTJUNK"), SpamLabel::kHam);
  EXPECT_EQ(label_of_keyword("NonJunk"), SpamLabel::kHam);
  EXPECT_EQ(label_of_keyword("NotJunk"), SpamLabel::kHam);
  EXPECT_EQ(label_of_keyword("$Junkish"), std::nullopt);
  EXPECT_EQ(label_of_keyword("$Phishing"), std::nullopt);
  EXPECT_EQ(label_of_keyword(""), std::nullopt);

  using Keywords = std::vector<std::string>;
  EXPECT_EQ(lesson_of_keywords(Keywords{"$Junk"}), SpamLabel::kSpam);
  EXPECT_EQ(lesson_of_keywords(Keywords{"$label1", "junk"}), SpamLabel::kSpam);
  EXPECT_EQ(lesson_of_keywords(Keywords{"$NotJunk", "NonJunk"}), SpamLabel::kHam);
  EXPECT_EQ(lesson_of_keywords(Keywords{"$Junk", "Junk"}), SpamLabel::kSpam);
  EXPECT_EQ(lesson_of_keywords(Keywords{"$Junk", "$NotJunk"}), std::nullopt);  // contradiction
  EXPECT_EQ(lesson_of_keywords(Keywords{"$Forwarded"}), std::nullopt);
  EXPECT_EQ(lesson_of_keywords(Keywords{}), std::nullopt);
}

TEST_F(SpamFilterTest, SiteAndAccountCountsAreSummed) {
  teach(std::nullopt, 3, SpamLabel::kSpam);
  teach(alice_, 2, SpamLabel::kSpam);
  teach(alice_, 4, SpamLabel::kHam);
  const std::string message = spammy(0);
  LazyTokens tokens(message);
  auto model = spam_model_for(store_.spam(), alice_, tokens, 0);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->spam_messages, 5u);
  EXPECT_EQ(model->ham_messages, 4u);
  // A word of every spammy message: once per lesson in both models.
  auto pills = model->tokens.find(spam::token_hash("pills"));
  ASSERT_NE(pills, model->tokens.end());
  EXPECT_EQ(pills->second.spam, 5u);
  EXPECT_EQ(pills->second.ham, 0u);

  // bob sees the site's model only.
  auto bobs = spam_model_for(store_.spam(), bob_, tokens, 0);
  ASSERT_TRUE(bobs);
  EXPECT_EQ(bobs->spam_messages, 3u);
  EXPECT_EQ(bobs->ham_messages, 0u);
}

TEST_F(SpamFilterTest, ClassifiesOnceTrained) {
  SpamPolicy options;  // no totals cache: every classification reads the store
  const std::string spam_message = spammy(50);
  const std::string ham_message = hammy(50);
  LazyTokens spam_tokens(spam_message);
  LazyTokens ham_tokens(ham_message);
  auto untrained = classify_for(store_.spam(), alice_, spam_tokens, options, {});
  ASSERT_TRUE(untrained);
  EXPECT_EQ(untrained->verdict, spam::Class::kUntrained);
  EXPECT_FALSE(spam_tokens.tokenized());  // no model could decide: not read at all

  teach(std::nullopt, 12, SpamLabel::kSpam);
  teach(std::nullopt, 12, SpamLabel::kHam);
  auto spam = classify_for(store_.spam(), alice_, spam_tokens, options, {});
  ASSERT_TRUE(spam);
  EXPECT_EQ(spam->verdict, spam::Class::kSpam) << spam->score;
  auto ham = classify_for(store_.spam(), alice_, ham_tokens, options, {});
  ASSERT_TRUE(ham);
  EXPECT_EQ(ham->verdict, spam::Class::kHam) << ham->score;
}

TEST_F(SpamFilterTest, TotalsCacheSkipsReadsUntilItsLessonsOrTtl) {
  SpamPolicy policy;
  policy.totals = std::make_shared<SpamTotalsCache>(std::chrono::seconds(10));
  const SystemTime t0 = SystemTime{} + std::chrono::hours(1000);
  const std::string message = spammy(60);
  auto verdict_at = [&](SystemTime now) {
    LazyTokens tokens(message);
    auto verdict = classify_for(store_.spam(), alice_, tokens, policy, now);
    EXPECT_TRUE(verdict);
    return verdict ? verdict->verdict : spam::Class::kUntrained;
  };
  EXPECT_EQ(verdict_at(t0), spam::Class::kUntrained);  // both totals cached as empty

  // Another process trains the site (straight into the store): not seen until
  // the cached totals are older than the ttl.
  teach(std::nullopt, 12, SpamLabel::kSpam);
  teach(std::nullopt, 12, SpamLabel::kHam);
  EXPECT_EQ(verdict_at(t0 + std::chrono::seconds(5)), spam::Class::kUntrained);
  EXPECT_EQ(verdict_at(t0 + std::chrono::seconds(11)), spam::Class::kSpam);

  // A lesson this process teaches drops the model's entry at once.
  auto cache = policy.totals.get();
  EXPECT_TRUE(cache->get(alice_, t0 + std::chrono::seconds(11)));
  std::vector<LocalRecipient> to{{alice_, "alice@example.org", ""}};
  ASSERT_TRUE(deliver(store_, NewMessage{hammy(7), {}, {}}, to, DeliveryFolder::kInbox));
  auto entries =
      store_.mail().entries(alice_, box_named(alice_, "INBOX").id, Uid{1}, Uid{0xffffffffu}).get();
  ASSERT_TRUE(entries);
  ASSERT_TRUE(learn_entries(store_, alice_, *entries, SpamLabel::kHam, 10, cache));
  EXPECT_FALSE(cache->get(alice_, t0 + std::chrono::seconds(11)));
  EXPECT_TRUE(cache->get(std::nullopt, t0 + std::chrono::seconds(11)));
}

TEST_F(SpamFilterTest, DeliveryFilesSpamIntoJunk) {
  teach(std::nullopt, 12, SpamLabel::kSpam);
  teach(std::nullopt, 12, SpamLabel::kHam);
  SpamPolicy policy;
  Filtering filtering;
  filtering.spam = &policy;
  std::vector<LocalRecipient> to{{alice_, "alice@example.org", ""}, {bob_, "bob@example.org", ""}};
  std::vector<FilterReport> reports;
  auto spam = deliver(store_, NewMessage{spammy(77), {}, {}}, to, DeliveryFolder::kInbox,
                      &filtering, &reports);
  ASSERT_TRUE(spam);
  ASSERT_TRUE((*spam)[0].result);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].spam, spam::Class::kSpam);
  EXPECT_GE(reports[0].spam_score, 0.9);
  EXPECT_EQ(reports[0].mailboxes, std::vector<std::string>{"Junk"});
  EXPECT_EQ(count_in(alice_, "Junk"), 1u);
  EXPECT_EQ(count_in(bob_, "Junk"), 1u);
  EXPECT_EQ(count_in(alice_, "INBOX"), 0u);

  auto ham = deliver(store_, NewMessage{hammy(77), {}, {}}, to, DeliveryFolder::kInbox, &filtering,
                     &reports);
  ASSERT_TRUE(ham);
  EXPECT_EQ(reports[0].spam, spam::Class::kHam);
  EXPECT_EQ(count_in(alice_, "INBOX"), 1u);

  // Classification off: the INBOX, and no verdict.
  policy.classify = false;
  auto off = deliver(store_, NewMessage{spammy(78), {}, {}}, to, DeliveryFolder::kInbox, &filtering,
                     &reports);
  ASSERT_TRUE(off);
  EXPECT_EQ(reports[0].spam, spam::Class::kUntrained);
  EXPECT_EQ(count_in(alice_, "INBOX"), 2u);
}

TEST_F(SpamFilterTest, ExplicitFileintoWinsOverTheVerdict) {
  teach(std::nullopt, 12, SpamLabel::kSpam);
  teach(std::nullopt, 12, SpamLabel::kHam);
  ASSERT_TRUE(store_.mail().create_mailbox(alice_, "Deals", SpecialUse::kNone).get());
  ASSERT_TRUE(store_.directory()
                  .put_sieve_script(alice_, "main",
                                    "require \"fileinto\";\n"
                                    "if header :contains \"from\" \"offers.example\" "
                                    "{ fileinto \"Deals\"; }\n")
                  .get());
  ASSERT_TRUE(store_.directory().activate_sieve_script(alice_, "main").get());
  SpamPolicy policy;
  Filtering filtering;
  filtering.spam = &policy;
  std::vector<LocalRecipient> to{{alice_, "alice@example.org", ""}};
  std::vector<FilterReport> reports;
  ASSERT_TRUE(deliver(store_, NewMessage{spammy(90), {}, {}}, to, DeliveryFolder::kInbox,
                      &filtering, &reports));
  EXPECT_EQ(reports[0].spam, spam::Class::kSpam);
  EXPECT_EQ(count_in(alice_, "Deals"), 1u);
  EXPECT_EQ(count_in(alice_, "Junk"), 0u);
}

TEST_F(SpamFilterTest, SpamtestSeesTheScore) {
  ASSERT_TRUE(
      store_.directory()
          .put_sieve_script(alice_, "main",
                            "require [\"spamtestplus\", \"fileinto\", \"mailbox\", "
                            "\"relational\", \"comparator-i;ascii-numeric\"];\n"
                            "if spamtest :value \"eq\" :comparator \"i;ascii-numeric\" "
                            "\"0\" { fileinto :create \"Untested\"; stop; }\n"
                            "if spamtest :percent :value \"ge\" :comparator "
                            "\"i;ascii-numeric\" \"50\" { fileinto :create \"Suspect\"; }\n")
          .get());
  ASSERT_TRUE(store_.directory().activate_sieve_script(alice_, "main").get());
  SpamPolicy policy;
  Filtering filtering;
  filtering.spam = &policy;
  std::vector<LocalRecipient> to{{alice_, "alice@example.org", ""}};
  ASSERT_TRUE(
      deliver(store_, NewMessage{spammy(90), {}, {}}, to, DeliveryFolder::kInbox, &filtering));
  EXPECT_EQ(count_in(alice_, "Untested"), 1u);  // no model yet

  teach(std::nullopt, 12, SpamLabel::kSpam);
  teach(std::nullopt, 12, SpamLabel::kHam);
  ASSERT_TRUE(
      deliver(store_, NewMessage{spammy(91), {}, {}}, to, DeliveryFolder::kInbox, &filtering));
  ASSERT_TRUE(
      deliver(store_, NewMessage{hammy(91), {}, {}}, to, DeliveryFolder::kInbox, &filtering));
  EXPECT_EQ(count_in(alice_, "Suspect"), 1u);
  EXPECT_EQ(count_in(alice_, "INBOX"), 1u);
  EXPECT_EQ(count_in(alice_, "Untested"), 1u);
}

TEST_F(SpamFilterTest, LearnEntriesCountsAndCaps) {
  std::vector<LocalRecipient> to{{alice_, "alice@example.org", ""}};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(deliver(store_, NewMessage{spammy(i), {}, {}}, to, DeliveryFolder::kInbox));
  }
  auto inbox = box_named(alice_, "INBOX");
  auto entries = store_.mail().entries(alice_, inbox.id, Uid{1}, Uid{0xffffffffu}).get();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 3u);

  auto first = learn_entries(store_, alice_, *entries, SpamLabel::kSpam, 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->learned, 2u);
  EXPECT_EQ(first->skipped, 1u);
  auto again = learn_entries(store_, alice_, *entries, SpamLabel::kSpam, 10);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->unchanged, 2u);
  EXPECT_EQ(again->learned, 1u);
  auto back = learn_entries(store_, alice_, *entries, SpamLabel::kHam, 10);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->relearned, 3u);
  auto stats = store_.spam().spam_stats(alice_).get();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->spam_messages, 0u);
  EXPECT_EQ(stats->ham_messages, 3u);
  // The key is the stored bytes' SHA-256, as a file trained with `tern spam
  // train` is keyed: the same message is one lesson either way.
  EXPECT_EQ((*entries)[0].blob.hex, sha256_hex(spammy(0)));
}

}  // namespace
}  // namespace tern::domain
