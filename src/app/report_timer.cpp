// SPDX-License-Identifier: Apache-2.0
#include "app/report_timer.hpp"

#include <algorithm>

#include "app/report_cli.hpp"
#include "domain/reports/generator.hpp"
#include "domain/reports/ingest.hpp"
#include "domain/reports/report_posts.hpp"

namespace tern::app {

namespace {
// When a run finds another node's turn or fails, it is tried again this much
// later (the period is then sent within this of its end).
constexpr std::chrono::seconds kSendRetry{300};
// A period's reports are built this long after it ends, so that results recorded
// at its last moment (on a pool thread, a little late) are in.
constexpr std::chrono::seconds kSendDelay{60};
// When the store cannot say when the next post is due, look again this soon: the
// first retry of a post comes 30 s after a failure (kFirstPostRetry).
constexpr std::chrono::seconds kPostCheck{30};
// With reports enabled, the store is looked at at least this often for posts
// this process did not schedule: ones `tern report --send-now` left pending, or
// another node's whose lease ran out because that node died. One indexed query.
constexpr std::chrono::seconds kPendingCheck{300};
// HTTPS posts attempted per wake-up: each may hold a pool thread for up to
// HttpsReportPoster::kPostTimeout, so a backlog is worked through a few at a time.
constexpr std::size_t kPostsPerTick = 8;
// The shortest sleep: a backlog of due posts is worked through without spinning.
constexpr std::chrono::seconds kMinSleep{1};
// "Until stopped": asio adds this to the steady clock without overflowing.
constexpr std::chrono::hours kForever{24 * 365 * 100};

std::optional<SystemTime> earliest(std::optional<SystemTime> a, std::optional<SystemTime> b) {
  if (!a || !b) {
    return a ? a : b;
  }
  return std::min(*a, *b);
}

// True when `every` has passed since `last` (or there was no last, or the clock
// went back).
bool elapsed(const std::optional<SystemTime>& last, SystemTime now, std::chrono::seconds every) {
  return !last || now - *last >= every || now < *last;
}
}  // namespace

ReportTimer::ReportTimer(config::ReportsSettings settings, domain::Storage& storage,
                         dns::Resolver& resolver, runtime::BlockingPool& pool, const Clock& clock,
                         log::Logger logger, std::shared_ptr<const mailauth::DkimKeyring> dkim,
                         std::string ca_file)
    : settings_(std::move(settings)),
      storage_(storage),
      resolver_(resolver),
      pool_(pool),
      clock_(clock),
      logger_(std::move(logger)),
      dkim_(std::move(dkim)),
      ca_file_(std::move(ca_file)) {}

void ReportTimer::start(asio::io_context& context) {
  asio::co_spawn(asio::make_strand(context), loop(), asio::detached);
}

asio::awaitable<void> ReportTimer::loop() {
  for (;;) {
    const auto next = co_await runtime::offload(pool_, [this] { return run_once(); });
    std::chrono::steady_clock::duration wait = kForever;
    if (next) {
      wait = std::max<std::chrono::steady_clock::duration>(*next - clock_.now(), kMinSleep);
    }
    if (!co_await sleep_.sleep(wait)) {
      co_return;
    }
  }
}

std::optional<SystemTime> ReportTimer::run_once() {
  const auto now = clock_.now();
  std::optional<SystemTime> next;
  if (settings_.enabled) {
    next = earliest(send_due(now), now + kPendingCheck);
  }
  if (!settings_.inbox.empty()) {
    if (elapsed(last_ingest_, now, settings_.ingest_interval)) {
      last_ingest_ = now;
      ingest(now);
    }
    next = earliest(next, *last_ingest_ + settings_.ingest_interval);
  }
  return earliest(next, post_due(now));
}

SystemTime ReportTimer::send_due(SystemTime now) {
  ResolverTxtLookup dns(resolver_);
  auto run =
      domain::reports::run_due_reports(storage_, report_settings(settings_, dkim_), dns, now);
  if (!run) {
    logger_.error("report run failed", {{"error", run.error().message}});
    return now + kSendRetry;
  }
  for (const auto& note : run->notes) {
    logger_.info("report destination skipped", {{"why", note}});
  }
  if (run->periods > 0) {
    logger_.info("reports queued", {{"periods", std::to_string(run->periods)},
                                    {"reports", std::to_string(run->reports)},
                                    {"messages", std::to_string(run->queued)},
                                    {"posts", std::to_string(run->posts)},
                                    {"pruned", std::to_string(run->pruned)}});
  }
  if (run->busy) {
    return now + kSendRetry;  // another node's run: look again in case it dies
  }
  return domain::reports::next_period_end(report_settings(settings_, dkim_), now) + kSendDelay;
}

void ReportTimer::ingest(SystemTime now) {
  auto read = domain::reports::ingest_inbox(storage_, settings_.inbox, now);
  if (!read) {
    logger_.warn("reading the report inbox failed",
                 {{"inbox", settings_.inbox}, {"error", read.error().message}});
  } else if (read->messages > 0) {
    logger_.info("received reports read", {{"messages", std::to_string(read->messages)},
                                           {"stored", std::to_string(read->stored)},
                                           {"duplicates", std::to_string(read->duplicates)},
                                           {"unreadable", std::to_string(read->unreadable)}});
  }
}

std::optional<SystemTime> ReportTimer::post_due(SystemTime now) {
  HttpsReportPoster poster(resolver_, ca_file_, logger_);
  auto posted =
      domain::reports::deliver_report_posts(storage_.reports(), poster, now, kPostsPerTick);
  if (!posted) {
    logger_.error("delivering TLS reports by HTTPS failed", {{"error", posted.error().message}});
    return now + kPostCheck;
  }
  for (const auto& note : posted->notes) {
    logger_.warn("TLS report POST failed", {{"why", note}});
  }
  if (posted->delivered > 0) {
    logger_.info("TLS reports delivered by HTTPS",
                 {{"reports", std::to_string(posted->delivered)}});
  }
  // The earliest pending post, claimed or not (a claim's lease ends too).
  auto pending = domain::reports::pending_report_posts(storage_.reports(), now, 1);
  if (!pending) {
    logger_.error("reading pending TLS report posts failed", {{"error", pending.error().message}});
    return now + kPostCheck;
  }
  if (pending->empty()) {
    return std::nullopt;
  }
  return pending->front().next_attempt;
}

}  // namespace tern::app
