// SPDX-License-Identifier: Apache-2.0
#include "domain/delivery.hpp"

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

  store::memory::MemoryStorage store_;
  AccountId alice_{};
  AccountId bob_{};
};

TEST_F(DeliveryTest, StoresOnceAndLinksIntoEachInbox) {
  NewMessage message{"Subject: hi\r\n\r\nbody\r\n", {}, {}};
  auto outcomes = deliver_to_inboxes(store_, message, {alice_, bob_, alice_});
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
  auto outcomes = deliver_to_inboxes(store_, message, {bob_, alice_});
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
  auto outcomes = deliver_to_inboxes(store_, message, {alice_, bob_}, DeliveryFolder::kJunk);
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
  auto again = deliver_to_inboxes(store_, message, {alice_}, DeliveryFolder::kJunk);
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

TEST(ToCrlf, NormalisesEveryLineEnding) {
  EXPECT_EQ(to_crlf("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd");
  EXPECT_EQ(to_crlf(""), "");
  EXPECT_EQ(to_crlf("\r\n\n\r"), "\r\n\r\n\r\n");
}

}  // namespace
}  // namespace tern::domain
