// SPDX-License-Identifier: Apache-2.0
#include "domain/dsn.hpp"

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

const SystemTime kT0 = from_unix_seconds(1'790'000'000);
constexpr std::string_view kOriginal =
    "Received: from a by b\r\nFrom: alice@example.org\r\nSubject: hello\r\n\r\nthe body text\r\n";

QueuedMessage failed_message() {
  QueuedMessage m;
  m.id = QueueId{42};
  m.sender = "alice@example.org";
  m.created = kT0;
  m.envid = "ENV-1";
  QueueRecipient r;
  r.address = "bob@remote.example";
  r.orcpt = "rfc822;bob@alias.example";
  r.state = RecipientState::kFailed;
  r.last_reply = "550 5.1.1 <bob@remote.example>: no such user";
  r.status = "5.1.1";
  r.remote_host = "mx.remote.example[127.0.0.2]";
  m.recipients.push_back(r);
  QueueRecipient quiet = r;
  quiet.address = "quiet@remote.example";
  quiet.notify = "NEVER";
  m.recipients.push_back(quiet);
  return m;
}

DsnContext context() {
  return DsnContext{"mail.example.org", kT0 + std::chrono::hours(1), kT0};
}

TEST(ComposeDsn, FailureIsAMultipartReportToTheSenderFromTheNullSender) {
  auto m = failed_message();
  auto dsn = compose_dsn(m, kOriginal, DsnKind::kFailure, {0, 1}, context());
  ASSERT_TRUE(dsn);
  EXPECT_EQ(dsn->sender, "");
  ASSERT_EQ(dsn->recipients.size(), 1u);
  EXPECT_EQ(dsn->recipients[0].address, "alice@example.org");
  const auto& raw = dsn->raw;
  EXPECT_NE(raw.find("multipart/report"), std::string::npos) << raw;
  EXPECT_NE(raw.find("report-type=delivery-status"), std::string::npos);
  EXPECT_NE(raw.find("Reporting-MTA: dns; mail.example.org"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Original-Envelope-Id: ENV-1"), std::string::npos);
  EXPECT_NE(raw.find("Final-Recipient: rfc822; bob@remote.example"), std::string::npos);
  EXPECT_NE(raw.find("Original-Recipient: rfc822; bob@alias.example"), std::string::npos);
  EXPECT_NE(raw.find("Action: failed"), std::string::npos);
  EXPECT_NE(raw.find("Status: 5.1.1"), std::string::npos);
  EXPECT_NE(raw.find("Remote-MTA: dns; mx.remote.example\r\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Diagnostic-Code: smtp; 550 5.1.1"), std::string::npos);
  // NOTIFY=NEVER: no paragraph for the quiet recipient.
  EXPECT_EQ(raw.find("quiet@remote.example"), std::string::npos);
  // No RET: the whole message comes back.
  EXPECT_NE(raw.find("message/rfc822"), std::string::npos);
  EXPECT_NE(raw.find("the body text"), std::string::npos);
  EXPECT_NE(raw.find("Subject: Undelivered Mail Returned to Sender"), std::string::npos);
  EXPECT_NE(raw.find("From: Mail Delivery System <MAILER-DAEMON@mail.example.org>"),
            std::string::npos);
}

TEST(ComposeDsn, RetHdrsReturnsOnlyTheHeader) {
  auto m = failed_message();
  m.ret = "HDRS";
  auto dsn = compose_dsn(m, kOriginal, DsnKind::kFailure, {0}, context());
  ASSERT_TRUE(dsn);
  EXPECT_NE(dsn->raw.find("text/rfc822-headers"), std::string::npos);
  EXPECT_NE(dsn->raw.find("Subject: hello"), std::string::npos);
  EXPECT_EQ(dsn->raw.find("the body text"), std::string::npos);
}

TEST(ComposeDsn, NeverForTheNullSenderOrWhenNobodyAsked) {
  auto m = failed_message();
  m.sender = "";
  EXPECT_FALSE(compose_dsn(m, kOriginal, DsnKind::kFailure, {0}, context()));
  m = failed_message();
  EXPECT_FALSE(compose_dsn(m, kOriginal, DsnKind::kFailure, {1}, context()));
  EXPECT_FALSE(compose_dsn(m, kOriginal, DsnKind::kFailure, {}, context()));
  EXPECT_FALSE(compose_dsn(m, kOriginal, DsnKind::kSuccess, {0}, context()));  // no SUCCESS
}

TEST(ComposeDsn, DelayWarningSaysDelayedWithWillRetryUntil) {
  auto m = failed_message();
  m.recipients[0].state = RecipientState::kPending;
  m.recipients[0].status = "4.4.1";
  auto ctx = context();
  ctx.will_retry_until = kT0 + std::chrono::hours(24 * 5);
  auto dsn = compose_dsn(m, kOriginal, DsnKind::kDelay, {0}, ctx);
  ASSERT_TRUE(dsn);
  EXPECT_NE(dsn->raw.find("Action: delayed"), std::string::npos) << dsn->raw;
  EXPECT_NE(dsn->raw.find("Status: 4.4.1"), std::string::npos);
  EXPECT_NE(dsn->raw.find("Will-Retry-Until:"), std::string::npos);
  EXPECT_NE(dsn->raw.find("Delayed Mail"), std::string::npos);
  EXPECT_EQ(dsn->raw.find("the body text"), std::string::npos);  // headers only
}

TEST(ComposeDsn, SuccessIsRelayed) {
  auto m = failed_message();
  m.recipients[0].state = RecipientState::kDelivered;
  m.recipients[0].notify = "SUCCESS";
  m.recipients[0].status = "";
  auto dsn = compose_dsn(m, kOriginal, DsnKind::kSuccess, {0}, context());
  ASSERT_TRUE(dsn);
  EXPECT_NE(dsn->raw.find("Action: relayed"), std::string::npos);
  EXPECT_NE(dsn->raw.find("Status: 2.0.0"), std::string::npos);
}

}  // namespace
}  // namespace tern::domain
