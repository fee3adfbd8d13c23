// SPDX-License-Identifier: Apache-2.0
#include "app/report_timer.hpp"

#include <algorithm>

#include "app/report_cli.hpp"
#include "domain/reports/generator.hpp"
#include "domain/reports/ingest.hpp"
#include "domain/reports/report_posts.hpp"

namespace tern::app {

namespace {
// How often a due period is looked for: a period is sent within this of its end.
constexpr std::chrono::seconds kSendCheck{300};
// How often due HTTPS posts are looked for: the first retry comes 30 s after a
// failure (domain::reports::kFirstPostRetry). One indexed query when none is due.
constexpr std::chrono::seconds kPostCheck{30};
// HTTPS posts attempted per wake-up: each may hold a pool thread for up to
// HttpsReportPoster::kPostTimeout, so a backlog is worked through a few at a time.
constexpr std::size_t kPostsPerTick = 8;

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
  do {
    co_await runtime::offload(pool_, [this] { tick(); });
  } while (co_await sleep_.sleep(kPostCheck));
}

void ReportTimer::tick() {
  const auto now = clock_.now();
  if (settings_.enabled && elapsed(last_send_, now, kSendCheck)) {
    last_send_ = now;
    ResolverTxtLookup dns(resolver_);
    auto run =
        domain::reports::run_due_reports(storage_, report_settings(settings_, dkim_), dns, now);
    if (!run) {
      logger_.error("report run failed", {{"error", run.error().message}});
    } else {
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
    }
  }
  if (!settings_.inbox.empty() && elapsed(last_ingest_, now, settings_.ingest_interval)) {
    last_ingest_ = now;
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
  HttpsReportPoster poster(resolver_, ca_file_, logger_);
  auto posted =
      domain::reports::deliver_report_posts(storage_.reports(), poster, now, kPostsPerTick);
  if (!posted) {
    logger_.error("delivering TLS reports by HTTPS failed", {{"error", posted.error().message}});
    return;
  }
  for (const auto& note : posted->notes) {
    logger_.warn("TLS report POST failed", {{"why", note}});
  }
  if (posted->delivered > 0) {
    logger_.info("TLS reports delivered by HTTPS",
                 {{"reports", std::to_string(posted->delivered)}});
  }
}

}  // namespace tern::app
