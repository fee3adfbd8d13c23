// SPDX-License-Identifier: Apache-2.0
#include "app/daemon.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <asio.hpp>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/dns_cli.hpp"
#include "app/queue_cli.hpp"
#include "app/report_timer.hpp"
#include "app/settings_file.hpp"
#include "app/storage_factory.hpp"
#include "app/store_gc_timer.hpp"
#include "base/metrics.hpp"
#include "mailauth/dkim_keyring.hpp"
#include "runtime/dns_resolver.hpp"
#include "runtime/io.hpp"
#include "runtime/listener.hpp"
#include "runtime/log_sink.hpp"
#include "runtime/privileges.hpp"
#include "runtime/signals.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/tls.hpp"
#include "services/cluster/change_listener.hpp"
#include "services/delivery/smtp_transport.hpp"
#include "services/http/service.hpp"
#include "services/imap/service.hpp"
#include "services/managesieve/service.hpp"
#include "services/outbound/scheduler.hpp"
#include "services/pop3/service.hpp"
#include "services/smtp/service.hpp"

namespace tern::app {
namespace {

constexpr int kExitStartupFailed = 1;
constexpr int kExitBadConfig = 2;

runtime::LogFormat log_format(config::LogFormat format) {
  return format == config::LogFormat::kJson ? runtime::LogFormat::kJson : runtime::LogFormat::kText;
}

runtime::TlsSettings tls_settings(const config::TlsSettings& tls) {
  runtime::TlsSettings out;
  out.cert_file = tls.cert;
  out.key_file = tls.key;
  out.min_version = tls.min_version == config::TlsVersion::kTls13 ? runtime::TlsVersion::kTls13
                                                                  : runtime::TlsVersion::kTls12;
  return out;
}

// Roles whose services exist in this build. A configured role that is not here is
// a startup error rather than a silently missing port.
bool is_available(config::ListenerRole role) {
  return role == config::ListenerRole::kHttp || role == config::ListenerRole::kSmtp ||
         role == config::ListenerRole::kSubmission || role == config::ListenerRole::kLmtp ||
         role == config::ListenerRole::kPop3 || role == config::ListenerRole::kImap ||
         role == config::ListenerRole::kManageSieve;
}

// The brute-force policy shared by every protocol that authenticates.
domain::ThrottlePolicy throttle_policy(const config::AuthSettings& auth) {
  domain::ThrottlePolicy policy;
  policy.failures_before_delay = auth.failures_before_delay;
  policy.failures_before_block = auth.failures_before_block;
  policy.user_failures_before_block = auth.user_failures_before_block;
  policy.failure_window = auth.failure_window;
  policy.block_time = auth.block_time;
  policy.max_delay = auth.max_delay;
  return policy;
}

// The SMTP service options for one role, from [server], [smtp], [auth],
// [addressing], [antivirus], [[milter]], the [[dkim]] keys (submission signs with them, the
// MX ARC-seals forwards with them) and, for the MX, [greylist], and [mailauth]
// and [dnsbl] with the resolver.
services::smtp::Options smtp_options(const config::Settings& settings, config::ListenerRole role,
                                     std::shared_ptr<runtime::TlsContexts> tls,
                                     std::shared_ptr<const domain::Srs> srs,
                                     std::shared_ptr<const mailauth::DkimKeyring> dkim,
                                     dns::Resolver* resolver,
                                     std::shared_ptr<domain::CompiledScripts> scripts) {
  services::smtp::Options o;
  o.policy.scripts = std::move(scripts);
  o.policy.role = role == config::ListenerRole::kSubmission ? services::smtp::Role::kSubmission
                  : role == config::ListenerRole::kLmtp     ? services::smtp::Role::kLmtp
                                                            : services::smtp::Role::kMx;
  o.policy.hostname = settings.server.hostname;
  o.policy.srs = std::move(srs);
  if (o.policy.role == services::smtp::Role::kSubmission) {
    o.policy.dkim = std::move(dkim);
  } else if (o.policy.role == services::smtp::Role::kMx) {
    // RFC 8601 §5: fields claiming our authserv-id are removed from MX mail.
    o.policy.authserv_id = settings.mailauth.authserv_id.empty() ? settings.server.hostname
                                                                 : settings.mailauth.authserv_id;
    const config::MailauthSettings& m = settings.mailauth;
    if (m.verify_inbound) {
      o.policy.dmarc_reject = m.dmarc_reject == config::DmarcRejectAction::kQuarantine
                                  ? services::smtp::DmarcRejectAction::kQuarantine
                              : m.dmarc_reject == config::DmarcRejectAction::kIgnore
                                  ? services::smtp::DmarcRejectAction::kIgnore
                                  : services::smtp::DmarcRejectAction::kReject;
      o.policy.arc_keys = std::move(dkim);
      services::smtp::VerifyOptions verify;
      verify.resolver = resolver;
      verify.deadline = m.dns_timeout;
      verify.body_length = m.dkim_length_policy == config::DkimLengthPolicy::kAccept
                               ? mailauth::BodyLengthPolicy::kAccept
                           : m.dkim_length_policy == config::DkimLengthPolicy::kPolicyAlways
                               ? mailauth::BodyLengthPolicy::kPolicyAlways
                               : mailauth::BodyLengthPolicy::kPolicyIfAppended;
      verify.trusted_arc_sealers = m.trusted_arc_sealers;
      o.verify = std::move(verify);
    }
  }
  if (o.policy.role == services::smtp::Role::kMx) {
    o.trusted_networks = settings.smtp.trusted_networks;
  }
  if (o.policy.role == services::smtp::Role::kMx && settings.greylist.enabled) {
    domain::GreylistPolicy policy;
    policy.delay_seconds = settings.greylist.delay.count();
    policy.retry_window_seconds = settings.greylist.retry_window.count();
    policy.max_age_seconds = settings.greylist.max_age.count();
    policy.auto_allow_after = settings.greylist.auto_allow_clients;
    o.greylist = services::smtp::GreylistOptions{policy};
  }
  if (o.policy.role == services::smtp::Role::kMx && !settings.dnsbl.sites.empty()) {
    o.dnsbl =
        services::smtp::DnsblOptions{resolver, settings.dnsbl.sites, settings.dnsbl.threshold};
  }
  // Whether a `roles = [...]` setting names this listener's role.
  auto names_role = [&](bool smtp, bool submission, bool lmtp) {
    return o.policy.role == services::smtp::Role::kSubmission ? submission
           : o.policy.role == services::smtp::Role::kLmtp     ? lmtp
                                                              : smtp;
  };
  const config::AntivirusSettings& av = settings.antivirus;
  if (av.enabled() && names_role(av.scan_smtp, av.scan_submission, av.scan_lmtp)) {
    services::smtp::AntivirusOptions scan;
    scan.unix_path = av.clamd_unix_path;
    if (scan.unix_path.empty()) {
      // An IP literal: the config has checked it.
      scan.tcp = asio::ip::tcp::endpoint(asio::ip::make_address(av.clamd_host), av.clamd_port);
    }
    scan.defer_on_failure = av.on_failure == config::AntivirusFailure::kDefer;
    scan.max_message_bytes = av.max_message_bytes;
    scan.timeout = av.timeout;
    o.antivirus = std::move(scan);
  }
  for (const config::MilterSettings& m : settings.milters) {
    if (!names_role(m.smtp, m.submission, m.lmtp)) {
      continue;
    }
    services::smtp::MilterOptions filter;
    filter.name = m.name;
    filter.unix_path = m.unix_path;
    if (filter.unix_path.empty()) {
      // An IP literal: the config has checked it.
      filter.tcp = asio::ip::tcp::endpoint(asio::ip::make_address(m.host), m.port);
    }
    using F = services::smtp::MilterOptions::OnFailure;
    filter.on_failure = m.on_failure == config::MilterFailure::kAccept   ? F::kAccept
                        : m.on_failure == config::MilterFailure::kReject ? F::kReject
                                                                         : F::kTempfail;
    filter.timeout = m.timeout;
    o.milters.push_back(std::move(filter));
  }
  o.policy.subaddress_separator = settings.addressing.subaddress_separator;
  o.policy.unknown_user = settings.smtp.unknown_user == config::UnknownUserPolicy::kDefer
                              ? services::smtp::UnknownUserPolicy::kDefer
                              : services::smtp::UnknownUserPolicy::kReject;
  o.limits.max_message_bytes = settings.smtp.max_message_bytes;
  o.limits.max_recipients = settings.smtp.max_recipients;
  o.limits.max_command_line_bytes = settings.smtp.max_line_bytes;
  o.limits.max_errors = settings.smtp.max_errors;
  o.limits.max_junk_commands = settings.smtp.max_junk_commands;
  o.command_timeout = settings.smtp.command_timeout;
  o.tls = std::move(tls);
  o.allow_plaintext_auth_on_loopback = settings.auth.allow_plaintext_on_loopback;
  o.auth_params.argon2 = {settings.auth.argon2_memory_kib, settings.auth.argon2_iterations,
                          settings.auth.argon2_parallelism};
  o.auth_params.scram_iterations = settings.auth.scram_iterations;
  o.connections_per_ip_per_minute = settings.smtp.connections_per_ip_per_minute;
  o.messages_per_ip_per_minute = settings.smtp.messages_per_ip_per_minute;
  return o;
}

// Listeners take IP literals; "localhost" is the one name people write anyway.
std::string listen_address(const std::string& host) {
  return host == "localhost" ? std::string("127.0.0.1") : host;
}

// The owner and group of a "unix:" listener's socket file: socket_owner or else
// server.user; socket_group or else server.group (when the owner is server.user)
// or the owner's primary group. -1 leaves an id as created (ternd's own).
Result<void> socket_owner(const config::Settings& settings, const config::ListenerSettings& l,
                          runtime::ListenerOptions& options) {
  std::string owner = !l.socket_owner.empty() ? l.socket_owner : settings.server.user;
  std::string group = l.socket_group;
  if (group.empty() && owner == settings.server.user) {
    group = settings.server.group;
  }
  if (!owner.empty()) {
    const passwd* pw = ::getpwnam(owner.c_str());
    if (pw == nullptr) {
      return fail(ErrorCode::kNotFound,
                  fmt::format("listener \"{}\": socket_owner: no such user \"{}\"", l.name, owner));
    }
    options.local_uid = pw->pw_uid;
    options.local_gid = pw->pw_gid;
  }
  if (!group.empty()) {
    const ::group* gr = ::getgrnam(group.c_str());
    if (gr == nullptr) {
      return fail(
          ErrorCode::kNotFound,
          fmt::format("listener \"{}\": socket_group: no such group \"{}\"", l.name, group));
    }
    options.local_gid = gr->gr_gid;
  }
  return ok();
}

void print_error(std::string_view message) {
  std::fprintf(stderr, "ternd: %.*s\n", static_cast<int>(message.size()), message.data());
}

// Creates the data and store directories, owned by the service user when ternd
// starts as root, so that the store is opened after the privilege drop.
Result<void> prepare_directories(const config::Settings& settings) {
  std::vector<std::string> dirs = {settings.server.data_dir};
  if (settings.store.backend == config::StoreBackend::kSqlite) {
    dirs.push_back(settings.store.path);
  }
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) {
      continue;
    }
    if (!std::filesystem::create_directories(dir, ec)) {
      return fail(ErrorCode::kIo, fmt::format("create directory {}: {}", dir, ec.message()));
    }
    ::chmod(dir.c_str(), 0700);
  }
  return ok();
}

// Hands a directory ternd created as root to the service user.
Result<void> chown_to_user(const std::string& path, const std::string& user,
                           const std::string& group) {
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    return fail(ErrorCode::kNotFound, fmt::format("server.user: no such user \"{}\"", user));
  }
  gid_t gid = pw->pw_gid;
  if (!group.empty()) {
    const ::group* gr = ::getgrnam(group.c_str());
    if (gr == nullptr) {
      return fail(ErrorCode::kNotFound, fmt::format("server.group: no such group \"{}\"", group));
    }
    gid = gr->gr_gid;
  }
  if (::chown(path.c_str(), pw->pw_uid, gid) != 0) {
    return fail(ErrorCode::kIo, fmt::format("chown {}: {}", path, std::strerror(errno)));
  }
  return ok();
}

class Daemon {
 public:
  Daemon(std::string config_path, config::Settings settings)
      : config_path_(std::move(config_path)),
        settings_(std::move(settings)),
        sink_(STDERR_FILENO, log_format(settings_.log.format), settings_.log.level),
        logger_(&sink_),
        io_(settings_.server.io_threads) {}

  int run();

 private:
  Result<void> start();
  Result<void> start_outbound();
  services::pop3::Service& pop3_service(config::TlsMode tls);
  services::imap::Service& imap_service(config::TlsMode tls);
  services::managesieve::Service& managesieve_service(config::TlsMode tls);
  void on_stop(int signal);
  void on_reload();
  asio::awaitable<void> drain_all();

  std::string config_path_;
  config::Settings settings_;
  runtime::FdSink sink_;
  log::Logger logger_;
  metrics::Registry registry_;
  std::shared_ptr<runtime::TlsContexts> tls_;
  // [limits] bound the whole process: every listener shares these caps.
  std::shared_ptr<runtime::ConnectionLimits> limits_ = std::make_shared<runtime::ConnectionLimits>(
      settings_.limits.max_connections, settings_.limits.max_connections_per_ip);
  runtime::IoThreads io_;
  std::vector<std::unique_ptr<runtime::Listener>> listeners_;
  std::unique_ptr<domain::Storage> storage_;
  runtime::SystemClock clock_;
  runtime::SystemRandom random_;
  runtime::BlockingPool pool_{settings_.server.blocking_threads};
  domain::AuthThrottle throttle_{throttle_policy(settings_.auth)};
  // Outbound delivery: resolver → transport → scheduler; the SMTP services enqueue
  // through `waking_` so new mail starts at once. Declared after storage_ and pool_,
  // destroyed (in run()) before them.
  std::unique_ptr<runtime::UnboundResolver> resolver_;
  std::shared_ptr<services::delivery::SmtpTransport> transport_;
  std::unique_ptr<services::outbound::Scheduler> scheduler_;
  std::unique_ptr<services::outbound::WakingStorage> waking_;
  std::unique_ptr<ReportTimer> reports_;  // [reports]: queues through waking_
  std::unique_ptr<StoreGcTimer> store_gc_;
  std::shared_ptr<const domain::Srs> srs_;
  // Recipients' Sieve scripts compiled once for SMTP, LMTP and the queue.
  std::shared_ptr<domain::CompiledScripts> scripts_ = std::make_shared<domain::CompiledScripts>();
  // The spam filter's policy ([spam]) for SMTP, LMTP, the queue and IMAP.
  std::shared_ptr<const domain::SpamPolicy> spam_ = [this] {
    auto policy = std::make_shared<domain::SpamPolicy>(spam_policy(settings_.spam));
    policy->totals = std::make_shared<domain::SpamTotalsCache>();
    return policy;
  }();
  std::shared_ptr<const mailauth::DkimKeyring> dkim_;  // [[dkim]], for submission
  std::unique_ptr<services::http::Service> http_;
  // One SMTP service per listener role (smtp, submission, lmtp), by role.
  std::map<config::ListenerRole, std::unique_ptr<services::smtp::Service>> smtp_;
  // POP3: one service for STLS listeners, one for plain and implicit-TLS ones.
  std::map<bool, std::unique_ptr<services::pop3::Service>> pop3_;
  // ManageSieve: one service for STARTTLS listeners, one for plain and implicit-TLS ones.
  std::map<bool, std::unique_ptr<services::managesieve::Service>> managesieve_;
  // IMAP: one service for STARTTLS listeners, one for plain and implicit-TLS ones.
  std::map<bool, std::unique_ptr<services::imap::Service>> imap_;
  // [store] backend = "postgres": changes made through other nodes, for the IMAP hubs.
  std::unique_ptr<services::cluster::ChangeListener> changes_;
  std::unique_ptr<runtime::SignalWatcher> signals_;
  std::atomic<bool> draining_{false};
  std::promise<void> drained_;
};

Result<void> Daemon::start() {
  // Signals are caught from the start (their callbacks run once the I/O threads do),
  // so a SIGTERM that arrives during start-up still drains and exits cleanly.
  signals_ = std::make_unique<runtime::SignalWatcher>(
      io_.context(), [this](int signal) { on_stop(signal); }, [this] { on_reload(); }, logger_);
  for (const auto& listener : settings_.listeners) {
    if (!is_available(listener.role)) {
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: listener \"{}\": role {} is not available in this build yet",
                              config_path_, listener.name, config::role_name(listener.role)));
    }
  }
  // Keys are loaded before the privilege drop (ARCHITECTURE.md §5). A configured
  // certificate is loaded even with no TLS listener yet, so STARTTLS-capable roles
  // and mistakes in the paths are caught at start.
  if (!settings_.tls.cert.empty()) {
    auto tls = runtime::TlsContexts::load(tls_settings(settings_.tls));
    if (!tls) {
      return tls.error();
    }
    tls_ = *tls;
  }
  TERN_TRY(dkim_, load_dkim_keys(config_path_, settings_.dkim));
  // A "unix:" socket under data_dir needs the directory before it is bound.
  TERN_TRY_VOID(prepare_directories(settings_));
  for (const auto& l : settings_.listeners) {
    runtime::ListenerOptions options;
    options.name = l.name;
    options.address = listen_address(l.host);
    options.port = l.port;
    options.shared_limits = limits_;
    if (!l.unix_path.empty()) {
      // Created now, as root, with its mode and owner: after the privilege drop
      // ternd could not give it to another user (ARCHITECTURE.md §5).
      options.local_path = l.unix_path;
      options.local_mode = l.socket_mode;
      TERN_TRY_VOID(socket_owner(settings_, l, options));
    }
    if (l.tls == config::TlsMode::kImplicit) {
      options.implicit_tls = tls_;
    }
    if (l.role == config::ListenerRole::kHttp && l.tls == config::TlsMode::kNone) {
      options.over_limit_reply =
          "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    } else if (l.role == config::ListenerRole::kImap) {
      options.over_limit_reply = "* BYE [UNAVAILABLE] too many connections\r\n";
    } else if (l.role == config::ListenerRole::kPop3) {
      // RFC 2449 §8.1.2: a temporary refusal carries [SYS/TEMP].
      options.over_limit_reply = "-ERR [SYS/TEMP] too many connections\r\n";
    } else if (l.role == config::ListenerRole::kManageSieve) {
      // RFC 5804 §1.2: BYE, then the server closes.
      options.over_limit_reply = "BYE \"Too many connections\"\r\n";
    } else if (l.role != config::ListenerRole::kHttp) {
      // RFC 5321 §3.8: a server that refuses a connection says so with 421.
      options.over_limit_reply =
          "421 4.7.0 " + settings_.server.hostname + " too many connections\r\n";
    }
    auto bound = runtime::Listener::bind(io_.context(), options, logger_, &registry_);
    if (!bound) {
      return bound.error();
    }
    listeners_.push_back(std::move(*bound));
  }
  if (!settings_.server.user.empty()) {
    if (geteuid() == 0) {
      for (const auto& dir : {settings_.server.data_dir, settings_.store.path}) {
        // The directories ternd created as root are handed to the service user.
        struct stat st {};

        if (::stat(dir.c_str(), &st) == 0 && st.st_uid == 0) {
          auto chown = chown_to_user(dir, settings_.server.user, settings_.server.group);
          if (!chown) {
            return chown.error();
          }
        }
      }
    }
    TERN_TRY_VOID(runtime::drop_privileges(settings_.server.user, settings_.server.group));
    logger_.info("dropped privileges", {{"user", settings_.server.user}});
  }
  auto storage = open_storage(settings_.store, logger_.with("component", "store"));
  if (!storage) {
    return storage.error();
  }
  storage_ = std::move(*storage);
  TERN_TRY_VOID(start_outbound());

  services::http::Options http_options;
  // RFC 8461 §3.3: the MTA-STS policy for our domains (app/dns_cli.hpp).
  http_options.mta_sts = mta_sts_policy(settings_);
  http_options.directory = &storage_->directory();
  http_ = std::make_unique<services::http::Service>(std::move(http_options), registry_, clock_,
                                                    logger_);
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    auto role = settings_.listeners[i].role;
    if (role == config::ListenerRole::kHttp) {
      listeners_[i]->start(http_->handler());
      continue;
    }
    if (role == config::ListenerRole::kPop3) {
      listeners_[i]->start(pop3_service(settings_.listeners[i].tls).handler());
      continue;
    }
    if (role == config::ListenerRole::kImap) {
      listeners_[i]->start(imap_service(settings_.listeners[i].tls).handler());
      continue;
    }
    if (role == config::ListenerRole::kManageSieve) {
      listeners_[i]->start(managesieve_service(settings_.listeners[i].tls).handler());
      continue;
    }
    auto& service = smtp_[role];
    if (!service) {
      auto options = smtp_options(settings_, role, tls_, srs_, dkim_, resolver_.get(), scripts_);
      options.policy.spam = spam_;
      service = std::make_unique<services::smtp::Service>(options, *waking_, pool_, clock_, random_,
                                                          registry_, throttle_, logger_);
    }
    listeners_[i]->start(service->handler());
  }
  if (settings_.store.backend == config::StoreBackend::kPostgres && !imap_.empty()) {
    // Several nodes may share the database: every mail change is NOTIFYed
    // (store/postgres), so IDLE sessions here hear of deliveries through any other
    // node at once rather than at their next poll.
    services::cluster::ChangeListenerOptions o;
    o.conninfo = settings_.store.url;
    o.channel = change_channel(settings_.store);  // one per [store] schema
    o.logger = logger_.with("component", "cluster");
    auto wake_hubs = [this](domain::AccountId account) {
      for (auto& [starttls, service] : imap_) {
        service->hub().notify(account);
      }
    };
    // Changes made through this node (IMAP, SMTP/LMTP deliveries, POP3) wake the
    // hubs in process at commit; their echoes through LISTEN are dropped.
    if (auto own = own_changes(*storage_)) {
      own->set_observer(wake_hubs);
      o.own_notification = own->take_own;
      o.on_listening = own->expect_own;
    }
    changes_ = std::make_unique<services::cluster::ChangeListener>(io_.context().get_executor(),
                                                                   std::move(o), wake_hubs);
    changes_->start();
  }
  return ok();
}

// The resolver, the SMTP/LMTP transport and the queue scheduler ([dns],
// [outbound], [[transport]], [queue]); SRS when [queue] srs_secret is set.
Result<void> Daemon::start_outbound() {
  runtime::DnsResolverOptions dns;
  dns.servers = settings_.dns.servers;
  dns.trust_anchor_file = settings_.dns.trust_anchor_file;
  dns.query_timeout = settings_.dns.timeout;
  TERN_TRY(resolver_, runtime::UnboundResolver::create(dns));
  services::delivery::TransportOptions transport;
  transport.outbound = settings_.outbound;
  transport.routes = settings_.transports;
  transport.helo_name = settings_.outbound.helo_name.empty() ? settings_.server.hostname
                                                             : settings_.outbound.helo_name;
  // Fetched MTA-STS policies outlive restarts (RFC 8461 §10); every outbound TLS
  // attempt becomes TLS-RPT data in the store (RFC 8460).
  transport.sts_cache_dir = settings_.server.data_dir + "/mta-sts";
  transport.tls_reporter = services::delivery::report_to_store(
      storage_->reports(), clock_, logger_.with("component", "tls-rpt"));
  transport.clock = &clock_;
  TERN_TRY(transport_,
           services::delivery::SmtpTransport::create(io_.context(), *resolver_, random_, transport,
                                                     logger_.with("component", "delivery")));
  // RFC 8461 §3.3: cached policies are refreshed before they expire, not only
  // when a delivery needs them; the first pass soon after start.
  transport_->start_sts_refresh(
      std::min<std::chrono::seconds>(std::chrono::seconds(60), settings_.outbound.mta_sts_refresh),
      settings_.outbound.mta_sts_refresh);
  const auto& queue = settings_.queue;
  services::outbound::Options o;
  o.retry = retry_policy(queue);
  o.active_limit = queue.active_limit;
  o.destination_concurrency = queue.destination_concurrency;
  o.destination_rate = queue.destination_rate;
  o.lease = queue.lease;
  o.poll_interval = queue.poll_interval;
  o.hostname = settings_.server.hostname;
  o.subaddress_separator = settings_.addressing.subaddress_separator;
  if (!queue.srs_secret.empty()) {
    srs_ = std::make_shared<const domain::Srs>(domain::SrsConfig{
        queue.srs_secret, queue.srs_domain.empty() ? settings_.server.hostname : queue.srs_domain,
        static_cast<int>(queue.srs_max_age_days), 4});
  }
  o.srs = srs_;
  o.scripts = scripts_;
  o.spam = spam_;
  scheduler_ = std::make_unique<services::outbound::Scheduler>(
      o, *storage_, *transport_, pool_, clock_, registry_, logger_.with("component", "queue"));
  waking_ = std::make_unique<services::outbound::WakingStorage>(*storage_, *scheduler_);
  scheduler_->start(io_.context());
  reports_ = std::make_unique<ReportTimer>(settings_.reports, *waking_, *resolver_, pool_, clock_,
                                           logger_.with("component", "reports"), dkim_,
                                           settings_.outbound.ca_file);
  reports_->start(io_.context());
  store_gc_ = std::make_unique<StoreGcTimer>(*storage_, pool_, logger_.with("component", "store"));
  if (settings_.greylist.enabled) {
    // Unpassed records die after the retry window, passed ones after max_age.
    store_gc_->purge_greylist_after(
        std::max(settings_.greylist.retry_window, settings_.greylist.max_age));
  }
  store_gc_->start(io_.context());
  return ok();
}

services::pop3::Service& Daemon::pop3_service(config::TlsMode tls) {
  bool stls = tls == config::TlsMode::kStartTls;
  auto& service = pop3_[stls];
  if (!service) {
    services::pop3::Options o;
    o.tls = tls_;
    o.offer_stls = stls;
    o.allow_plaintext_on_loopback = settings_.auth.allow_plaintext_on_loopback;
    o.auth_params.argon2 = {settings_.auth.argon2_memory_kib, settings_.auth.argon2_iterations,
                            settings_.auth.argon2_parallelism};
    o.auth_params.scram_iterations = settings_.auth.scram_iterations;
    if (settings_.pop3.login_delay.count() > 0) {
      o.login_delay_seconds = static_cast<std::uint32_t>(settings_.pop3.login_delay.count());
    }
    std::array<std::uint8_t, 32> secret{};
    random_.fill(secret);
    o.mock_secret.assign(secret.begin(), secret.end());
    service = std::make_unique<services::pop3::Service>(o, *storage_, pool_, clock_, random_,
                                                        registry_, throttle_, logger_);
  }
  return *service;
}

services::managesieve::Service& Daemon::managesieve_service(config::TlsMode tls) {
  bool starttls = tls == config::TlsMode::kStartTls;
  auto& service = managesieve_[starttls];
  if (!service) {
    services::managesieve::Options o;
    o.tls = tls_;
    o.offer_starttls = starttls;
    o.allow_plaintext_on_loopback = settings_.auth.allow_plaintext_on_loopback;
    o.auth_params.argon2 = {settings_.auth.argon2_memory_kib, settings_.auth.argon2_iterations,
                            settings_.auth.argon2_parallelism};
    o.auth_params.scram_iterations = settings_.auth.scram_iterations;
    std::array<std::uint8_t, 32> secret{};
    random_.fill(secret);
    o.mock_secret.assign(secret.begin(), secret.end());
    service = std::make_unique<services::managesieve::Service>(o, *storage_, pool_, clock_, random_,
                                                               registry_, throttle_, logger_);
  }
  return *service;
}

services::imap::Service& Daemon::imap_service(config::TlsMode tls) {
  bool starttls = tls == config::TlsMode::kStartTls;
  auto& service = imap_[starttls];
  if (!service) {
    services::imap::ServiceOptions o;
    o.tls = tls_;
    o.offer_starttls = starttls;
    o.handlers.allow_plaintext_on_loopback = settings_.auth.allow_plaintext_on_loopback;
    // [imap] (config::ImapSettings): limits and timeouts.
    const auto& imap = settings_.imap;
    o.preauth_timeout = imap.preauth_timeout;
    o.idle_timeout = imap.idle_timeout;
    o.idle_poll_interval = imap.idle_poll_interval;
    o.max_connections_per_user = imap.max_connections_per_user;
    o.max_connections_per_ip = imap.max_connections_per_ip;
    o.limits.reader.max_line_bytes = imap.max_line_bytes;
    o.limits.reader.max_literal_bytes = imap.max_literal_bytes;
    o.limits.reader.max_append_command_bytes = imap.max_multiappend_bytes;
    o.handlers.max_append_bytes = imap.max_append_bytes;
    o.handlers.spam = spam_;
    o.auth_params.argon2 = {settings_.auth.argon2_memory_kib, settings_.auth.argon2_iterations,
                            settings_.auth.argon2_parallelism};
    o.auth_params.scram_iterations = settings_.auth.scram_iterations;
    std::array<std::uint8_t, 32> secret{};
    random_.fill(secret);
    o.mock_secret.assign(secret.begin(), secret.end());
    service = std::make_unique<services::imap::Service>(o, *storage_, pool_, clock_, random_,
                                                        registry_, throttle_, logger_);
  }
  return *service;
}

void Daemon::on_stop(int signal) {
  if (draining_.exchange(true)) {
    // A second Ctrl-C: stop waiting for sessions.
    logger_.warn("second stop signal: closing connections now");
    for (auto& listener : listeners_) {
      listener->close_connections();
    }
    return;
  }
  logger_.info("stopping",
               {{"signal", std::to_string(signal)},
                {"drain_seconds", std::to_string(settings_.server.drain_timeout.count())}});
  if (http_) {
    http_->set_draining(true);
  }
  for (auto& [role, service] : smtp_) {
    service->set_draining(true);
  }
  asio::co_spawn(io_.context(), drain_all(), asio::detached);
}

asio::awaitable<void> Daemon::drain_all() {
  for (auto& listener : listeners_) {
    listener->stop_accepting();
  }
  auto deadline = std::chrono::steady_clock::now() + settings_.server.drain_timeout;
  for (auto& listener : listeners_) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left < std::chrono::steady_clock::duration::zero()) {
      left = std::chrono::steady_clock::duration::zero();
    }
    co_await listener->drain(left);
  }
  if (scheduler_) {
    // Deliveries in flight get what is left of the drain time; the rest keep their
    // lease and are retried by the next start.
    auto left = deadline - std::chrono::steady_clock::now();
    co_await scheduler_->stop(std::max(left, std::chrono::steady_clock::duration::zero()));
    transport_->close_idle();
  }
  // The periodic loops' pending timers would keep the I/O threads running.
  if (transport_) {
    transport_->stop_sts_refresh();
  }
  if (reports_) {
    reports_->stop();
  }
  if (store_gc_) {
    store_gc_->stop();
  }
  drained_.set_value();
}

// SIGHUP: re-read the config and the certificates. What can change live changes
// now; what cannot is logged. A bad config keeps the running settings.
void Daemon::on_reload() {
  if (reports_) {
    reports_->wake();  // TLS report posts the CLI left pending are retried now
  }
  auto next = load_settings(config_path_);
  if (!next) {
    logger_.error("reload failed; keeping the running configuration",
                  {{"error", next.error().message}});
    return;
  }
  auto diff = config::diff_settings(settings_, *next);
  if (diff.log) {
    sink_.set_min_level(next->log.level);
  }
  if (tls_) {
    auto reloaded = tls_->reload();
    if (!reloaded) {
      logger_.error("certificate reload failed; keeping the old certificate",
                    {{"error", reloaded.error().message}});
    }
  }
  if (diff.limits) {
    limits_->set_caps(next->limits.max_connections, next->limits.max_connections_per_ip);
  }
  if (diff.needs_restart() || diff.listeners || diff.tls) {
    logger_.warn("some changes take effect only after a restart", {{"sections", diff.describe()}});
  }
  settings_.log = next->log;
  settings_.limits = next->limits;
  settings_.auth = next->auth;
  settings_.addressing = next->addressing;
  logger_.info("reloaded", {{"changed", diff.empty() ? std::string("nothing") : diff.describe()}});
}

int Daemon::run() {
  auto started = start();
  if (!started) {
    print_error(started.error().message);
    return kExitStartupFailed;
  }
  auto drained = drained_.get_future();
  io_.start();
  logger_.info("started", {{"hostname", settings_.server.hostname},
                           {"io_threads", std::to_string(io_.size())}});
  drained.wait();
  if (changes_) {
    changes_->stop();
  }
  signals_->cancel();
  io_.request_stop();
  io_.join();
  listeners_.clear();
  // Deliveries still on the pool finish before the store closes.
  pool_.join();
  smtp_.clear();
  reports_.reset();
  store_gc_.reset();
  waking_.reset();
  scheduler_.reset();
  transport_.reset();
  resolver_.reset();
  storage_.reset();
  logger_.info("stopped");
  return 0;
}

}  // namespace

int run_daemon(const std::string& config_path) {
  auto settings = load_settings(config_path);
  if (!settings) {
    print_error(settings.error().message);
    return kExitBadConfig;
  }
  Daemon daemon(config_path, std::move(*settings));
  return daemon.run();
}

}  // namespace tern::app
