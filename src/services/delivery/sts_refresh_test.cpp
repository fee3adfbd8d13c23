// SPDX-License-Identifier: Apache-2.0
// The proactive MTA-STS refresh (RFC 8461 §3.3, §10.2) with a fake clock (time
// points chosen by the test), a fake fetcher and dns::FakeResolver: every outcome
// of refresh_sts_policy(), the pass over a cache directory left by an earlier
// process, and the transport's refresh timer.
#include "services/delivery/sts_refresh.hpp"

#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/testing.hpp"
#include "services/delivery/smtp_transport.hpp"

namespace tern::services::delivery {
namespace {

using namespace std::chrono_literals;

std::string policy_text(const std::string& mode, std::uint32_t max_age = 86400) {
  return "version: STSv1\r\nmode: " + mode +
         "\r\nmx: mx.example.org\r\nmax_age: " + std::to_string(max_age) + "\r\n";
}

// Answers fetches from a script: a policy body per id, or a failure.
class FakeFetcher final : public StsFetcher {
 public:
  void serve(const std::string& id, std::string body) {
    std::lock_guard lock(mutex_);
    bodies_[id] = std::move(body);
  }

  void fail_all() {
    std::lock_guard lock(mutex_);
    bodies_.clear();
  }

  std::vector<std::string> fetched() const {
    std::lock_guard lock(mutex_);
    return fetched_;
  }

  asio::awaitable<StsFetchResult> fetch(std::string domain, std::string id) override {
    StsFetchResult out;
    std::lock_guard lock(mutex_);
    fetched_.push_back(domain + "/" + id);
    auto it = bodies_.find(id);
    if (it == bodies_.end()) {
      out.result = "sts-policy-fetch-error";
      out.detail = "HTTP status 404 from mta-sts." + domain;
      co_return out;
    }
    auto parsed = parse_sts_policy(it->second, id);
    if (!parsed) {
      out.result = "sts-policy-invalid";
      out.detail = parsed.error().message;
      co_return out;
    }
    out.policy = std::move(*parsed);
    out.body = it->second;
    co_return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> bodies_;
  std::vector<std::string> fetched_;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime now) : now_(now) {}

  SystemTime now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }

  Instant monotonic() const override { return Instant(); }

  void set(SystemTime now) {
    std::lock_guard lock(mutex_);
    now_ = now;
  }

 private:
  mutable std::mutex mutex_;
  SystemTime now_;
};

class StsRefreshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    work_.reset();
    thread_.join();
  }

  // example.org's policy `id` (mode enforce, max_age one day) cached at t0_.
  void cache_policy(StsCache& cache, const std::string& id, const std::string& mode = "enforce") {
    auto policy = parse_sts_policy(policy_text(mode), id);
    ASSERT_TRUE(policy);
    ASSERT_TRUE(cache.store("example.org", StsCache::Entry{*policy, t0_, policy_text(mode)}));
  }

  void publish_id(const std::string& id) {
    resolver_.set("_mta-sts.example.org", dns::RecordType::kTxt, dns::Answer{});
    resolver_.add_txt("_mta-sts.example.org", {"v=STSv1; id=" + id});
  }

  StsRefreshOutcome refresh(StsCache& cache, SystemTime now) {
    auto outcome = runtime::testing::run_for(
        io_, refresh_sts_policy(resolver_, fetcher_, cache, "example.org", now, {}));
    EXPECT_TRUE(outcome.has_value());
    return outcome.value_or(StsRefreshOutcome::kDropped);
  }

  runtime::testing::TempDir dir_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  dns::FakeResolver resolver_;
  FakeFetcher fetcher_;
  const SystemTime t0_ = from_unix_seconds(1'800'000'000);
};

TEST_F(StsRefreshTest, UnchangedIdExtendsTheLifetimeWithoutAFetch) {
  StsCache cache(dir_.path());
  cache_policy(cache, "a1");
  publish_id("a1");
  EXPECT_EQ(refresh(cache, t0_ + 20h), StsRefreshOutcome::kExtended);
  EXPECT_TRUE(fetcher_.fetched().empty());
  // max_age now counts from the refresh: still fresh a day after the first fetch.
  ASSERT_TRUE(cache.fresh("example.org", t0_ + 30h));
  EXPECT_FALSE(cache.fresh("example.org", t0_ + 44h));
  // ...and so it is on disk, for the next process.
  StsCache reloaded(dir_.path());
  auto entry = reloaded.cached("example.org");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->fetched, t0_ + 20h);
  EXPECT_EQ(entry->policy.mode, StsMode::kEnforce);
}

TEST_F(StsRefreshTest, ChangedIdIsFetchedAndReplacesThePolicy) {
  StsCache cache(dir_.path());
  cache_policy(cache, "a1");
  publish_id("b2");
  fetcher_.serve("b2", policy_text("testing"));
  EXPECT_EQ(refresh(cache, t0_ + 1h), StsRefreshOutcome::kUpdated);
  EXPECT_EQ(fetcher_.fetched(), std::vector<std::string>{"example.org/b2"});
  auto entry = cache.fresh("example.org", t0_ + 2h);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->policy.id, "b2");
  EXPECT_EQ(entry->policy.mode, StsMode::kTesting);
  EXPECT_EQ(entry->fetched, t0_ + 1h);
}

TEST_F(StsRefreshTest, FailedFetchKeepsTheOldPolicyUntilItExpires) {
  StsCache cache(dir_.path());
  cache_policy(cache, "a1");
  publish_id("b2");  // nothing served for b2
  EXPECT_EQ(refresh(cache, t0_ + 1h), StsRefreshOutcome::kFailed);
  auto kept = cache.fresh("example.org", t0_ + 23h);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->policy.id, "a1");
  // RFC 8461 §3.3: five minutes between fetches of a failed id.
  EXPECT_EQ(refresh(cache, t0_ + 1h + 4min), StsRefreshOutcome::kFailed);
  EXPECT_EQ(fetcher_.fetched().size(), 1U);
  EXPECT_EQ(refresh(cache, t0_ + 1h + 5min), StsRefreshOutcome::kFailed);
  EXPECT_EQ(fetcher_.fetched().size(), 2U);
  // Past max_age the policy is gone, from memory and disk.
  EXPECT_FALSE(cache.fresh("example.org", t0_ + 25h));
  EXPECT_EQ(refresh(cache, t0_ + 25h), StsRefreshOutcome::kDropped);
  EXPECT_FALSE(cache.cached("example.org"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/example.org"));
  EXPECT_TRUE(cache.domains().empty());
}

TEST_F(StsRefreshTest, MissingOrFailingTxtKeepsThePolicyWithoutExtending) {
  StsCache cache(dir_.path());
  cache_policy(cache, "a1");
  EXPECT_EQ(refresh(cache, t0_ + 1h), StsRefreshOutcome::kFailed);  // NXDOMAIN
  resolver_.set("_mta-sts.example.org", dns::RecordType::kTxt,
                dns::Answer::failure(dns::LookupStatus::kTemporary, "servfail"));
  EXPECT_EQ(refresh(cache, t0_ + 2h), StsRefreshOutcome::kFailed);
  EXPECT_TRUE(fetcher_.fetched().empty());
  auto entry = cache.cached("example.org");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->fetched, t0_);  // not extended
  EXPECT_EQ(refresh(cache, t0_ + 24h), StsRefreshOutcome::kDropped);
}

TEST_F(StsRefreshTest, ExpiredPolicyIsFetchedEvenWithTheSameId) {
  StsCache cache(dir_.path());
  cache_policy(cache, "a1");
  publish_id("a1");
  fetcher_.serve("a1", policy_text("enforce", 604800));
  // The id alone cannot revive a policy whose max_age ran out: fetch it.
  EXPECT_EQ(refresh(cache, t0_ + 48h), StsRefreshOutcome::kUpdated);
  EXPECT_EQ(fetcher_.fetched(), std::vector<std::string>{"example.org/a1"});
  auto entry = cache.fresh("example.org", t0_ + 100h);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->policy.max_age, 604800U);
}

TEST_F(StsRefreshTest, NothingCachedIsNothingToDo) {
  StsCache cache(dir_.path());
  publish_id("a1");
  EXPECT_EQ(refresh(cache, t0_), StsRefreshOutcome::kDropped);
  EXPECT_EQ(resolver_.total_lookups_for_test(), 0U);
}

TEST_F(StsRefreshTest, APassCoversPoliciesCachedByAnEarlierProcess) {
  {
    StsCache earlier(dir_.path());
    cache_policy(earlier, "a1");
    auto other = parse_sts_policy(policy_text("none"), "n1");
    ASSERT_TRUE(other);
    ASSERT_TRUE(earlier.store("other.example", StsCache::Entry{*other, t0_, policy_text("none")}));
  }
  // A crash mid-write leaves a temporary file; it is no domain.
  runtime::testing::write_text_file(dir_.path() + "/example.net.tmp", "partial");
  StsCache cache(dir_.path());
  EXPECT_EQ(cache.domains(), (std::vector<std::string>{"example.org", "other.example"}));
  publish_id("a1");
  resolver_.add_txt("_mta-sts.other.example", {"v=STSv1; id=n2"});
  fetcher_.serve("n2", policy_text("testing"));
  auto summary = runtime::testing::run_for(
      io_, refresh_sts_policies(resolver_, fetcher_, cache, t0_ + 1h, {}));
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->extended, 1U);
  EXPECT_EQ(summary->updated, 1U);
  EXPECT_EQ(summary->failed, 0U);
  EXPECT_EQ(summary->dropped, 0U);
  EXPECT_EQ(cache.cached("other.example")->policy.mode, StsMode::kTesting);
}

TEST(StsRefreshOutcome, Names) {
  EXPECT_EQ(sts_refresh_outcome_name(StsRefreshOutcome::kExtended), "extended");
  EXPECT_EQ(sts_refresh_outcome_name(StsRefreshOutcome::kUpdated), "updated");
  EXPECT_EQ(sts_refresh_outcome_name(StsRefreshOutcome::kFailed), "failed");
  EXPECT_EQ(sts_refresh_outcome_name(StsRefreshOutcome::kDropped), "dropped");
}

// ----- through the transport: its clock, its fetcher, its timer

class TransportRefreshTest : public StsRefreshTest {
 protected:
  std::shared_ptr<SmtpTransport> make_transport(bool mta_sts = true) {
    TransportOptions options;
    options.outbound.mta_sts = mta_sts;
    options.helo_name = "client.test";
    options.sts_cache_dir = dir_.path();
    options.clock = &clock_;
    options.sts_fetcher = fetcher_ptr_;
    auto created = SmtpTransport::create(io_, resolver_, random_, options, {});
    EXPECT_TRUE(created) << created.error().message;
    return created ? *created : nullptr;
  }

  // The fixture's fetcher, shared with the transport without owning it.
  std::shared_ptr<StsFetcher> fetcher_ptr_{std::shared_ptr<StsFetcher>{}, &fetcher_};
  FakeClock clock_{t0_ + 1h};
  runtime::SystemRandom random_;
};

TEST_F(TransportRefreshTest, RefreshUsesTheTransportsClockAndFetcher) {
  {
    StsCache earlier(dir_.path());
    cache_policy(earlier, "a1");
  }
  publish_id("b2");
  fetcher_.serve("b2", policy_text("testing"));
  auto transport = make_transport();
  ASSERT_TRUE(transport);
  auto summary = transport->refresh_sts_policies().get();
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->updated, 1U);
  StsCache after(dir_.path());
  EXPECT_EQ(after.cached("example.org")->policy.id, "b2");
  EXPECT_EQ(after.cached("example.org")->fetched, t0_ + 1h);
}

TEST_F(TransportRefreshTest, TheTimerPicksUpANewIdWithoutADelivery) {
  {
    StsCache earlier(dir_.path());
    cache_policy(earlier, "a1");
  }
  publish_id("a1");
  auto transport = make_transport();
  ASSERT_TRUE(transport);
  // The first pass, at once: the same id extends the policy.
  transport->start_sts_refresh(0s, 1s);
  auto extended = [&] {
    StsCache view(dir_.path());
    auto entry = view.cached("example.org");
    return entry && entry->fetched == t0_ + 1h;
  };
  for (int i = 0; i < 100 && !extended(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(extended());
  EXPECT_TRUE(fetcher_.fetched().empty());
  // A new id is fetched by a later pass.
  publish_id("b2");
  fetcher_.serve("b2", policy_text("testing"));
  clock_.set(t0_ + 2h);
  for (int i = 0; i < 250 && fetcher_.fetched().empty(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(fetcher_.fetched(), std::vector<std::string>{"example.org/b2"});
}

// ternd's shutdown waits for its I/O threads to run out of work; a pending
// refresh timer must not keep them (and the process) alive.
TEST_F(TransportRefreshTest, StoppingTheRefreshLetsTheIoContextFinish) {
  auto transport = make_transport();
  ASSERT_TRUE(transport);
  transport->start_sts_refresh(1h, 1h);
  std::this_thread::sleep_for(100ms);  // the loop is waiting on its timer
  transport->stop_sts_refresh();
  work_.reset();
  for (int i = 0; i < 100 && !io_.stopped(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(io_.stopped());
}

TEST_F(TransportRefreshTest, NoTimerWhenMtaStsIsOff) {
  {
    StsCache earlier(dir_.path());
    cache_policy(earlier, "a1");
  }
  publish_id("b2");
  auto transport = make_transport(false);
  ASSERT_TRUE(transport);
  transport->start_sts_refresh(0s, 1s);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(resolver_.total_lookups_for_test(), 0U);
}

}  // namespace
}  // namespace tern::services::delivery
