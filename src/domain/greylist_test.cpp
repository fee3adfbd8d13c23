// SPDX-License-Identifier: Apache-2.0
// Greylisting's triplets and decisions (postgrey's rules).
#include "domain/greylist.hpp"

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

TEST(GreylistTriplet, NormalisesClientSenderAndRecipient) {
  EXPECT_EQ(greylist_triplet("192.0.2.77", "List-Bounce-123-4@Lists.Example", "Alice@Example.ORG"),
            (GreylistTriplet{"192.0.2", "list-bounce-#-#@lists.example", "alice@example.org"}));
  EXPECT_EQ(
      greylist_triplet("192.0.2.77", "owner+list=x.example@lists.example", "a@b.example")->sender,
      "owner@lists.example");
  EXPECT_EQ(greylist_triplet("2001:db8:0:1:2:3:4:5", "", "bob@example.org"),
            (GreylistTriplet{"2001:db8:0:1", "", "bob@example.org"}));
  EXPECT_EQ(greylist_triplet("::ffff:192.0.2.77", "a@b.example", "c@d.example")->client, "192.0.2");
  // BATV senders (prvs=) change per message in their digits, which fold.
  EXPECT_EQ(greylist_triplet("192.0.2.1", "prvs=1234567890=x@b.example", "c@d.example")->sender,
            "prvs=#=x@b.example");
  EXPECT_FALSE(greylist_triplet("unix", "a@b.example", "c@d.example"));
}

TEST(GreylistDecision, FirstAttemptDefersAndARetryAfterTheDelayPasses) {
  GreylistPolicy policy;  // 300 s delay, 2 days to retry, 35 days kept
  auto first = decide_greylist(std::nullopt, 0, policy, 1000);
  EXPECT_EQ(first.verdict, (GreylistVerdict{false, 300}));
  EXPECT_EQ(first.record, (GreylistRecord{1000, 1000, false}));

  auto early = decide_greylist(first.record, 0, policy, 1100);
  EXPECT_EQ(early.verdict, (GreylistVerdict{false, 200}));
  EXPECT_EQ(early.record, (GreylistRecord{1000, 1100, false}));  // the delay runs from the first

  auto retry = decide_greylist(early.record, 0, policy, 1300);
  EXPECT_EQ(retry.verdict, (GreylistVerdict{true, 0}));
  EXPECT_EQ(retry.record, (GreylistRecord{1000, 1300, true}));

  auto later = decide_greylist(retry.record, 0, policy, 1300 + 30 * 86400);
  EXPECT_TRUE(later.verdict.pass);
}

TEST(GreylistDecision, ForgottenTripletsStartOver) {
  GreylistPolicy policy;
  // Not retried within the window: the next attempt is a first one again.
  auto stale = decide_greylist(GreylistRecord{0, 0, false}, 0, policy, 3 * 86400);
  EXPECT_EQ(stale.verdict, (GreylistVerdict{false, 300}));
  EXPECT_EQ(stale.record, (GreylistRecord{3 * 86400, 3 * 86400, false}));
  // Passed, then unseen for longer than max_age.
  auto old = decide_greylist(GreylistRecord{0, 10, true}, 0, policy, 10 + 36 * 86400);
  EXPECT_FALSE(old.verdict.pass);
}

TEST(GreylistDecision, ClientsThatPassedOftenPassAtOnce) {
  GreylistPolicy policy;
  EXPECT_FALSE(decide_greylist(std::nullopt, 4, policy, 1000).verdict.pass);
  auto allowed = decide_greylist(std::nullopt, 5, policy, 1000);
  EXPECT_TRUE(allowed.verdict.pass);
  EXPECT_EQ(allowed.record, (GreylistRecord{1000, 1000, true}));
  policy.auto_allow_after = 0;
  EXPECT_FALSE(decide_greylist(std::nullopt, 100, policy, 1000).verdict.pass);
}

}  // namespace
}  // namespace tern::domain
