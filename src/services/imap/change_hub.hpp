// SPDX-License-Identifier: Apache-2.0
// services::imap::ChangeHub: tells the IMAP sessions of an account that its mail
// changed, so IDLE clients hear about other sessions' appends, flag changes and
// expunges within a second (RFC 9051 §6.3.13, ARCHITECTURE.md §5).
//
// Scope: one hub per ternd process, fed by this process's IMAP sessions after each
// command that changed the store. Deliveries by SMTP/LMTP and `tern deliver` in other
// processes do not reach it yet: an IDLE session also re-checks the store every
// `poll_interval` (Options), and cross-process notification arrives with the postgres
// issue (LISTEN/NOTIFY feeding this hub).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "domain/ids.hpp"

namespace tern::services::imap {

class ChangeHub {
 public:
  using Token = std::uint64_t;

  // Registers `wake` for `account`; it is called (from the notifying thread, so it
  // must only post work to its own executor) whenever notify() names the account.
  Token subscribe(domain::AccountId account, std::function<void()> wake);
  void unsubscribe(Token token);

  // Wakes every subscriber of `account` except `from` (the session that made the
  // change already knows).
  void notify(domain::AccountId account, Token from = 0);

  std::size_t subscribers() const;

  // \Recent (RFC 3501 §2.3.2): a message is recent in exactly one session, the first
  // to learn of it with the mailbox selected read-write. The hub keeps, per mailbox,
  // the highest UID some session of this process has claimed. claim_recent() raises
  // it to `up_to` and returns the value before, atomically, so two sessions never
  // both get a message as recent: the caller's recent messages are those with
  // before < uid <= up_to. A mailbox the process has not seen yet starts at 0 (every
  // message is recent to the first session that selects it after a restart, as with
  // Dovecot without an index).
  domain::Uid claim_recent(domain::MailboxId mailbox, domain::Uid up_to);
  // The highest claimed UID (for STATUS RECENT: messages above it are recent to the
  // next session that selects the mailbox).
  domain::Uid recent_claimed(domain::MailboxId mailbox) const;

 private:
  struct Entry {
    domain::AccountId account{};
    std::function<void()> wake;
  };

  mutable std::mutex mutex_;
  Token next_ = 1;
  std::unordered_map<Token, Entry> entries_;
  std::unordered_map<std::int64_t, std::uint32_t> recent_claimed_;  // mailbox → uid
};

}  // namespace tern::services::imap
