// SPDX-License-Identifier: Apache-2.0
#include "domain/delivery.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "domain/accounts.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::domain {
namespace {

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.directory().add_domain("example.org").get());
    alice_ = provision_account(store_, NewAccount{"alice@example.org", "x", 0})->id;
    bob_ = provision_account(store_, NewAccount{"bob@example.org", "x", 100})->id;
  }

  // deliver() without filtering, to the accounts given by id.
  Result<std::vector<DeliveryOutcome>> deliver_to(const NewMessage& message,
                                                  std::vector<AccountId> accounts,
                                                  DeliveryFolder folder = DeliveryFolder::kInbox) {
    std::vector<LocalRecipient> recipients;
    for (AccountId account : accounts) {
      recipients.push_back(LocalRecipient{account, "", ""});
    }
    return deliver(store_, message, recipients, folder);
  }

  store::memory::MemoryStorage store_;
  AccountId alice_{};
  AccountId bob_{};
};

TEST_F(DeliveryTest, StoresOnceAndLinksIntoEachInbox) {
  NewMessage message{"Subject: hi\r\n\r\nbody\r\n", {}, {}};
  auto outcomes = deliver_to(message, {alice_, bob_, alice_});
  ASSERT_TRUE(outcomes);
  ASSERT_EQ(outcomes->size(), 3u);
  ASSERT_TRUE((*outcomes)[0].result);
  ASSERT_TRUE((*outcomes)[1].result);
  ASSERT_TRUE((*outcomes)[2].result);
  EXPECT_EQ((*outcomes)[2].result->uid, (*outcomes)[0].result->uid);
  auto read = store_.mail().read_message(alice_, (*outcomes)[0].result->message).get();
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, message.raw);
  auto usage = store_.mail().usage(alice_).get();
  EXPECT_EQ(usage->messages, 1u);
}

TEST_F(DeliveryTest, QuotaFailsOnlyThatRecipient) {
  NewMessage message{"Subject: big\r\n\r\n" + std::string(200, 'x') + "\r\n", {}, {}};
  auto outcomes = deliver_to(message, {bob_, alice_});
  ASSERT_TRUE(outcomes);
  ASSERT_FALSE((*outcomes)[0].result);
  EXPECT_EQ((*outcomes)[0].result.error().code, ErrorCode::kLimitExceeded);
  EXPECT_TRUE((*outcomes)[1].result);
}

TEST_F(DeliveryTest, JunkGoesToTheJunkMailboxCreatedWhenMissing) {
  NewMessage message{"Subject: spam\r\n\r\nbody\r\n", {}, {}};
  auto drop_junk = [&](AccountId account) {
    auto boxes = store_.mail().mailboxes(account).get();
    for (const auto& box : *boxes) {
      if (box.special_use == SpecialUse::kJunk) {
        ASSERT_TRUE(store_.mail().delete_mailbox(account, box.id).get());
      }
    }
  };
  // alice has no \Junk mailbox any more: one is created. bob has one under
  // another name: it is used.
  drop_junk(alice_);
  drop_junk(bob_);
  auto spam = store_.mail().create_mailbox(bob_, "Spam", SpecialUse::kJunk).get();
  ASSERT_TRUE(spam);
  auto outcomes = deliver_to(message, {alice_, bob_}, DeliveryFolder::kJunk);
  ASSERT_TRUE(outcomes);
  ASSERT_TRUE((*outcomes)[0].result);
  ASSERT_TRUE((*outcomes)[1].result);
  EXPECT_EQ((*outcomes)[1].result->mailbox, spam->id);
  auto boxes = store_.mail().mailboxes(alice_).get();
  ASSERT_TRUE(boxes);
  std::optional<Mailbox> junk;
  for (const auto& box : *boxes) {
    if (box.name == "Junk") {
      junk = box;
    }
    if (box.name == "INBOX") {
      EXPECT_TRUE(store_.mail().entries(alice_, box.id, Uid{1}, Uid{100}).get()->empty());
    }
  }
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->special_use, SpecialUse::kJunk);
  EXPECT_EQ((*outcomes)[0].result->mailbox, junk->id);
  // The next quarantined message reuses the mailbox.
  auto again = deliver_to(message, {alice_}, DeliveryFolder::kJunk);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].result->mailbox, junk->id);
  EXPECT_EQ(store_.mail().mailboxes(alice_).get()->size(), boxes->size());
}

TEST_F(DeliveryTest, ForwardingSenderIsSrsRewrittenOnlyForForeignSenders) {
  const auto now = from_unix_seconds(1'790'000'000);
  Srs srs(SrsConfig{"secret", "example.org"});
  auto foreign = forwarding_sender(store_.directory(), &srs, "x@remote.example", now);
  ASSERT_TRUE(foreign);
  EXPECT_TRUE(foreign->starts_with("SRS0=")) << *foreign;
  EXPECT_TRUE(foreign->ends_with("=remote.example=x@example.org")) << *foreign;
  EXPECT_EQ(*srs.reverse(*foreign, now), "x@remote.example");
  EXPECT_EQ(*forwarding_sender(store_.directory(), &srs, "alice@EXAMPLE.org", now),
            "alice@EXAMPLE.org");
  EXPECT_EQ(*forwarding_sender(store_.directory(), &srs, "", now), "");
  EXPECT_EQ(*forwarding_sender(store_.directory(), nullptr, "x@remote.example", now),
            "x@remote.example");
}

// Sieve at delivery: alice's active script decides.
class SieveDeliveryTest : public DeliveryTest {
 protected:
  void script(std::string_view text) {
    ASSERT_TRUE(store_.directory().put_sieve_script(alice_, "main", std::string(text)).get());
    ASSERT_TRUE(store_.directory().activate_sieve_script(alice_, "main").get());
  }

  Result<std::vector<DeliveryOutcome>> deliver_filtered(
      std::string raw, std::vector<FilterReport>* reports = nullptr, std::string detail = "") {
    Filtering filtering;
    filtering.sender = "carol@remote.example";
    filtering.hostname = "mx.example.org";
    filtering.now = now_;
    filtering.zone_minutes = zone_minutes_;
    return deliver(store_, NewMessage{std::move(raw), now_, {}},
                   {LocalRecipient{alice_, "alice@example.org", std::move(detail)}},
                   DeliveryFolder::kInbox, &filtering, reports);
  }

  // The names of alice's mailboxes holding a message, with its flags and keywords.
  std::vector<std::string> stored() {
    std::vector<std::string> out;
    auto boxes = store_.mail().mailboxes(alice_).get();
    for (const auto& box : *boxes) {
      auto entries = store_.mail().entries(alice_, box.id, Uid{1}, Uid{1000}).get();
      for (const auto& entry : *entries) {
        std::string line = box.name + " " + std::to_string(entry.flags);
        for (const auto& keyword : entry.keywords) {
          line += " " + keyword;
        }
        out.push_back(line);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  SystemTime now_ = from_unix_seconds(1'790'000'000);
  int zone_minutes_ = 0;
  std::string message_ =
      "From: Carol <carol@remote.example>\r\nTo: alice@example.org\r\n"
      "Subject: Lists digest\r\nMessage-ID: <m1@remote.example>\r\n\r\nhello\r\n";
};

TEST_F(SieveDeliveryTest, FileintoKeepFlagsAndCreate) {
  ASSERT_TRUE(store_.mail().create_mailbox(alice_, "Lists", SpecialUse::kNone).get());
  script(
      "require [\"fileinto\", \"imap4flags\", \"mailbox\", \"copy\"];\n"
      "if header :contains \"subject\" \"digest\" {\n"
      "  fileinto :flags [\"\\\\Seen\", \"$Digest\"] \"Lists\";\n"
      "  fileinto :copy :create \"Archive/2026\";\n"
      "  fileinto :copy \"Missing\";\n"
      "}\n");
  std::vector<FilterReport> reports;
  auto outcomes = deliver_filtered(message_, &reports);
  ASSERT_TRUE(outcomes);
  ASSERT_TRUE((*outcomes)[0].result);
  // fileinto a mailbox that does not exist keeps the message in the INBOX.
  EXPECT_EQ(stored(), (std::vector<std::string>{"Archive/2026 0", "INBOX 0", "Lists 1 $Digest"}));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].error, "fileinto \"Missing\": no such mailbox, kept");
  EXPECT_EQ(reports[0].mailboxes, (std::vector<std::string>{"Lists", "Archive/2026", "INBOX"}));
}

TEST_F(SieveDeliveryTest, DiscardStoresNothing) {
  script("if address :domain :is \"from\" \"remote.example\" { discard; stop; }");
  std::vector<FilterReport> reports;
  auto outcomes = deliver_filtered(message_, &reports);
  ASSERT_TRUE(outcomes);
  ASSERT_TRUE((*outcomes)[0].result);
  EXPECT_EQ((*outcomes)[0].result->uid, Uid{0});
  EXPECT_TRUE(reports[0].discarded);
  EXPECT_TRUE(stored().empty());
}

TEST_F(SieveDeliveryTest, RedirectQueuesTheMessageOnceAndNeverLoops) {
  script("redirect \"alice@elsewhere.example\";");
  std::vector<FilterReport> reports;
  ASSERT_TRUE(deliver_filtered(message_, &reports));
  EXPECT_EQ(reports[0].redirects, 1u);
  EXPECT_TRUE(stored().empty());
  auto queued = store_.queue().queued().get();
  ASSERT_TRUE(queued);
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].sender, "carol@remote.example");
  ASSERT_EQ((*queued)[0].recipients.size(), 1u);
  EXPECT_EQ((*queued)[0].recipients[0].address, "alice@elsewhere.example");
  auto raw = store_.queue().read_queued((*queued)[0].id).get();
  ASSERT_TRUE(raw);
  EXPECT_EQ(*raw, "X-Sieve-Redirected-From: alice@example.org\r\n" + message_);
  // The copy coming back (a forward elsewhere pointing here) is kept, not sent again.
  ASSERT_TRUE(deliver_filtered(*raw, &reports));
  EXPECT_EQ(reports[0].redirects, 0u);
  EXPECT_EQ(stored(), (std::vector<std::string>{"INBOX 0"}));
  EXPECT_EQ(store_.queue().queued().get()->size(), 1u);
}

TEST_F(SieveDeliveryTest, VacationRepliesOncePerPeriodFromTheNullSender) {
  script("require \"vacation\";\nvacation :days 2 :subject \"Away\" \"Back on Monday.\";");
  std::vector<FilterReport> reports;
  ASSERT_TRUE(deliver_filtered(message_, &reports, "tag"));
  EXPECT_TRUE(reports[0].vacation);
  EXPECT_EQ(stored(), (std::vector<std::string>{"INBOX 0"}));  // vacation keeps the message
  auto queued = store_.queue().queued().get();
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].sender, "");
  EXPECT_EQ((*queued)[0].recipients[0].address, "carol@remote.example");
  EXPECT_EQ((*queued)[0].recipients[0].notify, "NEVER");
  auto reply = *store_.queue().read_queued((*queued)[0].id).get();
  EXPECT_NE(reply.find("Subject: Away\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("In-Reply-To: <m1@remote.example>\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Auto-Submitted: auto-replied\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Back on Monday."), std::string::npos) << reply;
  // A day later: no second reply to the same sender; three days later: one.
  now_ += std::chrono::hours(24);
  ASSERT_TRUE(deliver_filtered(message_, &reports));
  EXPECT_FALSE(reports[0].vacation);
  now_ += std::chrono::hours(48);
  ASSERT_TRUE(deliver_filtered(message_, &reports));
  EXPECT_TRUE(reports[0].vacation);
  EXPECT_EQ(store_.queue().queued().get()->size(), 2u);
}

TEST_F(SieveDeliveryTest, DateTestsSeeTheHostsZone) {
  ASSERT_TRUE(store_.mail().create_mailbox(alice_, "Evening", SpecialUse::kNone).get());
  // 1'790'000'000 is 2026-09-21 14:13:20 UTC: 16:13 two hours east.
  script(
      "require [\"date\", \"fileinto\", \"relational\"];\n"
      "if currentdate :value \"ge\" \"hour\" \"15\" { fileinto \"Evening\"; }");
  ASSERT_TRUE(deliver_filtered(message_));
  zone_minutes_ = 120;
  ASSERT_TRUE(deliver_filtered(message_));
  EXPECT_EQ(stored(), (std::vector<std::string>{"Evening 0", "INBOX 0"}));
}

TEST_F(SieveDeliveryTest, AScriptThatNoLongerCompilesKeepsTheMessage) {
  script("keep;");
  // Stored by another version, or by hand: the store does not compile scripts.
  ASSERT_TRUE(store_.directory().put_sieve_script(alice_, "main", "if nonsense {").get());
  std::vector<FilterReport> reports;
  ASSERT_TRUE(deliver_filtered(message_, &reports));
  EXPECT_EQ(stored(), (std::vector<std::string>{"INBOX 0"}));
  EXPECT_NE(reports[0].error.find("script \"main\": line 1:"), std::string::npos)
      << reports[0].error;
}

TEST(CompiledScripts, CompilesATextOnceAndStaysWithinItsBound) {
  CompiledScripts cache(64);
  auto first = cache.get("keep;");
  auto second = cache.get("keep;");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(&first->required(), &second->required());  // one program, shared
  auto broken = cache.get("if nonsense {");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message, "line 1: missing '}'");
  // Larger than the bound: compiled, not kept; the next text starts it over.
  std::string big = std::string(100, ' ') + "discard;";
  auto once = cache.get(big);
  auto twice = cache.get(big);
  ASSERT_TRUE(once && twice);
  EXPECT_NE(&once->required(), &twice->required());
  std::string filler = "require \"fileinto\";" + std::string(41, ' ');  // 60 bytes: 5 + 60 > 64
  ASSERT_TRUE(cache.get(filler));
  auto again = cache.get("keep;");  // dropped when the filler did not fit beside it
  ASSERT_TRUE(again);
  EXPECT_NE(&again->required(), &first->required());
}

TEST(ToCrlf, NormalisesEveryLineEnding) {
  EXPECT_EQ(to_crlf("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd");
  EXPECT_EQ(to_crlf(""), "");
  EXPECT_EQ(to_crlf("\r\n\n\r"), "\r\n\r\n\r\n");
}

}  // namespace
}  // namespace tern::domain
