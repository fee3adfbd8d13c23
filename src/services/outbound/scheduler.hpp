// SPDX-License-Identifier: Apache-2.0
// The outbound queue scheduler (Postfix's qmgr): claims due queue entries with a
// lease, delivers their pending recipients destination by destination through a
// domain::OutboundTransport (or into local INBOXes when the destination is one of
// our domains), applies the outcomes with domain::apply_outcomes, and queues the
// DSNs that are owed (domain::compose_dsn) before it records the attempt.
//
// Ordering and crash safety: for each message, DSNs are enqueued first, then the
// attempt is recorded (update_queued) or the entry removed (remove_queued). A crash
// in between repeats at most the notices or the deliveries of that one attempt; an
// entry claimed by a dead process becomes claimable when its lease ends, and
// start() returns the entries this store left kActive to the queue at once (one
// ternd per store, ARCHITECTURE.md §4).
//
// Limits: at most `active_limit` messages in flight; per destination at most
// `destination_concurrency` transport calls at once, started no faster than
// `destination_rate` per second.
//
// Threading: all state lives on one strand of the io_context; storage futures
// and the transport are awaited there, local delivery runs on the blocking pool.
// wake() may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/compiled_scripts.hpp"
#include "domain/outbound.hpp"
#include "domain/ports.hpp"
#include "domain/queue_policy.hpp"
#include "domain/spam_filter.hpp"
#include "domain/srs.hpp"
#include "runtime/io.hpp"

namespace tern::services::outbound {

struct Options {
  domain::RetryPolicy retry;
  std::size_t active_limit = 1000;
  std::size_t destination_concurrency = 20;
  std::uint32_t destination_rate = 0;  // starts per second per destination; 0 = unlimited
  std::chrono::seconds lease{900};
  std::chrono::milliseconds poll_interval{1000};
  std::string hostname;  // Reporting-MTA and MAILER-DAEMON@hostname of DSNs
  std::string subaddress_separator = "+";
  // Return entries left kActive by a previous run of this process at start().
  bool recover_active_at_start = true;
  // With SRS on, a queued recipient that is an SRS address at srs->config().domain
  // (a notice about a forward of ours) is reversed and queued to the original
  // sender instead; a forged or expired one fails with 5.1.1.
  std::shared_ptr<const domain::Srs> srs;
  // Compiled Sieve scripts for local deliveries (null: compiled per delivery).
  std::shared_ptr<domain::CompiledScripts> scripts;
  // The spam filter for local deliveries (null: none).
  std::shared_ptr<const domain::SpamPolicy> spam;
};

class Scheduler {
 public:
  // Everything passed by reference must outlive the Scheduler.
  Scheduler(Options options, domain::Storage& storage, domain::OutboundTransport& transport,
            runtime::BlockingPool& pool, const Clock& clock, metrics::Registry& registry,
            log::Logger logger);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the queue loop on `context`.
  void start(asio::io_context& context);

  // Something was enqueued: look at the queue now instead of at the next poll.
  // Thread-safe; a no-op before start().
  void wake();

  // Stops claiming and waits up to `timeout` for deliveries in flight; what is
  // still in flight then keeps its lease and is retried after it. Call from a
  // coroutine on the same io_context.
  asio::awaitable<void> stop(std::chrono::steady_clock::duration timeout);

  // Messages being delivered now (for tests and metrics).
  std::size_t in_flight() const { return in_flight_count_.load(); }

  // Destinations with a delivery under way or waiting for a slot (idle ones are
  // forgotten, so this stays bounded by the active limit).
  std::size_t tracked_destinations() const { return destination_count_.load(); }

 private:
  struct Destination {
    std::size_t active = 0;
    std::chrono::steady_clock::time_point next_start{};
    std::deque<asio::steady_timer*> waiters;
  };

  asio::awaitable<void> loop();
  asio::awaitable<void> recover();
  asio::awaitable<void> process(domain::QueuedMessage message);

  // One destination's recipients: local ones are stored, remote ones go through
  // the transport under the destination's concurrency slot. With `hold_slot` the
  // slot stays taken after a remote attempt (`holds_slot` says so) until the caller
  // has recorded the outcome and calls release(): a kill -9 can then repeat at most
  // the deliveries that hold a slot, never a backlog of unrecorded ones.
  struct GroupResult {
    std::vector<domain::RecipientOutcome> outcomes;
    bool holds_slot = false;
  };

  asio::awaitable<GroupResult> deliver_group(const domain::QueuedMessage& message,
                                             const domain::DestinationGroup& group,
                                             const std::string& raw, bool hold_slot);
  asio::awaitable<void> acquire(const std::string& destination);
  void release(const std::string& destination);
  asio::awaitable<void> enqueue_notices(const domain::QueuedMessage& message,
                                        const domain::RunOutcome& run, const std::string& raw);

  Options options_;
  domain::Storage& storage_;
  domain::OutboundTransport& transport_;
  runtime::BlockingPool& pool_;
  const Clock& clock_;
  log::Logger logger_;
  metrics::Counter& attempts_;
  metrics::Counter& delivered_;
  metrics::Counter& deferred_;
  metrics::Counter& bounced_;
  metrics::Gauge& active_gauge_;

  std::optional<asio::strand<asio::io_context::executor_type>> strand_;
  std::optional<asio::steady_timer> wake_timer_;
  bool stopping_ = false;
  bool woken_ = false;
  std::set<std::int64_t> in_flight_;  // queue ids being delivered by this process
  std::atomic<std::size_t> in_flight_count_{0};
  std::atomic<std::size_t> destination_count_{0};
  std::map<std::string, Destination> destinations_;
};

// A Storage whose queue().enqueue() wakes a Scheduler once the entry is durable,
// so mail submitted to this process starts at once; everything else forwards to
// the wrapped storage. Give it to the services that enqueue (SMTP).
class WakingStorage final : public domain::Storage {
 public:
  WakingStorage(domain::Storage& inner, Scheduler& scheduler);
  ~WakingStorage() override;

  domain::Directory& directory() override { return inner_.directory(); }

  domain::MailStore& mail() override { return inner_.mail(); }

  domain::BlobStore& blobs() override { return inner_.blobs(); }

  domain::QueueStore& queue() override;

  domain::ReportStore& reports() override { return inner_.reports(); }

  domain::SpamStore& spam() override { return inner_.spam(); }

  domain::GreylistStore& greylist() override { return inner_.greylist(); }

 private:
  class Queue;
  domain::Storage& inner_;
  std::unique_ptr<Queue> queue_;
};

}  // namespace tern::services::outbound
