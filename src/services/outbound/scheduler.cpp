// SPDX-License-Identifier: Apache-2.0
#include "services/outbound/scheduler.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "base/ascii.hpp"
#include "domain/accounts.hpp"
#include "domain/address.hpp"
#include "domain/delivery.hpp"
#include "domain/dsn.hpp"
#include "mime/facts/facts.hpp"
#include "runtime/system_clock.hpp"

namespace tern::services::outbound {

namespace d = tern::domain;

namespace {

d::RecipientOutcome make_outcome(std::size_t index, d::DeliveryStatus status, std::string reply,
                                 std::string enhanced) {
  d::RecipientOutcome o;
  o.index = index;
  o.status = status;
  o.reply = std::move(reply);
  o.enhanced_status = std::move(enhanced);
  return o;
}

// Local delivery of one queued recipient whose domain is ours (a DSN to a local
// sender, mail injected by the CLI): the same resolution as the MX applies.
// Returns nothing when the domain is not local (the transport's job).
// A copy of `message` for `recipients` (a forward or a reversed SRS return path).
d::NewQueuedMessage requeue(const d::QueuedMessage& message, const std::string& raw,
                            std::vector<d::QueueRecipient> recipients, SystemTime now) {
  d::NewQueuedMessage out;
  out.raw = raw;
  out.sender = message.sender;
  out.recipients = std::move(recipients);
  out.envid = message.envid;
  out.ret = message.ret;
  out.now = now;
  out.envelope = message.envelope;
  return out;
}

// A recipient that is one of our SRS addresses (a notice about mail we forwarded):
// queued again to the address it stands for. Nothing when it is not ours.
std::optional<d::RecipientOutcome> reverse_srs(d::Storage& storage, const d::Srs& srs,
                                               const d::QueuedMessage& message, std::size_t index,
                                               const std::string& raw, SystemTime now) {
  const auto& address = message.recipients[index].address;
  auto parts = d::split_address(address);
  if (!parts || !d::Srs::is_srs(parts->local) ||
      !ascii::iequals(parts->domain, srs.config().domain)) {
    return std::nullopt;
  }
  auto original = srs.reverse(address, now);
  if (!original) {
    return make_outcome(
        index, d::DeliveryStatus::kFailed,
        fmt::format("550 5.1.1 <{}>: invalid SRS address: {}", address, original.error().message),
        "5.1.1");
  }
  d::QueueRecipient r;
  r.address = *original;
  r.notify = message.recipients[index].notify;
  r.orcpt = "rfc822;" + address;
  auto queued = storage.queue().enqueue(requeue(message, raw, {r}, now)).get();
  if (!queued) {
    return make_outcome(index, d::DeliveryStatus::kDeferred,
                        "451 4.3.0 cannot queue the SRS return: " + queued.error().message,
                        "4.3.0");
  }
  return make_outcome(index, d::DeliveryStatus::kDelivered,
                      fmt::format("250 2.1.5 <{}>: SRS return path to <{}>", address, *original),
                      "2.1.5");
}

std::optional<d::RecipientOutcome> deliver_locally(
    d::Storage& storage, const d::QueuedMessage& message, std::size_t index, const std::string& raw,
    const std::string& facts, SystemTime now, const Options& options, const log::Logger& logger) {
  const std::string& separator = options.subaddress_separator;
  const auto& address = message.recipients[index].address;
  auto resolved = d::resolve_recipient(storage.directory(), address, separator);
  if (!resolved) {
    if (resolved.error().code == ErrorCode::kNotFound ||
        resolved.error().code == ErrorCode::kInvalidInput) {
      return make_outcome(
          index, d::DeliveryStatus::kFailed,
          fmt::format("550 5.1.1 <{}>: recipient address rejected: user unknown", address),
          "5.1.1");
    }
    return make_outcome(index, d::DeliveryStatus::kDeferred,
                        "451 4.3.0 local lookup failed: " + resolved.error().message, "4.3.0");
  }
  if (resolved->kind == d::RecipientKind::kNotLocal) {
    return std::nullopt;
  }
  if (!resolved->external.empty()) {
    // An alias of ours that forwards elsewhere: a new queue entry carries it on.
    std::vector<d::QueueRecipient> forwards;
    for (const auto& external : resolved->external) {
      d::QueueRecipient r;
      r.address = external;
      r.notify = message.recipients[index].notify;
      r.orcpt = "rfc822;" + address;
      forwards.push_back(std::move(r));
    }
    auto queued = storage.queue().enqueue(requeue(message, raw, std::move(forwards), now)).get();
    if (!queued) {
      return make_outcome(index, d::DeliveryStatus::kDeferred,
                          "451 4.3.0 cannot queue the forward: " + queued.error().message, "4.3.0");
    }
  }
  if (!resolved->accounts.empty()) {
    // The recipients' Sieve scripts run here as for mail that arrives by SMTP.
    d::Filtering filtering;
    filtering.sender = message.sender;
    filtering.hostname = options.hostname;
    filtering.srs = options.srs.get();
    filtering.subaddress_separators = separator;
    filtering.now = now;
    filtering.zone_minutes = runtime::local_zone_minutes(now);
    filtering.envelope = message.envelope;
    filtering.scripts = options.scripts.get();
    filtering.spam = options.spam.get();
    std::vector<d::FilterReport> reports;
    auto delivered = d::deliver(storage, d::NewMessage{raw, now, facts}, resolved->accounts,
                                d::DeliveryFolder::kInbox, &filtering, &reports);
    d::log_filter_reports(logger, std::to_string(d::value_of(message.id)), resolved->accounts,
                          reports);
    if (!delivered) {
      return make_outcome(index, d::DeliveryStatus::kDeferred,
                          "451 4.3.0 cannot store the message: " + delivered.error().message,
                          "4.3.0");
    }
    for (const auto& outcome : *delivered) {
      if (!outcome.result) {
        // Postfix defers a full mailbox (4.2.2) rather than bouncing it at once;
        // the lifetime bounds how long.
        auto code = outcome.result.error().code == ErrorCode::kLimitExceeded ? "4.2.2" : "4.3.0";
        return make_outcome(
            index, d::DeliveryStatus::kDeferred,
            fmt::format("452 {} <{}>: {}", code, address, outcome.result.error().message), code);
      }
    }
  }
  return make_outcome(index, d::DeliveryStatus::kDelivered,
                      fmt::format("250 2.0.0 <{}>: delivered to mailbox", address), "2.0.0");
}

}  // namespace

Scheduler::Scheduler(Options options, d::Storage& storage, d::OutboundTransport& transport,
                     runtime::BlockingPool& pool, const Clock& clock, metrics::Registry& registry,
                     log::Logger logger)
    : options_(std::move(options)),
      storage_(storage),
      transport_(transport),
      pool_(pool),
      clock_(clock),
      logger_(std::move(logger)),
      attempts_(registry.counter("tern_queue_attempts_total",
                                 "Delivery attempts of queued messages (one per message and run)")),
      delivered_(registry.counter("tern_queue_recipients_total", "Queued recipients by outcome",
                                  {{"outcome", "delivered"}})),
      deferred_(registry.counter("tern_queue_recipients_total", "Queued recipients by outcome",
                                 {{"outcome", "deferred"}})),
      bounced_(registry.counter("tern_queue_recipients_total", "Queued recipients by outcome",
                                {{"outcome", "failed"}})),
      active_gauge_(registry.gauge("tern_queue_active", "Queued messages being delivered now")) {
  options_.active_limit = std::max<std::size_t>(options_.active_limit, 1);
  options_.destination_concurrency = std::max<std::size_t>(options_.destination_concurrency, 1);
}

Scheduler::~Scheduler() = default;

void Scheduler::start(asio::io_context& context) {
  strand_.emplace(asio::make_strand(context));
  wake_timer_.emplace(*strand_);
  asio::co_spawn(*strand_, loop(), asio::detached);
}

void Scheduler::wake() {
  if (!strand_) {
    return;
  }
  asio::post(*strand_, [this] {
    woken_ = true;
    if (wake_timer_) {
      wake_timer_->cancel();
    }
  });
}

asio::awaitable<void> Scheduler::stop(std::chrono::steady_clock::duration timeout) {
  if (!strand_) {
    co_return;
  }
  co_await asio::post(*strand_, asio::use_awaitable);
  stopping_ = true;
  wake_timer_->cancel();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(*strand_);
  while (!in_flight_.empty() && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    asio::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Scheduler::recover() {
  if (!options_.recover_active_at_start) {
    co_return;
  }
  auto all = co_await runtime::await(storage_.queue().queued());
  if (!all) {
    logger_.warn("queue recovery failed", {{"error", all.error().message}});
    co_return;
  }
  std::size_t recovered = 0;
  for (const auto& entry : *all) {
    if (entry.state != d::QueueState::kActive) {
      continue;
    }
    // A previous run died while delivering it: due again now, nothing else changes.
    d::QueueUpdate update;
    update.recipients = entry.recipients;
    update.next_attempt = clock_.now();
    update.attempts = entry.attempts;
    update.delay_warned = entry.delay_warned;
    auto done = co_await runtime::await(storage_.queue().update_queued(entry.id, update));
    if (done) {
      ++recovered;
    }
  }
  if (recovered > 0) {
    logger_.info("queue entries recovered", {{"count", std::to_string(recovered)}});
  }
}

asio::awaitable<void> Scheduler::loop() {
  co_await recover();
  while (!stopping_) {
    woken_ = false;
    const std::size_t room =
        options_.active_limit - std::min(options_.active_limit, in_flight_.size());
    std::size_t started = 0;
    if (room > 0) {
      auto claimed =
          co_await runtime::await(storage_.queue().claim_due(clock_.now(), room, options_.lease));
      if (!claimed) {
        logger_.warn("queue claim failed", {{"error", claimed.error().message}});
      } else {
        for (auto& message : *claimed) {
          auto id = d::value_of(message.id);
          // Still ours from an earlier claim whose lease ran out: the new claim
          // just renewed the lease.
          if (!in_flight_.insert(id).second) {
            continue;
          }
          ++started;
          in_flight_count_ = in_flight_.size();
          active_gauge_.set(static_cast<std::int64_t>(in_flight_.size()));
          asio::co_spawn(*strand_, process(std::move(message)), asio::detached);
        }
        if (claimed->size() == room && started > 0 && !stopping_) {
          continue;  // a full batch: more may be due
        }
      }
    }
    if (woken_ || stopping_) {
      continue;
    }
    wake_timer_->expires_after(options_.poll_interval);
    asio::error_code ec;
    co_await wake_timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Scheduler::acquire(const std::string& destination) {
  // The entry is looked up again after every wait: release() erases idle entries,
  // and all of this runs on the strand, so a fresh lookup is the only safe handle.
  while (destinations_[destination].active >= options_.destination_concurrency) {
    asio::steady_timer timer(*strand_, asio::steady_timer::time_point::max());
    destinations_[destination].waiters.push_back(&timer);
    asio::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto& waiters = destinations_[destination].waiters;
    auto it = std::find(waiters.begin(), waiters.end(), &timer);
    if (it != waiters.end()) {
      waiters.erase(it);
    }
  }
  auto& state = destinations_[destination];
  ++state.active;
  destination_count_ = destinations_.size();
  if (options_.destination_rate > 0) {
    // A start every 1/rate seconds per destination (Postfix's rate delay).
    auto now = std::chrono::steady_clock::now();
    auto start = std::max(now, state.next_start);
    state.next_start = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(1.0 / options_.destination_rate));
    if (start > now) {
      asio::steady_timer timer(*strand_, start);
      asio::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
}

void Scheduler::release(const std::string& destination) {
  auto found = destinations_.find(destination);
  if (found == destinations_.end()) {
    return;
  }
  auto& state = found->second;
  if (state.active > 0) {
    --state.active;
  }
  if (!state.waiters.empty()) {
    state.waiters.front()->cancel();
    state.waiters.pop_front();
    return;
  }
  // Nobody uses or waits for the destination and its rate spacing has passed: the
  // entry goes, so the map holds only destinations in use, not every domain ever
  // written to.
  if (state.active == 0 && state.next_start <= std::chrono::steady_clock::now()) {
    destinations_.erase(found);
    destination_count_ = destinations_.size();
  }
}

asio::awaitable<Scheduler::GroupResult> Scheduler::deliver_group(const d::QueuedMessage& message,
                                                                 const d::DestinationGroup& group,
                                                                 const std::string& raw,
                                                                 bool hold_slot) {
  // Ours or theirs: the resolution (and a local delivery) needs the blocking pool.
  // What is neither an SRS return path nor in one of our domains goes remote.
  struct Split {
    std::vector<d::RecipientOutcome> done;
    d::DestinationGroup remote;
  };

  auto split = co_await runtime::offload(pool_, [this, &message, &group, &raw] {
    Split out;
    out.remote.destination = group.destination;
    std::string facts;
    bool domain_is_local = true;
    for (auto index : group.indices) {
      if (options_.srs) {
        if (auto reversed =
                reverse_srs(storage_, *options_.srs, message, index, raw, clock_.now())) {
          out.done.push_back(std::move(*reversed));
          continue;
        }
      }
      std::optional<d::RecipientOutcome> outcome;
      if (domain_is_local) {
        if (facts.empty()) {
          facts = mime::facts::encode_facts(mime::facts::compute_facts(raw));
        }
        outcome =
            deliver_locally(storage_, message, index, raw, facts, clock_.now(), options_, logger_);
        domain_is_local = outcome.has_value();  // one domain per group: decided once
      }
      if (outcome) {
        out.done.push_back(std::move(*outcome));
      } else {
        out.remote.indices.push_back(index);
      }
    }
    return out;
  });
  if (split.remote.indices.empty()) {
    co_return GroupResult{std::move(split.done), false};
  }

  co_await acquire(group.destination);
  auto report =
      co_await runtime::await(transport_.deliver(d::make_request(message, split.remote, raw)));
  if (!hold_slot) {
    release(group.destination);
  }
  std::vector<d::RecipientOutcome> outcomes;
  if (!report) {
    // A bug-level failure of the transport: every recipient stays pending.
    logger_.error(
        "outbound transport failed",
        {{"queue_id", std::to_string(d::value_of(message.id))}, {"error", report.error().message}});
    outcomes = std::move(split.done);
    for (auto index : split.remote.indices) {
      outcomes.push_back(make_outcome(index, d::DeliveryStatus::kDeferred,
                                      "451 4.3.0 transport error: " + report.error().message,
                                      "4.3.0"));
    }
    co_return GroupResult{std::move(outcomes), hold_slot};
  }
  outcomes = std::move(split.done);
  outcomes.insert(outcomes.end(), std::make_move_iterator(report->recipients.begin()),
                  std::make_move_iterator(report->recipients.end()));
  co_return GroupResult{std::move(outcomes), hold_slot};
}

asio::awaitable<void> Scheduler::enqueue_notices(const d::QueuedMessage& message,
                                                 const d::RunOutcome& run, const std::string& raw) {
  d::QueuedMessage after = message;
  after.recipients = run.update.recipients;
  d::DsnContext context{options_.hostname, clock_.now(), message.created + options_.retry.lifetime};
  const std::pair<d::DsnKind, const std::vector<std::size_t>*> kinds[] = {
      {d::DsnKind::kFailure, &run.failed},
      {d::DsnKind::kDelay, &run.delayed},
      {d::DsnKind::kSuccess, &run.succeeded}};
  for (const auto& [kind, indices] : kinds) {
    if (indices->empty()) {
      continue;
    }
    auto notice = d::compose_dsn(after, raw, kind, *indices, context);
    if (!notice) {
      continue;
    }
    auto queued = co_await runtime::await(storage_.queue().enqueue(std::move(*notice)));
    if (!queued) {
      logger_.warn("cannot queue a delivery status notification",
                   {{"queue_id", std::to_string(d::value_of(message.id))},
                    {"error", queued.error().message}});
    } else {
      logger_.info("dsn queued", {{"queue_id", std::to_string(d::value_of(message.id))},
                                  {"dsn_id", std::to_string(d::value_of(*queued))},
                                  {"kind", kind == d::DsnKind::kFailure ? "failure"
                                           : kind == d::DsnKind::kDelay ? "delay"
                                                                        : "success"}});
    }
  }
}

asio::awaitable<void> Scheduler::process(d::QueuedMessage message) {
  const auto id = d::value_of(message.id);
  const std::string id_text = std::to_string(id);
  attempts_.inc();
  auto raw = co_await runtime::await(storage_.queue().read_queued(message.id));
  std::vector<d::RecipientOutcome> outcomes;
  std::optional<std::string> held;  // the destination whose slot waits for the record
  if (!raw) {
    logger_.warn("cannot read a queued message",
                 {{"queue_id", id_text}, {"error", raw.error().message}});
  } else if (auto hops = d::count_received(*raw); hops >= options_.retry.hop_limit) {
    // Postfix's hopcount_limit: a message that went round this often is looping.
    outcomes = d::fail_all_pending(
        message, "5.4.6",
        fmt::format("554 5.4.6 too many hops ({} Received: fields): mail forwarding loop", hops));
  } else {
    // The last group keeps its slot until the attempt is recorded below, so what a
    // kill -9 can repeat is bounded by the destination concurrency (almost every
    // message has one group). Earlier groups release at once: holding one slot while
    // waiting for another could deadlock against a message with the opposite order.
    auto groups = d::group_pending(message);
    for (std::size_t i = 0; i < groups.size(); ++i) {
      auto part = co_await deliver_group(message, groups[i], *raw, i + 1 == groups.size());
      if (part.holds_slot) {
        held = groups[i].destination;
      }
      outcomes.insert(outcomes.end(), std::make_move_iterator(part.outcomes.begin()),
                      std::make_move_iterator(part.outcomes.end()));
    }
  }

  auto run = d::apply_outcomes(message, outcomes, clock_.now(), options_.retry);
  for (std::size_t i = 0; i < run.update.recipients.size(); ++i) {
    const auto& before = message.recipients[i];
    const auto& after = run.update.recipients[i];
    if (before.state != d::RecipientState::kPending) {
      continue;
    }
    auto* counter = after.state == d::RecipientState::kDelivered ? &delivered_
                    : after.state == d::RecipientState::kFailed  ? &bounced_
                                                                 : &deferred_;
    counter->inc();
    logger_.info("queue recipient",
                 {{"queue_id", id_text},
                  {"to", after.address},
                  {"status", after.state == d::RecipientState::kDelivered ? "sent"
                             : after.state == d::RecipientState::kFailed  ? "bounced"
                                                                          : "deferred"},
                  {"reply", after.last_reply},
                  {"relay", after.remote_host}});
  }
  // Notices first: a crash before the update repeats a notice, never loses one.
  if (raw) {
    co_await enqueue_notices(message, run, *raw);
  }
  Result<void> recorded = ok();
  if (run.finished) {
    recorded = co_await runtime::await(storage_.queue().remove_queued(message.id));
  } else {
    recorded = co_await runtime::await(storage_.queue().update_queued(message.id, run.update));
  }
  if (!recorded && recorded.error().code != ErrorCode::kNotFound) {
    // kNotFound: `tern queue delete` removed it meanwhile.
    logger_.warn("cannot record a delivery attempt",
                 {{"queue_id", id_text}, {"error", recorded.error().message}});
  }
  if (held) {
    release(*held);
  }
  in_flight_.erase(id);
  in_flight_count_ = in_flight_.size();
  active_gauge_.set(static_cast<std::int64_t>(in_flight_.size()));
  woken_ = true;
  if (wake_timer_) {
    wake_timer_->cancel();
  }
}

// ----- WakingStorage

class WakingStorage::Queue final : public d::QueueStore {
 public:
  Queue(d::QueueStore& inner, Scheduler& scheduler) : inner_(inner), scheduler_(scheduler) {}

  d::Async<d::QueueId> enqueue(d::NewQueuedMessage message) override {
    Promise<Result<d::QueueId>> promise;
    auto future = promise.future();
    inner_.enqueue(std::move(message)).on_ready([promise, this](Result<d::QueueId> id) mutable {
      bool queued = id.has_value();
      promise.set_value(std::move(id));
      if (queued) {
        scheduler_.wake();
      }
    });
    return future;
  }

  d::Async<std::vector<d::QueuedMessage>> queued() override { return inner_.queued(); }

  d::Async<std::optional<d::QueuedMessage>> find_queued(d::QueueId id) override {
    return inner_.find_queued(id);
  }

  d::Async<std::string> read_queued(d::QueueId id) override { return inner_.read_queued(id); }

  d::Async<std::vector<d::QueuedMessage>> claim_due(SystemTime now, std::size_t limit,
                                                    std::chrono::seconds lease) override {
    return inner_.claim_due(now, limit, lease);
  }

  d::Async<void> update_queued(d::QueueId id, d::QueueUpdate update) override {
    return inner_.update_queued(id, std::move(update));
  }

  d::Async<void> remove_queued(d::QueueId id) override { return inner_.remove_queued(id); }

  d::Async<void> set_held(d::QueueId id, bool held, SystemTime now) override {
    return inner_.set_held(id, held, now);
  }

  d::Async<void> reschedule(d::QueueId id, SystemTime when) override {
    return inner_.reschedule(id, when);
  }

 private:
  d::QueueStore& inner_;
  Scheduler& scheduler_;
};

WakingStorage::WakingStorage(d::Storage& inner, Scheduler& scheduler)
    : inner_(inner), queue_(std::make_unique<Queue>(inner.queue(), scheduler)) {}

WakingStorage::~WakingStorage() = default;

d::QueueStore& WakingStorage::queue() {
  return *queue_;
}

}  // namespace tern::services::outbound
