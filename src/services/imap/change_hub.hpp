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

 private:
  struct Entry {
    domain::AccountId account{};
    std::function<void()> wake;
  };

  mutable std::mutex mutex_;
  Token next_ = 1;
  std::unordered_map<Token, Entry> entries_;
};

}  // namespace tern::services::imap
