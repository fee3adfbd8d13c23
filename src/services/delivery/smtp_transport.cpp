// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/smtp_transport.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/tls_client.hpp"
#include "services/delivery/downgrade.hpp"
#include "services/delivery/mx_plan.hpp"
#include "smtp/client_engine.hpp"

namespace tern::services::delivery {

namespace {

using domain::DeliveryStatus;
using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kLmtpPort = 24;  // RFC 2033 §5 (the IANA port)

// One place to connect to.
struct Target {
  std::string host;  // the name we looked up (or the IP literal); TLS verifies it
  std::optional<dns::IpAddress> address;
  std::string unix_path;
  std::uint16_t port = 25;
  smtp::ClientMode mode = smtp::ClientMode::kSmtp;
  config::OutboundTls tls = config::OutboundTls::kMay;
  std::optional<smtp::ClientAuth> auth;
  // An MX host (not a configured relay or LMTP): its TLS attempts are reported
  // (TLS-RPT) and `policy` applies.
  bool mx_host = false;
  HostPolicy policy;

  // "mx.example.org[192.0.2.1]", the form of Postfix logs and DSNs.
  std::string remote() const {
    if (!unix_path.empty()) {
      return "unix:" + unix_path;
    }
    return host + "[" + (address ? address->format() : std::string()) + "]";
  }

  std::string key() const {
    return remote() + ":" + std::to_string(port) + "|" + std::to_string(static_cast<int>(mode)) +
           "|" + std::string(config::outbound_tls_name(tls)) + "|" +
           std::to_string(static_cast<int>(policy.kind)) + "|" +
           (auth ? auth->username : std::string());
  }
};

struct Session {
  std::unique_ptr<runtime::Connection> connection;
  std::unique_ptr<smtp::ClientEngine> engine;
  std::string key;
  std::uint64_t id = 0;
  bool tls_failed = false;    // a STARTTLS handshake failed (policy "may" retries in plaintext)
  bool tls_wanted = false;    // the engine was told to try STARTTLS
  bool tls_reported = false;  // this session's TLS outcome went to the reporter
  // Filled by a checking TLS context (MTA-STS, DANE) during the handshake.
  std::shared_ptr<runtime::TlsPeerCheck> peer_check;
};

// What one session attempt ended with, when it did not carry the message.
struct AttemptError {
  bool permanent = false;
  std::string enhanced;
  std::string text;
  std::string remote;
};

domain::DeliveryStatus status_of(smtp::RecipientResult::Status status) {
  switch (status) {
    case smtp::RecipientResult::Status::kAccepted:
      return DeliveryStatus::kDelivered;
    case smtp::RecipientResult::Status::kPermanent:
      return DeliveryStatus::kFailed;
    case smtp::RecipientResult::Status::kTemporary:
      return DeliveryStatus::kDeferred;
  }
  return DeliveryStatus::kDeferred;
}

Result<std::string> read_password(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return fail(ErrorCode::kNotFound, "auth_password_file " + path + ": cannot be read");
  }
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  if (line.empty()) {
    return fail(ErrorCode::kInvalidInput, "auth_password_file " + path + ": empty first line");
  }
  return line;
}

}  // namespace

struct SmtpTransport::Impl {
  asio::io_context& io;
  // Every delivery coroutine, cached session and idle timer runs on this one
  // strand: a cached connection is then always used from the executor it was
  // created on (runtime::Connection binds its timers to it). Sessions still run
  // concurrently; only their handlers are serialised, which two I/O threads
  // could not parallelise much anyway.
  asio::strand<asio::io_context::executor_type> strand;
  dns::Resolver& resolver;
  Random& random;
  TransportOptions options;
  log::Logger logger;
  std::map<std::string, std::string> passwords;  // auth_password_file → password
  runtime::ConnectionIds ids;

  mutable std::mutex mutex;
  std::multimap<std::string, std::unique_ptr<Session>> idle;   // guarded by mutex
  std::uint64_t next_session_id = 1;                           // guarded by mutex
  std::vector<std::weak_ptr<asio::steady_timer>> idle_timers;  // guarded by mutex
  std::atomic<std::size_t> connections_opened{0};
  StsCache sts_cache;
  runtime::SystemClock system_clock;
  std::shared_ptr<StsFetcher> sts_fetcher;
  // The refresh loop's wait, ended by stop_sts_refresh() at shutdown.
  std::shared_ptr<runtime::StoppableSleep> sts_sleep = std::make_shared<runtime::StoppableSleep>();

  Impl(asio::io_context& io_in, dns::Resolver& resolver_in, Random& random_in,
       TransportOptions options_in, log::Logger logger_in)
      : io(io_in),
        strand(asio::make_strand(io_in)),
        resolver(resolver_in),
        random(random_in),
        options(std::move(options_in)),
        logger(std::move(logger_in)),
        sts_cache(options.sts_cache_dir),
        sts_fetcher(options.sts_fetcher) {
    if (!sts_fetcher) {
      StsOptions sts_options;
      sts_options.port = options.outbound.mta_sts_port;
      sts_options.ca_file = options.outbound.ca_file;
      sts_fetcher = std::make_shared<HttpsStsFetcher>(resolver, sts_options, logger);
    }
  }

  const tern::Clock& clock() const {
    return options.clock != nullptr ? *options.clock : system_clock;
  }

  // ternd's MTA-STS refresh: holds the transport only while a pass runs, so
  // destroying the transport ends the loop at its next wake-up.
  static asio::awaitable<void> sts_refresh_loop(std::weak_ptr<SmtpTransport> weak,
                                                std::shared_ptr<runtime::StoppableSleep> sleep,
                                                std::chrono::seconds first,
                                                std::chrono::seconds interval) {
    std::chrono::seconds wait = first;
    while (co_await sleep->sleep(wait)) {
      auto self = weak.lock();
      if (!self) {
        co_return;
      }
      Impl& impl = *self->impl_;
      (void)co_await delivery::refresh_sts_policies(
          impl.resolver, *impl.sts_fetcher, impl.sts_cache, impl.clock().now(), impl.logger);
      wait = interval;
    }
  }

  void report(TlsAttempt attempt) {
    if (options.tls_reporter) {
      options.tls_reporter(std::move(attempt));
    }
  }

  // Reports the TLS outcome of `s` with `target` once per session.
  void report_session(Session& s, const Target& target, std::string result, std::string detail) {
    if (!target.mx_host || s.tls_reported) {
      return;
    }
    s.tls_reported = true;
    TlsAttempt attempt = target.policy.attempt(std::move(result));
    attempt.receiving_mx_hostname = target.host;
    attempt.receiving_ip = target.address ? target.address->format() : std::string();
    attempt.failure_reason_code = std::move(detail);
    report(std::move(attempt));
  }

  runtime::Duration timeout_for(smtp::ClientWait wait) const {
    const auto& o = options.outbound;
    switch (wait) {
      case smtp::ClientWait::kGreeting:
        return o.greeting_timeout;
      case smtp::ClientWait::kCommand:
        return o.command_timeout;
      case smtp::ClientWait::kDataInit:
        return o.data_init_timeout;
      case smtp::ClientWait::kDataBlock:
        return o.data_block_timeout;
      case smtp::ClientWait::kDataTerm:
        return o.data_term_timeout;
    }
    return o.command_timeout;
  }

  const config::TransportSettings* find_route(const std::string& destination) const {
    for (const auto& route : options.routes) {
      if (route.domain == destination) {
        return &route;
      }
    }
    return nullptr;
  }

  // ----- the idle-session cache

  std::unique_ptr<Session> take_idle(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = idle.find(key);
    if (it == idle.end()) {
      return nullptr;
    }
    auto session = std::move(it->second);
    idle.erase(it);
    return session;
  }

  // Keeps `session` for reuse, and closes it (QUIT) when it is still idle after
  // [outbound] connection_idle.
  void put_idle(std::shared_ptr<SmtpTransport> self, std::unique_ptr<Session> session) {
    if (options.outbound.connection_idle.count() == 0 ||
        session->engine->messages_sent() >= options.outbound.messages_per_connection) {
      asio::co_spawn(strand, quit(std::move(session)), asio::detached);
      return;
    }
    const std::uint64_t id = session->id;
    const std::string key = session->key;
    auto timer = std::make_shared<asio::steady_timer>(strand, options.outbound.connection_idle);
    {
      std::lock_guard lock(mutex);
      idle.emplace(key, std::move(session));
      std::erase_if(idle_timers, [](const auto& weak) { return weak.expired(); });
      idle_timers.push_back(timer);
    }
    timer->async_wait([self, timer, id, key](const asio::error_code&) {
      std::unique_ptr<Session> expired;
      {
        std::lock_guard lock(self->impl_->mutex);
        auto range = self->impl_->idle.equal_range(key);
        for (auto it = range.first; it != range.second; ++it) {
          if (it->second->id == id) {
            expired = std::move(it->second);
            self->impl_->idle.erase(it);
            break;
          }
        }
      }
      if (expired) {
        asio::co_spawn(self->impl_->strand, self->impl_->quit(std::move(expired)), asio::detached);
      }
    });
  }

  asio::awaitable<void> quit(std::unique_ptr<Session> session) {
    session->engine->quit();
    const Target target;  // a named object: GCC 12 destroys temporaries in co_await early
    (void)co_await pump(*session, target);
    co_return;
  }

  // ----- driving the engine

  Result<std::shared_ptr<asio::ssl::context>> tls_context(Session& s, const Target& target) const {
    runtime::TlsClientSettings settings;
    settings.verify = target.tls == config::OutboundTls::kVerify;
    settings.ca_file = options.outbound.ca_file;
    if (target.policy.kind == HostPolicy::Kind::kNone) {
      return runtime::build_client_context(settings, target.host);
    }
    // MTA-STS and DANE judge the certificate after the handshake (judge_tls),
    // so that the failure type is known for TLS-RPT. RFC 8461 §4.2 names the MX
    // host as the reference identity; DANE does its own name checks.
    s.peer_check = std::make_shared<runtime::TlsPeerCheck>();
    const std::string reference =
        target.policy.kind == HostPolicy::Kind::kSts ? target.host : std::string();
    return runtime::build_checking_client_context(settings, reference, s.peer_check);
  }

  // Runs the engine until it needs the caller: Ready, MessageDone or Closed.
  asio::awaitable<smtp::ClientEvent> pump(Session& s, const Target& target) {
    std::array<char, 16384> buffer{};
    for (;;) {
      smtp::ClientEvent event = s.engine->next();
      if (std::holds_alternative<smtp::NeedInput>(event)) {
        if (!co_await flush(s, target)) {
          continue;
        }
        auto n = co_await s.connection->read_some(buffer, timeout_for(s.engine->waiting_for()));
        if (!n) {
          // RFC 3463 §3.5: 4.4.2 "bad connection", for a timeout as for a loss (as Postfix).
          s.engine->abort("4.4.2",
                          (n.error().code == ErrorCode::kTimeout ? "conversation with "
                                                                 : "lost connection with ") +
                              target.remote() + ": " + n.error().message);
        } else if (*n == 0) {
          s.engine->abort("4.4.2",
                          "lost connection with " + target.remote() + " (closed by the server)");
        } else {
          s.engine->receive(std::string_view(buffer.data(), *n));
        }
        continue;
      }
      if (std::holds_alternative<smtp::StartTls>(event)) {
        if (!co_await flush(s, target)) {
          continue;
        }
        auto context = tls_context(s, target);
        if (!context) {
          s.engine->abort("4.7.5", context.error().message);
          continue;
        }
        // RFC 6066 §3: SNI carries names only; under DANE it is the TLSA base
        // domain (RFC 7672 §8.1), the MX host or its CNAME expansion.
        const bool literal = dns::IpAddress::parse(target.host).has_value();
        // A named local, not a conditional temporary inside co_await: GCC 12 destroys
        // that temporary twice (ASan bad-free with a short, SSO host name).
        std::string sni = literal ? std::string() : target.host;
        if (target.policy.kind == HostPolicy::Kind::kDane && !target.policy.tlsa_base.empty()) {
          sni = target.policy.tlsa_base;
        }
        auto handshake = co_await s.connection->start_tls_client(*context, std::move(sni),
                                                                 options.outbound.command_timeout);
        if (!handshake) {
          s.tls_failed = true;
          report_session(s, target, "validation-failure",
                         "TLS handshake failed: " + handshake.error().message);
          s.engine->abort("4.7.5", "TLS handshake with " + target.remote() +
                                       " failed: " + handshake.error().message);
          continue;
        }
        if (s.peer_check) {
          const TlsVerdict verdict = judge_tls(target.policy, target.host, *s.peer_check);
          report_session(s, target, verdict.result, verdict.detail);
          if (!verdict.deliver) {
            // Nothing has been sent over the channel yet; a policy failure is
            // never retried in plaintext (the session is not marked tls_failed).
            s.engine->abort("4.7.5", verdict.detail + " (" + target.remote() + ")");
            continue;
          }
        } else {
          report_session(s, target, "success", "");
        }
        s.engine->tls_started();
        continue;
      }
      if (s.tls_wanted && !s.tls_reported && !s.connection->is_tls()) {
        // Ready without TLS: the server did not offer STARTTLS (or refused it)
        // and the policy let the session go on; Closed with 4.7.4: the policy
        // required TLS and it was not offered (RFC 8460 §4.3.1).
        const auto* closed = std::get_if<smtp::Closed>(&event);
        if (std::holds_alternative<smtp::Ready>(event) ||
            (closed != nullptr && closed->error && closed->error->enhanced == "4.7.4")) {
          report_session(s, target, "starttls-not-supported",
                         target.host + " did not offer STARTTLS");
        }
      }
      if (std::holds_alternative<smtp::Closed>(event)) {
        (void)co_await flush(s, target);
        s.connection->close();
      }
      co_return event;
    }
  }

  // Writes the engine's output. On failure the engine is aborted (false).
  asio::awaitable<bool> flush(Session& s, const Target& target) {
    std::string bytes(s.engine->output());
    if (bytes.empty() || s.connection == nullptr) {
      co_return true;
    }
    s.engine->consume_output(bytes.size());
    auto written = co_await s.connection->write_all(bytes, options.outbound.data_block_timeout);
    if (!written) {
      s.engine->abort("4.4.2", "lost connection with " + target.remote() +
                                   " while sending: " + written.error().message);
      co_return false;
    }
    co_return true;
  }

  asio::awaitable<Result<std::unique_ptr<Session>>> connect(const Target& target, bool plaintext) {
    auto session = std::make_unique<Session>();
    const std::string id = ids.next();
    const auto timeout = options.outbound.connect_timeout;
    // (Not a conditional expression: GCC 12 mishandles co_await inside ?:.)
    Result<std::unique_ptr<runtime::Connection>> connection =
        fail(ErrorCode::kInternal, "not connected");
    if (target.unix_path.empty()) {
      asio::ip::tcp::endpoint endpoint(asio::ip::make_address(target.address->format()),
                                       target.port);
      connection = co_await runtime::connect_tcp(endpoint, timeout, id, logger);
    } else {
      connection = co_await runtime::connect_local(target.unix_path, timeout, id, logger);
    }
    if (!connection) {
      co_return connection.error();
    }
    ++connections_opened;
    session->connection = std::move(*connection);
    smtp::ClientOptions engine_options;
    engine_options.mode = target.mode;
    engine_options.helo_name = options.helo_name;
    engine_options.tls = plaintext || target.tls == config::OutboundTls::kNone
                             ? smtp::TlsWant::kNone
                         : target.tls == config::OutboundTls::kMay ? smtp::TlsWant::kMay
                                                                   : smtp::TlsWant::kRequired;
    engine_options.auth = target.auth;
    engine_options.random = &random;
    session->tls_wanted = engine_options.tls != smtp::TlsWant::kNone;
    session->engine = std::make_unique<smtp::ClientEngine>(engine_options);
    session->key = target.key();
    {
      std::lock_guard lock(mutex);
      session->id = next_session_id++;
    }
    co_return std::move(session);
  }

  // ----- planning

  struct Plan {
    std::vector<Target> targets;
    std::optional<PlanFailure> failure;
    // An LMTP route: the message reaches its mailbox store there, so REQUIRETLS
    // (RFC 8689, which governs relaying) ends at that hop, as in local delivery.
    bool final_delivery = false;
  };

  asio::awaitable<Plan> plan(const std::string& destination, bool requiretls) {
    Plan plan;
    const config::TransportSettings* route = find_route(destination);
    Target base;
    base.tls = options.outbound.tls;
    base.port = options.outbound.mx_port;
    if (route != nullptr) {
      base.mode = route->protocol == config::TransportSettings::Protocol::kLmtp
                      ? smtp::ClientMode::kLmtp
                      : smtp::ClientMode::kSmtp;
      plan.final_delivery = base.mode == smtp::ClientMode::kLmtp;
      if (route->has_tls) {
        base.tls = route->tls;
      } else if (base.mode == smtp::ClientMode::kLmtp) {
        base.tls = config::OutboundTls::kNone;  // a local delivery agent: no STARTTLS by default
      }
      base.port = route->port != 0                       ? route->port
                  : base.mode == smtp::ClientMode::kLmtp ? kLmtpPort
                                                         : options.outbound.mx_port;
      if (!route->auth_user.empty()) {
        // Loopback relays may take AUTH PLAIN without TLS, like the server's
        // allow_plaintext_on_loopback; elsewhere the engine insists on TLS.
        base.auth = smtp::ClientAuth{route->auth_user, passwords[route->auth_password_file], false};
      }
      if (!route->unix_path.empty()) {
        base.unix_path = route->unix_path;
        base.host = "localhost";
        if (base.auth) {
          base.auth->allow_plaintext = true;
        }
        plan.targets.push_back(base);
        co_return plan;
      }
    }
    requiretls = requiretls && !plan.final_delivery;
    if (requiretls) {
      // RFC 8689 §4.2.1 (2): the server's certificate must be verified against
      // the host name (PKIX here; DANE is not implemented yet), whatever the
      // configured policy says.
      base.tls = config::OutboundTls::kVerify;
    }
    std::vector<std::string> hosts;
    // For MX deliveries: the policy domain (RFC 8461 §3.4: a "smtp:name" route's
    // name), whether the MX answer was DNSSEC-secure, and the MTA-STS policy.
    const bool mx_delivery = route == nullptr || route->mx_lookup;
    const std::string policy_domain = route != nullptr ? route->host : destination;
    bool mx_secure = false;
    std::string mx_canonical;  // the next-hop domain's CNAME expansion (RFC 7672 §3.2.2)
    std::shared_ptr<const StsPolicy> sts;
    if (!mx_delivery) {
      hosts.push_back(route->host);  // a configured relay: no MX lookup to protect
    } else {
      const std::string& name = policy_domain;
      MxHosts mx = co_await resolve_mx(resolver, name, random);
      if (mx.failure) {
        plan.failure = mx.failure;
        co_return plan;
      }
      mx_secure = mx.dnssec_secure;
      mx_canonical = mx.canonical_name;
      if (options.outbound.mta_sts) {
        StsDiscovery discovery =
            co_await discover_sts(resolver, *sts_fetcher, sts_cache, name, clock().now(), logger);
        if (discovery.failure) {
          report(std::move(*discovery.failure));
        }
        sts = std::move(discovery.policy);
      }
      const bool sts_enforced = sts && sts->mode == StsMode::kEnforce;
      if (requiretls && !mx.dnssec_secure && !sts_enforced) {
        // RFC 8689 §4.2.1 (1): the MX lookup must be DNSSEC-validated or backed
        // by an MTA-STS policy in enforce mode. An unsigned zone stays unsigned:
        // not worth retrying.
        plan.failure = PlanFailure{
            DeliveryStatus::kFailed, "5.7.30",
            "5.7.30 REQUIRETLS: the MX records of " + name +
                " are neither DNSSEC-validated nor covered by an enforced MTA-STS policy"
                " (RFC 8689 section 4.2.1)"};
        co_return plan;
      }
      hosts = std::move(mx.hosts);
    }
    bool temporary = false;
    std::string last_error;
    std::string policy_error;  // the last host skipped by DANE or MTA-STS (4.7.5)
    for (const auto& host : hosts) {
      HostAddresses addresses = co_await resolve_host(resolver, host);
      temporary = temporary || addresses.temporary;
      if (addresses.addresses.empty()) {
        last_error = addresses.error;
        continue;
      }
      HostPolicy policy;
      policy.policy_domain = policy_domain;
      if (mx_delivery) {
        // RFC 7672 §2.2.1: TLSA records are looked up only for hosts of a secure
        // MX answer; lookup_dane() decides from the address answers (§2.2.2).
        if (options.outbound.dane && mx_secure) {
          DaneQuery query{host, addresses, base.port, policy_domain, mx_canonical};
          DaneLookup dane = co_await lookup_dane(resolver, std::move(query));
          if (dane.failure) {
            report(std::move(*dane.failure));
            policy_error = dane.error;
            continue;
          }
          if (dane.policy) {
            policy = std::move(*dane.policy);
          }
        }
        // RFC 8461 §2: where DANE applies, MTA-STS does not.
        if (policy.kind == HostPolicy::Kind::kNone && sts) {
          policy.kind = HostPolicy::Kind::kSts;
          policy.sts = sts;
          if (!sts_policy_allows(*sts, host)) {
            // §4.1: the MX host must match a policy pattern.
            TlsAttempt attempt = policy.attempt("validation-failure");
            attempt.receiving_mx_hostname = host;
            attempt.failure_reason_code = "MX host " + host + " does not match the policy's mx";
            report(std::move(attempt));
            if (policy.tls_required()) {
              policy_error = "4.7.5 MTA-STS: MX host " + host + " of " + policy_domain +
                             " is not allowed by the domain's policy (RFC 8461 section 4.1)";
              continue;
            }
          }
        }
      }
      for (const auto& address : addresses.addresses) {
        Target target = base;
        target.host = host;
        target.address = address;
        target.mx_host = mx_delivery;
        target.policy = policy;
        if (policy.tls_required()) {
          // DANE or an enforced MTA-STS policy: STARTTLS must succeed, whatever
          // [outbound] tls says; plaintext is never a fallback.
          target.tls = config::OutboundTls::kVerify;
        }
        if (target.auth && address.bytes()[0] == 127 && address.is_v4()) {
          target.auth->allow_plaintext = true;
        } else if (target.auth && address == *dns::IpAddress::parse("::1")) {
          target.auth->allow_plaintext = true;
        }
        plan.targets.push_back(std::move(target));
      }
    }
    if (plan.targets.empty() && !policy_error.empty()) {
      // RFC 8461 §5: failures under an enforced policy are transient (the policy
      // may be updated); so are DANE lookup failures (RFC 7672 §2.2).
      plan.failure = PlanFailure{DeliveryStatus::kDeferred, "4.7.5", policy_error};
    } else if (plan.targets.empty()) {
      // RFC 3463 X.4.4: unable to route. Temporary when a lookup could not answer.
      plan.failure = temporary ? PlanFailure{DeliveryStatus::kDeferred, "4.4.3",
                                             "4.4.3 no address for the hosts of " + destination +
                                                 " (" + last_error + ")"}
                               : PlanFailure{DeliveryStatus::kFailed, "5.4.4",
                                             "5.4.4 no address for the hosts of " + destination +
                                                 " (" + last_error + ")"};
    }
    co_return plan;
  }

  // ----- one delivery

  asio::awaitable<domain::DeliveryReport> run(std::shared_ptr<SmtpTransport> self,
                                              domain::DeliveryRequest request) {
    domain::DeliveryReport report;
    auto fill_all = [&](DeliveryStatus status, const std::string& enhanced, const std::string& text,
                        const std::string& remote) {
      report.recipients.clear();
      for (const auto& r : request.recipients) {
        report.recipients.push_back(
            domain::RecipientOutcome{r.index, status, text, enhanced, remote});
      }
    };
    Plan route = co_await plan(request.destination, request.requiretls);
    if (route.failure) {
      fill_all(route.failure->status, route.failure->enhanced, route.failure->text, "");
      co_return report;
    }
    smtp::OutgoingMessage message;
    message.sender = request.sender;
    message.envid = request.envid;
    message.ret = request.ret;
    message.smtputf8 = request.smtputf8;
    message.eight_bit = request.eight_bit;
    message.requiretls = request.requiretls && !route.final_delivery;
    for (const auto& r : request.recipients) {
      message.recipients.push_back({r.address, r.notify, r.orcpt});
    }
    if (request.eight_bit) {
      message.seven_bit_content = downgrade_to_7bit(request.raw);
    }
    message.content = std::move(request.raw);

    AttemptError last{false, "4.4.1", "4.4.1 no host could be reached", ""};
    for (const Target& target : route.targets) {
      // A cached session first; if it turns out dead before any reply, one fresh try.
      for (int attempt = 0; attempt < 3; ++attempt) {
        std::unique_ptr<Session> session = attempt == 0 ? take_idle(target.key()) : nullptr;
        const bool reused = session != nullptr;
        if (!session) {
          auto connected = co_await connect(target, attempt == 2);
          if (!connected) {
            last = AttemptError{false, "4.4.1",
                                "4.4.1 connect to " + target.remote() + ":" +
                                    std::to_string(target.port) + ": " + connected.error().message,
                                target.remote()};
            break;
          }
          session = std::move(*connected);
        }
        smtp::ClientEvent event = smtp::Ready{};
        if (!reused) {
          event = co_await pump(*session, target);
        }
        if (auto* closed = std::get_if<smtp::Closed>(&event)) {
          const smtp::SessionError error = closed->error.value_or(smtp::SessionError{});
          last = AttemptError{error.permanent, error.enhanced, error.text, target.remote()};
          // RFC 7435: with opportunistic TLS a failed handshake is retried in
          // plaintext (Postfix does the same).
          if (session->tls_failed && target.tls == config::OutboundTls::kMay && attempt < 2) {
            attempt = 1;
            continue;
          }
          break;
        }
        session->engine->send(message);
        event = co_await pump(*session, target);
        auto* done = std::get_if<smtp::MessageDone>(&event);
        if (done == nullptr) {
          // A Ready without MessageDone cannot happen after send(); treat as trouble.
          last = AttemptError{false, "4.4.2",
                              "4.4.2 session with " + target.remote() + " ended unexpectedly",
                              target.remote()};
          break;
        }
        // A cached session may have been closed by the peer while idle (EOF, or
        // its idle-timeout 421 read as the answer to our RSET). When nothing but
        // temporary results came back, try once more on a fresh connection.
        const bool all_temporary = std::all_of(
            done->recipients.begin(), done->recipients.end(),
            [](const auto& r) { return r.status == smtp::RecipientResult::Status::kTemporary; });
        if (reused && all_temporary && attempt == 0) {
          continue;  // the cached connection had gone stale: connect afresh
        }
        report.recipients.clear();
        // RFC 3461 §5.2.2: a server that announced DSN took NOTIFY with the RCPT and
        // now owes the success notice; only otherwise do we send "relayed" (§5.2.3).
        const bool dsn_passed_on = session->engine->capabilities().dsn;
        for (const auto& result : done->recipients) {
          report.recipients.push_back(domain::RecipientOutcome{
              request.recipients[result.index].index, status_of(result.status), result.text,
              result.enhanced, target.remote(), dsn_passed_on});
        }
        smtp::ClientEvent after = co_await pump(*session, target);
        if (std::holds_alternative<smtp::Ready>(after)) {
          put_idle(self, std::move(session));
        }
        logger.info("delivery attempt done",
                    {{"queue_id", std::to_string(static_cast<std::uint64_t>(request.queue_id))},
                     {"relay", target.remote()},
                     {"recipients", std::to_string(report.recipients.size())}});
        co_return report;
      }
    }
    fill_all(last.permanent ? DeliveryStatus::kFailed : DeliveryStatus::kDeferred, last.enhanced,
             last.text, last.remote);
    co_return report;
  }
};

SmtpTransport::SmtpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SmtpTransport::~SmtpTransport() = default;

Result<std::shared_ptr<SmtpTransport>> SmtpTransport::create(asio::io_context& io,
                                                             dns::Resolver& resolver,
                                                             Random& random,
                                                             TransportOptions options,
                                                             log::Logger logger) {
  auto impl = std::make_unique<Impl>(io, resolver, random, std::move(options), std::move(logger));
  for (const auto& route : impl->options.routes) {
    if (!route.auth_password_file.empty()) {
      TERN_TRY(auto password, read_password(route.auth_password_file));
      impl->passwords[route.auth_password_file] = std::move(password);
    }
  }
  return std::shared_ptr<SmtpTransport>(new SmtpTransport(std::move(impl)));
}

domain::Async<domain::DeliveryReport> SmtpTransport::deliver(domain::DeliveryRequest request) {
  Promise<Result<domain::DeliveryReport>> promise;
  auto future = promise.future();
  auto self = shared_from_this();
  asio::co_spawn(impl_->strand, impl_->run(self, std::move(request)),
                 [promise](std::exception_ptr error, domain::DeliveryReport report) mutable {
                   if (error) {
                     promise.set_value(fail(ErrorCode::kInternal, "outbound delivery failed"));
                     return;
                   }
                   promise.set_value(std::move(report));
                 });
  return future;
}

void SmtpTransport::close_idle() {
  std::multimap<std::string, std::unique_ptr<Session>> idle;
  std::vector<std::weak_ptr<asio::steady_timer>> timers;
  {
    std::lock_guard lock(impl_->mutex);
    idle.swap(impl_->idle);
    timers.swap(impl_->idle_timers);
  }
  for (auto& weak : timers) {
    if (auto timer = weak.lock()) {
      asio::post(impl_->strand, [timer] { timer->cancel(); });
    }
  }
  for (auto& [key, session] : idle) {
    asio::co_spawn(impl_->strand, impl_->quit(std::move(session)), asio::detached);
  }
}

domain::Async<StsRefreshSummary> SmtpTransport::refresh_sts_policies() {
  Promise<Result<StsRefreshSummary>> promise;
  auto future = promise.future();
  auto self = shared_from_this();
  Impl& impl = *impl_;
  asio::co_spawn(impl.strand,
                 delivery::refresh_sts_policies(impl.resolver, *impl.sts_fetcher, impl.sts_cache,
                                                impl.clock().now(), impl.logger),
                 [promise, self](std::exception_ptr error, StsRefreshSummary summary) mutable {
                   if (error) {
                     promise.set_value(fail(ErrorCode::kInternal, "mta-sts refresh failed"));
                     return;
                   }
                   promise.set_value(summary);
                 });
  return future;
}

void SmtpTransport::start_sts_refresh(std::chrono::seconds first, std::chrono::seconds interval) {
  if (!impl_->options.outbound.mta_sts) {
    return;
  }
  asio::co_spawn(impl_->strand,
                 Impl::sts_refresh_loop(weak_from_this(), impl_->sts_sleep, first, interval),
                 asio::detached);
}

void SmtpTransport::stop_sts_refresh() {
  impl_->sts_sleep->stop();
}

std::size_t SmtpTransport::idle_sessions_for_test() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->idle.size();
}

std::size_t SmtpTransport::connections_opened_for_test() const {
  return impl_->connections_opened.load();
}

}  // namespace tern::services::delivery
