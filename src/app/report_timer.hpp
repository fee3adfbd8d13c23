// SPDX-License-Identifier: Apache-2.0
// ternd's report timer ([reports]), on the blocking pool: every few minutes,
// queue the DMARC aggregate and TLS reports of every period that has ended
// (domain::reports::run_due_reports, once per period thanks to the store's cursor)
// when `enabled`, and read new reports in the `inbox` account; every 30 seconds,
// POST the TLS reports whose HTTPS delivery is due (first attempts and retries,
// domain::reports::deliver_report_posts), whoever queued them: this timer or
// `tern report tls --send-now`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "config/settings.hpp"
#include "dns/resolver.hpp"
#include "domain/ports.hpp"
#include "mailauth/dkim_keyring.hpp"
#include "runtime/io.hpp"

namespace tern::app {

class ReportTimer {
 public:
  // `storage` should be the waking storage, so queued reports start at once.
  // `dkim` signs report mail ([[dkim]]); `ca_file` is what HTTPS report
  // destinations are verified against ("" = the system store; [outbound] ca_file).
  // Everything passed in must outlive the timer and the pool's queued work.
  ReportTimer(config::ReportsSettings settings, domain::Storage& storage, dns::Resolver& resolver,
              runtime::BlockingPool& pool, const Clock& clock, log::Logger logger,
              std::shared_ptr<const mailauth::DkimKeyring> dkim, std::string ca_file);

  // Spawns the loop on a strand of `context`; it ends at stop(). It always runs:
  // pending HTTPS posts may come from the CLI even when sending is not enabled.
  void start(asio::io_context& context);

  // Ends the loop (for shutdown): its pending wait is cancelled, and a tick
  // already on the pool finishes without scheduling another.
  void stop() { sleep_.stop(); }

 private:
  asio::awaitable<void> loop();
  void tick();  // on the pool

  config::ReportsSettings settings_;
  domain::Storage& storage_;
  dns::Resolver& resolver_;
  runtime::BlockingPool& pool_;
  const Clock& clock_;
  log::Logger logger_;
  std::shared_ptr<const mailauth::DkimKeyring> dkim_;  // signs report mail ([[dkim]])
  std::string ca_file_;
  // When the last report run and inbox read happened (pool thread only).
  std::optional<SystemTime> last_send_;
  std::optional<SystemTime> last_ingest_;
  runtime::StoppableSleep sleep_;
};

}  // namespace tern::app
