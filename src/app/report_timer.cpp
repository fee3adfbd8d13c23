// SPDX-License-Identifier: Apache-2.0
#include "app/report_timer.hpp"

#include <algorithm>

#include "app/report_cli.hpp"
#include "domain/reports/generator.hpp"
#include "domain/reports/ingest.hpp"

namespace tern::app {

namespace {
// How often a due period is looked for: a period is sent within this of its end.
constexpr std::chrono::seconds kSendCheck{300};
}  // namespace

ReportTimer::ReportTimer(config::ReportsSettings settings, domain::Storage& storage,
                         dns::Resolver& resolver, runtime::BlockingPool& pool, const Clock& clock,
                         log::Logger logger, std::shared_ptr<const mailauth::DkimKeyring> dkim)
    : settings_(std::move(settings)),
      storage_(storage),
      resolver_(resolver),
      pool_(pool),
      clock_(clock),
      logger_(std::move(logger)),
      dkim_(std::move(dkim)) {}

bool ReportTimer::active() const {
  return settings_.enabled || !settings_.inbox.empty();
}

void ReportTimer::start(asio::io_context& context) {
  if (active()) {
    asio::co_spawn(context, loop(), asio::detached);
  }
}

asio::awaitable<void> ReportTimer::loop() {
  const auto period =
      settings_.inbox.empty() ? kSendCheck : std::min(kSendCheck, settings_.ingest_interval);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    co_await runtime::offload(pool_, [this] { tick(); });
    timer.expires_after(period);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return;
    }
  }
}

void ReportTimer::tick() {
  const auto now = clock_.now();
  if (settings_.enabled) {
    ResolverTxtLookup dns(resolver_);
    auto generator = report_settings(settings_);
    generator.dkim = dkim_;
    auto run = domain::reports::run_due_reports(storage_, generator, dns, now);
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
                                        {"pruned", std::to_string(run->pruned)}});
      }
    }
  }
  if (!settings_.inbox.empty()) {
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
}

}  // namespace tern::app
