// SPDX-License-Identifier: Apache-2.0
// ternd's report timer ([reports]): every few minutes, on the blocking pool,
// queue the DMARC aggregate and TLS reports of every period that has ended
// (domain::reports::run_due_reports, once per period thanks to the store's cursor)
// when `enabled`, and read new reports in the `inbox` account.
#pragma once

#include <memory>

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
  // Everything passed in must outlive the timer and the pool's queued work.
  ReportTimer(config::ReportsSettings settings, domain::Storage& storage, dns::Resolver& resolver,
              runtime::BlockingPool& pool, const Clock& clock, log::Logger logger,
              std::shared_ptr<const mailauth::DkimKeyring> dkim = nullptr);

  // Spawns the loop on `context`; it ends when the context stops.
  void start(asio::io_context& context);

  // True when there is anything to do (sending enabled or an inbox configured).
  bool active() const;

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
};

}  // namespace tern::app
