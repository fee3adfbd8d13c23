// SPDX-License-Identifier: Apache-2.0
// SmtpTransport: domain::OutboundTransport over SMTP and LMTP. Resolves the
// destination (per-domain [[transport]] routes, else MX lookup), connects with
// the RFC 5321 §4.5.3.2 timeouts, applies the TLS policy, drives
// smtp::ClientEngine, and keeps idle sessions for reuse.
#pragma once

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

namespace tern::services::delivery {

struct TransportOptions {
  config::OutboundSettings outbound;
  std::vector<config::TransportSettings> routes;  // [[transport]]
  std::string helo_name;                          // EHLO/LHLO argument (resolved)
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

  // Idle sessions in the reuse cache, and TCP/unix connections opened so far.
  std::size_t idle_sessions_for_test() const;
  std::size_t connections_opened_for_test() const;

  struct Impl;  // defined in the .cpp

 private:
  explicit SmtpTransport(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::services::delivery
