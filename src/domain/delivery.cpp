// SPDX-License-Identifier: Apache-2.0
#include "domain/delivery.hpp"

#include <map>
#include <optional>

#include "base/ascii.hpp"

namespace tern::domain {

namespace {

// The Junk mailbox of `account` among `boxes`, created when the account has none
// (accounts start with an INBOX only). A concurrent delivery may create it first:
// kAlreadyExists means it is there now.
Result<MailboxId> junk_mailbox(Storage& storage, AccountId account,
                               const std::vector<Mailbox>& boxes) {
  for (const auto& box : boxes) {
    if (box.special_use == SpecialUse::kJunk) {
      return box.id;
    }
  }
  for (const auto& box : boxes) {
    if (box.name == "Junk") {
      return box.id;
    }
  }
  auto created = storage.mail().create_mailbox(account, "Junk", SpecialUse::kJunk).get();
  if (created) {
    return created->id;
  }
  if (created.error().code != ErrorCode::kAlreadyExists) {
    return created.error();
  }
  TERN_TRY(auto again, storage.mail().mailboxes(account).get());
  for (const auto& box : again) {
    if (box.name == "Junk") {
      return box.id;
    }
  }
  return created.error();
}

}  // namespace

Result<std::vector<DeliveryOutcome>> deliver_to_inboxes(Storage& storage, NewMessage message,
                                                        const std::vector<AccountId>& accounts,
                                                        DeliveryFolder folder) {
  std::vector<DeliveryOutcome> outcomes;
  std::vector<AppendTarget> targets;
  // outcome index -> target index (or the first outcome for a duplicate account)
  std::vector<std::optional<std::size_t>> target_of(accounts.size());
  std::map<AccountId, std::size_t> first_outcome;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    AccountId account = accounts[i];
    outcomes.push_back(DeliveryOutcome{account, Error{ErrorCode::kInternal, "not delivered"}});
    if (first_outcome.contains(account)) {
      continue;
    }
    first_outcome.emplace(account, i);
    auto boxes = storage.mail().mailboxes(account).get();
    if (!boxes) {
      outcomes[i].result = boxes.error();
      continue;
    }
    std::optional<MailboxId> inbox;
    if (folder == DeliveryFolder::kJunk) {
      auto junk = junk_mailbox(storage, account, *boxes);
      if (!junk) {
        outcomes[i].result = junk.error();
        continue;
      }
      inbox = *junk;
    }
    for (const auto& box : *boxes) {
      if (!inbox && box.name == "INBOX") {
        inbox = box.id;
      }
    }
    if (!inbox) {
      outcomes[i].result = Error{ErrorCode::kNotFound, "account has no INBOX"};
      continue;
    }
    target_of[i] = targets.size();
    targets.push_back(AppendTarget{account, *inbox, 0, {}});
  }
  if (!targets.empty()) {
    auto appended = storage.mail().append(std::move(message), targets).get();
    if (!appended) {
      return appended.error();
    }
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      if (target_of[i]) {
        outcomes[i].result = (*appended)[*target_of[i]];
      }
    }
  }
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    auto first = first_outcome.at(accounts[i]);
    if (first != i) {
      outcomes[i].result = outcomes[first].result;
    }
  }
  return outcomes;
}

Result<std::string> forwarding_sender(Directory& directory, const Srs* srs, std::string_view sender,
                                      SystemTime now) {
  auto at = sender.rfind('@');
  if (srs == nullptr || sender.empty() || at == std::string_view::npos) {
    return std::string(sender);
  }
  TERN_TRY(auto ours, directory.find_domain(ascii::lower(sender.substr(at + 1))).get());
  if (ours) {
    return std::string(sender);  // our own domain: SPF passes for us already
  }
  return srs->forward(sender, now);
}

std::string to_crlf(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 32);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < raw.size() && raw[i + 1] == '\n') {
        ++i;
      }
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace tern::domain
