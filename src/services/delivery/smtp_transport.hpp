// SPDX-License-Identifier: Apache-2.0
// SmtpTransport: domain::OutboundTransport over SMTP and LMTP. Resolves the
// destination (per-domain [[transport]] routes, else MX lookup), connects with
// the RFC 5321 §4.5.3.2 timeouts, applies the TLS policy, drives
// smtp::ClientEngine, and keeps idle sessions for reuse.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "config/settings.hpp"
#include "dns/resolver.hpp"
#include "domain/outbound.hpp"
#include "services/delivery/transport_security.hpp"

namespace tern::services::delivery {

struct TransportOptions {
  config::OutboundSettings outbound;
  std::vector<config::TransportSettings> routes;  // [[transport]]
  std::string helo_name;                          // EHLO/LHLO argument (resolved)
  // Where fetched MTA-STS policies are kept across restarts (<data_dir>/mta-sts);
  // "" keeps them in memory only.
  std::string sts_cache_dir;
  // Told of every TLS attempt to an MX host and every policy failure (TLS-RPT,
  // RFC 8460); may be empty.
  TlsReporter tls_reporter;
  // The time MTA-STS cache decisions use (max_age, refresh); nullptr = the
  // system clock. Must outlive the transport.
  const Clock* clock = nullptr;
  // How MTA-STS policies are fetched; nullptr = HTTPS (HttpsStsFetcher with
  // [outbound] mta_sts_port and ca_file). Tests pass a fake.
  std::shared_ptr<StsFetcher> sts_fetcher;
};

// Thread-safety: deliver() may be called from any thread, concurrently; each call
// runs as its own coroutine on the transport's strand of `io` (one strand, so a
// cached connection is always used from the executor it was made on). The resolver, random source
// and io_context must outlive the transport and every pending deliver().
//
// How outcomes are chosen (domain::RecipientOutcome):
//   - a recipient the server accepted after the data           kDelivered
//   - 4yz replies, connection/TLS/DNS trouble, timeouts         kDeferred
//   - 5yz replies to MAIL/RCPT/DATA, null MX (5.1.10),
//     NXDOMAIN for the destination (5.1.2), every MX host name
//     without address (5.4.4), SIZE/SMTPUTF8/8BITMIME/REQUIRETLS
//     pre-checks (5.3.4, 5.6.7, 5.6.3, 5.7.30)                  kFailed
// A session that fails before the message (greeting, EHLO, STARTTLS required but
// missing, AUTH) moves on to the next address, then the next MX host; the last
// such error becomes every recipient's outcome (permanent only for a 5yz reply
// from the last host tried).
//
// Transport security for MX deliveries (the destination's MX hosts, or those of
// an "smtp:name" route, whose domain is then the policy domain, RFC 8461 §3.4;
// configured relays and LMTP have no policy):
//   - DANE ([outbound] dane, RFC 7672): when the MX answer and a host's address
//     answers are DNSSEC-secure and _<port>._tcp.<host> has secure TLSA records
//     (for a CNAME host: at the expanded name first, then the host's; lookup_dane),
//     TLS is mandatory and the certificate must match a usable record; a bogus or
//     failed TLSA lookup skips the host (4.7.5). DANE wins over MTA-STS per host.
//   - MTA-STS ([outbound] mta_sts, RFC 8461): policy "enforce" allows only MX
//     hosts matching its mx patterns and requires TLS with a certificate valid
//     for the MX name (PKIX against [outbound] ca_file or the system store); a
//     host failing that is skipped, and when none is left the recipients are
//     deferred with 4.7.5. "testing" delivers as without a policy and reports.
//   - a certificate failure under either never falls back to plaintext.
// Each attempt is handed to TransportOptions::tls_reporter.
//
// 8-bit content for a server without 8BITMIME is downgraded to quoted-printable
// (RFC 6152 §3, downgrade.hpp); when that is impossible (8-bit headers) it fails
// with 5.6.3.
class SmtpTransport final : public domain::OutboundTransport,
                            public std::enable_shared_from_this<SmtpTransport> {
 public:
  // Reads the routes' password files. Errors: kInvalidInput/kNotFound naming a
  // password file that cannot be read or is empty.
  static Result<std::shared_ptr<SmtpTransport>> create(asio::io_context& io,
                                                       dns::Resolver& resolver, Random& random,
                                                       TransportOptions options,
                                                       log::Logger logger);

  ~SmtpTransport() override;

  domain::Async<domain::DeliveryReport> deliver(domain::DeliveryRequest request) override;

  // Sends QUIT on every idle cached session and drops them (for shutdown).
  void close_idle();

  // Refreshes every cached MTA-STS policy once (refresh_sts_policies(), RFC 8461
  // §3.3), on the transport's strand, at the options' clock's now().
  domain::Async<StsRefreshSummary> refresh_sts_policies();

  // Starts ternd's proactive MTA-STS refresh: a pass `first` after the call (so
  // policies cached before a restart are checked soon), then every `interval`
  // (RFC 8461 §3.3 suggests daily). Does nothing when [outbound] mta_sts is off.
  // The loop ends at stop_sts_refresh(), or when the transport is destroyed.
  void start_sts_refresh(std::chrono::seconds first, std::chrono::seconds interval);

  // Ends the refresh loop (for shutdown): its pending timer is cancelled, and a
  // pass already running finishes without scheduling another. A loop started
  // afterwards ends at once.
  void stop_sts_refresh();

  // Idle sessions in the reuse cache, and TCP/unix connections opened so far.
  std::size_t idle_sessions_for_test() const;
  std::size_t connections_opened_for_test() const;

  struct Impl;  // defined in the .cpp

 private:
  explicit SmtpTransport(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::services::delivery
