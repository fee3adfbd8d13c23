// SPDX-License-Identifier: Apache-2.0
// The decisions of one SMTP, submission or LMTP session: who may send, which
// recipients are accepted, and the delivery of each accepted message (parse
// once, store once, link into each local INBOX, queue the rest). Synchronous
// and free of sockets: the session calls it on the blocking pool, the
// transcript runner calls it directly over store::memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "domain/accounts.hpp"
#include "domain/compiled_scripts.hpp"
#include "domain/ports.hpp"
#include "domain/spam_filter.hpp"
#include "domain/srs.hpp"
#include "mailauth/dkim_keyring.hpp"
#include "mailauth/inbound.hpp"
#include "smtp/server_engine.hpp"

namespace tern::services::smtp {

enum class Role {
  kMx,          // port 25: local domains only, never relays
  kSubmission,  // 587/465: authenticated users; local delivery plus the outbound queue
  kLmtp,        // RFC 2033: per-recipient replies, local delivery
};

// Returns "smtp", "submission" or "lmtp" (the config role names).
std::string_view role_name(Role role);

// What to answer for a local address that resolves to nothing.
enum class UnknownUserPolicy {
  kReject,  // 550 5.1.1 (Postfix's default for virtual mailbox domains)
  kDefer,   // 450 4.1.1: the sender retries; for migrations while accounts are created
};

// What the MX does with a message whose DMARC disposition is reject ([mailauth]
// dmarc_reject): refuse it (550 5.7.1, RFC 7489 §6.6.3 / §7), put it in Junk as
// for quarantine, or deliver it and only record the result.
enum class DmarcRejectAction { kReject, kQuarantine, kIgnore };

struct Policy {
  Role role = Role::kMx;
  std::string hostname = "localhost";
  // Characters that start a sub-address ([addressing] subaddress_separator).
  std::string subaddress_separator = "+";
  UnknownUserPolicy unknown_user = UnknownUserPolicy::kReject;
  // SRS ([queue] srs_secret): alias forwards of foreign senders are queued with an
  // SRS sender, and RCPT to an SRS address at srs->config().domain is reversed and
  // queued back to the original sender (550 5.1.1 when forged or expired). Null:
  // no rewriting, SRS addresses are ordinary local parts.
  std::shared_ptr<const domain::Srs> srs;
  // Submission: messages from an authenticated user whose From: domain has
  // signing keys ([[dkim]] sign = true) get one DKIM-Signature per key at the top
  // of the header before they are queued or delivered (RFC 6376 §5). Null: none.
  std::shared_ptr<const mailauth::DkimKeyring> dkim;
  // MX: Authentication-Results fields that arrive claiming this authserv-id are
  // removed (RFC 8601 §5), so none can pass for our own verdict. "" = keep all.
  std::string authserv_id;
  // MX with inbound verification: a DMARC "reject" disposition is handled so; a
  // "quarantine" disposition always delivers to the \Junk mailbox.
  DmarcRejectAction dmarc_reject = DmarcRejectAction::kReject;
  // MX: alias forwards to other domains get an ARC Set (RFC 8617 §5.1) sealed
  // with the [[dkim]] key of the alias's domain (or of the host name's domain),
  // carrying our Authentication-Results. Null, or no key: forwards are not sealed.
  std::shared_ptr<const mailauth::DkimKeyring> arc_keys;
  // The Sieve scripts of recipients, compiled once for every session (null: each
  // delivery compiles its scripts).
  std::shared_ptr<domain::CompiledScripts> scripts;
  // The spam filter for local deliveries (null: none).
  std::shared_ptr<const domain::SpamPolicy> spam;
};

// The connection facts a Received: field and the sender policy need.
struct Peer {
  std::string ip;               // "192.0.2.1" or "2001:db8::1"; "" for a local-socket peer
  bool tls = false;             // the session runs over TLS now
  std::string tls_description;  // "TLSv1.3 cipher=TLS_AES_128_GCM_SHA256"
  std::string helo;             // the HELO/EHLO/LHLO argument
  bool esmtp = true;            // EHLO/LHLO rather than HELO
  std::string session_id;       // the connection id; messages get "<id>.<n>" in Received:
};

// What the MX's inbound checks read from a received message and its peer;
// nullopt when the peer has no IP address (a local socket). The view into
// `message.content` lives as long as `message`.
std::optional<mailauth::InboundInput> inbound_input(const tern::smtp::Message& message,
                                                    const Peer& peer);

// One session's handlers. Not thread-safe: one coroutine drives it, one call at a
// time (on any thread). `storage` and `clock` must outlive it.
//
// Replies, by command (RFC 3463 codes):
//   MAIL  submission: 553 5.7.1 when the sender is not one of the authenticated
//         user's addresses (the account's own, its sub-addresses, or an alias whose
//         destination is the account); backend errors via smtp::reply_for().
//   RCPT  not a local domain: MX and LMTP 550 5.7.1 (never relay), submission
//         accepted for the outbound queue; unknown user 550 5.1.1 (or 450 4.1.1
//         by policy); an account over its quota 452 4.2.2, a declared SIZE larger
//         than the whole quota 552 5.2.2; alias loops 451 4.3.0.
//   message: MX with a verdict (inbound verification ran): 550 5.7.1 when the
//         DMARC disposition is reject and the policy says refuse; otherwise one
//         Authentication-Results field at the top, Junk for quarantine, the
//         evaluation recorded for DMARC reports (domain::ReportStore);
//         250 2.0.0 only once the message is durable in every INBOX and the
//         queue; 452 4.2.2 over quota, 552 5.2.2 when the message alone exceeds the
//         quota (the hard limit), 451 4.3.0 for a store error (nothing kept);
//         submission: 553 5.7.1 when a From: address is not the user's, 451 4.3.0
//         when DKIM signing fails (Policy::dkim). LMTP gives
//         one reply per recipient; SMTP one for all, failing the whole message
//         when any local recipient cannot take it (so nothing is half-delivered).
class Handlers {
 public:
  Handlers(Policy policy, domain::Storage& storage, const Clock& clock, log::Logger logger);

  // The authenticated account (submission), set by the session after AUTH.
  void set_authenticated(const domain::Account& account) { user_ = account; }

  const std::optional<domain::Account>& authenticated() const { return user_; }

  // True when on_mail() answers without the store (MX and LMTP, or a null
  // sender), so the session may call it on its own thread.
  bool mail_is_local(const tern::smtp::MailFrom& mail) const;

  tern::smtp::Reply on_mail(const tern::smtp::MailFrom& mail);
  tern::smtp::Reply on_rcpt(const tern::smtp::RcptTo& rcpt);
  // A recipient a mail filter added at the end of DATA: resolved and checked as
  // by on_rcpt, except that any domain is taken, on every role (the filter is
  // trusted configuration, as in Postfix).
  tern::smtp::Reply on_filter_recipient(const address::ForwardPath& path);
  // One reply per recipient of `message` in LMTP mode, one otherwise. `verdict`:
  // the MX's inbound checks of this message (null when they did not run).
  // `held`: a mail filter asked to quarantine it; it goes to each \Junk.
  std::vector<tern::smtp::Reply> on_message(const tern::smtp::Message& message, const Peer& peer,
                                            const mailauth::InboundVerdict* verdict = nullptr,
                                            bool held = false);

  // Takes back the recipient the last on_rcpt() accepted, when the session
  // refuses it after all (greylisting); the engine never counted it.
  void withdraw_last_recipient() {
    if (!targets_.empty()) {
      targets_.pop_back();
    }
  }

  // Takes back the index-th recipient accepted in this transaction, when a
  // mail filter refused it (LMTP).
  void withdraw_recipient(std::size_t index) {
    if (index < targets_.size()) {
      targets_.erase(targets_.begin() + static_cast<std::ptrdiff_t>(index));
    }
  }

  // Messages accepted by this session (for the id in Received: and logs).
  std::uint64_t accepted_messages() const { return accepted_; }

 private:
  // Where one accepted recipient goes.
  struct Target {
    std::vector<domain::LocalRecipient> accounts;
    std::vector<std::string> external;
  };

  // on_rcpt() and on_filter_recipient(): `relay` takes a domain that is not ours.
  tern::smtp::Reply add_target(const address::ForwardPath& path, bool relay);
  Result<bool> owns_address(std::string_view address);
  void record_dmarc(const tern::smtp::Message& message, const Peer& peer,
                    const mailauth::InboundVerdict& verdict, std::string_view applied,
                    std::string_view override_type);
  std::string arc_seal_forward(const std::string& raw, const tern::smtp::Message& message,
                               const mailauth::InboundVerdict& verdict, const std::string& id);
  std::string received(const tern::smtp::Message& message, const Peer& peer,
                       const std::string& id) const;

  Policy policy_;
  domain::Storage& storage_;
  const Clock& clock_;
  log::Logger logger_;
  std::optional<domain::Account> user_;
  std::optional<std::uint64_t> declared_size_;
  std::vector<Target> targets_;  // aligned with the engine's accepted recipients
  // Accounts of this transaction that had no quota at RCPT: the message needs no
  // second directory lookup for them (a quota set since is the store's atomic
  // check to enforce, like any race). Cleared by MAIL.
  std::set<domain::AccountId> unlimited_;
  std::uint64_t accepted_ = 0;
};

}  // namespace tern::services::smtp
