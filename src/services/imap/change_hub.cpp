// SPDX-License-Identifier: Apache-2.0
#include "services/imap/change_hub.hpp"

#include <algorithm>
#include <vector>

namespace tern::services::imap {

ChangeHub::Token ChangeHub::subscribe(domain::AccountId account, std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  Token token = next_++;
  entries_.emplace(token, Entry{account, std::move(wake)});
  return token;
}

void ChangeHub::unsubscribe(Token token) {
  std::lock_guard lock(mutex_);
  entries_.erase(token);
}

void ChangeHub::notify(domain::AccountId account, Token from) {
  // The callbacks only post to their sessions' executors; calling them under the
  // lock keeps unsubscribe() a barrier (no call after it returns).
  std::lock_guard lock(mutex_);
  for (auto& [token, entry] : entries_) {
    if (token != from && entry.account == account) {
      entry.wake();
    }
  }
}

std::size_t ChangeHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

domain::Uid ChangeHub::claim_recent(domain::MailboxId mailbox, domain::Uid up_to) {
  std::lock_guard lock(mutex_);
  auto& claimed = recent_claimed_[static_cast<std::int64_t>(mailbox)];
  std::uint32_t before = claimed;
  claimed = std::max(claimed, static_cast<std::uint32_t>(up_to));
  return domain::Uid{before};
}

domain::Uid ChangeHub::recent_claimed(domain::MailboxId mailbox) const {
  std::lock_guard lock(mutex_);
  auto it = recent_claimed_.find(static_cast<std::int64_t>(mailbox));
  return domain::Uid{it == recent_claimed_.end() ? 0u : it->second};
}

}  // namespace tern::services::imap
