// SPDX-License-Identifier: Apache-2.0
#include "domain/queue_policy.hpp"

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const SystemTime kT0 = from_unix_seconds(1'790'000'000);

QueuedMessage message_to(std::vector<std::string> addresses, std::string notify = "") {
  QueuedMessage m;
  m.id = QueueId{7};
  m.sender = "alice@example.org";
  m.created = kT0;
  for (auto& a : addresses) {
    QueueRecipient r;
    r.address = std::move(a);
    r.notify = notify;
    m.recipients.push_back(std::move(r));
  }
  return m;
}

RecipientOutcome outcome(std::size_t index, DeliveryStatus status, std::string reply = "",
                         std::string enhanced = "") {
  RecipientOutcome o;
  o.index = index;
  o.status = status;
  o.reply = std::move(reply);
  o.enhanced_status = std::move(enhanced);
  return o;
}

TEST(RetryDelay, DoublesFromMinToMaxLikePostfix) {
  RetryPolicy p;
  EXPECT_EQ(retry_delay(p, 1), seconds(300));
  EXPECT_EQ(retry_delay(p, 2), seconds(600));
  EXPECT_EQ(retry_delay(p, 3), seconds(1200));
  EXPECT_EQ(retry_delay(p, 4), seconds(2400));
  EXPECT_EQ(retry_delay(p, 5), seconds(4000));
  EXPECT_EQ(retry_delay(p, 4'000'000'000u), seconds(4000));
  EXPECT_EQ(retry_delay(p, 0), seconds(300));
}

TEST(RetryDelay, ExplicitScheduleRepeatsItsLastStep) {
  RetryPolicy p;
  p.schedule = {seconds(1), seconds(5), seconds(60)};
  EXPECT_EQ(retry_delay(p, 1), seconds(1));
  EXPECT_EQ(retry_delay(p, 2), seconds(5));
  EXPECT_EQ(retry_delay(p, 3), seconds(60));
  EXPECT_EQ(retry_delay(p, 9), seconds(60));
}

TEST(GroupPending, ByLowerCasedDomainInFirstAppearanceOrder) {
  auto m = message_to({"a@B.example", "c@a.example", "d@b.EXAMPLE", "e@a.example", "x@c.example"});
  m.recipients[4].state = RecipientState::kDelivered;
  auto groups = group_pending(m);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].destination, "b.example");
  EXPECT_EQ(groups[0].indices, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(groups[1].destination, "a.example");
  EXPECT_EQ(groups[1].indices, (std::vector<std::size_t>{1, 3}));
  auto request = make_request(m, groups[1], "raw");
  EXPECT_EQ(request.destination, "a.example");
  ASSERT_EQ(request.recipients.size(), 2u);
  EXPECT_EQ(request.recipients[1].index, 3u);
  EXPECT_EQ(request.recipients[1].address, "e@a.example");
  EXPECT_EQ(request.sender, "alice@example.org");
}

TEST(MakeRequest, CarriesTheEnvelopeFacts) {
  auto m = message_to({"a@x.example"}, "SUCCESS,FAILURE");
  m.recipients[0].orcpt = "rfc822;a@y.example";
  m.envid = "E1";
  m.ret = "HDRS";
  m.envelope.smtputf8 = true;
  m.envelope.body = BodyType::kEightBitMime;
  m.envelope.requiretls = true;
  auto r = make_request(m, group_pending(m).at(0), "bytes");
  EXPECT_TRUE(r.smtputf8);
  EXPECT_TRUE(r.eight_bit);
  EXPECT_TRUE(r.requiretls);
  EXPECT_EQ(r.envid, "E1");
  EXPECT_EQ(r.ret, "HDRS");
  EXPECT_EQ(r.raw, "bytes");
  EXPECT_EQ(r.recipients[0].notify, "SUCCESS,FAILURE");
  EXPECT_EQ(r.recipients[0].orcpt, "rfc822;a@y.example");
}

TEST(CountReceived, CountsOnlyHeaderFieldsCaseInsensitively) {
  EXPECT_EQ(count_received("Received: a\r\nreceived: b\r\n c\r\nX: y\r\nRECEIVED:d\r\n\r\n"
                           "Received: in the body\r\n"),
            3u);
  EXPECT_EQ(count_received(""), 0u);
  EXPECT_EQ(count_received("Received-SPF: pass\r\nReceived: x"), 1u);
}

TEST(Notify, AbsentMeansFailureAndDelayNeverMeansNone) {
  QueueRecipient r;
  EXPECT_TRUE(wants_failure_notice(r));
  EXPECT_TRUE(wants_delay_notice(r));
  EXPECT_FALSE(wants_success_notice(r));
  r.notify = "NEVER";
  EXPECT_FALSE(wants_failure_notice(r));
  EXPECT_FALSE(wants_delay_notice(r));
  EXPECT_FALSE(wants_success_notice(r));
  r.notify = "SUCCESS,DELAY";
  EXPECT_FALSE(wants_failure_notice(r));
  EXPECT_TRUE(wants_delay_notice(r));
  EXPECT_TRUE(wants_success_notice(r));
}

TEST(ApplyOutcomes, DeliveredFailedAndDeferredPerRecipient) {
  auto m = message_to({"a@x.example", "b@x.example", "c@y.example"});
  m.attempts = 2;
  RetryPolicy p;
  auto out = apply_outcomes(m,
                            {outcome(0, DeliveryStatus::kDelivered, "250 ok", "2.0.0"),
                             outcome(1, DeliveryStatus::kFailed, "550 5.1.1 no", "5.1.1"),
                             outcome(2, DeliveryStatus::kDeferred, "451 4.3.0 later", "4.3.0")},
                            kT0 + minutes(10), p);
  EXPECT_FALSE(out.finished);
  EXPECT_FALSE(out.expired);
  EXPECT_EQ(out.failed, (std::vector<std::size_t>{1}));
  EXPECT_TRUE(out.succeeded.empty());
  EXPECT_TRUE(out.delayed.empty());
  EXPECT_EQ(out.update.attempts, 3u);
  EXPECT_EQ(out.update.next_attempt, kT0 + minutes(10) + seconds(1200));
  EXPECT_EQ(out.update.recipients[0].state, RecipientState::kDelivered);
  EXPECT_EQ(out.update.recipients[1].state, RecipientState::kFailed);
  EXPECT_EQ(out.update.recipients[1].status, "5.1.1");
  EXPECT_EQ(out.update.recipients[2].state, RecipientState::kPending);
  EXPECT_EQ(out.update.recipients[2].last_reply, "451 4.3.0 later");
}

TEST(ApplyOutcomes, FinishedWhenNothingIsPendingAndIgnoresStrayIndices) {
  auto m = message_to({"a@x.example", "b@x.example"}, "SUCCESS");
  m.recipients[1].state = RecipientState::kDelivered;  // from an earlier run
  auto out =
      apply_outcomes(m,
                     {outcome(0, DeliveryStatus::kDelivered), outcome(9, DeliveryStatus::kFailed),
                      outcome(1, DeliveryStatus::kFailed)},
                     kT0, RetryPolicy{});
  EXPECT_TRUE(out.finished);
  EXPECT_TRUE(out.failed.empty());  // index 1 was already delivered; 9 does not exist
  EXPECT_EQ(out.succeeded, (std::vector<std::size_t>{0}));
}

TEST(ApplyOutcomes, SuccessNoticeOnlyWhenTheReceiverDidNotTakeNotify) {
  auto m = message_to({"a@x.example", "b@x.example"}, "SUCCESS");
  auto passed = outcome(1, DeliveryStatus::kDelivered);
  passed.dsn_passed_on = true;
  auto out =
      apply_outcomes(m, {outcome(0, DeliveryStatus::kDelivered), passed}, kT0, RetryPolicy{});
  EXPECT_EQ(out.succeeded, (std::vector<std::size_t>{0}));
}

TEST(ApplyOutcomes, OneDelayWarningAfterTheConfiguredAge) {
  auto m = message_to({"a@x.example", "b@x.example", "c@x.example"});
  m.recipients[1].notify = "FAILURE";
  m.recipients[2].notify = "DELAY";
  RetryPolicy p;
  auto early = apply_outcomes(m, {}, kT0 + hours(3), p);
  EXPECT_TRUE(early.delayed.empty());
  EXPECT_FALSE(early.update.delay_warned);
  auto late = apply_outcomes(m, {}, kT0 + hours(4), p);
  EXPECT_EQ(late.delayed, (std::vector<std::size_t>{0, 2}));
  EXPECT_TRUE(late.update.delay_warned);
  m.delay_warned = true;
  auto again = apply_outcomes(m, {}, kT0 + hours(5), p);
  EXPECT_TRUE(again.delayed.empty());
  EXPECT_TRUE(again.update.delay_warned);
  p.delay_warning = seconds(0);
  m.delay_warned = false;
  EXPECT_TRUE(apply_outcomes(m, {}, kT0 + hours(50), p).delayed.empty());
}

TEST(ApplyOutcomes, ExpiryFailsThePendingWithTheLastReply) {
  auto m = message_to({"a@x.example", "b@x.example"});
  m.recipients[0].last_reply = "451 4.4.1 connection refused";
  m.recipients[0].status = "4.4.1";
  RetryPolicy p;
  auto before = apply_outcomes(m, {}, kT0 + hours(24 * 5) - seconds(1), p);
  EXPECT_FALSE(before.expired);
  auto out = apply_outcomes(m, {outcome(1, DeliveryStatus::kDelivered)}, kT0 + hours(24 * 5), p);
  EXPECT_TRUE(out.expired);
  EXPECT_TRUE(out.finished);
  EXPECT_EQ(out.failed, (std::vector<std::size_t>{0}));
  EXPECT_EQ(out.update.recipients[0].state, RecipientState::kFailed);
  EXPECT_EQ(out.update.recipients[0].status, "4.4.7");
  EXPECT_EQ(out.update.recipients[0].last_reply, "451 4.4.1 connection refused");
  EXPECT_TRUE(out.delayed.empty());  // an expired message gets a bounce, not a warning
}

TEST(FailAllPending, FailsOnlyPendingRecipients) {
  auto m = message_to({"a@x.example", "b@x.example"});
  m.recipients[0].state = RecipientState::kDelivered;
  auto outcomes = fail_all_pending(m, "5.4.6", "5.4.6 too many hops");
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].index, 1u);
  EXPECT_EQ(outcomes[0].status, DeliveryStatus::kFailed);
  auto out = apply_outcomes(m, outcomes, kT0, RetryPolicy{});
  EXPECT_TRUE(out.finished);
  EXPECT_EQ(out.update.recipients[1].status, "5.4.6");
}

}  // namespace
}  // namespace tern::domain
