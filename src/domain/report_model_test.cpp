// SPDX-License-Identifier: Apache-2.0
#include "domain/report_model.hpp"

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

TEST(ReportChecks, RefuseWhatCannotBeCounted) {
  DmarcEvaluation dmarc;
  dmarc.policy.domain = "example.org";
  dmarc.row.source_ip = "192.0.2.1";
  EXPECT_TRUE(check_dmarc_evaluation(dmarc));
  auto no_source = dmarc;
  no_source.row.source_ip.clear();
  auto no_domain = dmarc;
  no_domain.policy.domain.clear();
  for (const auto& bad : {no_source, no_domain}) {
    auto checked = check_dmarc_evaluation(bad);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code, ErrorCode::kInvalidInput);
  }

  TlsSessionResult tls;
  tls.policy_domain = "example.org";
  tls.sessions = 1;
  EXPECT_TRUE(check_tls_result(tls));
  auto no_sessions = tls;
  no_sessions.sessions = 0;
  EXPECT_EQ(check_tls_result(no_sessions).error().code, ErrorCode::kInvalidInput);
  tls.policy_domain.clear();
  EXPECT_EQ(check_tls_result(tls).error().code, ErrorCode::kInvalidInput);

  ReportPost post;
  post.uri = "https://reports.example.net/tls";
  post.report_id = "r1";
  EXPECT_TRUE(check_report_post(post));
  auto no_id = post;
  no_id.report_id.clear();
  EXPECT_EQ(check_report_post(no_id).error().code, ErrorCode::kInvalidInput);
  post.uri.clear();
  EXPECT_EQ(check_report_post(post).error().code, ErrorCode::kInvalidInput);
}

TEST(ReceivedReportFrom, ReadsBackWhatWasStored) {
  const std::vector<ReceivedReportRow> rows{
      {"192.0.2.1", 7, "reject", "fail", "fail", "example.org"},
      {"192.0.2.2", 1, "none", "pass", "pass", "example.org"}};
  StoredReceivedReport stored{42,
                              static_cast<std::int64_t>(ReportKind::kTlsRpt),
                              "Example",
                              "postmaster@example.net",
                              "id-1",
                              "example.org",
                              "sts",
                              1'700'000'000,
                              1'700'086'400,
                              1'700'090'000,
                              9,
                              8,
                              encode_received_rows(rows)};
  auto report = received_report_from(stored);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->id, 42u);
  EXPECT_EQ(report->kind, ReportKind::kTlsRpt);
  EXPECT_EQ(report->org_name, "Example");
  EXPECT_EQ(report->contact, "postmaster@example.net");
  EXPECT_EQ(report->report_id, "id-1");
  EXPECT_EQ(report->policy_domain, "example.org");
  EXPECT_EQ(report->policy, "sts");
  EXPECT_EQ(to_unix_seconds(report->begin), 1'700'000'000);
  EXPECT_EQ(to_unix_seconds(report->end), 1'700'086'400);
  EXPECT_EQ(to_unix_seconds(report->received), 1'700'090'000);
  EXPECT_EQ(report->messages, 9u);
  EXPECT_EQ(report->passed, 8u);
  EXPECT_EQ(report->rows, rows);

  stored.kind = static_cast<std::int64_t>(ReportKind::kDmarcAggregate);
  EXPECT_EQ(received_report_from(stored)->kind, ReportKind::kDmarcAggregate);
}

TEST(ReceivedReportFrom, UndecodableRowsAreCorrupt) {
  StoredReceivedReport stored;
  stored.rows = "not an encoding";
  auto report = received_report_from(stored);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace tern::domain
