// SPDX-License-Identifier: Apache-2.0
// The SMTP service: one class for the three roles that speak the SMTP engine —
// MX (port 25), submission (587 STARTTLS, 465 implicit TLS) and LMTP (TCP or a
// UNIX socket). Each connection is one coroutine that reads into
// smtp::ServerEngine, runs Handlers on the blocking pool and writes the replies.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "dns/resolver.hpp"
#include "dnsbl/dnsbl.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "runtime/listener.hpp"
#include "runtime/tls.hpp"
#include "services/smtp/antivirus.hpp"
#include "services/smtp/handlers.hpp"
#include "services/smtp/milter.hpp"
#include "services/smtp/rate_limiter.hpp"
#include "smtp/server_engine.hpp"

namespace tern::services::smtp {

// MX inbound verification (mailauth::InboundVerifier): SPF, DKIM, ARC, iprev and
// DMARC at the end of every message's DATA/BDAT.
struct VerifyOptions {
  dns::Resolver* resolver = nullptr;  // Requires: outlives the Service
  // One deadline for every lookup of one message; open ones become temperror.
  runtime::Duration deadline = std::chrono::seconds(20);
  mailauth::BodyLengthPolicy body_length = mailauth::BodyLengthPolicy::kPolicyIfAppended;
  std::vector<std::string> trusted_arc_sealers;  // lower case
};

// MX: DNS lists of client addresses (RFC 5782, [dnsbl]). The lookups start
// when a client connects; their verdict is applied at RCPT.
struct DnsblOptions {
  dns::Resolver* resolver = nullptr;  // Requires: outlives the Service
  std::vector<dnsbl::Site> sites;
  int threshold = 1;
};

// MX: greylisting ([greylist], domain/greylist.hpp), asked at RCPT for each
// recipient Handlers accepted.
struct GreylistOptions {
  domain::GreylistPolicy policy;
};

struct Options {
  Policy policy;
  // MX only (ignored for other roles and for local-socket peers): set, each
  // message is verified before Handlers::on_message; the DNS lookups run
  // concurrently on the resolver's thread while the session's coroutine waits
  // on its strand, and the hashing runs on the blocking pool — never on the I/O
  // thread.
  std::optional<VerifyOptions> verify;
  // MX only (ignored for other roles and for local-socket peers): set, a client
  // listed by the sites' weights gets 554 5.7.1 at every RCPT.
  std::optional<DnsblOptions> dnsbl;
  // MX: clients in these blocks skip dnsbl and greylist ([smtp] trusted_networks).
  std::vector<dns::IpNetwork> trusted_networks;
  // MX only (ignored for other roles and for local-socket peers): set, the first
  // attempt of each (client network, sender, recipient) gets 450 4.2.0.
  std::optional<GreylistOptions> greylist;
  // Set: every message is scanned by clamd before Handlers::on_message (and
  // before the MX's verification), on the session's strand.
  std::optional<AntivirusOptions> antivirus;
  // Every message goes past these filters in turn after the antivirus scan
  // (and before the MX's verification), on the session's strand; each sees
  // the message as the ones before it left it (services/smtp/milter.hpp).
  std::vector<MilterOptions> milters;
  tern::smtp::Limits limits;
  // RFC 5321 §4.5.3.2.7: a server waits at least 5 minutes for the next command
  // (and, per §4.5.3.2.5-6, for each piece of DATA).
  runtime::Duration command_timeout = std::chrono::minutes(5);
  runtime::Duration write_timeout = std::chrono::minutes(1);
  runtime::Duration tls_handshake_timeout = std::chrono::seconds(30);
  // Non-null: STARTTLS is offered (RFC 3207) on plain connections.
  std::shared_ptr<runtime::TlsContexts> tls;
  // Submission: AUTH (and so MAIL) in the clear from 127.0.0.0/8 and ::1.
  bool allow_plaintext_auth_on_loopback = true;
  domain::AuthParams auth_params;
  // Per client IP and minute; 0 = unlimited (Postfix's defaults).
  std::uint32_t connections_per_ip_per_minute = 0;
  std::uint32_t messages_per_ip_per_minute = 0;
};

// Lifetime: `storage`, `pool`, `clock`, `random`, `registry` and `throttle` must
// outlive the Service, and the Service every connection given to handler().
// Thread-safety: sessions run concurrently on their own strands; the shared
// parts (rate limiters, throttle, metrics) are thread-safe.
//
// Metrics, labelled role="smtp|submission|lmtp": tern_smtp_messages_total{result=
// "accepted"|"rejected"}, tern_smtp_auth_total{result="success"|"failure"|"blocked"},
// tern_antivirus_scans_total{result="clean"|"infected"|"error"|"skipped"},
// tern_dnsbl_clients_total{result="listed"|"clean"},
// tern_greylist_total{result="pass"|"defer"|"error"},
// tern_milter_messages_total{result="pass"|"quarantine"|"reject"|"discard"|"error"}.
class Service {
 public:
  Service(Options options, domain::Storage& storage, runtime::BlockingPool& pool,
          const Clock& clock, Random& random, metrics::Registry& registry,
          domain::AuthThrottle& throttle, log::Logger logger);

  runtime::ConnectionHandler handler();

  // Serves one connection until QUIT, a timeout, a protocol error or shutdown.
  // Never throws for network or protocol errors.
  asio::awaitable<void> serve(std::unique_ptr<runtime::Connection> connection);

  // While draining, new MAIL commands get 421 and the session ends after the
  // current transaction.
  void set_draining(bool draining) { draining_.store(draining, std::memory_order_relaxed); }

 private:
  class Session;

  Options options_;
  domain::Storage& storage_;
  runtime::BlockingPool& pool_;
  const Clock& clock_;
  Random& random_;
  metrics::Registry& registry_;
  domain::AuthThrottle& throttle_;
  log::Logger logger_;
  RateLimiter connection_rate_;
  RateLimiter message_rate_;
  std::string mock_secret_;                        // SCRAM's fake salts for unknown users
  metrics::Counter* messages_accepted_ = nullptr;  // tern_smtp_messages_total{result=...}
  metrics::Counter* messages_rejected_ = nullptr;
  // tern_antivirus_scans_total{result=...}, when options_.antivirus is set.
  metrics::Counter* scans_clean_ = nullptr;
  metrics::Counter* scans_infected_ = nullptr;
  metrics::Counter* scans_failed_ = nullptr;
  metrics::Counter* scans_skipped_ = nullptr;
  // tern_milter_messages_total{result=...}, when options_.milters is not empty.
  metrics::Counter* milter_passed_ = nullptr;
  metrics::Counter* milter_held_ = nullptr;
  metrics::Counter* milter_rejected_ = nullptr;
  metrics::Counter* milter_discarded_ = nullptr;
  metrics::Counter* milter_failed_ = nullptr;
  // tern_dnsbl_clients_total{result=...}, when options_.dnsbl is set.
  metrics::Counter* dnsbl_listed_ = nullptr;
  metrics::Counter* dnsbl_clean_ = nullptr;
  // tern_greylist_total{result=...}, when options_.greylist is set.
  metrics::Counter* greylist_passed_ = nullptr;
  metrics::Counter* greylist_deferred_ = nullptr;
  metrics::Counter* greylist_failed_ = nullptr;
  std::atomic<bool> draining_{false};
};

}  // namespace tern::services::smtp
