// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/handlers.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "address/address_list.hpp"
#include "base/ascii.hpp"
#include "domain/address.hpp"
#include "domain/delivery.hpp"
#include "domain/report_model.hpp"
#include "mailauth/arc_sealer.hpp"
#include "mailauth/authentication_results.hpp"
#include "mime/builder.hpp"
#include "mime/facts/facts.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "runtime/system_clock.hpp"

namespace tern::services::smtp {
namespace {

using tern::smtp::Reply;

// The address a path names, in the form the directory compares.
std::string path_address(const address::EmailAddress& mailbox, std::string_view hostname) {
  if (mailbox.domain.empty()) {
    // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is this host's postmaster.
    return "postmaster@" + std::string(hostname);
  }
  return address::render_mailbox(mailbox);
}

// RFC 3848 "with" protocol names.
std::string with_protocol(Role role, const Peer& peer, bool authenticated, bool smtputf8) {
  if (role == Role::kLmtp) {
    return std::string(smtputf8 ? "UTF8LMTP" : "LMTP") + (peer.tls ? "S" : "") +
           (authenticated ? "A" : "");
  }
  if (!peer.esmtp) {
    return "SMTP";
  }
  // RFC 6531 §3.7.3: UTF8SMTP for sessions that used SMTPUTF8.
  std::string with = smtputf8 ? "UTF8SMTP" : "ESMTP";
  if (peer.tls) {
    with += 'S';
  }
  if (authenticated) {
    with += 'A';
  }
  return with;
}

// The signing key an ARC seal of a forward through `domain` uses: that domain's
// first signing [[dkim]] key, else one of the host name or a parent of it (the
// forwarding ADMD, RFC 8617 §5.1). Null when there is none.
const mailauth::DkimKeyring::Entry* sealing_key(const mailauth::DkimKeyring& ring,
                                                std::string_view domain,
                                                std::string_view hostname) {
  auto find = [&](std::string_view d) -> const mailauth::DkimKeyring::Entry* {
    for (const auto& entry : ring.entries()) {
      if (entry.sign && ascii::iequals(entry.domain, d)) {
        return &entry;
      }
    }
    return nullptr;
  };
  if (const auto* entry = find(domain)) {
    return entry;
  }
  for (std::string_view h = hostname; h.find('.') != std::string_view::npos;
       h.remove_prefix(h.find('.') + 1)) {
    if (const auto* entry = find(h)) {
      return entry;
    }
  }
  return nullptr;
}

// The reverse-path as queued and as Sieve's envelope "from"; "" for the null sender.
std::string reverse_path_of(const tern::smtp::Message& message) {
  return message.reverse_path.is_null() ? std::string()
                                        : address::render_mailbox(*message.reverse_path.mailbox);
}

// What a queued copy must honour downstream (domain::QueueEnvelope): the MAIL
// FROM parameters of the message it carries on.
domain::QueueEnvelope queue_envelope(const tern::smtp::Message& message) {
  domain::QueueEnvelope envelope;
  envelope.smtputf8 = message.params.smtputf8;
  envelope.body =
      message.params.body == tern::smtp::Body::kBinaryMime ? domain::BodyType::kBinaryMime
      : message.params.body == tern::smtp::Body::k8BitMime ? domain::BodyType::kEightBitMime
                                                           : domain::BodyType::kSevenBit;
  envelope.requiretls = message.params.requiretls;
  return envelope;
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kMx:
      return "smtp";
    case Role::kSubmission:
      return "submission";
    case Role::kLmtp:
      return "lmtp";
  }
  return "smtp";
}

std::optional<mailauth::InboundInput> inbound_input(const tern::smtp::Message& message,
                                                    const Peer& peer) {
  auto ip = dns::IpAddress::parse(peer.ip);
  if (!ip) {
    return std::nullopt;
  }
  mailauth::InboundInput input;
  input.client_ip = *ip;
  input.helo = peer.helo;
  input.mail_from = message.reverse_path.is_null()
                        ? std::string()
                        : address::render_mailbox(*message.reverse_path.mailbox);
  input.message = message.content;
  return input;
}

Handlers::Handlers(Policy policy, domain::Storage& storage, const Clock& clock, log::Logger logger)
    : policy_(std::move(policy)), storage_(storage), clock_(clock), logger_(std::move(logger)) {}

// The user's own addresses: the account's address, its sub-addresses, and any
// alias whose destinations include the account. A domain's catch-all is not
// one: it would let a user send as every unknown name of the domain.
Result<bool> Handlers::owns_address(std::string_view address) {
  if (!user_) {
    return false;
  }
  auto normalized = domain::normalize_address(address);
  if (!normalized) {
    return false;
  }
  std::string candidate = *normalized;
  if (candidate == user_->address) {
    return true;
  }
  auto parts = domain::split_address(candidate);
  if (parts && !policy_.subaddress_separator.empty()) {
    auto cut = parts->local.find_first_of(policy_.subaddress_separator);
    if (cut != std::string_view::npos) {
      std::string base =
          std::string(parts->local.substr(0, cut)) + "@" + std::string(parts->domain);
      if (base == user_->address) {
        return true;
      }
      auto base_dest = storage_.directory().alias_destinations(base).get();
      if (!base_dest) {
        return base_dest.error();
      }
      if (std::find(base_dest->begin(), base_dest->end(), user_->address) != base_dest->end()) {
        return true;
      }
    }
  }
  auto destinations = storage_.directory().alias_destinations(candidate).get();
  if (!destinations) {
    return destinations.error();
  }
  return std::find(destinations->begin(), destinations->end(), user_->address) !=
         destinations->end();
}

bool Handlers::mail_is_local(const tern::smtp::MailFrom& mail) const {
  return policy_.role != Role::kSubmission || mail.path.is_null();
}

Reply Handlers::on_mail(const tern::smtp::MailFrom& mail) {
  targets_.clear();
  unlimited_.clear();
  declared_size_ = mail.params.size;
  if (!mail_is_local(mail)) {
    // RFC 6409 §4.1 / Postfix reject_sender_login_mismatch: a user sends only as
    // themselves. The null sender (bounces a client generates) is allowed.
    auto owned = owns_address(address::render_mailbox(*mail.path.mailbox));
    if (!owned) {
      return tern::smtp::reply_for(owned.error());
    }
    if (!*owned) {
      return Reply::of(553, "5.7.1", "sender address not owned by the authenticated user");
    }
  }
  return Reply::of(250, "2.1.0", "Ok");
}

Reply Handlers::on_rcpt(const tern::smtp::RcptTo& rcpt) {
  return add_target(rcpt.recipient.path, false);
}

Reply Handlers::on_filter_recipient(const address::ForwardPath& path) {
  return add_target(path, true);
}

Reply Handlers::add_target(const address::ForwardPath& path, bool relay) {
  const auto& mailbox = path.mailbox;
  std::string address = path_address(mailbox, policy_.hostname);
  auto parts = domain::split_address(address);
  if (policy_.srs && parts && domain::Srs::is_srs(parts->local) &&
      ascii::iequals(parts->domain, policy_.srs->config().domain)) {
    // A bounce (or reply) to an address our forwarding wrote: back to its origin.
    auto original = policy_.srs->reverse(address, clock_.now());
    if (!original) {
      return Reply::of(550, "5.1.1", "invalid SRS address: " + original.error().message);
    }
    Target target;
    target.external.push_back(*original);
    targets_.push_back(std::move(target));
    return Reply::of(250, "2.1.5", "Ok");
  }
  auto resolution =
      domain::resolve_recipient(storage_.directory(), address, policy_.subaddress_separator);
  if (!resolution) {
    const Error& e = resolution.error();
    switch (e.code) {
      case ErrorCode::kNotFound:
        if (policy_.unknown_user == UnknownUserPolicy::kDefer) {
          return Reply::of(450, "4.1.1", "mailbox unavailable: user unknown");
        }
        return Reply::of(550, "5.1.1", "mailbox unavailable: user unknown");
      case ErrorCode::kInvalidInput:
        return Reply::of(501, "5.1.3", "bad recipient address: " + e.message);
      case ErrorCode::kLimitExceeded:
        // An alias expansion that is too deep is a configuration mistake: keep the
        // mail queued at the sender while someone fixes it.
        return Reply::of(451, "4.3.0", "alias expansion failed");
      default:
        return tern::smtp::reply_for(e);
    }
  }
  Target target;
  if (resolution->kind == domain::RecipientKind::kNotLocal) {
    if (policy_.role != Role::kSubmission && !relay) {
      // Never an open relay: MX and LMTP accept only local domains.
      return Reply::of(550, "5.7.1", "relay access denied");
    }
    target.external.push_back(address);
  } else {
    target.accounts = resolution->accounts;
    target.external = resolution->external;
    // A full mailbox is refused before the data is sent (RFC 1870 §6 for SIZE).
    for (const auto& local : target.accounts) {
      auto account = storage_.directory().find_account_by_id(local.account).get();
      if (!account) {
        return tern::smtp::reply_for(account.error());
      }
      if (*account && (*account)->quota_bytes == 0) {
        unlimited_.insert(local.account);
      }
      if (!*account || (*account)->quota_bytes == 0) {
        continue;
      }
      if (declared_size_ && *declared_size_ > (*account)->quota_bytes) {
        return Reply::of(552, "5.2.2", "message larger than the mailbox quota");
      }
      if (!domain::check_quota(**account, declared_size_.value_or(1))) {
        return Reply::of(452, "4.2.2", "mailbox full");
      }
    }
  }
  targets_.push_back(std::move(target));
  return Reply::of(250, "2.1.5", "Ok");
}

std::string Handlers::received(const tern::smtp::Message& message, const Peer& peer,
                               const std::string& id) const {
  mime::ReceivedInfo info;
  info.helo = peer.helo;
  info.client_ip = peer.ip.find(':') != std::string::npos ? "IPv6:" + peer.ip : peer.ip;
  info.by = policy_.hostname;
  info.with = with_protocol(policy_.role, peer, user_.has_value(), message.params.smtputf8);
  info.id = id;
  if (message.recipients.size() == 1) {
    info.for_path = address::render_path(message.recipients[0].path, message.params.smtputf8);
  }
  info.tls = peer.tls_description;
  info.time = to_unix_seconds(clock_.now());
  return mime::received_field(info);
}

// One row for DMARC aggregate reports (RFC 9990 §3): only evaluations that found
// a policy are recorded. Fire and forget: a report store failure must not cost
// the delivery, so it is logged and the message goes on.
void Handlers::record_dmarc(const tern::smtp::Message& message, const Peer& peer,
                            const mailauth::InboundVerdict& verdict, std::string_view applied,
                            std::string_view override_type) {
  const mailauth::DmarcResult& dmarc = verdict.dmarc;
  if (!dmarc.record) {
    return;
  }
  const mailauth::DmarcRecord& record = *dmarc.record;
  domain::DmarcEvaluation e;
  e.time = clock_.now();
  e.policy.domain = dmarc.policy_domain;
  e.policy.p = std::string(mailauth::dmarc_policy_name(record.policy));
  if (record.subdomain_policy) {
    e.policy.sp = std::string(mailauth::dmarc_policy_name(*record.subdomain_policy));
  }
  if (record.nonexistent_policy) {
    e.policy.np = std::string(mailauth::dmarc_policy_name(*record.nonexistent_policy));
  }
  e.policy.pct = record.percent;
  e.policy.testing = record.testing.value_or(false);
  e.policy.adkim = record.dkim_alignment == mailauth::DmarcAlignment::kStrict ? "s" : "r";
  e.policy.aspf = record.spf_alignment == mailauth::DmarcAlignment::kStrict ? "s" : "r";
  e.policy.fo = record.failure_options;
  e.policy.rua = record.aggregate_uris;
  e.row.source_ip = peer.ip;
  e.row.header_from = verdict.from_domain;
  e.row.envelope_from = message.reverse_path.is_null()
                            ? std::string()
                            : ascii::lower(message.reverse_path.mailbox->domain.ascii());
  if (!message.recipients.empty()) {
    e.row.envelope_to = ascii::lower(message.recipients[0].path.mailbox.domain.ascii());
  }
  e.row.disposition = std::string(applied);
  e.row.dkim_alignment = dmarc.dkim_aligned ? "pass" : "fail";
  e.row.spf_alignment = dmarc.spf_aligned ? "pass" : "fail";
  if (!override_type.empty()) {
    std::string comment = override_type == "trusted_forwarder"
                              ? "ARC chain sealed by " + verdict.arc.sealer
                              : std::string();
    e.row.overrides.push_back({std::string(override_type), std::move(comment)});
  }
  for (const auto& d : verdict.dkim) {
    if (!d.domain.empty()) {
      e.row.dkim.push_back({d.domain, d.selector, std::string(auth_result_name(d.result))});
    }
  }
  e.row.spf.push_back({verdict.spf_mail_from_domain,
                       verdict.spf_mail_from_is_helo ? "helo" : "mfrom",
                       std::string(auth_result_name(verdict.spf_mail_from.result))});
  log::Logger logger = logger_;
  storage_.reports().record_dmarc(std::move(e)).on_ready([logger](Result<void> r) {
    if (!r) {
      logger.warn("dmarc report record failed", {{"error", r.error().message}});
    }
  });
}

// RFC 8617 §5.1: the ARC Set for a copy we forward, over the message as it
// leaves (our Authentication-Results included, which the AAR copies). "" when
// there is nothing to seal with or the chain must not be extended.
std::string Handlers::arc_seal_forward(const std::string& raw, const tern::smtp::Message& message,
                                       const mailauth::InboundVerdict& verdict,
                                       const std::string& id) {
  if (!policy_.arc_keys) {
    return {};
  }
  std::string via;
  for (std::size_t i = 0; i < message.recipients.size() && i < targets_.size(); ++i) {
    if (!targets_[i].external.empty()) {
      via = ascii::lower(message.recipients[i].path.mailbox.domain.ascii());
      break;
    }
  }
  const auto* entry = sealing_key(*policy_.arc_keys, via, policy_.hostname);
  if (entry == nullptr) {
    return {};
  }
  mailauth::ArcSealOptions o;
  o.domain = entry->domain;
  o.selector = entry->selector;
  o.authserv_id = policy_.authserv_id;
  o.timestamp = static_cast<std::uint64_t>(to_unix_seconds(clock_.now()));
  switch (verdict.arc.result) {
    case mailauth::AuthResult::kNone:
      o.chain_status = mailauth::ArcChainStatus::kNone;
      break;
    case mailauth::AuthResult::kPass:
      o.chain_status = mailauth::ArcChainStatus::kPass;
      break;
    case mailauth::AuthResult::kFail:
      o.chain_status = mailauth::ArcChainStatus::kFail;
      break;
    default:
      // temperror: we could not tell; sealing cv=fail would end a chain that may
      // be sound, so the next hop validates it on its own.
      return {};
  }
  auto set = mailauth::arc_seal(raw, *entry->key, o);
  if (!set) {
    logger_.warn("arc sealing failed", {{"id", id}, {"error", set.error().message}});
    return {};
  }
  if (!*set) {
    return {};
  }
  return (*set)->seal + (*set)->message_signature + (*set)->results;
}

std::vector<Reply> Handlers::on_message(const tern::smtp::Message& message, const Peer& peer,
                                        const mailauth::InboundVerdict* verdict, bool held) {
  bool lmtp = policy_.role == Role::kLmtp;
  std::size_t n = message.recipients.size();
  auto all = [&](const Reply& reply) { return std::vector<Reply>(lmtp ? n : 1, reply); };
  if (targets_.size() != n) {
    logger_.error("smtp recipient bookkeeping out of step",
                  {{"targets", std::to_string(targets_.size())}, {"rcpts", std::to_string(n)}});
    return all(Reply::of(451, "4.3.0", "internal error"));
  }
  std::string id = peer.session_id + "." + std::to_string(accepted_ + 1);
  // RFC 5321 §4.4: every SMTP server prepends a Received: field.
  std::string raw = received(message, peer, id);
  const std::size_t received_size = raw.size();
  raw += message.content;

  // Parse once: the tree gives the From: check and the facts stored beside the
  // message, so IMAP never re-reads the blob for ENVELOPE or BODYSTRUCTURE.
  mime::MessageTree tree = mime::parse_message(raw);
  if (policy_.role == Role::kSubmission && user_) {
    std::string from_domain;
    if (const auto* from = tree.root().field(tree.raw(), "From")) {
      std::string value = mime::unfold(from->value.in(tree.raw()));
      auto list = address::parse_address_list(value);
      for (const auto* mailbox : list.mailboxes()) {
        auto owned = owns_address(mailbox->addr_spec());
        if (!owned) {
          return all(tern::smtp::reply_for(owned.error()));
        }
        if (!*owned) {
          return all(Reply::of(553, "5.7.1", "From: address not owned by the authenticated user"));
        }
        if (from_domain.empty()) {
          from_domain = mailbox->domain;
        }
      }
    }
    // RFC 6376 §5: sign as the From: domain so DMARC aligns (RFC 7489 §3.1.1).
    // The signatures cover the message as submitted and go above our Received:.
    if (policy_.dkim && !from_domain.empty() && policy_.dkim->signs_for(from_domain)) {
      auto fields = policy_.dkim->sign(message.content, from_domain,
                                       static_cast<std::uint64_t>(to_unix_seconds(clock_.now())));
      if (!fields) {
        logger_.warn("dkim signing failed", {{"id", id}, {"error", fields.error().message}});
        return all(Reply::of(451, "4.3.0", "cannot sign the message, try again later"));
      }
      raw.insert(0, *fields);
      tree = mime::parse_message(raw);
    }
  }
  bool quarantine = held;
  if (policy_.role == Role::kMx && !policy_.authserv_id.empty()) {
    // RFC 8601 §5: a field claiming our authserv-id that arrives from outside is
    // forged (or stale); it is deleted before anyone can trust it.
    std::string kept;
    std::size_t from = 0;
    for (const auto& field : tree.root().fields) {
      if (ascii::iequals(field.name.in(raw), "Authentication-Results") &&
          mailauth::claims_authserv_id(field.value.in(raw), policy_.authserv_id)) {
        kept.append(raw, from, field.whole.begin - from);
        from = field.whole.end;
      }
    }
    bool changed = from != 0;
    if (changed) {
      kept.append(raw, from);
      raw = std::move(kept);
    }
    if (verdict != nullptr) {
      // RFC 9989 §5.3 / §7.2: the disposition, with the local policy for reject.
      std::string_view applied = "none";
      std::string_view override_type;
      if (verdict->arc_override) {
        override_type = "trusted_forwarder";
      } else if (verdict->dmarc.result == mailauth::AuthResult::kFail && verdict->dmarc.testing) {
        // RFC 9990 §3.1.1.14: t=y (or RFC 7489 pct= sampling) lowered it one step.
        override_type = "policy_test_mode";
      }
      if (verdict->disposition == mailauth::DmarcDisposition::kReject) {
        if (policy_.dmarc_reject == DmarcRejectAction::kReject) {
          applied = "reject";
        } else {
          override_type = "local_policy";
          applied = policy_.dmarc_reject == DmarcRejectAction::kQuarantine ? "quarantine" : "none";
        }
      } else if (verdict->disposition == mailauth::DmarcDisposition::kQuarantine) {
        applied = "quarantine";
      }
      record_dmarc(message, peer, *verdict, applied, override_type);
      if (applied == "reject") {
        logger_.info("dmarc reject", {{"id", id}, {"from_domain", verdict->from_domain}});
        return all(Reply::of(550, "5.7.1",
                             "message rejected: it fails the DMARC policy of " +
                                 verdict->dmarc.policy_domain + " (RFC 9989)"));
      }
      quarantine = quarantine || applied == "quarantine";
      // RFC 8601 §5: our one field goes at the top of what the client sent,
      // right under our own Received: field — where Postfix puts a milter's
      // fields (its Received: stays first), so trace order stays intact.
      raw.insert(received_size, verdict->authentication_results);
      changed = true;
    }
    if (changed) {
      tree = mime::parse_message(raw);
    }
  }
  std::string facts = mime::facts::encode_facts(mime::facts::compute_facts(tree));
  SystemTime now = clock_.now();

  // The local accounts, de-duplicated across recipients, and the external
  // addresses (submission relays, alias forwards) with their DSN parameters.
  std::vector<domain::LocalRecipient> accounts;  // the first recipient that led to each
  std::set<domain::AccountId> seen;
  std::vector<domain::QueueRecipient> external;
  std::set<std::string> seen_external;
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& local : targets_[i].accounts) {
      if (seen.insert(local.account).second) {
        accounts.push_back(local);
      }
    }
    const auto& params = message.recipients[i].params;
    for (const auto& address : targets_[i].external) {
      if (!seen_external.insert(address).second) {
        continue;
      }
      domain::QueueRecipient q;
      q.address = address;
      q.notify = params.notify;
      // RFC 3461 §5.2.1: a forwarded recipient keeps the original as ORCPT.
      q.orcpt = !params.orcpt.empty() ? params.orcpt
                                      : "rfc822;" + path_address(message.recipients[i].path.mailbox,
                                                                 policy_.hostname);
      external.push_back(std::move(q));
    }
  }

  // SMTP has one reply for every recipient: check every quota first so that a
  // full mailbox fails the whole message instead of half-delivering it (the
  // store checks again atomically; losing that race is logged below).
  std::map<domain::AccountId, Reply> refused;
  for (const auto& local : accounts) {
    domain::AccountId account_id = local.account;
    if (unlimited_.contains(account_id)) {
      continue;
    }
    auto account = storage_.directory().find_account_by_id(account_id).get();
    if (!account) {
      return all(tern::smtp::reply_for(account.error()));
    }
    if (!*account || (*account)->quota_bytes == 0) {
      continue;
    }
    if (raw.size() > (*account)->quota_bytes) {
      refused[account_id] = Reply::of(552, "5.2.2", "message larger than the mailbox quota");
    } else if (!domain::check_quota(**account, raw.size())) {
      refused[account_id] = Reply::of(452, "4.2.2", "mailbox full");
    }
  }
  if (!lmtp && !refused.empty()) {
    return all(refused.begin()->second);
  }
  std::vector<domain::LocalRecipient> deliverable;
  for (const auto& local : accounts) {
    if (!refused.contains(local.account)) {
      deliverable.push_back(local);
    }
  }

  // The queue first: if it fails nothing was stored and the client retries all.
  std::optional<domain::QueueId> queued;
  if (!external.empty()) {
    domain::NewQueuedMessage q;
    // RFC 8617 §5.1: a forwarded copy carries our ARC Set, so the next hop can
    // see what we saw when SPF and DKIM break on the way.
    q.raw = verdict != nullptr ? arc_seal_forward(raw, message, *verdict, id) + raw : raw;
    q.sender = reverse_path_of(message);
    // Forwarding a foreign sender's mail: SRS keeps SPF passing at the next hop.
    auto sender = domain::forwarding_sender(storage_.directory(), policy_.srs.get(), q.sender, now);
    if (!sender) {
      return all(tern::smtp::reply_for(sender.error()));
    }
    q.sender = std::move(*sender);
    q.recipients = external;
    q.envid = message.params.envid;
    q.ret = message.params.ret;
    q.now = now;
    q.envelope = queue_envelope(message);
    q.envelope.submitter = user_ ? user_->address : std::string();
    auto id_or = storage_.queue().enqueue(std::move(q)).get();
    if (!id_or) {
      logger_.warn("smtp enqueue failed", {{"error", id_or.error().message}});
      return all(Reply::of(451, "4.3.0", "cannot queue the message, try again later"));
    }
    queued = *id_or;
  }

  std::map<domain::AccountId, Reply> outcome;
  if (!deliverable.empty()) {
    // Each account's Sieve script decides where its copy goes (RFC 5228).
    domain::Filtering filtering;
    filtering.sender = reverse_path_of(message);
    filtering.hostname = policy_.hostname;
    filtering.srs = policy_.srs.get();
    filtering.subaddress_separators = policy_.subaddress_separator;
    filtering.now = now;
    filtering.zone_minutes = runtime::local_zone_minutes(now);
    filtering.envelope = queue_envelope(message);
    filtering.scripts = policy_.scripts.get();
    filtering.spam = policy_.spam.get();
    std::vector<domain::FilterReport> reports;
    auto delivered = domain::deliver(
        storage_, domain::NewMessage{std::move(raw), now, std::move(facts)}, deliverable,
        quarantine ? domain::DeliveryFolder::kJunk : domain::DeliveryFolder::kInbox, &filtering,
        &reports);
    domain::log_filter_reports(logger_, id, deliverable, reports);
    if (!delivered) {
      logger_.warn("smtp delivery failed", {{"error", delivered.error().message}});
      if (queued) {
        // Best effort: the client retries every recipient, so the queued copy
        // would become a duplicate.
        (void)storage_.queue().remove_queued(*queued).get();
      }
      return all(Reply::of(451, "4.3.0", "cannot store the message, try again later"));
    }
    for (const auto& o : *delivered) {
      if (o.result) {
        outcome[o.account] = Reply::of(250, "2.0.0", "Ok: delivered as " + id);
      } else if (o.result.error().code == ErrorCode::kLimitExceeded) {
        outcome[o.account] = Reply::of(452, "4.2.2", "mailbox full");
      } else {
        outcome[o.account] = tern::smtp::reply_for(o.result.error());
      }
    }
  }
  for (const auto& [account, reply] : refused) {
    outcome[account] = reply;
  }

  // A recipient succeeds when every local account it led to has the message
  // (its external destinations are durable in the queue by now).
  std::vector<Reply> replies;
  std::size_t failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Reply reply = Reply::of(250, "2.0.0",
                            "Ok: " + std::string(queued ? "queued" : "delivered") + " as " + id);
    for (const auto& local : targets_[i].accounts) {
      const Reply& r = outcome[local.account];
      if (!r.is_positive()) {
        reply = r;
      }
    }
    if (!reply.is_positive()) {
      ++failed;
    }
    replies.push_back(std::move(reply));
  }
  if (!lmtp) {
    if (failed > 0) {
      // Only a quota race lands here: some copies are stored. Answering 250
      // avoids duplicating them on a retry; the loss is logged for the operator.
      logger_.error("smtp partial delivery after a quota race",
                    {{"id", id}, {"failed_recipients", std::to_string(failed)}});
    }
    ++accepted_;
    return {Reply::of(250, "2.0.0", "Ok: queued as " + id)};
  }
  if (failed < n) {
    ++accepted_;
  }
  return replies;
}

}  // namespace tern::services::smtp
