// SPDX-License-Identifier: Apache-2.0
// The import conformance suite: what every backend's domain::StoreImport (the
// port `tern migrate` writes through, domain/store_import.hpp) must do, checked
// on memory, sqlite and postgres alike, so migrate's semantics are testable in
// process without a database.
//
// It uses the StorageConformance factories (storage_conformance.hpp): the store
// they make must also be a domain::StoreImport, or every case fails. One line per
// backend:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ImportConformance,
//                                  ::testing::Types<MemoryFactory>);
//
// Covered: an imported mailbox takes its counters (over the empty INBOX or as a
// new mailbox) and later mailboxes still get larger UIDVALIDITYs; a mailbox with
// mail refuses it; imported messages keep UID, modseq, flags, keywords and save
// date, one message in several mailboxes, counted in usage per entry, with the
// contract's refusals changing nothing; imported change-log rows and tombstones
// answer account_changes_since()/changes_since(), and the next change gets a
// modseq above the imported counter; queue entries keep their state, active ones
// arrive queued; recorded report rows add up; spam models export raw (tokens
// with the top bit set, learned keys of both labels, the site's and an
// account's) and import replacing the model, refusals changing nothing.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "domain/ports.hpp"
#include "domain/store_import.hpp"
#include "store/conformance/conformance_support.hpp"

namespace tern::store::conformance {

template <class Factory>
class ImportConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = factory_.make();
    if (!storage_) {
      GTEST_SKIP() << "backend not available";
    }
    import_ = dynamic_cast<domain::StoreImport*>(storage_.get());
    ASSERT_NE(import_, nullptr) << "the backend does not implement domain::StoreImport";
  }

  void TearDown() override { storage_.reset(); }

  domain::MailStore& mail() { return storage_->mail(); }

  domain::StoreImport& import() { return *import_; }

  // example.com and bob@example.com with his (empty) INBOX, as migrate creates them.
  domain::Account make_bob() {
    EXPECT_TRUE(wait(storage_->directory().add_domain("example.com")));
    auto bob = wait(storage_->directory().add_account({"bob@example.com", "hash", 0}));
    EXPECT_TRUE(bob) << bob.error().message;
    return bob ? *bob : domain::Account{};
  }

  domain::Mailbox inbox(domain::AccountId account) {
    auto boxes = wait(mail().mailboxes(account));
    EXPECT_TRUE(boxes && !boxes->empty());
    return boxes && !boxes->empty() ? boxes->front() : domain::Mailbox{};
  }

  // A source mailbox as migrate reads it from the old store.
  static domain::Mailbox source_mailbox(const std::string& name, std::uint32_t uid_validity,
                                        std::uint32_t uid_next, std::uint64_t highest) {
    domain::Mailbox box;
    box.name = name;
    box.uid_validity = domain::UidValidity{uid_validity};
    box.uid_next = domain::Uid{uid_next};
    box.highest_modseq = domain::ModSeq{highest};
    box.subscribed = true;
    box.keywords = {"$Work"};
    return box;
  }

  static domain::ImportEntry entry(domain::MailboxId box, std::uint32_t uid, std::uint64_t modseq) {
    return domain::ImportEntry{
        box, domain::Uid{uid}, domain::ModSeq{modseq}, domain::kFlagSeen, {"$Work"}, fixed_time()};
  }

  std::vector<domain::Entry> all_entries(domain::AccountId account, domain::MailboxId box) {
    auto entries = wait(mail().entries(account, box, domain::Uid{1}, domain::Uid{0xffffffffu}));
    EXPECT_TRUE(entries) << entries.error().message;
    return entries ? *entries : std::vector<domain::Entry>{};
  }

  Factory factory_;
  std::unique_ptr<domain::Storage> storage_;
  domain::StoreImport* import_ = nullptr;
};

TYPED_TEST_SUITE_P(ImportConformance);

TYPED_TEST_P(ImportConformance, AMailboxKeepsItsCountersAndLaterOnesStayUnique) {
  namespace d = ::tern::domain;
  auto bob = this->make_bob();
  const auto inbox = this->inbox(bob.id);
  // The empty INBOX add_account made takes the source's values, keeping its id.
  auto imported =
      wait(this->import().import_mailbox(bob.id, this->source_mailbox("INBOX", 1234, 50, 90)));
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->id, inbox.id);
  EXPECT_EQ(imported->account, bob.id);
  EXPECT_EQ(imported->uid_validity, d::UidValidity{1234});
  EXPECT_EQ(imported->uid_next, d::Uid{50});
  EXPECT_EQ(imported->highest_modseq, d::ModSeq{90});
  EXPECT_TRUE(imported->subscribed);
  EXPECT_EQ(imported->keywords, std::vector<std::string>{"$Work"});
  // Another name: a new mailbox with exactly those values.
  auto archive = this->source_mailbox("Archive", 5000000, 7, 12);
  archive.special_use = d::SpecialUse::kArchive;
  archive.subscribed = false;
  auto made = wait(this->import().import_mailbox(bob.id, archive));
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_NE(made->id, inbox.id);
  EXPECT_EQ(made->name, "Archive");
  EXPECT_EQ(made->special_use, d::SpecialUse::kArchive);
  EXPECT_FALSE(made->subscribed);
  auto listed = wait(this->mail().mailboxes(bob.id));
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "Archive");
  EXPECT_EQ((*listed)[0].uid_validity, d::UidValidity{5000000});
  EXPECT_EQ((*listed)[0].uid_next, d::Uid{7});
  // RFC 9051 §2.3.1.1: a mailbox created afterwards gets a UIDVALIDITY above
  // every imported one.
  auto later = wait(this->mail().create_mailbox(bob.id, "Later", d::SpecialUse::kNone));
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_GT(d::value_of(later->uid_validity), 5000000u);
  // No such account.
  auto nobody =
      wait(this->import().import_mailbox(d::AccountId{987654}, this->source_mailbox("X", 1, 1, 0)));
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, ErrorCode::kNotFound);
}

TYPED_TEST_P(ImportConformance, AMailboxThatHoldsMailIsNotOverwritten) {
  namespace d = ::tern::domain;
  auto bob = this->make_bob();
  const auto inbox = this->inbox(bob.id);
  ASSERT_TRUE(wait(this->mail().append(make_message("held"), {{bob.id, inbox.id, 0, {}}})));
  auto again = wait(this->import().import_mailbox(bob.id, this->source_mailbox("INBOX", 9, 50, 9)));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(this->inbox(bob.id).uid_validity, d::UidValidity{9});
}

TYPED_TEST_P(ImportConformance, MessagesKeepUidModseqFlagsAndDatesInEveryMailbox) {
  namespace d = ::tern::domain;
  auto bob = this->make_bob();
  auto inbox =
      wait(this->import().import_mailbox(bob.id, this->source_mailbox("INBOX", 10, 50, 90)));
  auto work = wait(this->import().import_mailbox(bob.id, this->source_mailbox("Work", 11, 5, 80)));
  ASSERT_TRUE(inbox && work);
  // One message in two mailboxes, as a copy in the source left it.
  auto message = wait(this->import().import_message(
      bob.id, make_message("imp"), {this->entry(inbox->id, 7, 80), this->entry(work->id, 3, 81)}));
  ASSERT_TRUE(message) << message.error().message;
  for (auto [box, uid, modseq] : {std::tuple{inbox->id, 7u, 80u}, std::tuple{work->id, 3u, 81u}}) {
    auto entries = this->all_entries(bob.id, box);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].uid, d::Uid{uid});
    EXPECT_EQ(entries[0].modseq, d::ModSeq{modseq});
    EXPECT_EQ(entries[0].message, *message);
    EXPECT_EQ(entries[0].flags, d::kFlagSeen);
    EXPECT_EQ(entries[0].keywords, std::vector<std::string>{"$Work"});
    EXPECT_EQ(entries[0].save_date, fixed_time());
    EXPECT_EQ(entries[0].size, make_raw_message("imp").size());
  }
  auto raw = wait(this->mail().read_message(bob.id, *message));
  ASSERT_TRUE(raw) << raw.error().message;
  EXPECT_EQ(*raw, make_raw_message("imp"));
  // Quota counts every entry; the mailboxes' counters are the imported ones.
  auto usage = wait(this->mail().usage(bob.id));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->bytes, 2 * make_raw_message("imp").size());
  EXPECT_EQ(usage->messages, 2u);
  auto boxes = wait(this->mail().mailboxes(bob.id));
  ASSERT_TRUE(boxes);
  for (const auto& box : *boxes) {
    EXPECT_EQ(box.uid_next, box.id == inbox->id ? d::Uid{50} : d::Uid{5});
  }
  // Life goes on above the imported counters once the change log is in.
  ASSERT_TRUE(wait(this->import().import_changes(bob.id, {}, d::ModSeq{90})));
  auto appended = wait(this->mail().append(make_message("new"), {{bob.id, inbox->id, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  EXPECT_EQ((*appended)[0]->uid, d::Uid{50});
  EXPECT_EQ((*appended)[0]->modseq, d::ModSeq{91});
}

TYPED_TEST_P(ImportConformance, RefusedMessagesChangeNothing) {
  namespace d = ::tern::domain;
  auto bob = this->make_bob();
  auto inbox =
      wait(this->import().import_mailbox(bob.id, this->source_mailbox("INBOX", 10, 50, 90)));
  ASSERT_TRUE(inbox);
  ASSERT_TRUE(wait(this->import().import_message(bob.id, make_message("first"),
                                                 {this->entry(inbox->id, 7, 80)})));
  auto refused = [&](std::vector<d::ImportEntry> entries, ErrorCode code, const char* why,
                     d::AccountId account) {
    auto result =
        wait(this->import().import_message(account, make_message("refused"), std::move(entries)));
    ASSERT_FALSE(result) << why;
    EXPECT_EQ(result.error().code, code) << why << ": " << result.error().message;
  };
  // A taken UID fails the whole message, even with a good entry before it.
  refused({this->entry(inbox->id, 8, 81), this->entry(inbox->id, 7, 82)}, ErrorCode::kAlreadyExists,
          "UID taken", bob.id);
  refused({this->entry(inbox->id, 50, 81)}, ErrorCode::kInvalidInput, "UID >= uid_next", bob.id);
  refused({this->entry(inbox->id, 0, 81)}, ErrorCode::kInvalidInput, "UID 0", bob.id);
  refused({}, ErrorCode::kInvalidInput, "no entries", bob.id);
  // Another account's mailbox does not exist for this one.
  auto alice = wait(this->storage_->directory().add_account({"alice@example.com", "hash", 0}));
  ASSERT_TRUE(alice);
  refused({this->entry(inbox->id, 9, 81)}, ErrorCode::kNotFound, "another account's mailbox",
          alice->id);
  auto entries = this->all_entries(bob.id, inbox->id);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].uid, d::Uid{7});
  auto usage = wait(this->mail().usage(bob.id));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->bytes, make_raw_message("first").size());
}

TYPED_TEST_P(ImportConformance, TheChangeLogAndTombstonesAnswerLikeTheSource) {
  namespace d = ::tern::domain;
  auto bob = this->make_bob();
  auto inbox =
      wait(this->import().import_mailbox(bob.id, this->source_mailbox("INBOX", 10, 50, 90)));
  ASSERT_TRUE(inbox);
  ASSERT_TRUE(wait(this->import().import_message(bob.id, make_message("kept"),
                                                 {this->entry(inbox->id, 7, 80)})));
  const std::vector<d::AccountChange> log = {
      d::AccountChange{d::ModSeq{80}, inbox->id, d::Uid{7}, d::ChangeKind::kMessageAdded},
      d::AccountChange{d::ModSeq{84}, inbox->id, d::Uid{8}, d::ChangeKind::kMessageAdded},
      d::AccountChange{d::ModSeq{85}, inbox->id, d::Uid{8}, d::ChangeKind::kMessageExpunged},
      d::AccountChange{d::ModSeq{86}, inbox->id, d::Uid{9}, d::ChangeKind::kMessageExpunged}};
  ASSERT_TRUE(wait(this->import().import_changes(bob.id, log, d::ModSeq{90})));
  auto changes = wait(this->mail().account_changes_since(bob.id, d::ModSeq{0}));
  ASSERT_TRUE(changes);
  std::vector<d::AccountChange> imported;
  for (const auto& change : *changes) {
    if (d::value_of(change.modseq) >= 80) {
      imported.push_back(change);
    }
  }
  ASSERT_EQ(imported.size(), log.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(imported[i].modseq, log[i].modseq);
    EXPECT_EQ(imported[i].uid, log[i].uid);
    EXPECT_EQ(imported[i].kind, log[i].kind);
  }
  // QRESYNC (RFC 7162 §3.2.5.2): the expunged UIDs vanish after their modseq.
  auto since = wait(this->mail().changes_since(bob.id, inbox->id, d::ModSeq{0}));
  ASSERT_TRUE(since);
  EXPECT_EQ(since->vanished, (std::vector<d::Uid>{d::Uid{8}, d::Uid{9}}));
  auto late = wait(this->mail().changes_since(bob.id, inbox->id, d::ModSeq{85}));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->vanished, std::vector<d::Uid>{d::Uid{9}});
  // The next change of the account takes a modseq above the imported counter.
  ASSERT_TRUE(wait(this->mail().change_flags(
      bob.id, inbox->id, {d::Uid{7}}, d::FlagChange{d::FlagOp::kAdd, d::kFlagFlagged, {}, {}})));
  auto entries = this->all_entries(bob.id, inbox->id);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].modseq, d::ModSeq{91});
  // No such account.
  auto nobody = wait(this->import().import_changes(d::AccountId{987654}, {}, d::ModSeq{1}));
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, ErrorCode::kNotFound);
}

TYPED_TEST_P(ImportConformance, QueueEntriesKeepTheirStateAndActiveOnesArriveQueued) {
  namespace d = ::tern::domain;
  d::QueuedMessage queued;
  queued.sender = "a@example.com";
  queued.recipients = {d::QueueRecipient{"x@remote.org", d::RecipientState::kPending, "", "",
                                         "451 later", "4.0.0", "mx[192.0.2.1]"},
                       d::QueueRecipient{"y@remote.org", d::RecipientState::kDelivered, "", "",
                                         "250 ok", "2.0.0", "mx[192.0.2.1]"}};
  queued.envid = "env-1";
  queued.created = fixed_time();
  queued.next_attempt = fixed_time() + std::chrono::minutes(5);
  queued.attempts = 3;
  queued.state = d::QueueState::kActive;
  queued.lease_until = fixed_time() + std::chrono::hours(1);
  queued.delay_warned = true;
  auto active = wait(this->import().import_queued(queued, "raw bytes"));
  ASSERT_TRUE(active) << active.error().message;
  queued.state = d::QueueState::kHeld;
  auto held = wait(this->import().import_queued(queued, "held bytes"));
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_NE(*active, *held);

  auto found = wait(this->storage_->queue().find_queued(*active));
  ASSERT_TRUE(found && *found);
  const auto& q = **found;
  EXPECT_EQ(q.state, d::QueueState::kQueued);
  EXPECT_EQ(q.sender, "a@example.com");
  EXPECT_EQ(q.envid, "env-1");
  EXPECT_EQ(q.attempts, 3u);
  EXPECT_TRUE(q.delay_warned);
  EXPECT_EQ(q.created, fixed_time());
  EXPECT_EQ(q.next_attempt, queued.next_attempt);
  EXPECT_EQ(q.size, std::string("raw bytes").size());
  ASSERT_EQ(q.recipients.size(), 2u);
  EXPECT_EQ(q.recipients[0].state, d::RecipientState::kPending);
  EXPECT_EQ(q.recipients[0].last_reply, "451 later");
  EXPECT_EQ(q.recipients[1].state, d::RecipientState::kDelivered);
  auto bytes = wait(this->storage_->queue().read_queued(*active));
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, "raw bytes");
  auto held_entry = wait(this->storage_->queue().find_queued(*held));
  ASSERT_TRUE(held_entry && *held_entry);
  EXPECT_EQ((*held_entry)->state, d::QueueState::kHeld);
  // Due now: the imported queued entry is claimable, the held one is not, and
  // no lease of the source's workers holds it back.
  auto claimed =
      wait(this->storage_->queue().claim_due(queued.next_attempt, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, *active);
}

TYPED_TEST_P(ImportConformance, RecordedReportRowsExportAndImportWithTheirCounts) {
  const auto day = fixed_time();
  auto& reports = this->storage_->reports();
  domain::DmarcEvaluation e;
  e.time = day;
  e.policy.domain = "example.org";
  e.policy.p = "reject";
  e.row.source_ip = "192.0.2.1";
  e.row.header_from = "example.org";
  e.row.disposition = "none";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(wait(reports.record_dmarc(e)));
  }
  domain::TlsSessionResult t;
  t.time = day;
  t.policy_domain = "example.net";
  t.sessions = 4;
  ASSERT_TRUE(wait(reports.record_tls(t)));
  auto rows = wait(this->import().export_report_rows());
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->dmarc.size(), 1u);
  EXPECT_EQ(rows->dmarc[0].domain, "example.org");
  EXPECT_EQ(rows->dmarc[0].hour, domain::report_hour(day));
  EXPECT_EQ(rows->dmarc[0].count, 3u);
  ASSERT_EQ(rows->dmarc_policies.size(), 1u);
  ASSERT_EQ(rows->tls.size(), 1u);
  EXPECT_EQ(rows->tls[0].count, 4u);
  // Imported into a store that has them already, the counts add up, and the
  // aggregates the generator reads follow.
  ASSERT_TRUE(wait(this->import().import_report_rows(*rows)));
  auto doubled = wait(this->import().export_report_rows());
  ASSERT_TRUE(doubled);
  EXPECT_EQ(doubled->dmarc[0].count, 6u);
  EXPECT_EQ(doubled->tls[0].count, 8u);
  EXPECT_EQ(doubled->dmarc_policies, rows->dmarc_policies);
  auto aggregate = wait(reports.dmarc_aggregate("example.org", day, day + std::chrono::hours(1)));
  ASSERT_TRUE(aggregate) << aggregate.error().message;
  EXPECT_EQ(aggregate->rows[0].count, 6u);
  EXPECT_EQ(aggregate->policy.p, "reject");
  // A row without its domain, or with no count, is refused.
  auto bad = *rows;
  bad.tls[0].count = 0;
  auto refused = wait(this->import().import_report_rows(bad));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput);
}

TYPED_TEST_P(ImportConformance, SpamModelsExportAndImportRaw) {
  namespace d = ::tern::domain;
  using Learned = d::SpamModelRows::Learned;
  constexpr std::uint64_t kTop = 0x8000000000000001ull;  // the top bit set: negative as int64
  constexpr std::uint64_t kMax = 0xffffffffffffffffull;
  auto& spam = this->storage_->spam();
  auto bob = this->make_bob();
  auto alice = wait(this->storage_->directory().add_account({"alice@example.com", "hash", 0}));
  ASSERT_TRUE(alice);  // her model stays empty: not exported
  auto lesson = [](std::optional<d::AccountId> account, std::string key, d::SpamLabel label,
                   std::vector<std::uint64_t> tokens) {
    return d::SpamLesson{account, std::move(key), label, std::move(tokens)};
  };
  ASSERT_TRUE(wait(
      spam.learn_spam(lesson(std::nullopt, "site-spam", d::SpamLabel::kSpam, {kTop, 1, kMax}))));
  ASSERT_TRUE(
      wait(spam.learn_spam(lesson(std::nullopt, "site-ham", d::SpamLabel::kHam, {2, kTop}))));
  ASSERT_TRUE(wait(spam.learn_spam(lesson(bob.id, "bob-ham", d::SpamLabel::kHam, {kTop, 7}))));
  ASSERT_TRUE(wait(spam.learn_spam(lesson(bob.id, "bob-spam", d::SpamLabel::kSpam, {7}))));

  auto exported = wait(this->import().export_spam_models());
  ASSERT_TRUE(exported) << exported.error().message;
  ASSERT_EQ(exported->size(), 2u);
  const auto& site = (*exported)[0];
  EXPECT_FALSE(site.account.has_value());
  EXPECT_EQ(site.spam_messages, 1u);
  EXPECT_EQ(site.ham_messages, 1u);
  EXPECT_EQ(site.tokens,
            (std::vector<d::SpamTokenCount>{{1, 1, 0}, {2, 0, 1}, {kTop, 1, 1}, {kMax, 1, 0}}));
  EXPECT_EQ(site.learned, (std::vector<Learned>{{"site-ham", d::SpamLabel::kHam},
                                                {"site-spam", d::SpamLabel::kSpam}}));
  const auto& own = (*exported)[1];
  EXPECT_EQ(own.account, std::optional<d::AccountId>(bob.id));
  EXPECT_EQ(own.spam_messages, 1u);
  EXPECT_EQ(own.ham_messages, 1u);
  EXPECT_EQ(own.tokens, (std::vector<d::SpamTokenCount>{{7, 1, 1}, {kTop, 0, 1}}));
  EXPECT_EQ(own.learned, (std::vector<Learned>{{"bob-ham", d::SpamLabel::kHam},
                                               {"bob-spam", d::SpamLabel::kSpam}}));

  // As migrate does: into empty models, the account's under its new id.
  ASSERT_TRUE(wait(spam.reset_spam_model(std::nullopt)));
  ASSERT_TRUE(wait(this->storage_->directory().remove_account("bob@example.com")));
  auto again = wait(this->storage_->directory().add_account({"bob@example.com", "hash", 0}));
  ASSERT_TRUE(again);
  ASSERT_NE(again->id, bob.id);
  auto models = *exported;
  models[1].account = again->id;
  ASSERT_TRUE(wait(this->import().import_spam_models(models)));
  auto copied = wait(this->import().export_spam_models());
  ASSERT_TRUE(copied) << copied.error().message;
  EXPECT_EQ(*copied, models);
  // The port reads the imported counts, and the learned keys came along.
  auto counts = wait(spam.spam_counts(std::nullopt, {kMax, 3, kTop}));
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->spam_messages, 1u);
  EXPECT_EQ(counts->tokens, (std::vector<d::SpamTokenCount>{{kTop, 1, 1}, {kMax, 1, 0}}));
  auto stats = wait(spam.spam_stats(again->id));
  ASSERT_TRUE(stats);
  EXPECT_EQ(*stats, (d::SpamModelStats{1, 1, 2}));
  auto relearned = wait(spam.learn_spam(lesson(again->id, "bob-ham", d::SpamLabel::kHam, {7})));
  ASSERT_TRUE(relearned);
  EXPECT_EQ(*relearned, d::SpamLearned::kUnchanged);

  // An import replaces what a model held; models not named stay.
  d::SpamModelRows replaced;
  replaced.spam_messages = 2;
  replaced.tokens = {{9, 2, 0}};
  replaced.learned = {{"other", d::SpamLabel::kSpam}};
  ASSERT_TRUE(wait(this->import().import_spam_models({replaced})));
  copied = wait(this->import().export_spam_models());
  ASSERT_TRUE(copied);
  EXPECT_EQ(*copied, (std::vector<d::SpamModelRows>{replaced, models[1]}));

  // Refusals change nothing, the models before them in the call included.
  auto refused = [&](std::vector<d::SpamModelRows> bad, ErrorCode code, const char* why) {
    auto result = wait(this->import().import_spam_models(std::move(bad)));
    ASSERT_FALSE(result) << why;
    EXPECT_EQ(result.error().code, code) << why << ": " << result.error().message;
    auto now = wait(this->import().export_spam_models());
    ASSERT_TRUE(now);
    EXPECT_EQ(*now, (std::vector<d::SpamModelRows>{replaced, models[1]})) << why;
  };
  auto nobody = models[1];
  nobody.account = d::AccountId{987654};
  refused({models[0], nobody}, ErrorCode::kNotFound, "no such account");
  auto unsorted = models[0];
  std::swap(unsorted.tokens[0], unsorted.tokens[1]);
  refused({unsorted}, ErrorCode::kInvalidInput, "tokens out of order");
  auto zero = models[0];
  zero.tokens[0].spam = 0;
  zero.tokens[0].ham = 0;
  refused({zero}, ErrorCode::kInvalidInput, "a token at 0/0");
  auto twice = models[0];
  twice.learned[1].message_key = twice.learned[0].message_key;
  refused({twice}, ErrorCode::kInvalidInput, "a key twice");
  refused({models[0], models[0]}, ErrorCode::kInvalidInput, "a model twice");

  // An empty model empties it: the export leaves it out.
  ASSERT_TRUE(wait(this->import().import_spam_models({d::SpamModelRows{}})));
  copied = wait(this->import().export_spam_models());
  ASSERT_TRUE(copied);
  EXPECT_EQ(*copied, std::vector<d::SpamModelRows>{models[1]});
}

REGISTER_TYPED_TEST_SUITE_P(ImportConformance, AMailboxKeepsItsCountersAndLaterOnesStayUnique,
                            AMailboxThatHoldsMailIsNotOverwritten,
                            MessagesKeepUidModseqFlagsAndDatesInEveryMailbox,
                            RefusedMessagesChangeNothing,
                            TheChangeLogAndTombstonesAnswerLikeTheSource,
                            QueueEntriesKeepTheirStateAndActiveOnesArriveQueued,
                            RecordedReportRowsExportAndImportWithTheirCounts,
                            SpamModelsExportAndImportRaw);

}  // namespace tern::store::conformance
