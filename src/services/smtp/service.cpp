// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/service.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <variant>

#include "address/smtp_path.hpp"
#include "base/ascii.hpp"
#include "sasl/mechanism.hpp"
#include "services/common/login.hpp"
#include "services/smtp/auth.hpp"

namespace tern::services::smtp {
namespace {

using tern::smtp::Reply;

bool is_loopback(const asio::ip::address& address) {
  return address.is_loopback();
}

}  // namespace

// One connection: the engine, the handlers and the SASL exchange in progress.
class Service::Session {
 public:
  Session(Service& service, std::unique_ptr<runtime::Connection> connection)
      : service_(service),
        connection_(std::move(connection)),
        log_(connection_->logger()),
        engine_(engine_options()),
        handlers_(service_.options_.policy, service_.storage_, service_.clock_, log_),
        auth_(service_.storage_.directory(), service_.throttle_, service_.options_.auth_params,
              service_.random_, service_.clock_, service_.mock_secret_) {}

  asio::awaitable<void> run();

 private:
  tern::smtp::Options engine_options() const;
  std::vector<std::string> mechanisms() const;
  sasl::ChannelBindings channel_bindings() const;
  bool plaintext_allowed() const;
  asio::awaitable<bool> flush();
  asio::awaitable<void> finish_auth(AuthOutcome outcome);
  asio::awaitable<std::optional<mailauth::InboundVerdict>> verify(
      const tern::smtp::Message& message, const Peer& peer);
  // Whether the client is in [smtp] trusted_networks (never for a local socket).
  bool trusted() const;
  // Starts the [dnsbl] lookups of the client's address (MX, TCP peers).
  void start_dnsbl();
  // The [dnsbl] refusal for every RCPT of this session, or nullopt; waits for
  // the lookups the first time.
  asio::awaitable<std::optional<Reply>> dnsbl_refusal();
  // Greylisting's refusal of `rcpt` (accepted by the handlers) from this
  // transaction's sender, or nullopt to keep it.
  asio::awaitable<std::optional<Reply>> greylisted(const tern::smtp::RcptTo& rcpt);
  // The antivirus scan's refusal of `message`, or nullopt to deliver it.
  asio::awaitable<std::optional<Reply>> scan(const tern::smtp::Message& message);

  // What the [[milter]] filters made of `message`. Their changes are applied to
  // it: header fields, body, sender, recipients added, and recipients refused
  // (LMTP) or removed withdrawn.
  struct Filtered {
    // Set: the answer to the message (refused or discarded); nothing is delivered.
    std::optional<std::vector<Reply>> answer;
    // LMTP: the replies of the recipients withdrawn, by their original index.
    std::vector<std::optional<Reply>> withdrawn;
    bool held = false;  // a filter asked to quarantine it: delivered to Junk
  };

  asio::awaitable<Filtered> filter(tern::smtp::Message& message);
  milter::Envelope milter_envelope(const tern::smtp::Message& message) const;
  Peer peer() const;
  metrics::Counter& counter(std::string_view name, std::string_view help, std::string_view result);

  Service& service_;
  std::unique_ptr<runtime::Connection> connection_;
  const log::Logger& log_;
  tern::smtp::ServerEngine engine_;
  Handlers handlers_;
  AuthExchange auth_;
  std::string sender_;          // with [greylist]: this transaction's MAIL FROM ("" for <>)
  std::string auth_mechanism_;  // of the last AUTH, for the filters' {auth_type}
  std::vector<MilterConnection> milter_connections_;   // one per [[milter]], kept between messages
  std::vector<Future<dns::Answer>> dnsbl_lookups_;     // one per site, until awaited
  std::optional<std::optional<Reply>> dnsbl_verdict_;  // set once awaited
};

bool Service::Session::plaintext_allowed() const {
  return domain::plaintext_auth_allowed(connection_->is_tls(),
                                        is_loopback(connection_->peer_address()),
                                        service_.options_.allow_plaintext_auth_on_loopback);
}

std::vector<std::string> Service::Session::mechanisms() const {
  if (service_.options_.policy.role != Role::kSubmission) {
    return {};
  }
  return sasl::advertised_mechanisms(plaintext_allowed(), channel_bindings().any());
}

sasl::ChannelBindings Service::Session::channel_bindings() const {
  return channel_bindings_of(*connection_);
}

tern::smtp::Options Service::Session::engine_options() const {
  const Options& o = service_.options_;
  tern::smtp::Options e;
  e.mode = o.policy.role == Role::kLmtp ? tern::smtp::Mode::kLmtp : tern::smtp::Mode::kSmtp;
  e.hostname = o.policy.hostname;
  e.tls_active = connection_->is_tls();
  // No STARTTLS on a local socket: its file mode is the protection, and the
  // config allows only tls = "none" there.
  e.starttls = o.tls != nullptr && !connection_->is_local();
  e.auth_mechanisms = mechanisms();
  // The engine shows AUTH without TLS only where the plaintext policy allows it
  // (RFC 8314 §3: submission credentials only over TLS, loopback excepted).
  e.auth_requires_tls = !plaintext_allowed();
  e.require_auth = o.policy.role == Role::kSubmission;
  // REQUIRETLS (RFC 8689): the engine offers it only inside TLS; local delivery
  // honours it trivially, and the queue carries it to the transport, which
  // insists on a DNSSEC-validated MX and a verified TLS session (§4.2.1).
  e.requiretls = true;
  e.limits = o.limits;
  return e;
}

Peer Service::Session::peer() const {
  Peer p;
  // A local-socket peer has no address: Received: then names only the LHLO
  // host, as Dovecot's LMTP does for UNIX-socket clients.
  if (!connection_->is_local()) {
    p.ip = connection_->peer_address().to_string();
  }
  p.tls = connection_->is_tls();
  if (p.tls) {
    p.tls_description = connection_->tls_version() + " cipher=" + connection_->tls_cipher();
  }
  p.helo = engine_.helo_name();
  p.esmtp = engine_.is_esmtp();
  p.session_id = connection_->id();
  return p;
}

metrics::Counter& Service::Session::counter(std::string_view name, std::string_view help,
                                            std::string_view result) {
  return service_.registry_.counter(
      std::string(name), std::string(help),
      {{"role", std::string(role_name(service_.options_.policy.role))},
       {"result", std::string(result)}});
}

asio::awaitable<bool> Service::Session::flush() {
  return runtime::flush_output(*connection_, engine_, service_.options_.write_timeout,
                               "smtp write failed");
}

asio::awaitable<void> Service::Session::finish_auth(AuthOutcome outcome) {
  if (outcome.challenge) {
    engine_.auth_challenge(*outcome.challenge);
    co_return;
  }
  std::string_view result = outcome.reply.code == 235   ? "success"
                            : outcome.reply.code == 454 ? "blocked"
                                                        : "failure";
  counter("tern_smtp_auth_total", "SMTP AUTH attempts by outcome.", result).inc();
  if (outcome.delay.count() > 0) {
    // The throttle's slow-down: the failure reply waits, the session with it.
    asio::steady_timer timer(co_await asio::this_coro::executor, outcome.delay);
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  if (outcome.account) {
    log_.info("smtp auth", {{"user", outcome.account->address}});
    handlers_.set_authenticated(*outcome.account);
  } else if (outcome.reply.code != 235) {
    log_.info("smtp auth failed", {{"reply", std::to_string(outcome.reply.code)}});
  }
  engine_.auth_finish(outcome.reply);
}

// The inbound checks of one message (ARCHITECTURE.md §3: the evaluators ask, we
// resolve). Every question the verifier can ask now goes to the resolver at once;
// answers come back on the resolver's thread and are posted to this session's
// strand, which wakes the coroutine by cancelling its timer. The timer's expiry is
// the message's one deadline: then the verifier answers what is still open with
// temperror (RFC 8601 §2.7). Late answers land in the shared `Arrivals` that the
// callbacks keep alive, and are dropped.
asio::awaitable<std::optional<mailauth::InboundVerdict>> Service::Session::verify(
    const tern::smtp::Message& message, const Peer& peer) {
  const VerifyOptions& v = *service_.options_.verify;
  std::optional<mailauth::InboundInput> input = inbound_input(message, peer);
  if (v.resolver == nullptr || !input) {
    co_return std::nullopt;
  }
  mailauth::InboundOptions options;
  options.authserv_id = service_.options_.policy.authserv_id;
  options.receiver = service_.options_.policy.hostname;
  options.now = static_cast<std::uint64_t>(to_unix_seconds(service_.clock_.now()));
  options.body_length = v.body_length;
  options.trusted_arc_sealers = v.trusted_arc_sealers;
  std::array<std::uint8_t, 4> draw{};
  service_.random_.fill(draw);
  // RFC 7489 §6.6.4: the pct= sample; the modulo bias of 2^32 % 100 is nil in practice.
  options.dmarc_sample = (std::uint32_t{draw[0]} << 24 | std::uint32_t{draw[1]} << 16 |
                          std::uint32_t{draw[2]} << 8 | draw[3]) %
                         100;
  // The constructor hashes the whole message (DKIM, ARC): the blocking pool.
  const auto* in = &*input;
  const auto* opts = &options;
  auto verifier = co_await runtime::offload(service_.pool_, [in, opts] {
    return std::make_unique<mailauth::InboundVerifier>(*in, *opts);
  });

  struct Arrivals {
    explicit Arrivals(const asio::any_io_executor& executor) : timer(executor) {}

    asio::steady_timer timer;
    std::vector<std::pair<mailauth::DnsQuery, dns::Answer>> answers;
  };

  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto arrivals = std::make_shared<Arrivals>(executor);
  const auto deadline = std::chrono::steady_clock::now() + v.deadline;
  while (!verifier->done()) {
    for (mailauth::DnsQuery& query : verifier->take_queries()) {
      std::string name = query.name;
      v.resolver->lookup(std::move(name), query.type)
          .on_ready([arrivals, executor, query](dns::Answer answer) {
            asio::post(executor, [arrivals, query, answer = std::move(answer)]() mutable {
              arrivals->answers.emplace_back(query, std::move(answer));
              arrivals->timer.cancel();
            });
          });
    }
    if (arrivals->answers.empty()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        log_.info("mailauth deadline passed", {{"ip", peer.ip}});
        verifier->expire();
        break;
      }
      arrivals->timer.expires_at(deadline);
      std::error_code ignored;
      co_await arrivals->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    auto answers = std::move(arrivals->answers);
    arrivals->answers.clear();
    for (const auto& [query, answer] : answers) {
      verifier->provide(query, answer);
    }
  }
  co_return verifier->verdict();
}

bool Service::Session::trusted() const {
  const auto& networks = service_.options_.trusted_networks;
  if (networks.empty() || connection_->is_local()) {
    return false;
  }
  auto client = dns::IpAddress::parse(connection_->peer_address().to_string());
  return client && std::any_of(networks.begin(), networks.end(),
                               [&](const dns::IpNetwork& n) { return n.contains(*client); });
}

void Service::Session::start_dnsbl() {
  const auto& o = service_.options_;
  if (!o.dnsbl || o.dnsbl->resolver == nullptr || o.policy.role != Role::kMx ||
      connection_->is_local() || trusted()) {
    return;
  }
  auto client = dns::IpAddress::parse(connection_->peer_address().to_string());
  if (!client) {
    return;
  }
  // Every list is asked at once, while the client reads the greeting.
  for (const auto& site : o.dnsbl->sites) {
    dnsbl_lookups_.push_back(
        o.dnsbl->resolver->lookup(dnsbl::query_name(*client, site.zone), dns::RecordType::kA));
  }
}

asio::awaitable<std::optional<Reply>> Service::Session::dnsbl_refusal() {
  if (dnsbl_verdict_) {
    co_return *dnsbl_verdict_;
  }
  if (dnsbl_lookups_.empty()) {
    dnsbl_verdict_.emplace();
    co_return std::nullopt;
  }
  std::vector<dns::Answer> answers;
  answers.reserve(dnsbl_lookups_.size());
  for (auto& lookup : dnsbl_lookups_) {
    answers.push_back(co_await runtime::await(std::move(lookup)));
  }
  dnsbl_lookups_.clear();
  const DnsblOptions& o = *service_.options_.dnsbl;
  dnsbl::Verdict verdict = dnsbl::evaluate(o.sites, answers);
  std::string ip = connection_->peer_address().to_string();
  if (verdict.score < o.threshold) {
    service_.dnsbl_clean_->inc();
    dnsbl_verdict_.emplace();
    co_return std::nullopt;
  }
  service_.dnsbl_listed_->inc();
  std::string lists;
  for (const auto& zone : verdict.listed_by) {
    lists += (lists.empty() ? "" : ", ") + zone;
  }
  // The first list's reason (RFC 5782 §2.1 TXT), asked only now that it refuses.
  std::string why;
  auto client = dns::IpAddress::parse(ip);
  if (client && !verdict.listed_by.empty()) {
    dns::Answer txt = co_await runtime::await(o.resolver->lookup(
        dnsbl::query_name(*client, verdict.listed_by.front()), dns::RecordType::kTxt));
    why = dnsbl::reason(txt);
  }
  log_.info("dnsbl: client listed, recipients refused",
            {{"ip", ip}, {"score", std::to_string(verdict.score)}, {"lists", lists}});
  // Postfix's reject_rbl_client reply, $rbl_reason included (RFC 3463 §3.8: X.7.1).
  dnsbl_verdict_.emplace(Reply::of(554, "5.7.1",
                                   "Service unavailable; client [" + ip + "] blocked using " +
                                       lists + (why.empty() ? "" : "; " + why)));
  co_return *dnsbl_verdict_;
}

asio::awaitable<std::optional<Reply>> Service::Session::greylisted(const tern::smtp::RcptTo& rcpt) {
  const auto& o = service_.options_;
  if (!o.greylist || o.policy.role != Role::kMx || connection_->is_local() || trusted()) {
    co_return std::nullopt;
  }
  auto triplet = domain::greylist_triplet(connection_->peer_address().to_string(), sender_,
                                          address::render_mailbox(rcpt.recipient.path.mailbox));
  if (!triplet) {
    co_return std::nullopt;
  }
  auto verdict = co_await runtime::await(service_.storage_.greylist().check_greylist(
      std::move(*triplet), o.greylist->policy, to_unix_seconds(service_.clock_.now())));
  if (!verdict) {
    // Fail open: a store that cannot answer must not hold mail back.
    service_.greylist_failed_->inc();
    log_.warn("greylist: store error, recipient accepted", {{"error", verdict.error().message}});
    co_return std::nullopt;
  }
  if (verdict->pass) {
    service_.greylist_passed_->inc();
    co_return std::nullopt;
  }
  service_.greylist_deferred_->inc();
  // RFC 6647 §2.1: a temporary failure, which the sender's retry will pass.
  co_return Reply::of(
      450, "4.2.0",
      "greylisted, try again in " + std::to_string(verdict->retry_after) + " seconds");
}

asio::awaitable<std::optional<Reply>> Service::Session::scan(const tern::smtp::Message& message) {
  const AntivirusOptions& av = *service_.options_.antivirus;
  if (message.content.size() > av.max_message_bytes) {
    service_.scans_skipped_->inc();
    log_.info("antivirus: message too large to scan, delivered unscanned",
              {{"size", std::to_string(message.content.size())}});
    co_return std::nullopt;
  }
  clamd::ScanResult result = co_await scan_with_clamd(av, message.content, log_);
  switch (result.kind) {
    case clamd::ScanResult::Kind::kClean:
      service_.scans_clean_->inc();
      break;
    case clamd::ScanResult::Kind::kInfected:
      service_.scans_infected_->inc();
      log_.warn("antivirus: virus found, message refused",
                {{"virus", result.detail},
                 {"from", address::render_path(message.reverse_path)},
                 {"recipients", std::to_string(message.recipients.size())}});
      break;
    case clamd::ScanResult::Kind::kError:
      service_.scans_failed_->inc();
      log_.warn(av.defer_on_failure ? "antivirus: scan failed, message deferred"
                                    : "antivirus: scan failed, message delivered unscanned",
                {{"error", result.detail}});
      break;
  }
  co_return antivirus_refusal(result, av);
}

milter::Envelope Service::Session::milter_envelope(const tern::smtp::Message& message) const {
  const Options& o = service_.options_;
  milter::Envelope e;
  // Postfix's default macros (milter_*_macros), those the common filters read:
  // OpenDKIM signs for {auth_type}, clamav-milter names {i} in its logs.
  if (connection_->is_local()) {
    e.client_name = "localhost";
  } else {
    e.client_address = connection_->peer_address().to_string();
    e.client_port = connection_->peer_port();
    e.client_name = "[" + e.client_address + "]";
    e.connect_macros.emplace_back("{client_addr}", e.client_address);
  }
  e.connect_macros.emplace_back("j", o.policy.hostname);
  e.connect_macros.emplace_back("{daemon_name}", std::string(role_name(o.policy.role)));
  e.connect_macros.emplace_back("v", "tern");
  e.connect_macros.emplace_back("{client_name}", e.client_name);
  e.helo = engine_.helo_name();
  if (connection_->is_tls()) {
    e.helo_macros = {{"{tls_version}", connection_->tls_version()},
                     {"{cipher}", connection_->tls_cipher()}};
  }
  std::string path = address::render_path(message.reverse_path);
  e.sender = path.size() >= 2 ? path.substr(1, path.size() - 2) : path;
  e.mail_parameters.push_back("SIZE=" + std::to_string(message.content.size()));
  if (message.params.body == tern::smtp::Body::k8BitMime) {
    e.mail_parameters.emplace_back("BODY=8BITMIME");
  }
  if (message.params.smtputf8) {
    e.mail_parameters.emplace_back("SMTPUTF8");
  }
  // The id Handlers::on_message will give the message, for the filters' logs.
  const std::string id =
      connection_->id() + "." + std::to_string(handlers_.accepted_messages() + 1);
  e.mail_macros = {{"i", id}, {"{mail_addr}", e.sender}};
  if (const auto& user = handlers_.authenticated()) {
    e.mail_macros.emplace_back("{auth_type}", auth_mechanism_);
    e.mail_macros.emplace_back("{auth_authen}", user->address);
  }
  for (const auto& rcpt : message.recipients) {
    e.recipients.push_back(address::render_mailbox(rcpt.path.mailbox));
  }
  e.data_macros = {{"i", id}};
  return e;
}

asio::awaitable<Service::Session::Filtered> Service::Session::filter(tern::smtp::Message& message) {
  const Options& o = service_.options_;
  const bool lmtp = o.policy.role == Role::kLmtp;
  Filtered result;
  // Which of the client's recipients each of message.recipients is (kAdded:
  // one a filter added, which the client never sent).
  constexpr std::size_t kAdded = static_cast<std::size_t>(-1);
  std::vector<std::size_t> original(message.recipients.size());
  for (std::size_t i = 0; i < original.size(); ++i) {
    original[i] = i;
  }
  if (lmtp) {
    result.withdrawn.resize(message.recipients.size());
  }
  // The whole message gets `reply`; under LMTP, recipients withdrawn earlier
  // keep their own.
  // Takes message.recipients[i] out of the transaction; under LMTP the client's
  // recipient gets `reply` (a filter's recipient has no reply to give).
  auto withdraw = [&](std::size_t i, Reply reply) {
    if (lmtp && original[i] != kAdded) {
      result.withdrawn[original[i]] = std::move(reply);
    }
    message.recipients.erase(message.recipients.begin() + static_cast<std::ptrdiff_t>(i));
    original.erase(original.begin() + static_cast<std::ptrdiff_t>(i));
    handlers_.withdraw_recipient(i);
  };
  auto answer_all = [&](const Reply& reply) {
    std::vector<Reply> answer;
    if (!lmtp) {
      answer.push_back(reply);
    } else {
      for (const auto& withdrawn : result.withdrawn) {
        answer.push_back(withdrawn ? *withdrawn : reply);
      }
    }
    result.answer = std::move(answer);
  };
  std::string quarantine_reason;
  // What each filter is told of the session before the message; a kept
  // connection serves only the same.
  const auto& user = handlers_.authenticated();
  const std::string session = engine_.helo_name() + "|" + (connection_->is_tls() ? "tls" : "") +
                              "|" + (user ? user->address : "");
  milter_connections_.resize(o.milters.size());
  address::PathOptions path_options;
  path_options.smtputf8 = message.params.smtputf8;
  for (const MilterOptions& m : o.milters) {
    const std::size_t at = static_cast<std::size_t>(&m - o.milters.data());
    auto outcome =
        co_await run_milter(m, milter_connections_[at], session, milter_envelope(message),
                            message.content, o.limits.max_message_bytes, log_);
    if (!outcome) {
      using F = MilterOptions::OnFailure;
      log_.warn(m.on_failure == F::kAccept     ? "milter failed, message goes on without it"
                : m.on_failure == F::kTempfail ? "milter failed, message deferred"
                                               : "milter failed, message refused",
                {{"milter", m.name}, {"error", outcome.error().message}});
      if (m.on_failure == F::kAccept) {
        continue;
      }
      service_.milter_failed_->inc();
      answer_all(milter_reply(m.on_failure == F::kTempfail ? milter::Outcome::Verdict::kTempfail
                                                           : milter::Outcome::Verdict::kReject,
                              ""));
      co_return result;
    }
    if (!outcome->refused_recipients.empty()) {
      const auto& first = outcome->refused_recipients.front();
      log_.info("milter refused recipients",
                {{"milter", m.name},
                 {"recipients", std::to_string(outcome->refused_recipients.size())},
                 {"reply", milter_reply(first.verdict, first.reply).lines.front()}});
      if (!lmtp) {
        // One reply for the whole message: delivering to the others while
        // answering 250 would lose the refused ones without a word.
        service_.milter_rejected_->inc();
        answer_all(milter_reply(first.verdict, first.reply));
        co_return result;
      }
      // From the last, so that the indices of the others stay valid.
      for (auto it = outcome->refused_recipients.rbegin(); it != outcome->refused_recipients.rend();
           ++it) {
        withdraw(it->index, milter_reply(it->verdict, it->reply));
      }
      if (message.recipients.empty()) {
        service_.milter_rejected_->inc();
        answer_all(milter_reply(milter::Outcome::Verdict::kReject, ""));  // none left to use it
        co_return result;
      }
    }
    switch (outcome->verdict) {
      case milter::Outcome::Verdict::kReject:
      case milter::Outcome::Verdict::kTempfail:
        service_.milter_rejected_->inc();
        log_.info("milter refused the message",
                  {{"milter", m.name},
                   {"reply", milter_reply(outcome->verdict, outcome->reply).lines.front()}});
        answer_all(milter_reply(outcome->verdict, outcome->reply));
        co_return result;
      case milter::Outcome::Verdict::kDiscard:
        service_.milter_discarded_->inc();
        log_.info("milter discarded the message", {{"milter", m.name}});
        answer_all(Reply::of(250, "2.0.0", "Ok"));  // as Postfix: the client is not told
        co_return result;
      case milter::Outcome::Verdict::kContinue:
        break;
    }
    if (outcome->new_sender) {
      auto sender = address::parse_reverse_path("<" + *outcome->new_sender + ">", path_options);
      if (sender) {
        message.reverse_path = std::move(*sender);
      } else {
        log_.warn("milter changed the sender to an invalid address, kept",
                  {{"milter", m.name}, {"sender", *outcome->new_sender}});
      }
    }
    for (const auto& removed : outcome->removed_recipients) {
      for (std::size_t i = message.recipients.size(); i-- > 0;) {
        if (!ascii::iequals(address::render_mailbox(message.recipients[i].path.mailbox), removed)) {
          continue;
        }
        // The client handed it over and got its 250; the filter says where it
        // goes, as in Postfix.
        withdraw(i, Reply::of(250, "2.1.5", "Ok"));
      }
    }
    for (const auto& added : outcome->added_recipients) {
      auto path = address::parse_forward_path("<" + added + ">", path_options);
      if (!path) {
        log_.warn("milter added an invalid recipient, ignored",
                  {{"milter", m.name}, {"recipient", added}});
        continue;
      }
      Handlers& handlers = handlers_;
      const address::ForwardPath* added_path = &*path;
      auto reply = co_await runtime::offload(service_.pool_, [&handlers, added_path] {
        return handlers.on_filter_recipient(*added_path);
      });
      if (!reply.is_positive()) {
        log_.warn("milter added a recipient tern cannot take, ignored",
                  {{"milter", m.name}, {"recipient", added}, {"reply", reply.lines.front()}});
        continue;
      }
      message.recipients.push_back(tern::smtp::Recipient{std::move(*path), {}});
      original.push_back(kAdded);
    }
    if (message.recipients.empty()) {
      log_.info("milter removed every recipient", {{"milter", m.name}});
      service_.milter_discarded_->inc();
      answer_all(Reply::of(250, "2.0.0", "Ok"));
      co_return result;
    }
    if (!outcome->header_changes.empty() || outcome->new_body) {
      message.content = milter::apply_changes(message.content, *outcome);
    }
    if (outcome->quarantine_reason) {
      quarantine_reason = *outcome->quarantine_reason;
      log_.info("milter quarantined the message",
                {{"milter", m.name}, {"reason", quarantine_reason}});
    }
  }
  if (!quarantine_reason.empty() && o.policy.role == Role::kSubmission) {
    // No Junk folder to hold outgoing mail in: the sender is told instead.
    service_.milter_rejected_->inc();
    answer_all(Reply::of(550, "5.7.1", "message held by a filter: " + quarantine_reason));
    co_return result;
  }
  result.held = !quarantine_reason.empty();
  (result.held ? service_.milter_held_ : service_.milter_passed_)->inc();
  co_return result;
}

asio::awaitable<void> Service::Session::run() {
  start_dnsbl();
  std::string ip = connection_->peer_address().to_string();
  std::array<char, 16384> buffer;
  for (;;) {
    tern::smtp::Event event = engine_.next();
    if (std::holds_alternative<tern::smtp::NeedInput>(event)) {
      if (!co_await flush()) {
        co_return;
      }
      auto n = co_await connection_->read_some(buffer, service_.options_.command_timeout);
      if (!n) {
        if (n.error().code == ErrorCode::kTimeout) {
          // RFC 5321 §4.5.3.2: a server that times out closes with 421.
          engine_.shut_down(
              Reply::of(421, "4.4.2", service_.options_.policy.hostname + " timeout exceeded"));
          co_await flush();
        }
        log_.debug("smtp read ended", {{"error", n.error().message}});
        co_return;
      }
      if (*n == 0) {
        co_return;
      }
      engine_.receive(std::string_view(buffer.data(), *n));
      continue;
    }
    if (auto* mail = std::get_if<tern::smtp::MailFrom>(&event)) {
      if (service_.draining_.load(std::memory_order_relaxed)) {
        engine_.answer(Reply::of(
            421, "4.3.2", service_.options_.policy.hostname + " shutting down, try again later"));
        continue;
      }
      // Per-IP rates do not apply to a local peer (there is no address; the
      // socket file's mode decides who may connect).
      if (!connection_->is_local() &&
          !service_.message_rate_.allow(ip, service_.clock_.monotonic())) {
        engine_.answer(Reply::of(450, "4.7.1", "too many messages from your address, slow down"));
        continue;
      }
      if (service_.options_.greylist) {
        sender_ = mail->path.mailbox ? address::render_mailbox(*mail->path.mailbox) : "";
      }
      if (handlers_.mail_is_local(*mail)) {
        // No store lookup to wait for: a hop to the pool and back would cost
        // two thread switches per message for nothing.
        engine_.answer(handlers_.on_mail(*mail));
        continue;
      }
      Handlers& handlers = handlers_;
      auto reply = co_await runtime::offload(service_.pool_,
                                             [&handlers, mail] { return handlers.on_mail(*mail); });
      engine_.answer(reply);
      continue;
    }
    if (auto* rcpt = std::get_if<tern::smtp::RcptTo>(&event)) {
      if (service_.options_.dnsbl) {
        if (auto refusal = co_await dnsbl_refusal()) {
          engine_.answer(*refusal);
          continue;
        }
      }
      Handlers& handlers = handlers_;
      auto reply = co_await runtime::offload(service_.pool_,
                                             [&handlers, rcpt] { return handlers.on_rcpt(*rcpt); });
      if (reply.is_positive() && service_.options_.greylist) {
        if (auto refusal = co_await greylisted(*rcpt)) {
          handlers_.withdraw_last_recipient();
          engine_.answer(*refusal);
          continue;
        }
      }
      engine_.answer(reply);
      continue;
    }
    if (auto* message = std::get_if<tern::smtp::Message>(&event)) {
      if (service_.options_.antivirus) {
        if (auto refusal = co_await scan(*message)) {
          service_.messages_rejected_->inc();
          // LMTP answers each recipient (RFC 2033 §4.2): the same refusal.
          std::size_t n =
              service_.options_.policy.role == Role::kLmtp ? message->recipients.size() : 1;
          engine_.answer_message(std::vector<Reply>(n, *refusal));
          continue;
        }
      }
      Filtered filtered;
      if (!service_.options_.milters.empty()) {
        filtered = co_await filter(*message);
        if (filtered.answer) {
          (filtered.answer->front().is_positive() ? service_.messages_accepted_
                                                  : service_.messages_rejected_)
              ->inc();
          engine_.answer_message(*filtered.answer);
          continue;
        }
      }
      Handlers& handlers = handlers_;
      Peer p = peer();
      std::optional<mailauth::InboundVerdict> verdict;
      if (service_.options_.verify && service_.options_.policy.role == Role::kMx &&
          !connection_->is_local()) {
        verdict = co_await verify(*message, p);
      }
      // Lambdas in co_await expressions capture only pointers and references:
      // GCC 12 mis-copies non-trivial captures there (a double free under ASan).
      const Peer* peer_info = &p;
      const mailauth::InboundVerdict* checked = verdict ? &*verdict : nullptr;
      const bool held = filtered.held;
      auto replies =
          co_await runtime::offload(service_.pool_, [&handlers, message, peer_info, checked, held] {
            return handlers.on_message(*message, *peer_info, checked, held);
          });
      if (!filtered.withdrawn.empty()) {
        // LMTP: one reply per recipient as the client sent them (RFC 2033 §4.2).
        std::vector<Reply> all;
        std::size_t next = 0;
        for (auto& withdrawn : filtered.withdrawn) {
          all.push_back(withdrawn ? std::move(*withdrawn) : replies.at(next++));
        }
        replies = std::move(all);
      }
      bool ok = false;
      for (const auto& r : replies) {
        ok = ok || r.is_positive();
      }
      (ok ? service_.messages_accepted_ : service_.messages_rejected_)->inc();
      // The fields cost allocations per message: build them only when kept.
      if (log_.enabled(log::Level::kInfo)) {
        log_.info("smtp message", {{"from", address::render_path(message->reverse_path)},
                                   {"recipients", std::to_string(message->recipients.size())},
                                   {"size", std::to_string(message->content.size())},
                                   {"reply", std::to_string(replies.front().code)}});
      }
      engine_.answer_message(replies);
      continue;
    }
    if (auto* start = std::get_if<tern::smtp::AuthStart>(&event)) {
      auth_mechanism_ = start->mechanism;
      AuthExchange& auth = auth_;
      auto bindings = channel_bindings();
      const auto* cb = &bindings;
      const std::string* peer_ip = &ip;
      auto outcome = co_await runtime::offload(service_.pool_, [&auth, start, peer_ip, cb] {
        return auth.start(*start, *peer_ip, *cb);
      });
      co_await finish_auth(std::move(outcome));
      continue;
    }
    if (auto* response = std::get_if<tern::smtp::AuthResponse>(&event)) {
      AuthExchange& auth = auth_;
      const std::string* peer_ip = &ip;
      auto outcome = co_await runtime::offload(
          service_.pool_, [&auth, response, peer_ip] { return auth.respond(*response, *peer_ip); });
      co_await finish_auth(std::move(outcome));
      continue;
    }
    if (std::holds_alternative<tern::smtp::AuthAborted>(event)) {
      auth_.abort();
      continue;
    }
    if (std::holds_alternative<tern::smtp::StartTls>(event)) {
      if (!co_await flush()) {
        co_return;
      }
      auto started = co_await connection_->start_tls(service_.options_.tls->current(),
                                                     service_.options_.tls_handshake_timeout);
      if (!started) {
        log_.debug("smtp starttls failed", {{"error", started.error().message}});
        co_return;
      }
      engine_.tls_started();
      engine_.set_auth_mechanisms(mechanisms());
      continue;
    }
    // Close.
    co_await flush();
    co_return;
  }
}

Service::Service(Options options, domain::Storage& storage, runtime::BlockingPool& pool,
                 const Clock& clock, Random& random, metrics::Registry& registry,
                 domain::AuthThrottle& throttle, log::Logger logger)
    : options_(std::move(options)),
      storage_(storage),
      pool_(pool),
      clock_(clock),
      random_(random),
      registry_(registry),
      throttle_(throttle),
      logger_(std::move(logger)),
      connection_rate_(options_.connections_per_ip_per_minute, std::chrono::minutes(1)),
      message_rate_(options_.messages_per_ip_per_minute, std::chrono::minutes(1)) {
  // Looked up once: a registry lookup builds the label strings each time.
  auto by_result = [this](std::string_view name, std::string_view help,
                          std::initializer_list<std::pair<metrics::Counter**, const char*>> outs) {
    for (auto [out, result] : outs) {
      *out = &registry_.counter(
          name, help, {{"role", std::string(role_name(options_.policy.role))}, {"result", result}});
    }
  };
  by_result("tern_smtp_messages_total", "Messages received by outcome.",
            {{&messages_accepted_, "accepted"}, {&messages_rejected_, "rejected"}});
  if (options_.antivirus) {
    by_result("tern_antivirus_scans_total", "Messages scanned by clamd, by result.",
              {{&scans_clean_, "clean"},
               {&scans_infected_, "infected"},
               {&scans_failed_, "error"},
               {&scans_skipped_, "skipped"}});
  }
  if (!options_.milters.empty()) {
    by_result("tern_milter_messages_total", "Messages past the [[milter]] filters, by outcome.",
              {{&milter_passed_, "pass"},
               {&milter_held_, "quarantine"},
               {&milter_rejected_, "reject"},
               {&milter_discarded_, "discard"},
               {&milter_failed_, "error"}});
  }
  if (options_.greylist) {
    by_result("tern_greylist_total", "Greylisting verdicts on MX recipients.",
              {{&greylist_passed_, "pass"},
               {&greylist_deferred_, "defer"},
               {&greylist_failed_, "error"}});
  }
  if (options_.dnsbl) {
    by_result("tern_dnsbl_clients_total", "MX clients looked up in the [dnsbl] lists, by verdict.",
              {{&dnsbl_listed_, "listed"}, {&dnsbl_clean_, "clean"}});
  }
  std::array<std::uint8_t, 32> secret{};
  random_.fill(secret);
  mock_secret_.assign(reinterpret_cast<const char*>(secret.data()), secret.size());
}

runtime::ConnectionHandler Service::handler() {
  return [this](std::unique_ptr<runtime::Connection> connection) {
    return serve(std::move(connection));
  };
}

asio::awaitable<void> Service::serve(std::unique_ptr<runtime::Connection> connection) {
  if (!connection->is_local() &&
      !connection_rate_.allow(connection->peer_address().to_string(), clock_.monotonic())) {
    // Instead of the greeting (RFC 5321 §3.1: 421 may be the first reply).
    auto reply = tern::smtp::render(Reply::of(
        421, "4.7.0", options_.policy.hostname + " too many connections from your address"));
    (void)co_await connection->write_all(reply, options_.write_timeout);
    co_return;
  }
  Session session(*this, std::move(connection));
  co_await session.run();
}

}  // namespace tern::services::smtp
