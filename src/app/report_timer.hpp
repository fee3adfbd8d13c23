// SPDX-License-Identifier: Apache-2.0
// ternd's report timer ([reports]), on the blocking pool. Each pass queues the
// DMARC aggregate and TLS reports of every period that has ended
// (domain::reports::run_due_reports, once per period thanks to the store's
// cursor, and on one node at a time) when `enabled`, reads new reports in the
// `inbox` account when it is due, and POSTs the TLS reports whose HTTPS delivery
// is due (first attempts and retries, domain::reports::deliver_report_posts),
// whoever queued them: this timer or `tern report tls --send-now`.
//
// Between passes it sleeps until the next thing that can come due: the end of
// the current period (plus a minute) when enabled, the next inbox read, or the
// earliest pending post's next attempt, as the store says. While enabled it also
// looks at the store at least every 5 minutes, for posts it did not schedule
// (left by `tern report --send-now`, or by a node that died holding a lease).
// With reports disabled, no inbox and no pending post it does not wake until
// stop(); a SIGHUP (wake()) makes it pass at once.
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

  // Ends the loop (for shutdown): its pending wait is cancelled, and a pass
  // already on the pool finishes without scheduling another.
  void stop() { sleep_.stop(); }

  // Makes the loop pass again now (ternd's SIGHUP): posts another process left
  // pending (`tern report --send-now`) are then seen without waiting.
  void wake() { sleep_.wake(); }

  // One pass, as the loop runs it on the pool (public for tests): does what is
  // due at clock.now() and returns when the next pass is due; nullopt when
  // nothing can come due (reports disabled, no inbox, no pending post).
  std::optional<SystemTime> run_once();

 private:
  asio::awaitable<void> loop();
  // The parts of a pass; each returns when it is next due (nullopt: never).
  SystemTime send_due(SystemTime now);
  void ingest(SystemTime now);
  std::optional<SystemTime> post_due(SystemTime now);

  config::ReportsSettings settings_;
  domain::Storage& storage_;
  dns::Resolver& resolver_;
  runtime::BlockingPool& pool_;
  const Clock& clock_;
  log::Logger logger_;
  std::shared_ptr<const mailauth::DkimKeyring> dkim_;  // signs report mail ([[dkim]])
  std::string ca_file_;
  // When the last inbox read happened (pool thread only).
  std::optional<SystemTime> last_ingest_;
  runtime::StoppableSleep sleep_;
};

}  // namespace tern::app
