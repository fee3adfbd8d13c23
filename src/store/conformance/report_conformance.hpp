// SPDX-License-Identifier: Apache-2.0
// The ReportStore conformance suite: a typed GoogleTest suite every backend of
// domain::Storage instantiates beside StorageConformance (same Factory concept):
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ReportConformance,
//                                  ::testing::Types<MemoryFactory>);
//
// It pins down the port's promises (ports.hpp ReportStore): rows counted per policy
// domain and hour, periods as half-open hour ranges, the last policy of a period,
// every field round-tripping, TLS summaries per policy with failure details,
// received reports stored once, cursors (and their compare-and-set), pending
// posts and their leased claims (also from two threads at once), and pruning.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "domain/ports.hpp"
#include "store/conformance/conformance_support.hpp"

namespace tern::store::conformance {

template <class Factory>
class ReportConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = factory_.make();
    if (!storage_) {
      GTEST_SKIP() << "backend not available";
    }
  }

  void TearDown() override { storage_.reset(); }

  domain::ReportStore& reports() { return storage_->reports(); }

  static domain::DmarcEvaluation evaluation(const std::string& ip, SystemTime when) {
    domain::DmarcEvaluation e;
    e.time = when;
    e.policy.domain = "example.org";
    e.policy.p = "reject";
    e.policy.pct = 100;
    e.policy.rua = {"mailto:dmarc@example.org"};
    e.row.source_ip = ip;
    e.row.header_from = "example.org";
    e.row.envelope_from = "example.org";
    e.row.envelope_to = "example.com";
    e.row.disposition = "none";
    e.row.dkim_alignment = "pass";
    e.row.spf_alignment = "pass";
    e.row.dkim = {{"example.org", "s1", "pass"}};
    e.row.spf = {{"example.org", "mfrom", "pass"}};
    return e;
  }

  // Pending post number `i` ("https://r.example/<i>"), queued at fixed_time().
  static domain::ReportPost numbered_post(int i, SystemTime next_attempt) {
    domain::ReportPost p;
    p.uri = "https://r.example/" + std::to_string(i);
    p.report_id = "id";
    p.policy_domain = "example.net";
    p.document = "{}";
    p.queued = fixed_time();
    p.next_attempt = next_attempt;
    return p;
  }

  static domain::TlsSessionResult tls(domain::TlsResultType result, SystemTime when) {
    domain::TlsSessionResult r;
    r.time = when;
    r.policy_domain = "example.net";
    r.policy_type = domain::TlsPolicyType::kSts;
    r.policy_strings = {"version: STSv1", "mode: enforce", "mx: *.example.net", "max_age: 86400"};
    r.mx_hosts = {"*.example.net"};
    r.result = result;
    if (result != domain::TlsResultType::kSuccess) {
      r.sending_mta_ip = "192.0.2.1";
      r.receiving_mx_hostname = "mx1.example.net";
      r.receiving_ip = "198.51.100.7";
    }
    return r;
  }

  static constexpr std::chrono::hours kDay{24};

  Factory factory_;
  std::unique_ptr<domain::Storage> storage_;
};

TYPED_TEST_SUITE_P(ReportConformance);

TYPED_TEST_P(ReportConformance, DmarcRowsAreCountedPerDomainAndPeriod) {
  const auto day = fixed_time();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(wait(this->reports().record_dmarc(this->evaluation("192.0.2.1", day))));
  }
  ASSERT_TRUE(wait(this->reports().record_dmarc(
      this->evaluation("192.0.2.2", day + std::chrono::hours(23) + std::chrono::minutes(59)))));
  // The next day: outside [day, day + 24h).
  ASSERT_TRUE(wait(this->reports().record_dmarc(this->evaluation("192.0.2.1", day + this->kDay))));
  auto other = this->evaluation("203.0.113.9", day);
  other.policy.domain = "example.net";
  ASSERT_TRUE(wait(this->reports().record_dmarc(other)));

  auto domains = wait(this->reports().dmarc_domains(day, day + this->kDay));
  ASSERT_TRUE(domains) << domains.error().message;
  EXPECT_EQ(*domains, (std::vector<std::string>{"example.net", "example.org"}));

  auto aggregate = wait(this->reports().dmarc_aggregate("example.org", day, day + this->kDay));
  ASSERT_TRUE(aggregate) << aggregate.error().message;
  EXPECT_EQ(aggregate->domain, "example.org");
  ASSERT_EQ(aggregate->rows.size(), 2u);
  EXPECT_EQ(aggregate->rows[0].row.source_ip, "192.0.2.1");
  EXPECT_EQ(aggregate->rows[0].count, 3u);
  EXPECT_EQ(aggregate->rows[1].row.source_ip, "192.0.2.2");
  EXPECT_EQ(aggregate->rows[1].count, 1u);

  auto two_days = wait(this->reports().dmarc_aggregate("example.org", day, day + 2 * this->kDay));
  ASSERT_TRUE(two_days);
  EXPECT_EQ(two_days->rows[0].count, 4u);

  auto none = wait(this->reports().dmarc_aggregate("example.org", day - this->kDay, day));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

TYPED_TEST_P(ReportConformance, DmarcAggregateKeepsEveryFieldAndTheLastPolicy) {
  const auto day = fixed_time();
  auto first = this->evaluation("2001:db8::1", day);
  first.policy.p = "none";
  ASSERT_TRUE(wait(this->reports().record_dmarc(first)));

  auto e = this->evaluation("2001:db8::1", day + std::chrono::hours(5));
  e.policy.p = "quarantine";
  e.policy.sp = "reject";
  e.policy.np = "reject";
  e.policy.pct.reset();
  e.policy.adkim = "s";
  e.policy.aspf = "s";
  e.policy.fo = "1";
  e.policy.testing = true;
  e.policy.rua = {"mailto:a@example.org!10m", "mailto:b@example.com"};
  e.row.envelope_from = "";
  e.row.disposition = "quarantine";
  e.row.dkim_alignment = "fail";
  e.row.overrides = {{"local_policy", "odd: bytes \x01 and 12:colons"}, {"forwarded", ""}};
  e.row.dkim = {{"example.org", "s1", "fail"}, {"mail.example.com", "k", "pass"}};
  e.row.spf = {{"bounce.example.org", "helo", "softfail"}};
  ASSERT_TRUE(wait(this->reports().record_dmarc(e)));

  auto aggregate = wait(this->reports().dmarc_aggregate("example.org", day, day + this->kDay));
  ASSERT_TRUE(aggregate) << aggregate.error().message;
  EXPECT_EQ(aggregate->policy, e.policy);
  ASSERT_EQ(aggregate->rows.size(), 2u);
  bool found = false;
  for (const auto& row : aggregate->rows) {
    if (row.row == e.row) {
      found = true;
      EXPECT_EQ(row.count, 1u);
    }
  }
  EXPECT_TRUE(found);

  auto bad = this->evaluation("192.0.2.1", day);
  bad.policy.domain.clear();
  auto refused = wait(this->reports().record_dmarc(bad));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput);
}

TYPED_TEST_P(ReportConformance, TlsResultsAreSummarisedPerPolicy) {
  const auto day = fixed_time();
  using domain::TlsResultType;
  auto ok = this->tls(TlsResultType::kSuccess, day);
  ok.sessions = 5;
  ASSERT_TRUE(wait(this->reports().record_tls(ok)));
  ASSERT_TRUE(wait(this->reports().record_tls(this->tls(TlsResultType::kSuccess, day))));
  ASSERT_TRUE(wait(this->reports().record_tls(this->tls(TlsResultType::kCertificateExpired, day))));
  ASSERT_TRUE(wait(this->reports().record_tls(
      this->tls(TlsResultType::kCertificateExpired, day + std::chrono::hours(2)))));
  auto mismatch = this->tls(TlsResultType::kCertificateHostMismatch, day);
  mismatch.additional_information = "https://example.net/why";
  mismatch.failure_reason_code = "X509_V_ERR_HOSTNAME_MISMATCH";
  ASSERT_TRUE(wait(this->reports().record_tls(mismatch)));
  auto none = this->tls(TlsResultType::kSuccess, day);
  none.policy_type = domain::TlsPolicyType::kNoPolicyFound;
  none.policy_strings.clear();
  none.mx_hosts.clear();
  ASSERT_TRUE(wait(this->reports().record_tls(none)));

  auto domains = wait(this->reports().tls_domains(day, day + this->kDay));
  ASSERT_TRUE(domains);
  EXPECT_EQ(*domains, std::vector<std::string>{"example.net"});

  auto summary = wait(this->reports().tls_summary("example.net", day, day + this->kDay));
  ASSERT_TRUE(summary) << summary.error().message;
  ASSERT_EQ(summary->size(), 2u);
  const domain::TlsPolicySummary* sts = nullptr;
  const domain::TlsPolicySummary* no_policy = nullptr;
  for (const auto& s : *summary) {
    (s.policy_type == domain::TlsPolicyType::kSts ? sts : no_policy) = &s;
  }
  ASSERT_NE(sts, nullptr);
  ASSERT_NE(no_policy, nullptr);
  EXPECT_EQ(sts->policy_domain, "example.net");
  EXPECT_EQ(sts->policy_strings, ok.policy_strings);
  EXPECT_EQ(sts->mx_hosts, ok.mx_hosts);
  EXPECT_EQ(sts->successes, 6u);
  EXPECT_EQ(sts->failures, 3u);
  ASSERT_EQ(sts->failure_details.size(), 2u);
  std::uint64_t expired = 0;
  for (const auto& d : sts->failure_details) {
    if (d.result == TlsResultType::kCertificateExpired) {
      expired = d.count;
      EXPECT_EQ(d.receiving_mx_hostname, "mx1.example.net");
      EXPECT_EQ(d.receiving_ip, "198.51.100.7");
    } else {
      EXPECT_EQ(d.result, TlsResultType::kCertificateHostMismatch);
      EXPECT_EQ(d.additional_information, "https://example.net/why");
      EXPECT_EQ(d.failure_reason_code, "X509_V_ERR_HOSTNAME_MISMATCH");
      EXPECT_EQ(d.count, 1u);
    }
  }
  EXPECT_EQ(expired, 2u);
  EXPECT_EQ(no_policy->successes, 1u);
  EXPECT_EQ(no_policy->failures, 0u);

  auto empty =
      wait(this->reports().tls_summary("example.net", day + this->kDay, day + 2 * this->kDay));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto zero = this->tls(TlsResultType::kSuccess, day);
  zero.sessions = 0;
  EXPECT_FALSE(wait(this->reports().record_tls(zero)));
}

TYPED_TEST_P(ReportConformance, ReceivedReportsAreStoredOnceAndQueried) {
  const auto day = fixed_time();
  domain::ReceivedReport dmarc;
  dmarc.kind = domain::ReportKind::kDmarcAggregate;
  dmarc.org_name = "google.com";
  dmarc.contact = "noreply-dmarc-support@google.com";
  dmarc.report_id = "123";
  dmarc.policy_domain = "example.com";
  dmarc.policy = "p=none";
  dmarc.begin = day;
  dmarc.end = day + this->kDay;
  dmarc.received = day + this->kDay + std::chrono::hours(1);
  dmarc.messages = 3;
  dmarc.passed = 2;
  dmarc.rows = {{"192.0.2.1", 2, "none", "pass", "pass", "example.com"},
                {"192.0.2.9", 1, "none", "fail", "fail", "example.com"}};
  auto stored = wait(this->reports().store_received_report(dmarc));
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_TRUE(*stored);
  auto again = wait(this->reports().store_received_report(dmarc));
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);

  auto tls = dmarc;
  tls.kind = domain::ReportKind::kTlsRpt;
  tls.policy_domain = "example.net";
  tls.end = day + 2 * this->kDay;
  tls.rows = {{"mx.example.net", 4, "success", "", "", ""}};
  ASSERT_TRUE(*wait(this->reports().store_received_report(tls)));

  auto all = wait(this->reports().received_reports({}));
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].kind, domain::ReportKind::kTlsRpt);  // newest end first
  auto first = (*all)[1];
  EXPECT_NE(first.id, 0u);
  first.id = 0;
  EXPECT_EQ(first, dmarc);

  auto only_dmarc = wait(this->reports().received_reports(
      domain::ReceivedReportQuery{domain::ReportKind::kDmarcAggregate, std::nullopt, 100}));
  ASSERT_TRUE(only_dmarc);
  ASSERT_EQ(only_dmarc->size(), 1u);
  EXPECT_EQ((*only_dmarc)[0].report_id, "123");
  auto by_domain = wait(this->reports().received_reports(
      domain::ReceivedReportQuery{std::nullopt, std::string("example.net"), 100}));
  ASSERT_TRUE(by_domain);
  ASSERT_EQ(by_domain->size(), 1u);
  EXPECT_EQ((*by_domain)[0].kind, domain::ReportKind::kTlsRpt);
  auto limited = wait(
      this->reports().received_reports(domain::ReceivedReportQuery{std::nullopt, std::nullopt, 1}));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->size(), 1u);
}

TYPED_TEST_P(ReportConformance, CursorsAreKeptByName) {
  auto unset = wait(this->reports().report_cursor("dmarc"));
  ASSERT_TRUE(unset);
  EXPECT_FALSE(unset->has_value());
  const auto t = fixed_time();
  ASSERT_TRUE(wait(this->reports().set_report_cursor("dmarc", t)));
  ASSERT_TRUE(wait(this->reports().set_report_cursor("tls", t + this->kDay)));
  ASSERT_TRUE(wait(this->reports().set_report_cursor("dmarc", t + 2 * this->kDay)));
  auto dmarc = wait(this->reports().report_cursor("dmarc"));
  ASSERT_TRUE(dmarc);
  EXPECT_EQ(*dmarc, std::optional<SystemTime>(t + 2 * this->kDay));
  auto tls = wait(this->reports().report_cursor("tls"));
  ASSERT_TRUE(tls);
  EXPECT_EQ(*tls, std::optional<SystemTime>(t + this->kDay));
}

TYPED_TEST_P(ReportConformance, ReportPostsAreKeptUntilRemoved) {
  const auto t = fixed_time();
  auto post = [&](std::string uri, std::string id, SystemTime next) {
    domain::ReportPost p;
    p.uri = std::move(uri);
    p.report_id = std::move(id);
    p.policy_domain = "example.net";
    p.document = "{\"report-id\": \"x\"}\n";
    p.queued = t;
    p.next_attempt = next;
    return p;
  };
  auto empty = wait(this->reports().due_report_posts(t + this->kDay, 10));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto b = post("https://b.example/r", "id-1", t + std::chrono::seconds(60));
  auto a = post("https://a.example/r", "id-1", t + std::chrono::seconds(60));
  auto later = post("https://a.example/r", "id-2", t + std::chrono::seconds(600));
  for (const auto& p : {b, a, later}) {
    ASSERT_TRUE(wait(this->reports().put_report_post(p)));
  }
  auto due = wait(this->reports().due_report_posts(t + std::chrono::seconds(60), 10));
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0], a);  // equal times: by uri
  EXPECT_EQ((*due)[1], b);
  // The same key replaces every field.
  a.attempts = 3;
  a.last_error = "HTTP 500";
  a.next_attempt = t + std::chrono::seconds(6000);
  ASSERT_TRUE(wait(this->reports().put_report_post(a)));
  auto all = wait(this->reports().due_report_posts(t + this->kDay, 10));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], b);
  EXPECT_EQ((*all)[1], later);
  EXPECT_EQ((*all)[2], a);
  auto limited = wait(this->reports().due_report_posts(t + this->kDay, 1));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->size(), 1u);
  ASSERT_TRUE(wait(this->reports().remove_report_post(b.uri, b.report_id)));
  ASSERT_TRUE(wait(this->reports().remove_report_post(b.uri, b.report_id)));  // already gone
  auto rest = wait(this->reports().due_report_posts(t + this->kDay, 10));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0], later);
  auto keyless = post("", "id", t);
  auto refused = wait(this->reports().put_report_post(keyless));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput);
}

TYPED_TEST_P(ReportConformance, CursorsAreComparedAndSetAtomically) {
  const auto t = fixed_time();
  // Unset: only an "expect unset" caller wins, and only once.
  auto first = wait(this->reports().compare_and_set_report_cursor("lease", std::nullopt, t));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  auto again = wait(this->reports().compare_and_set_report_cursor("lease", std::nullopt, t));
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  // Set: a stale expectation loses and changes nothing; the current one wins.
  auto stale = wait(
      this->reports().compare_and_set_report_cursor("lease", t - this->kDay, t + 2 * this->kDay));
  ASSERT_TRUE(stale);
  EXPECT_FALSE(*stale);
  EXPECT_EQ(*wait(this->reports().report_cursor("lease")), std::optional<SystemTime>(t));
  auto swapped = wait(this->reports().compare_and_set_report_cursor("lease", t, t + this->kDay));
  ASSERT_TRUE(swapped);
  EXPECT_TRUE(*swapped);
  EXPECT_EQ(*wait(this->reports().report_cursor("lease")),
            std::optional<SystemTime>(t + this->kDay));
  // Other names are untouched.
  EXPECT_FALSE(wait(this->reports().report_cursor("other"))->has_value());
}

TYPED_TEST_P(ReportConformance, ClaimedPostsAreLeasedToOneClaimer) {
  const auto t = fixed_time();
  constexpr std::chrono::seconds kLease{120};
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        wait(this->reports().put_report_post(this->numbered_post(i, t + std::chrono::seconds(i)))));
  }
  const auto now = t + std::chrono::seconds(10);
  // Two claimers taking turns get disjoint sets, earliest first.
  auto a = wait(this->reports().claim_report_posts(now, 4, kLease));
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->size(), 4u);
  EXPECT_EQ((*a)[0].uri, "https://r.example/0");
  EXPECT_EQ((*a)[3].uri, "https://r.example/3");
  EXPECT_EQ((*a)[0].next_attempt, now + kLease);
  auto b = wait(this->reports().claim_report_posts(now, 4, kLease));
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0].uri, "https://r.example/4");
  EXPECT_EQ((*b)[1].uri, "https://r.example/5");
  // Claimed posts are not due while the lease holds...
  auto none =
      wait(this->reports().claim_report_posts(now + kLease - std::chrono::seconds(1), 10, kLease));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(
      wait(this->reports().due_report_posts(now + kLease - std::chrono::seconds(1), 10))->empty());
  // ...and due again once it has ended (the claimer died).
  auto reclaimed = wait(this->reports().claim_report_posts(now + kLease, 10, kLease));
  ASSERT_TRUE(reclaimed);
  EXPECT_EQ(reclaimed->size(), 6u);
}

TYPED_TEST_P(ReportConformance, ConcurrentClaimersNeverShareAPost) {
  const auto t = fixed_time();
  constexpr int kPosts = 30;
  for (int i = 0; i < kPosts; ++i) {
    ASSERT_TRUE(wait(this->reports().put_report_post(this->numbered_post(i, t))));
  }
  std::vector<std::string> claimed[2];
  auto claim_all = [&](std::vector<std::string>& out) {
    for (;;) {
      auto got = wait(this->reports().claim_report_posts(t, 2, std::chrono::seconds(60)));
      ASSERT_TRUE(got) << got.error().message;
      if (got->empty()) {
        return;
      }
      for (const auto& p : *got) {
        out.push_back(p.uri);
      }
    }
  };
  std::thread first([&] { claim_all(claimed[0]); });
  std::thread second([&] { claim_all(claimed[1]); });
  first.join();
  second.join();
  std::set<std::string> all(claimed[0].begin(), claimed[0].end());
  for (const auto& uri : claimed[1]) {
    EXPECT_TRUE(all.insert(uri).second) << "claimed twice: " << uri;
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kPosts));
}

TYPED_TEST_P(ReportConformance, PruneRemovesOnlyOlderData) {
  const auto day = fixed_time();
  ASSERT_TRUE(wait(this->reports().record_dmarc(this->evaluation("192.0.2.1", day))));
  ASSERT_TRUE(wait(this->reports().record_dmarc(this->evaluation("192.0.2.1", day + this->kDay))));
  ASSERT_TRUE(wait(this->reports().record_tls(this->tls(domain::TlsResultType::kSuccess, day))));
  domain::ReceivedReport old;
  old.org_name = "a";
  old.report_id = "1";
  old.policy_domain = "example.com";
  old.begin = day - this->kDay;
  old.end = day;
  ASSERT_TRUE(*wait(this->reports().store_received_report(old)));

  auto removed = wait(this->reports().prune_reports(day + this->kDay));
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_GE(*removed, 3u);
  auto gone = wait(this->reports().dmarc_aggregate("example.org", day, day + this->kDay));
  EXPECT_FALSE(gone);
  auto kept = wait(this->reports().dmarc_aggregate("example.org", day, day + 2 * this->kDay));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->rows[0].count, 1u);
  auto tls = wait(this->reports().tls_summary("example.net", day, day + this->kDay));
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->empty());
  auto received = wait(this->reports().received_reports({}));
  ASSERT_TRUE(received);
  EXPECT_TRUE(received->empty());
}

REGISTER_TYPED_TEST_SUITE_P(ReportConformance, DmarcRowsAreCountedPerDomainAndPeriod,
                            DmarcAggregateKeepsEveryFieldAndTheLastPolicy,
                            TlsResultsAreSummarisedPerPolicy,
                            ReceivedReportsAreStoredOnceAndQueried, CursorsAreKeptByName,
                            ReportPostsAreKeptUntilRemoved, CursorsAreComparedAndSetAtomically,
                            ClaimedPostsAreLeasedToOneClaimer, ConcurrentClaimersNeverShareAPost,
                            PruneRemovesOnlyOlderData);

}  // namespace tern::store::conformance
