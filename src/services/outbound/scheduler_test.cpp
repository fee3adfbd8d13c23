// SPDX-License-Identifier: Apache-2.0
// The scheduler over the in-memory store with a scripted transport and a clock
// the test moves: retries, expiry and delay warnings run without waiting.
#include "services/outbound/scheduler.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/recording_sink.hpp"
#include "domain/accounts.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::services::outbound {
namespace {

namespace d = tern::domain;
using namespace std::chrono_literals;

class TestClock final : public Clock {
 public:
  SystemTime now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }

  Instant monotonic() const override { return std::chrono::steady_clock::now(); }

  void advance(std::chrono::seconds by) {
    std::lock_guard lock(mutex_);
    now_ += by;
  }

 private:
  mutable std::mutex mutex_;
  SystemTime now_ = from_unix_seconds(1'790'000'000);
};

// Answers each request with what `script` says; requests are recorded. With
// `hold` set, answers wait until release() (to observe concurrency).
class ScriptedTransport final : public d::OutboundTransport {
 public:
  using Script = std::function<d::RecipientOutcome(const d::DeliveryRequest&,
                                                   const d::DeliveryRequest::Recipient&)>;

  explicit ScriptedTransport(Script script) : script_(std::move(script)) {}

  d::Async<d::DeliveryReport> deliver(d::DeliveryRequest request) override {
    d::DeliveryReport report;
    for (const auto& r : request.recipients) {
      auto o = script_(request, r);
      o.index = r.index;
      report.recipients.push_back(o);
    }
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
    ++outstanding_;
    max_outstanding_ = std::max(max_outstanding_, outstanding_);
    Promise<Result<d::DeliveryReport>> promise;
    auto future = promise.future();
    if (hold_) {
      held_.push_back({promise, std::move(report)});
    } else {
      --outstanding_;
      promise.set_value(std::move(report));
    }
    return future;
  }

  void hold(bool on) {
    std::lock_guard lock(mutex_);
    hold_ = on;
  }

  // Answers every held request.
  void release() {
    std::vector<std::pair<Promise<Result<d::DeliveryReport>>, d::DeliveryReport>> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
      outstanding_ -= held.size();
    }
    for (auto& [promise, report] : held) {
      promise.set_value(std::move(report));
    }
  }

  std::size_t held_count() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

  std::vector<d::DeliveryRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  std::size_t max_outstanding() {
    std::lock_guard lock(mutex_);
    return max_outstanding_;
  }

 private:
  Script script_;
  std::mutex mutex_;
  bool hold_ = false;
  std::vector<std::pair<Promise<Result<d::DeliveryReport>>, d::DeliveryReport>> held_;
  std::vector<d::DeliveryRequest> requests_;
  std::size_t outstanding_ = 0;
  std::size_t max_outstanding_ = 0;
};

d::RecipientOutcome answer(d::DeliveryStatus status, std::string reply, std::string enhanced) {
  d::RecipientOutcome o;
  o.status = status;
  o.reply = std::move(reply);
  o.enhanced_status = std::move(enhanced);
  o.remote_host = "mx.remote.example[192.0.2.1]";
  return o;
}

ScriptedTransport::Script always(d::DeliveryStatus status, std::string reply = "250 2.0.0 ok",
                                 std::string enhanced = "2.0.0") {
  return [=](const auto&, const auto&) { return answer(status, reply, enhanced); };
}

// The memory store with removals from the queue held back until open(): a slow
// disk, where a delivery's record lags behind the remote's 250.
class SlowRecordStorage final : public d::Storage, d::QueueStore {
 public:
  explicit SlowRecordStorage(d::Storage& inner) : inner_(inner) {}

  d::Directory& directory() override { return inner_.directory(); }

  d::MailStore& mail() override { return inner_.mail(); }

  d::BlobStore& blobs() override { return inner_.blobs(); }

  d::QueueStore& queue() override { return *this; }

  d::ReportStore& reports() override { return inner_.reports(); }

  d::SpamStore& spam() override { return inner_.spam(); }

  d::GreylistStore& greylist() override { return inner_.greylist(); }

  d::Async<d::QueueId> enqueue(d::NewQueuedMessage m) override { return q().enqueue(std::move(m)); }

  d::Async<std::vector<d::QueuedMessage>> queued() override { return q().queued(); }

  d::Async<std::optional<d::QueuedMessage>> find_queued(d::QueueId id) override {
    return q().find_queued(id);
  }

  d::Async<std::string> read_queued(d::QueueId id) override { return q().read_queued(id); }

  d::Async<std::vector<d::QueuedMessage>> claim_due(SystemTime now, std::size_t limit,
                                                    std::chrono::seconds lease) override {
    return q().claim_due(now, limit, lease);
  }

  d::Async<void> update_queued(d::QueueId id, d::QueueUpdate u) override {
    return q().update_queued(id, std::move(u));
  }

  d::Async<void> set_held(d::QueueId id, bool held, SystemTime now) override {
    return q().set_held(id, held, now);
  }

  d::Async<void> reschedule(d::QueueId id, SystemTime when) override {
    return q().reschedule(id, when);
  }

  d::Async<void> remove_queued(d::QueueId id) override {
    Promise<Result<void>> promise;
    auto future = promise.future();
    std::lock_guard lock(mutex_);
    if (open_) {
      promise.set_value(q().remove_queued(id).get());
    } else {
      pending_.emplace_back(id, promise);
    }
    return future;
  }

  void open() {
    std::vector<std::pair<d::QueueId, Promise<Result<void>>>> pending;
    {
      std::lock_guard lock(mutex_);
      open_ = true;
      pending.swap(pending_);
    }
    for (auto& [id, promise] : pending) {
      promise.set_value(q().remove_queued(id).get());
    }
  }

 private:
  d::QueueStore& q() { return inner_.queue(); }

  d::Storage& inner_;
  std::mutex mutex_;
  bool open_ = false;
  std::vector<std::pair<d::QueueId, Promise<Result<void>>>> pending_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.directory().add_domain("example.org").get());
    ASSERT_TRUE(d::provision_account(store_, d::NewAccount{"alice@example.org", "x", 0}));
  }

  void TearDown() override { stop(); }

  void start(ScriptedTransport::Script script, Options options = {}) {
    transport_ = std::make_unique<ScriptedTransport>(std::move(script));
    options.hostname = "mail.example.org";
    if (options.poll_interval == Options{}.poll_interval) {
      options.poll_interval = 20ms;  // other processes' entries: checked often in tests
    }
    scheduler_ = std::make_unique<Scheduler>(options, *scheduler_storage_, *transport_, pool_,
                                             clock_, registry_, logger_);
    scheduler_->start(io_);
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  void stop() {
    if (!scheduler_) {
      return;
    }
    if (transport_) {
      transport_->hold(false);
      transport_->release();
    }
    std::promise<void> stopped;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await scheduler_->stop(5s);
          stopped.set_value();
        },
        asio::detached);
    stopped.get_future().wait();
    work_.reset();
    io_.stop();
    thread_.join();
    scheduler_.reset();
  }

  d::QueueId enqueue(std::string sender, std::vector<std::string> to, std::string raw = "",
                     std::string notify = "") {
    d::NewQueuedMessage m;
    m.raw = raw.empty() ? "From: " + sender + "\r\nSubject: test\r\n\r\nbody\r\n" : raw;
    m.sender = std::move(sender);
    for (auto& a : to) {
      d::QueueRecipient r;
      r.address = std::move(a);
      r.notify = notify;
      m.recipients.push_back(std::move(r));
    }
    m.now = clock_.now();
    auto id = store_.queue().enqueue(std::move(m)).get();
    EXPECT_TRUE(id);
    if (scheduler_) {
      scheduler_->wake();
    }
    return *id;
  }

  std::vector<d::QueuedMessage> queued() { return *store_.queue().queued().get(); }

  bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return condition();
  }

  std::vector<std::string> inbox(const std::string& address) {
    auto account = *store_.directory().find_account(address).get();
    auto boxes = *store_.mail().mailboxes(account->id).get();
    auto box = std::find_if(boxes.begin(), boxes.end(), [](auto& b) { return b.name == "INBOX"; });
    auto entries = *store_.mail().entries(account->id, box->id, d::Uid{1}, d::Uid{100000}).get();
    std::vector<std::string> out;
    for (const auto& e : entries) {
      out.push_back(*store_.mail().read_message(account->id, e.message).get());
    }
    return out;
  }

  void advance_and_wake(std::chrono::seconds by) {
    clock_.advance(by);
    scheduler_->wake();
  }

  store::memory::MemoryStorage store_;
  d::Storage* scheduler_storage_ = &store_;  // what the scheduler sees
  // A test sets logger_ to log_sink_ before start() to see what the scheduler
  // logs. Declared before the pool and the scheduler, so destroyed after them:
  // nothing they run can log into a sink that is gone.
  log::RecordingSink log_sink_;
  log::Logger logger_;
  // Before pool_, so destroyed after it: a pool job that has handed its result
  // back still holds a work guard on io_ until the pool is joined.
  asio::io_context io_;
  runtime::BlockingPool pool_{2};
  TestClock clock_;
  metrics::Registry registry_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::unique_ptr<ScriptedTransport> transport_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, DeliversAndRemovesTheEntryWithOneRequestPerDestination) {
  start(always(d::DeliveryStatus::kDelivered));
  enqueue("alice@example.org", {"a@remote.example", "b@REMOTE.example", "c@other.example"});
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].destination, "remote.example");
  ASSERT_EQ(requests[0].recipients.size(), 2u);
  EXPECT_EQ(requests[0].sender, "alice@example.org");
  EXPECT_NE(requests[0].raw.find("Subject: test"), std::string::npos);
  EXPECT_EQ(requests[1].destination, "other.example");
  EXPECT_TRUE(inbox("alice@example.org").empty());  // no notice without NOTIFY=SUCCESS
}

TEST_F(SchedulerTest, DeferredIsRetriedOnScheduleAndDeliveredOnce) {
  std::atomic<int> calls{0};
  Options options;
  options.retry.schedule = {60s};
  start(
      [&](const auto&, const auto&) {
        return ++calls == 1 ? answer(d::DeliveryStatus::kDeferred, "451 4.7.1 try later", "4.7.1")
                            : answer(d::DeliveryStatus::kDelivered, "250 ok", "2.0.0");
      },
      options);
  auto id = enqueue("alice@example.org", {"a@remote.example"});
  ASSERT_TRUE(eventually([&] {
    auto q = queued();
    return q.size() == 1 && q[0].attempts == 1 && q[0].state == d::QueueState::kQueued;
  }));
  auto entry = *store_.queue().find_queued(id).get();
  EXPECT_EQ(entry->next_attempt, clock_.now() + 60s);
  EXPECT_EQ(entry->recipients[0].last_reply, "451 4.7.1 try later");
  EXPECT_EQ(entry->recipients[0].remote_host, "mx.remote.example[192.0.2.1]");
  std::this_thread::sleep_for(100ms);  // several polls: not due yet
  EXPECT_EQ(calls.load(), 1);
  advance_and_wake(60s);
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(SchedulerTest, PermanentFailureBouncesToTheLocalSendersInbox) {
  start(always(d::DeliveryStatus::kFailed, "550 5.1.1 <x@remote.example>: no such user", "5.1.1"));
  enqueue("alice@example.org", {"x@remote.example"});
  ASSERT_TRUE(eventually([&] { return inbox("alice@example.org").size() == 1; }));
  auto dsn = inbox("alice@example.org")[0];
  EXPECT_NE(dsn.find("report-type=delivery-status"), std::string::npos) << dsn;
  EXPECT_NE(dsn.find("Action: failed"), std::string::npos);
  EXPECT_NE(dsn.find("Status: 5.1.1"), std::string::npos);
  EXPECT_NE(dsn.find("Diagnostic-Code: smtp; 550 5.1.1"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  EXPECT_EQ(transport_->requests().size(), 1u);  // the notice went to the INBOX, not out
}

TEST_F(SchedulerTest, NoBounceForTheNullSender) {
  start(always(d::DeliveryStatus::kFailed, "550 5.1.1 no", "5.1.1"));
  enqueue("", {"x@remote.example"});
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(queued().empty());
  EXPECT_EQ(transport_->requests().size(), 1u);
}

TEST_F(SchedulerTest, DelayWarningThenExpiryNotice) {
  Options options;
  options.retry.schedule = {10s};
  options.retry.delay_warning = 30s;
  options.retry.lifetime = 100s;
  start(always(d::DeliveryStatus::kDeferred, "421 4.4.2 connection dropped", "4.4.2"), options);
  enqueue("alice@example.org", {"x@remote.example"});
  ASSERT_TRUE(eventually([&] { return !queued().empty() && queued()[0].attempts == 1; }));
  EXPECT_TRUE(inbox("alice@example.org").empty());
  advance_and_wake(40s);
  ASSERT_TRUE(eventually([&] { return inbox("alice@example.org").size() == 1; }));
  EXPECT_NE(inbox("alice@example.org")[0].find("Action: delayed"), std::string::npos);
  advance_and_wake(20s);
  ASSERT_TRUE(eventually([&] { return queued().size() == 1 && queued()[0].attempts == 3; }));
  EXPECT_EQ(inbox("alice@example.org").size(), 1u);  // one warning only
  advance_and_wake(50s);
  ASSERT_TRUE(eventually([&] { return inbox("alice@example.org").size() == 2; }));
  auto expired = inbox("alice@example.org")[1];
  EXPECT_NE(expired.find("Action: failed"), std::string::npos) << expired;
  EXPECT_NE(expired.find("Status: 4.4.7"), std::string::npos);
  EXPECT_NE(expired.find("421 4.4.2 connection dropped"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
}

TEST_F(SchedulerTest, SuccessNoticeWhenAskedAndNotPassedOn) {
  start(always(d::DeliveryStatus::kDelivered));
  enqueue("alice@example.org", {"x@remote.example"}, "", "SUCCESS");
  ASSERT_TRUE(eventually([&] { return inbox("alice@example.org").size() == 1; }));
  EXPECT_NE(inbox("alice@example.org")[0].find("Action: relayed"), std::string::npos);
}

TEST_F(SchedulerTest, LoopingMessageIsBouncedWithoutAnAttempt) {
  start(always(d::DeliveryStatus::kDelivered));
  std::string raw;
  for (int i = 0; i < 50; ++i) {
    raw += "Received: from hop" + std::to_string(i) + " by x\r\n";
  }
  raw += "Subject: loop\r\n\r\nbody\r\n";
  enqueue("alice@example.org", {"x@remote.example"}, raw);
  ASSERT_TRUE(eventually([&] { return inbox("alice@example.org").size() == 1; }));
  EXPECT_NE(inbox("alice@example.org")[0].find("Status: 5.4.6"), std::string::npos);
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(SchedulerTest, PerDestinationConcurrencyIsCapped) {
  Options options;
  options.destination_concurrency = 2;
  start(always(d::DeliveryStatus::kDelivered), options);
  transport_->hold(true);
  for (int i = 0; i < 6; ++i) {
    enqueue("alice@example.org", {"x" + std::to_string(i) + "@remote.example"});
  }
  enqueue("alice@example.org", {"y@other.example"});
  ASSERT_TRUE(eventually([&] { return transport_->held_count() == 3; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(transport_->held_count(), 3u);  // 2 to remote.example + 1 to other.example
  while (!queued().empty()) {
    transport_->release();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(transport_->requests().size(), 7u);
  EXPECT_EQ(transport_->max_outstanding(), 3u);
}

// A kill -9 repeats what was delivered but not yet recorded; holding the slot
// until the record keeps that to the destination concurrency even when the
// queue's writes lag behind a fast receiver.
TEST_F(SchedulerTest, UnrecordedDeliveriesAreBoundedByTheDestinationConcurrency) {
  SlowRecordStorage slow(store_);
  scheduler_storage_ = &slow;
  Options options;
  options.destination_concurrency = 2;
  start(always(d::DeliveryStatus::kDelivered), options);
  for (int i = 0; i < 6; ++i) {
    enqueue("alice@example.org", {"x" + std::to_string(i) + "@remote.example"});
  }
  ASSERT_TRUE(eventually([&] { return transport_->requests().size() == 2; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(transport_->requests().size(), 2u);  // the rest wait for those two records
  slow.open();
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  EXPECT_EQ(transport_->requests().size(), 6u);
  stop();  // before `slow` goes
}

TEST_F(SchedulerTest, IdleDestinationsAreForgotten) {
  start(always(d::DeliveryStatus::kDelivered));
  transport_->hold(true);
  for (int i = 0; i < 5; ++i) {
    enqueue("alice@example.org", {"x@d" + std::to_string(i) + ".example"});
  }
  ASSERT_TRUE(eventually([&] { return transport_->held_count() == 5; }));
  EXPECT_EQ(scheduler_->tracked_destinations(), 5u);
  transport_->release();
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  EXPECT_TRUE(eventually([&] { return scheduler_->tracked_destinations() == 0; }));
}

TEST_F(SchedulerTest, ActiveLimitBoundsMessagesInFlight) {
  Options options;
  options.active_limit = 2;
  start(always(d::DeliveryStatus::kDelivered), options);
  transport_->hold(true);
  for (int i = 0; i < 5; ++i) {
    enqueue("alice@example.org", {"x@d" + std::to_string(i) + ".example"});
  }
  ASSERT_TRUE(eventually([&] { return transport_->held_count() == 2; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(transport_->held_count(), 2u);
  EXPECT_LE(scheduler_->in_flight(), 2u);
  while (!queued().empty()) {
    transport_->release();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(transport_->requests().size(), 5u);
}

TEST_F(SchedulerTest, RateLimitSpacesStartsToADestination) {
  Options options;
  options.destination_rate = 20;  // one start per 50 ms
  start(always(d::DeliveryStatus::kDelivered), options);
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    enqueue("alice@example.org", {"x" + std::to_string(i) + "@remote.example"});
  }
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 190ms);
}

TEST_F(SchedulerTest, EntriesLeftActiveByACrashAreRecoveredAtStart) {
  auto id = enqueue("alice@example.org", {"x@remote.example"});
  auto claimed = store_.queue().claim_due(clock_.now(), 10, std::chrono::seconds(3600)).get();
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);  // the dead process's claim, an hour long
  start(always(d::DeliveryStatus::kDelivered));
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
  EXPECT_EQ(transport_->requests().at(0).queue_id, id);
}

TEST_F(SchedulerTest, LocalRecipientsInTheQueueAreDeliveredOrRefused) {
  start(always(d::DeliveryStatus::kDelivered));
  enqueue("someone@remote.example", {"alice@example.org", "nobody@example.org"});
  // alice gets it; nobody fails, and the bounce goes out through the transport.
  ASSERT_TRUE(eventually([&] { return transport_->requests().size() == 1; }));
  EXPECT_EQ(inbox("alice@example.org").size(), 1u);
  auto bounce = transport_->requests()[0];
  EXPECT_EQ(bounce.sender, "");
  EXPECT_EQ(bounce.destination, "remote.example");
  EXPECT_NE(bounce.raw.find("Status: 5.1.1"), std::string::npos);
}

// What filtering does for local recipients of queued mail is logged as for mail
// that arrives by SMTP (domain::log_filter_reports): here a Sieve discard.
TEST_F(SchedulerTest, LocalDeliveriesLogWhatFilteringDid) {
  auto alice = store_.directory().find_account("alice@example.org").get();
  ASSERT_TRUE(alice && *alice);
  ASSERT_TRUE(store_.directory().put_sieve_script((*alice)->id, "rules", "discard;").get());
  ASSERT_TRUE(store_.directory().activate_sieve_script((*alice)->id, "rules").get());
  logger_ = log::Logger(&log_sink_);
  start(always(d::DeliveryStatus::kDelivered));
  auto id = enqueue("someone@remote.example", {"alice@example.org"});
  ASSERT_TRUE(eventually([&] { return !log_sink_.with_message("sieve").empty(); }));
  auto record = log_sink_.with_message("sieve").at(0);
  EXPECT_EQ(record["id"], std::to_string(d::value_of(id)));
  EXPECT_EQ(record["account"], "alice@example.org");
  EXPECT_EQ(record["discarded"], "yes");
  EXPECT_TRUE(inbox("alice@example.org").empty());
}

TEST_F(SchedulerTest, NoticesToOurSrsAddressesGoBackToTheOriginalSender) {
  Options options;
  options.srs = std::make_shared<d::Srs>(d::SrsConfig{"k", "fwd.example"});
  start(always(d::DeliveryStatus::kDelivered), options);
  auto srs = *options.srs->forward("x@origin.example", clock_.now());
  // A bounce to the SRS return path of a forward of ours, and a forged one.
  enqueue("", {srs, "SRS0=abcd=AA=origin.example=y@fwd.example", "plain@fwd.example"});
  ASSERT_TRUE(eventually([&] { return queued().empty() && transport_->requests().size() == 2; }));
  auto requests = transport_->requests();
  // plain@fwd.example is not ours: it went to the transport as it is.
  auto plain = std::find_if(requests.begin(), requests.end(),
                            [](const auto& r) { return r.destination == "fwd.example"; });
  ASSERT_NE(plain, requests.end());
  ASSERT_EQ(plain->recipients.size(), 1u);
  EXPECT_EQ(plain->recipients[0].address, "plain@fwd.example");
  auto back = std::find_if(requests.begin(), requests.end(),
                           [](const auto& r) { return r.destination == "origin.example"; });
  ASSERT_NE(back, requests.end());
  EXPECT_EQ(back->sender, "");
  EXPECT_EQ(back->recipients.at(0).address, "x@origin.example");
  EXPECT_EQ(back->recipients.at(0).orcpt, "rfc822;" + srs);
}

TEST_F(SchedulerTest, WakingStorageWakesTheSchedulerOnEnqueue) {
  Options options;
  options.poll_interval = 60s;  // only the wake-up can start it in time
  start(always(d::DeliveryStatus::kDelivered), options);
  WakingStorage waking(store_, *scheduler_);
  d::NewQueuedMessage m;
  m.raw = "Subject: x\r\n\r\ny\r\n";
  m.sender = "alice@example.org";
  d::QueueRecipient r;
  r.address = "z@remote.example";
  m.recipients.push_back(r);
  m.now = clock_.now();
  ASSERT_TRUE(waking.queue().enqueue(std::move(m)).get());
  ASSERT_TRUE(eventually([&] { return queued().empty(); }));
}

}  // namespace
}  // namespace tern::services::outbound
