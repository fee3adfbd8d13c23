// SPDX-License-Identifier: Apache-2.0
// ReportTimer: when a pass says the next one is due (the idle timer of issue #8's
// follow-up), and that the loop sleeps without waking and stops promptly.
#include "app/report_timer.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "domain/reports/generator.hpp"
#include "domain/reports/report_posts.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::app {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

// 2026-03-02 10:20:00 UTC (10:00 + 20 min): inside a period, not on an hour.
const SystemTime kNow = from_unix_seconds(1772445600 + 20 * 60);

class TestClock final : public Clock {
 public:
  SystemTime now() const override {
    ++reads;
    return now_;
  }

  Instant monotonic() const override { return std::chrono::steady_clock::now(); }

  SystemTime now_ = kNow;
  mutable std::atomic<int> reads{0};
};

class ReportTimerTest : public ::testing::Test {
 protected:
  ReportTimer timer(config::ReportsSettings settings) {
    return ReportTimer(std::move(settings), storage_, resolver_, pool_, clock_, log::Logger(),
                       nullptr, "");
  }

  domain::ReportPost post(SystemTime next) {
    domain::ReportPost p;
    p.uri = "https://r.example/tlsrpt";
    p.report_id = "id-1";
    p.policy_domain = "example.net";
    p.document = "{}";
    p.queued = kNow - hours(1);
    p.next_attempt = next;
    return p;
  }

  store::memory::MemoryStorage storage_;
  dns::FakeResolver resolver_;
  runtime::BlockingPool pool_{1};
  TestClock clock_;
};

TEST_F(ReportTimerTest, DisabledWithNothingPendingNeverWakes) {
  auto t = timer({});
  EXPECT_EQ(t.run_once(), std::nullopt);
}

TEST_F(ReportTimerTest, APendingPostWakesItAtItsNextAttempt) {
  ASSERT_TRUE(storage_.reports().put_report_post(post(kNow + hours(2))).get());
  auto t = timer({});
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(kNow + hours(2)));
  // A post another node holds is due again when its lease ends.
  ASSERT_TRUE(storage_.reports().claim_report_posts(kNow + hours(2), 1, seconds(600)).get());
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(kNow + hours(2) + seconds(600)));
}

TEST_F(ReportTimerTest, EnabledWakesAfterThePeriodEndsAndChecksForPostsEveryFiveMinutes) {
  config::ReportsSettings s;
  s.enabled = true;
  s.org_name = "example.com";
  s.email = "postmaster@example.com";
  s.submitter = "example.com";
  s.interval = hours(6);
  auto t = timer(s);
  // Posts the CLI or a dead node left behind are found within five minutes.
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(kNow + seconds(300)));
  // 11:58 in a 6-hour period: the 06:00-12:00 one ends at 12:00; built a minute later.
  clock_.now_ = kNow + seconds(98 * 60);
  const auto noon = from_unix_seconds(1772445600 + 2 * 3600);
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(noon + seconds(60)));
  // A pending post due earlier comes first.
  clock_.now_ = kNow;
  ASSERT_TRUE(storage_.reports().put_report_post(post(kNow + seconds(90))).get());
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(kNow + seconds(90)));
}

TEST_F(ReportTimerTest, AnInboxIsReadEveryInterval) {
  config::ReportsSettings s;
  s.inbox = "dmarc@example.com";  // no such account: the read fails and is retried
  s.ingest_interval = seconds(300);
  auto t = timer(s);
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(kNow + seconds(300)));
  clock_.now_ = kNow + seconds(100);
  EXPECT_EQ(t.run_once(), std::optional<SystemTime>(kNow + seconds(300)));
}

TEST_F(ReportTimerTest, TheIdleLoopSleepsUntilStoppedAndStopsAtOnce) {
  auto t = timer({});
  asio::io_context context;
  auto work = asio::make_work_guard(context);
  t.start(context);
  std::thread runner([&] { context.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // One pass read the clock (the pass, then the loop's sleep computation at most);
  // an idle timer reads it no more.
  const int reads = clock_.reads.load();
  EXPECT_GE(reads, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(clock_.reads.load(), reads) << "the idle timer woke";
  const auto stopping = std::chrono::steady_clock::now();
  t.stop();
  work.reset();
  runner.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace tern::app
