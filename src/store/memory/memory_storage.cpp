// SPDX-License-Identifier: Apache-2.0
#include "store/memory/memory_storage.hpp"

#include <algorithm>
#include <array>
#include <chrono>

#include "domain/address.hpp"
#include "domain/flags.hpp"
#include "domain/mailbox_name.hpp"
#include "mime/facts/facts.hpp"

namespace tern::store::memory {

namespace d = tern::domain;
using d::canonical_mailbox_name;
using d::domain_of;
using d::is_valid_mailbox_name;
using d::sha256_hex;

namespace {

template <class T>
d::Async<T> ready(Result<T> value) {
  return make_ready_future<Result<T>>(std::move(value));
}

d::Async<void> ready_ok() {
  return make_ready_future<Result<void>>(ok());
}

d::Async<void> ready_error(Error error) {
  return make_ready_future<Result<void>>(std::move(error));
}

SystemTime now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

// ----- Directory

d::Async<d::Domain> MemoryStorage::add_domain(std::string name) {
  std::lock_guard lock(mutex_);
  if (name.empty() || name.find('@') != std::string::npos) {
    return ready<d::Domain>(fail(ErrorCode::kInvalidInput, "invalid domain name"));
  }
  if (domains_.contains(name)) {
    return ready<d::Domain>(fail(ErrorCode::kAlreadyExists, "domain exists: " + name));
  }
  d::Domain domain{d::DomainId{next_id_++}, name};
  domains_.emplace(name, domain);
  return ready<d::Domain>(domain);
}

d::Async<std::vector<d::Domain>> MemoryStorage::domains() {
  std::lock_guard lock(mutex_);
  std::vector<d::Domain> out;
  for (const auto& [name, domain] : domains_) {
    out.push_back(domain);
  }
  return ready<std::vector<d::Domain>>(std::move(out));
}

d::Async<std::optional<d::Domain>> MemoryStorage::find_domain(std::string name) {
  std::lock_guard lock(mutex_);
  auto it = domains_.find(name);
  std::optional<d::Domain> out;
  if (it != domains_.end()) {
    out = it->second;
  }
  return ready<std::optional<d::Domain>>(std::move(out));
}

d::Async<void> MemoryStorage::remove_domain(std::string name) {
  std::lock_guard lock(mutex_);
  if (!domains_.contains(name)) {
    return ready_error(fail(ErrorCode::kNotFound, "no such domain: " + name));
  }
  for (const auto& [address, id] : account_by_address_) {
    if (domain_of(address) == name) {
      return ready_error(fail(ErrorCode::kConflict, "domain still has accounts: " + name));
    }
  }
  for (const auto& [source, destination] : aliases_) {
    if (domain_of(source) == name) {
      return ready_error(fail(ErrorCode::kConflict, "domain still has aliases: " + name));
    }
  }
  domains_.erase(name);
  return ready_ok();
}

d::Async<d::Account> MemoryStorage::add_account(d::NewAccount account) {
  std::lock_guard lock(mutex_);
  auto at = account.address.rfind('@');
  if (at == std::string::npos || at == 0) {
    return ready<d::Account>(fail(ErrorCode::kInvalidInput, "invalid address"));
  }
  auto domain = domains_.find(std::string(domain_of(account.address)));
  if (domain == domains_.end()) {
    return ready<d::Account>(fail(ErrorCode::kNotFound, "not a local domain: " + account.address));
  }
  if (account_by_address_.contains(account.address)) {
    return ready<d::Account>(fail(ErrorCode::kAlreadyExists, "account exists: " + account.address));
  }
  AccountState state;
  state.account.id = d::AccountId{next_id_++};
  state.account.domain = domain->second.id;
  state.account.address = account.address;
  state.account.password_hash = std::move(account.password_hash);
  state.account.scram_sha256 = std::move(account.scram_sha256);
  state.account.quota_bytes = account.quota_bytes;
  auto id = state.account.id;
  auto& stored = accounts_.emplace(id, std::move(state)).first->second;
  account_by_address_.emplace(account.address, id);

  MailboxState inbox;
  inbox.mailbox.id = d::MailboxId{next_id_++};
  inbox.mailbox.account = id;
  inbox.mailbox.name = "INBOX";
  inbox.mailbox.uid_validity = d::UidValidity{next_uid_validity_++};
  inbox.mailbox.subscribed = true;
  inbox.mailbox.highest_modseq =
      next_modseq_locked(stored, inbox.mailbox.id, d::Uid{0}, d::ChangeKind::kMailboxCreated);
  mailboxes_.emplace(inbox.mailbox.id, std::move(inbox));
  return ready<d::Account>(stored.account);
}

d::Async<std::optional<d::Account>> MemoryStorage::find_account(std::string address) {
  std::lock_guard lock(mutex_);
  std::optional<d::Account> out;
  if (auto* state = find_account_locked(address)) {
    out = state->account;
  }
  return ready<std::optional<d::Account>>(std::move(out));
}

d::Async<std::optional<d::Account>> MemoryStorage::find_account_by_id(d::AccountId id) {
  std::lock_guard lock(mutex_);
  std::optional<d::Account> out;
  if (auto* state = find_account_locked(id)) {
    out = state->account;
  }
  return ready<std::optional<d::Account>>(std::move(out));
}

d::Async<std::vector<d::Account>> MemoryStorage::accounts(std::optional<std::string> domain) {
  std::lock_guard lock(mutex_);
  if (domain && !domains_.contains(*domain)) {
    return ready<std::vector<d::Account>>(fail(ErrorCode::kNotFound, "no such domain: " + *domain));
  }
  std::vector<d::Account> out;
  for (const auto& [address, id] : account_by_address_) {
    if (!domain || domain_of(address) == *domain) {
      out.push_back(accounts_.at(id).account);
    }
  }
  return ready<std::vector<d::Account>>(std::move(out));
}

d::Async<void> MemoryStorage::set_credentials(std::string address, d::Credentials credentials) {
  std::lock_guard lock(mutex_);
  auto* state = find_account_locked(address);
  if (state == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account: " + address));
  }
  state->account.password_hash = std::move(credentials.password_hash);
  state->account.scram_sha256 = std::move(credentials.scram_sha256);
  return ready_ok();
}

d::Async<void> MemoryStorage::set_quota(std::string address, std::uint64_t quota_bytes) {
  std::lock_guard lock(mutex_);
  auto* state = find_account_locked(address);
  if (state == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account: " + address));
  }
  state->account.quota_bytes = quota_bytes;
  return ready_ok();
}

d::Async<void> MemoryStorage::remove_account(std::string address) {
  std::lock_guard lock(mutex_);
  auto* state = find_account_locked(address);
  if (state == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account: " + address));
  }
  auto id = state->account.id;
  std::vector<d::MailboxId> owned;
  for (const auto& [mailbox_id, mailbox] : mailboxes_) {
    if (mailbox.mailbox.account == id) {
      owned.push_back(mailbox_id);
    }
  }
  for (auto mailbox_id : owned) {
    delete_mailbox_locked(*state, mailbox_id);
  }
  account_by_address_.erase(address);
  accounts_.erase(id);
  return ready_ok();
}

d::Async<void> MemoryStorage::add_alias(d::Alias alias) {
  std::lock_guard lock(mutex_);
  if (alias.source.empty() || alias.destination.empty() ||
      alias.source.find('@') == std::string::npos) {
    return ready_error(fail(ErrorCode::kInvalidInput, "invalid alias"));
  }
  if (!domains_.contains(std::string(domain_of(alias.source)))) {
    return ready_error(fail(ErrorCode::kNotFound, "not a local domain: " + alias.source));
  }
  if (!aliases_.emplace(alias.source, alias.destination).second) {
    return ready_error(fail(ErrorCode::kAlreadyExists, "alias exists: " + alias.source));
  }
  return ready_ok();
}

d::Async<std::vector<d::Alias>> MemoryStorage::aliases(std::optional<std::string> domain) {
  std::lock_guard lock(mutex_);
  if (domain && !domains_.contains(*domain)) {
    return ready<std::vector<d::Alias>>(fail(ErrorCode::kNotFound, "no such domain: " + *domain));
  }
  std::vector<d::Alias> out;
  for (const auto& [source, destination] : aliases_) {
    if (!domain || domain_of(source) == *domain) {
      out.push_back(d::Alias{source, destination});
    }
  }
  return ready<std::vector<d::Alias>>(std::move(out));
}

d::Async<std::vector<std::string>> MemoryStorage::alias_destinations(std::string source) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto it = aliases_.lower_bound({source, ""}); it != aliases_.end() && it->first == source;
       ++it) {
    out.push_back(it->second);
  }
  return ready<std::vector<std::string>>(std::move(out));
}

d::Async<void> MemoryStorage::remove_alias(std::string source,
                                           std::optional<std::string> destination) {
  std::lock_guard lock(mutex_);
  std::size_t removed = 0;
  if (destination && !destination->empty()) {
    removed = aliases_.erase({source, *destination});
  } else {
    for (auto it = aliases_.lower_bound({source, ""});
         it != aliases_.end() && it->first == source;) {
      it = aliases_.erase(it);
      ++removed;
    }
  }
  if (removed == 0) {
    return ready_error(fail(ErrorCode::kNotFound, "no such alias: " + source));
  }
  return ready_ok();
}

// ----- Sieve scripts and vacation replies (kept in the AccountState, so they go
// with the account)

d::Async<void> MemoryStorage::put_sieve_script(d::AccountId account, std::string name,
                                               std::string text) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account"));
  }
  if (!d::is_valid_sieve_script_name(name)) {
    return ready_error(fail(ErrorCode::kInvalidInput, "invalid sieve script name"));
  }
  owner->sieve_scripts[std::move(name)] = std::move(text);
  return ready_ok();
}

d::Async<std::vector<d::SieveScript>> MemoryStorage::sieve_scripts(d::AccountId account) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<std::vector<d::SieveScript>>(fail(ErrorCode::kNotFound, "no such account"));
  }
  std::vector<d::SieveScript> out;
  for (const auto& [name, text] : owner->sieve_scripts) {
    out.push_back(d::SieveScript{name, text, owner->active_sieve_script == name});
  }
  return ready<std::vector<d::SieveScript>>(std::move(out));
}

d::Async<std::optional<d::SieveScript>> MemoryStorage::active_sieve_script(d::AccountId account) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<std::optional<d::SieveScript>>(fail(ErrorCode::kNotFound, "no such account"));
  }
  std::optional<d::SieveScript> out;
  if (owner->active_sieve_script) {
    const auto& name = *owner->active_sieve_script;
    out = d::SieveScript{name, owner->sieve_scripts.at(name), true};
  }
  return ready<std::optional<d::SieveScript>>(std::move(out));
}

d::Async<void> MemoryStorage::activate_sieve_script(d::AccountId account,
                                                    std::optional<std::string> name) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account"));
  }
  if (name && !owner->sieve_scripts.contains(*name)) {
    return ready_error(fail(ErrorCode::kNotFound, "no such sieve script: " + *name));
  }
  owner->active_sieve_script = std::move(name);
  return ready_ok();
}

d::Async<void> MemoryStorage::rename_sieve_script(d::AccountId account, std::string from,
                                                  std::string to) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account"));
  }
  if (!d::is_valid_sieve_script_name(to)) {
    return ready_error(fail(ErrorCode::kInvalidInput, "invalid sieve script name"));
  }
  auto it = owner->sieve_scripts.find(from);
  if (it == owner->sieve_scripts.end()) {
    return ready_error(fail(ErrorCode::kNotFound, "no such sieve script: " + from));
  }
  if (owner->sieve_scripts.contains(to)) {
    return ready_error(fail(ErrorCode::kAlreadyExists, "sieve script exists: " + to));
  }
  std::string text = std::move(it->second);
  owner->sieve_scripts.erase(it);
  if (owner->active_sieve_script == from) {
    owner->active_sieve_script = to;
  }
  owner->sieve_scripts.emplace(std::move(to), std::move(text));
  return ready_ok();
}

d::Async<void> MemoryStorage::remove_sieve_script(d::AccountId account, std::string name) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account"));
  }
  if (!owner->sieve_scripts.contains(name)) {
    return ready_error(fail(ErrorCode::kNotFound, "no such sieve script: " + name));
  }
  if (owner->active_sieve_script == name) {
    return ready_error(fail(ErrorCode::kConflict, "the sieve script is active: " + name));
  }
  owner->sieve_scripts.erase(name);
  return ready_ok();
}

d::Async<bool> MemoryStorage::note_vacation_reply(d::AccountId account, std::string key,
                                                  SystemTime now, std::chrono::seconds period) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<bool>(fail(ErrorCode::kNotFound, "no such account"));
  }
  auto& replies = owner->vacation_replies;
  if (auto it = replies.find(key); it != replies.end() && it->second.sent > now - period) {
    return ready<bool>(false);
  }
  std::erase_if(replies, [&](const auto& entry) { return entry.second.expires <= now; });
  replies[std::move(key)] = VacationReply{now, now + period};
  return ready<bool>(true);
}

// ----- MailStore

d::Async<std::vector<d::Mailbox>> MemoryStorage::mailboxes(d::AccountId account) {
  std::lock_guard lock(mutex_);
  if (find_account_locked(account) == nullptr) {
    return ready<std::vector<d::Mailbox>>(fail(ErrorCode::kNotFound, "no such account"));
  }
  std::vector<d::Mailbox> out;
  for (const auto& [id, mailbox] : mailboxes_) {
    if (mailbox.mailbox.account == account) {
      out.push_back(mailbox.mailbox);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return ready<std::vector<d::Mailbox>>(std::move(out));
}

d::Async<d::Mailbox> MemoryStorage::create_mailbox(d::AccountId account, std::string name,
                                                   d::SpecialUse special_use) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<d::Mailbox>(fail(ErrorCode::kNotFound, "no such account"));
  }
  name = canonical_mailbox_name(std::move(name));
  if (!is_valid_mailbox_name(name)) {
    return ready<d::Mailbox>(fail(ErrorCode::kInvalidInput, "invalid mailbox name"));
  }
  for (const auto& [id, mailbox] : mailboxes_) {
    if (mailbox.mailbox.account == account && mailbox.mailbox.name == name) {
      return ready<d::Mailbox>(fail(ErrorCode::kAlreadyExists, "mailbox exists: " + name));
    }
  }
  MailboxState state;
  state.mailbox.id = d::MailboxId{next_id_++};
  state.mailbox.account = account;
  state.mailbox.name = name;
  state.mailbox.special_use = special_use;
  state.mailbox.uid_validity = d::UidValidity{next_uid_validity_++};
  state.mailbox.highest_modseq =
      next_modseq_locked(*owner, state.mailbox.id, d::Uid{0}, d::ChangeKind::kMailboxCreated);
  auto created = state.mailbox;
  mailboxes_.emplace(created.id, std::move(state));
  return ready<d::Mailbox>(created);
}

d::Async<d::Mailbox> MemoryStorage::rename_mailbox(d::AccountId account, d::MailboxId mailbox,
                                                   std::string new_name) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  auto target = owned_mailbox_locked(account, mailbox);
  if (owner == nullptr || !target) {
    return ready<d::Mailbox>(fail(ErrorCode::kNotFound, "no such mailbox"));
  }
  new_name = canonical_mailbox_name(std::move(new_name));
  const std::string old_name = (*target)->mailbox.name;
  if (old_name == "INBOX" || new_name == "INBOX" || !is_valid_mailbox_name(new_name)) {
    return ready<d::Mailbox>(fail(ErrorCode::kInvalidInput, "cannot rename to " + new_name));
  }
  if (new_name == old_name) {
    return ready<d::Mailbox>((*target)->mailbox);
  }
  const std::string old_prefix = old_name + "/";
  std::vector<MailboxState*> renamed;
  for (auto& [id, state] : mailboxes_) {
    if (state.mailbox.account != account) {
      continue;
    }
    if (state.mailbox.name == new_name ||
        (state.mailbox.name.starts_with(new_name + "/") && new_name.starts_with(old_prefix))) {
      return ready<d::Mailbox>(fail(ErrorCode::kAlreadyExists, "mailbox exists: " + new_name));
    }
    if (state.mailbox.name == old_name || state.mailbox.name.starts_with(old_prefix)) {
      renamed.push_back(&state);
    }
  }
  // A child's new name must not collide with an existing mailbox either.
  for (auto* state : renamed) {
    std::string candidate = new_name + state->mailbox.name.substr(old_name.size());
    for (const auto& [id, other] : mailboxes_) {
      if (other.mailbox.account == account && other.mailbox.name == candidate) {
        return ready<d::Mailbox>(fail(ErrorCode::kAlreadyExists, "mailbox exists: " + candidate));
      }
    }
  }
  for (auto* state : renamed) {
    state->mailbox.name = new_name + state->mailbox.name.substr(old_name.size());
    state->mailbox.highest_modseq =
        next_modseq_locked(*owner, state->mailbox.id, d::Uid{0}, d::ChangeKind::kMailboxRenamed);
  }
  return ready<d::Mailbox>((*target)->mailbox);
}

d::Async<void> MemoryStorage::delete_mailbox(d::AccountId account, d::MailboxId mailbox) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  auto target = owned_mailbox_locked(account, mailbox);
  if (owner == nullptr || !target) {
    return ready_error(fail(ErrorCode::kNotFound, "no such mailbox"));
  }
  if ((*target)->mailbox.name == "INBOX") {
    return ready_error(fail(ErrorCode::kInvalidInput, "cannot delete INBOX"));
  }
  delete_mailbox_locked(*owner, mailbox);
  return ready_ok();
}

d::Async<void> MemoryStorage::set_subscribed(d::AccountId account, d::MailboxId mailbox,
                                             bool subscribed) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  auto target = owned_mailbox_locked(account, mailbox);
  if (owner == nullptr || !target) {
    return ready_error(fail(ErrorCode::kNotFound, "no such mailbox"));
  }
  if ((*target)->mailbox.subscribed != subscribed) {
    (*target)->mailbox.subscribed = subscribed;
    (*target)->mailbox.highest_modseq =
        next_modseq_locked(*owner, mailbox, d::Uid{0}, d::ChangeKind::kMailboxSubscription);
  }
  return ready_ok();
}

d::Async<std::vector<Result<d::Appended>>> MemoryStorage::append(
    d::NewMessage message, std::vector<d::AppendTarget> targets) {
  using Out = std::vector<Result<d::Appended>>;
  std::lock_guard lock(mutex_);
  if (targets.empty()) {
    return ready<Out>(fail(ErrorCode::kInvalidInput, "append without targets"));
  }
  const std::uint64_t size = message.raw.size();
  std::optional<d::BlobId> blob;
  std::map<d::AccountId, d::MessageId> message_of_account;
  Out out;
  for (auto& target : targets) {
    auto* owner = find_account_locked(target.account);
    auto mailbox = owned_mailbox_locked(target.account, target.mailbox);
    if (owner == nullptr || !mailbox) {
      out.emplace_back(fail(ErrorCode::kNotFound, "no such mailbox"));
      continue;
    }
    auto& account = owner->account;
    if (account.quota_bytes != 0 && account.used_bytes + size > account.quota_bytes) {
      out.emplace_back(fail(ErrorCode::kLimitExceeded, "over quota: " + account.address));
      continue;
    }
    if (!blob) {
      blob = put_locked(message.raw);
    }
    auto [it, inserted] = message_of_account.try_emplace(target.account);
    if (inserted) {
      it->second = add_message_locked(target.account, *blob, message);
    }
    auto modseq =
        next_modseq_locked(*owner, target.mailbox, d::Uid{0}, d::ChangeKind::kMessageAdded);
    auto entry =
        add_entry_locked(**mailbox, it->second, target.flags, std::move(target.keywords), modseq);
    owner->log.back().uid = entry.uid;
    account.used_bytes += size;
    out.emplace_back(d::Appended{target.mailbox, entry.uid, modseq, it->second});
  }
  return ready<Out>(std::move(out));
}

d::Async<std::vector<d::Entry>> MemoryStorage::entries(d::AccountId account, d::MailboxId mailbox,
                                                       d::Uid first, d::Uid last) {
  std::lock_guard lock(mutex_);
  auto target = owned_mailbox_locked(account, mailbox);
  if (!target) {
    return ready<std::vector<d::Entry>>(target.error());
  }
  std::vector<d::Entry> out;
  auto& entries = (*target)->entries;
  for (auto it = entries.lower_bound(d::value_of(first));
       it != entries.end() && it->first <= d::value_of(last); ++it) {
    out.push_back(it->second);
  }
  return ready<std::vector<d::Entry>>(std::move(out));
}

d::Async<std::string> MemoryStorage::read_message(d::AccountId account, d::MessageId message) {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(message);
  if (it == messages_.end() || it->second.account != account) {
    return ready<std::string>(fail(ErrorCode::kNotFound, "no such message"));
  }
  return ready<std::string>(blobs_.at(it->second.blob.hex).bytes);
}

d::Async<std::string> MemoryStorage::message_facts(d::AccountId account, d::MessageId message) {
  std::lock_guard lock(mutex_);
  auto it = messages_.find(message);
  if (it == messages_.end() || it->second.account != account) {
    return ready<std::string>(fail(ErrorCode::kNotFound, "no such message"));
  }
  return ready<std::string>(it->second.facts);
}

d::Async<std::vector<d::MessageSummary>> MemoryStorage::message_summaries(d::AccountId account,
                                                                          d::MailboxId mailbox,
                                                                          std::vector<d::Uid> uids,
                                                                          d::SummaryParts what) {
  using Out = std::vector<d::MessageSummary>;
  std::lock_guard lock(mutex_);
  auto target = owned_mailbox_locked(account, mailbox);
  if (!target) {
    return ready<Out>(target.error());
  }
  Out out;
  out.reserve(uids.size());
  for (auto uid : uids) {
    auto entry = (*target)->entries.find(d::value_of(uid));
    if (entry == (*target)->entries.end()) {
      continue;
    }
    const MessageState& m = messages_.at(entry->second.message);
    d::MessageSummary& summary = out.emplace_back();
    summary.uid = uid;
    summary.message = entry->second.message;
    summary.has_envelope = m.has_envelope;
    summary.has_search = m.has_search;
    if ((what & d::kSummaryFacts) != 0 || !m.has_envelope) {
      summary.facts = m.facts;
    }
    if ((what & d::kSummaryEnvelope) != 0) {
      summary.envelope = m.envelope;
    }
    if ((what & d::kSummarySearchHeaders) != 0) {
      summary.search_headers = m.search_headers;
    }
    if ((what & d::kSummarySearchText) != 0) {
      summary.search_text = m.search_text;
    }
    if ((what & d::kSummaryOrder) != 0 && m.has_order) {
      summary.has_order = true;
      summary.order = m.order;
    }
  }
  return ready<Out>(std::move(out));
}

d::Async<d::FlagResult> MemoryStorage::change_flags(d::AccountId account, d::MailboxId mailbox,
                                                    std::vector<d::Uid> uids,
                                                    d::FlagChange change) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  auto target = owned_mailbox_locked(account, mailbox);
  if (owner == nullptr || !target) {
    return ready<d::FlagResult>(fail(ErrorCode::kNotFound, "no such mailbox"));
  }
  auto prepared = d::prepare_flag_change(std::move(change));
  d::FlagResult result;
  std::vector<d::Entry*> updated;
  d::spell_as_defined((*target)->mailbox.keywords, prepared.keywords);
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  for (auto uid : uids) {
    auto it = (*target)->entries.find(d::value_of(uid));
    if (it == (*target)->entries.end()) {
      continue;
    }
    if (d::violates_unchanged_since(it->second, prepared)) {
      result.conflicts.push_back(uid);
      continue;
    }
    if (d::apply_flag_change(it->second, prepared)) {
      updated.push_back(&it->second);
    }
  }
  if (!updated.empty()) {
    if (prepared.op != d::FlagOp::kRemove) {
      d::define_keywords((*target)->mailbox.keywords, prepared.keywords);
    }
    auto modseq = next_modseq_locked(*owner, mailbox, d::Uid{0}, d::ChangeKind::kFlagsChanged);
    owner->log.pop_back();  // re-logged below, once per entry
    for (d::Entry* entry : updated) {
      entry->modseq = modseq;
      log_locked(*owner, modseq, mailbox, entry->uid, d::ChangeKind::kFlagsChanged);
      result.changed.push_back(*entry);
    }
  }
  return ready<d::FlagResult>(std::move(result));
}

d::Async<std::vector<d::Appended>> MemoryStorage::copy(d::AccountId account, d::MailboxId from,
                                                       std::vector<d::Uid> uids, d::MailboxId to) {
  std::lock_guard lock(mutex_);
  return ready<std::vector<d::Appended>>(copy_locked(account, from, uids, to));
}

d::Async<std::vector<d::Appended>> MemoryStorage::move(d::AccountId account, d::MailboxId from,
                                                       std::vector<d::Uid> uids, d::MailboxId to) {
  std::lock_guard lock(mutex_);
  auto copied = copy_locked(account, from, uids, to);
  if (!copied) {
    return ready<std::vector<d::Appended>>(copied.error());
  }
  auto* owner = find_account_locked(account);
  auto source = owned_mailbox_locked(account, from);
  auto expunged = expunge_locked(*owner, **source, uids);
  if (!expunged) {
    return ready<std::vector<d::Appended>>(expunged.error());
  }
  return ready<std::vector<d::Appended>>(std::move(copied));
}

d::Async<d::ModSeq> MemoryStorage::expunge(d::AccountId account, d::MailboxId mailbox,
                                           std::vector<d::Uid> uids) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  auto target = owned_mailbox_locked(account, mailbox);
  if (owner == nullptr || !target) {
    return ready<d::ModSeq>(fail(ErrorCode::kNotFound, "no such mailbox"));
  }
  return ready<d::ModSeq>(expunge_locked(*owner, **target, uids));
}

d::Async<d::MailboxChanges> MemoryStorage::changes_since(d::AccountId account, d::MailboxId mailbox,
                                                         d::ModSeq since) {
  std::lock_guard lock(mutex_);
  auto target = owned_mailbox_locked(account, mailbox);
  if (!target) {
    return ready<d::MailboxChanges>(target.error());
  }
  d::MailboxChanges changes;
  for (const auto& [uid, entry] : (*target)->entries) {
    if (d::value_of(entry.modseq) > d::value_of(since)) {
      changes.changed.push_back(entry);
    }
  }
  for (const auto& [uid, modseq] : (*target)->tombstones) {
    if (d::value_of(modseq) > d::value_of(since)) {
      changes.vanished.push_back(uid);
    }
  }
  std::sort(changes.vanished.begin(), changes.vanished.end());
  changes.highest = (*target)->mailbox.highest_modseq;
  return ready<d::MailboxChanges>(std::move(changes));
}

d::Async<std::vector<d::AccountChange>> MemoryStorage::account_changes_since(d::AccountId account,
                                                                             d::ModSeq since) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<std::vector<d::AccountChange>>(fail(ErrorCode::kNotFound, "no such account"));
  }
  std::vector<d::AccountChange> out;
  for (const auto& change : owner->log) {
    if (d::value_of(change.modseq) > d::value_of(since)) {
      out.push_back(change);
    }
  }
  return ready<std::vector<d::AccountChange>>(std::move(out));
}

d::Async<d::Usage> MemoryStorage::usage(d::AccountId account) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<d::Usage>(fail(ErrorCode::kNotFound, "no such account"));
  }
  d::Usage usage{owner->account.used_bytes, 0};
  for (const auto& [id, mailbox] : mailboxes_) {
    if (mailbox.mailbox.account == account) {
      usage.messages += mailbox.entries.size();
    }
  }
  return ready<d::Usage>(usage);
}

// ----- BlobStore

d::Async<d::BlobId> MemoryStorage::put(std::string bytes) {
  std::lock_guard lock(mutex_);
  return ready<d::BlobId>(put_locked(std::move(bytes)));
}

d::Async<std::string> MemoryStorage::get(d::BlobId id) {
  std::lock_guard lock(mutex_);
  auto it = blobs_.find(id.hex);
  if (it == blobs_.end()) {
    return ready<std::string>(fail(ErrorCode::kNotFound, "no such blob: " + id.hex));
  }
  return ready<std::string>(it->second.bytes);
}

d::Async<std::uint64_t> MemoryStorage::collect_garbage() {
  std::lock_guard lock(mutex_);
  std::uint64_t removed =
      std::erase_if(blobs_, [](const auto& blob) { return blob.second.references == 0; });
  return ready<std::uint64_t>(removed);
}

// ----- StoreImport

d::Async<d::Mailbox> MemoryStorage::import_mailbox(d::AccountId account, d::Mailbox mailbox) {
  std::lock_guard lock(mutex_);
  if (find_account_locked(account) == nullptr) {
    return ready<d::Mailbox>(fail(ErrorCode::kNotFound, "no such account"));
  }
  const auto name = canonical_mailbox_name(mailbox.name);
  if (!is_valid_mailbox_name(name) || d::value_of(mailbox.uid_next) == 0) {
    return ready<d::Mailbox>(fail(ErrorCode::kInvalidInput, "invalid mailbox to import: " + name));
  }
  MailboxState* target = nullptr;
  for (auto& [id, state] : mailboxes_) {
    if (state.mailbox.account == account && state.mailbox.name == name) {
      target = &state;
    }
  }
  if (target != nullptr && !target->entries.empty()) {
    return ready<d::Mailbox>(fail(ErrorCode::kAlreadyExists, "mailbox holds mail: " + name));
  }
  if (target == nullptr) {
    MailboxState state;
    state.mailbox.id = d::MailboxId{next_id_++};
    target = &mailboxes_.emplace(state.mailbox.id, std::move(state)).first->second;
  }
  d::Mailbox& box = target->mailbox;
  box.account = account;
  box.name = name;
  box.special_use = mailbox.special_use;
  box.uid_validity = mailbox.uid_validity;
  box.uid_next = mailbox.uid_next;
  box.highest_modseq = mailbox.highest_modseq;
  box.subscribed = mailbox.subscribed;
  box.keywords = d::normalize_keywords(std::move(mailbox.keywords));
  // RFC 9051 §2.3.1.1: a mailbox created later must not reuse an imported
  // UIDVALIDITY, so the counter moves past it.
  next_uid_validity_ = std::max(next_uid_validity_, d::value_of(box.uid_validity) + 1);
  return ready<d::Mailbox>(box);
}

d::Async<d::MessageId> MemoryStorage::import_message(d::AccountId account, d::NewMessage message,
                                                     std::vector<d::ImportEntry> entries) {
  std::lock_guard lock(mutex_);
  if (entries.empty()) {
    return ready<d::MessageId>(fail(ErrorCode::kInvalidInput, "import without entries"));
  }
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready<d::MessageId>(fail(ErrorCode::kNotFound, "no such account"));
  }
  // Every check before the first write: the call is one step, all or nothing.
  std::vector<MailboxState*> targets;
  std::set<std::pair<std::int64_t, std::uint32_t>> claimed;
  for (const auto& entry : entries) {
    auto box = owned_mailbox_locked(account, entry.mailbox);
    if (!box) {
      return ready<d::MessageId>(box.error());
    }
    const auto uid = d::value_of(entry.uid);
    if (uid == 0 || uid >= d::value_of((*box)->mailbox.uid_next)) {
      return ready<d::MessageId>(
          fail(ErrorCode::kInvalidInput, "imported UID outside the mailbox's range"));
    }
    if ((*box)->entries.contains(uid) || !claimed.emplace(d::value_of(entry.mailbox), uid).second) {
      return ready<d::MessageId>(
          fail(ErrorCode::kAlreadyExists, "UID taken: " + std::to_string(uid)));
    }
    targets.push_back(*box);
  }
  const auto blob = put_locked(message.raw);
  const auto id = add_message_locked(account, blob, message);
  auto& stored = messages_.at(id);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& source = entries[i];
    MailboxState& box = *targets[i];
    d::Entry entry;
    entry.mailbox = box.mailbox.id;
    entry.uid = source.uid;
    entry.message = id;
    entry.blob = blob;
    entry.size = stored.size;
    entry.internal_date = stored.internal_date;
    entry.save_date = source.save_date;
    entry.flags = source.flags & d::kAllFlags;
    entry.keywords = d::normalize_keywords(std::move(source.keywords));
    entry.modseq = source.modseq;
    stored.entry_count++;
    box.entries.emplace(d::value_of(entry.uid), std::move(entry));
    owner->account.used_bytes += stored.size;
  }
  return ready<d::MessageId>(id);
}

d::Async<void> MemoryStorage::import_changes(d::AccountId account,
                                             std::vector<d::AccountChange> changes,
                                             d::ModSeq modseq) {
  std::lock_guard lock(mutex_);
  auto* owner = find_account_locked(account);
  if (owner == nullptr) {
    return ready_error(fail(ErrorCode::kNotFound, "no such account"));
  }
  for (const auto& change : changes) {
    log_locked(*owner, change.modseq, change.mailbox, change.uid, change.kind);
    if (change.kind != d::ChangeKind::kMessageExpunged) {
      continue;
    }
    auto box = mailboxes_.find(change.mailbox);
    if (box == mailboxes_.end()) {
      continue;  // a mailbox deleted in the source: its UIDs vanished with it
    }
    // One tombstone per UID, the latest expunge's (as the SQL backends keep it).
    auto& tombstones = box->second.tombstones;
    std::erase_if(tombstones, [&](const auto& t) { return t.first == change.uid; });
    tombstones.emplace_back(change.uid, change.modseq);
  }
  owner->modseq = std::max(owner->modseq, d::value_of(modseq));
  return ready_ok();
}

d::Async<d::QueueId> MemoryStorage::import_queued(d::QueuedMessage entry, std::string raw) {
  std::lock_guard lock(mutex_);
  if (entry.recipients.empty()) {
    return ready<d::QueueId>(fail(ErrorCode::kInvalidInput, "no recipients"));
  }
  entry.id = d::QueueId{next_id_++};
  entry.size = raw.size();
  entry.blob = put_locked(std::move(raw));
  blobs_.at(entry.blob.hex).references++;
  // A lease belonged to the source's workers: an active entry arrives queued.
  if (entry.state == d::QueueState::kActive) {
    entry.state = d::QueueState::kQueued;
  }
  entry.lease_until = SystemTime{};
  auto id = entry.id;
  queue_.emplace(id, std::move(entry));
  return ready<d::QueueId>(id);
}

// ----- QueueStore

d::Async<d::QueueId> MemoryStorage::enqueue(d::NewQueuedMessage message) {
  std::lock_guard lock(mutex_);
  if (message.recipients.empty()) {
    return ready<d::QueueId>(fail(ErrorCode::kInvalidInput, "no recipients"));
  }
  d::QueuedMessage queued;
  queued.id = d::QueueId{next_id_++};
  queued.size = message.raw.size();
  queued.blob = put_locked(std::move(message.raw));
  blobs_.at(queued.blob.hex).references++;
  queued.sender = std::move(message.sender);
  queued.recipients = std::move(message.recipients);
  queued.envid = std::move(message.envid);
  queued.ret = std::move(message.ret);
  queued.created = message.now;
  queued.next_attempt = message.now;
  queued.state = d::QueueState::kQueued;
  queued.envelope = std::move(message.envelope);
  auto id = queued.id;
  queue_.emplace(id, std::move(queued));
  return ready<d::QueueId>(id);
}

d::Async<std::vector<d::QueuedMessage>> MemoryStorage::queued() {
  std::lock_guard lock(mutex_);
  std::vector<d::QueuedMessage> out;
  for (const auto& [id, message] : queue_) {
    out.push_back(message);
  }
  return ready<std::vector<d::QueuedMessage>>(std::move(out));
}

d::Async<std::optional<d::QueuedMessage>> MemoryStorage::find_queued(d::QueueId id) {
  std::lock_guard lock(mutex_);
  std::optional<d::QueuedMessage> out;
  if (auto it = queue_.find(id); it != queue_.end()) {
    out = it->second;
  }
  return ready<std::optional<d::QueuedMessage>>(std::move(out));
}

d::Async<std::string> MemoryStorage::read_queued(d::QueueId id) {
  std::lock_guard lock(mutex_);
  auto it = queue_.find(id);
  if (it == queue_.end()) {
    return ready<std::string>(fail(ErrorCode::kNotFound, "no such queue entry"));
  }
  return ready<std::string>(blobs_.at(it->second.blob.hex).bytes);
}

d::Async<std::vector<d::QueuedMessage>> MemoryStorage::claim_due(SystemTime now, std::size_t limit,
                                                                 std::chrono::seconds lease) {
  std::lock_guard lock(mutex_);
  std::vector<d::QueuedMessage*> due;
  for (auto& [id, message] : queue_) {
    bool is_due = (message.state == d::QueueState::kQueued && message.next_attempt <= now) ||
                  (message.state == d::QueueState::kActive && message.lease_until <= now);
    if (is_due) {
      due.push_back(&message);
    }
  }
  // Oldest due first, so a backlog drains in order; ids break ties.
  std::stable_sort(due.begin(), due.end(),
                   [](const auto* a, const auto* b) { return a->next_attempt < b->next_attempt; });
  std::vector<d::QueuedMessage> out;
  for (auto* message : due) {
    if (out.size() >= limit) {
      break;
    }
    message->state = d::QueueState::kActive;
    message->lease_until = now + lease;
    out.push_back(*message);
  }
  return ready<std::vector<d::QueuedMessage>>(std::move(out));
}

d::Async<void> MemoryStorage::update_queued(d::QueueId id, d::QueueUpdate update) {
  std::lock_guard lock(mutex_);
  auto it = queue_.find(id);
  if (it == queue_.end()) {
    return ready_error(fail(ErrorCode::kNotFound, "no such queue entry"));
  }
  auto& message = it->second;
  message.recipients = std::move(update.recipients);
  message.next_attempt = update.next_attempt;
  message.attempts = update.attempts;
  message.delay_warned = update.delay_warned;
  if (message.state == d::QueueState::kActive) {
    message.state = d::QueueState::kQueued;
  }
  message.lease_until = SystemTime{};
  return ready_ok();
}

d::Async<void> MemoryStorage::remove_queued(d::QueueId id) {
  std::lock_guard lock(mutex_);
  auto it = queue_.find(id);
  if (it == queue_.end()) {
    return ready_error(fail(ErrorCode::kNotFound, "no such queue entry"));
  }
  release_blob_locked(it->second.blob);
  queue_.erase(it);
  return ready_ok();
}

d::Async<void> MemoryStorage::set_held(d::QueueId id, bool held, SystemTime now) {
  std::lock_guard lock(mutex_);
  auto it = queue_.find(id);
  if (it == queue_.end()) {
    return ready_error(fail(ErrorCode::kNotFound, "no such queue entry"));
  }
  auto& message = it->second;
  if (held) {
    message.state = d::QueueState::kHeld;
  } else if (message.state == d::QueueState::kHeld) {
    message.state = d::QueueState::kQueued;
    message.next_attempt = now;
  }
  message.lease_until = SystemTime{};
  return ready_ok();
}

d::Async<void> MemoryStorage::reschedule(d::QueueId id, SystemTime when) {
  std::lock_guard lock(mutex_);
  auto it = queue_.find(id);
  if (it == queue_.end()) {
    return ready_error(fail(ErrorCode::kNotFound, "no such queue entry"));
  }
  if (it->second.state == d::QueueState::kQueued) {
    it->second.next_attempt = when;
  }
  return ready_ok();
}

// ----- helpers (mutex_ held)

MemoryStorage::AccountState* MemoryStorage::find_account_locked(d::AccountId id) {
  auto it = accounts_.find(id);
  return it == accounts_.end() ? nullptr : &it->second;
}

MemoryStorage::AccountState* MemoryStorage::find_account_locked(const std::string& address) {
  auto it = account_by_address_.find(address);
  return it == account_by_address_.end() ? nullptr : find_account_locked(it->second);
}

Result<MemoryStorage::MailboxState*> MemoryStorage::owned_mailbox_locked(d::AccountId account,
                                                                         d::MailboxId id) {
  auto it = mailboxes_.find(id);
  // Another account's mailbox is reported as missing, never as forbidden: ids
  // must not reveal what exists elsewhere.
  if (it == mailboxes_.end() || it->second.mailbox.account != account) {
    return fail(ErrorCode::kNotFound, "no such mailbox");
  }
  return &it->second;
}

d::ModSeq MemoryStorage::next_modseq_locked(AccountState& account, d::MailboxId mailbox, d::Uid uid,
                                            d::ChangeKind kind) {
  auto modseq = d::ModSeq{++account.modseq};
  log_locked(account, modseq, mailbox, uid, kind);
  if (auto it = mailboxes_.find(mailbox); it != mailboxes_.end()) {
    it->second.mailbox.highest_modseq = modseq;
  }
  return modseq;
}

void MemoryStorage::log_locked(AccountState& account, d::ModSeq modseq, d::MailboxId mailbox,
                               d::Uid uid, d::ChangeKind kind) {
  account.log.push_back(d::AccountChange{modseq, mailbox, uid, kind});
}

d::BlobId MemoryStorage::put_locked(std::string bytes) {
  d::BlobId id{sha256_hex(bytes)};
  blobs_.try_emplace(id.hex, BlobState{std::move(bytes), 0});
  return id;
}

d::MessageId MemoryStorage::add_message_locked(d::AccountId account, const d::BlobId& blob,
                                               const d::NewMessage& message) {
  d::MessageId id{next_id_++};
  blobs_.at(blob.hex).references++;
  MessageState state;
  state.account = account;
  state.blob = blob;
  state.size = message.raw.size();
  state.internal_date = message.internal_date;
  // Kept apart as the sqlite backend keeps them, so both answer message_facts()
  // and message_summaries() alike.
  if (auto split = mime::facts::split_facts(message.facts)) {
    state.facts = std::move(split->record);
    state.has_envelope = true;
    state.has_search = split->has_search;
    state.envelope = std::move(split->envelope);
    state.search_headers = std::move(split->search_headers);
    state.search_text = std::move(split->search_text);
    state.has_order = split->has_order;
    state.order = std::move(split->order);
  } else {
    state.facts = message.facts;
  }
  messages_.emplace(id, std::move(state));
  return id;
}

void MemoryStorage::release_blob_locked(const d::BlobId& id) {
  auto it = blobs_.find(id.hex);
  if (it != blobs_.end() && it->second.references > 0) {
    it->second.references--;
  }
}

d::Entry MemoryStorage::add_entry_locked(MailboxState& mailbox, d::MessageId message,
                                         d::Flags flags, std::vector<std::string> keywords,
                                         d::ModSeq modseq) {
  auto& stored = messages_.at(message);
  d::Entry entry;
  entry.mailbox = mailbox.mailbox.id;
  entry.uid = mailbox.mailbox.uid_next;
  entry.message = message;
  entry.blob = stored.blob;
  entry.size = stored.size;
  entry.internal_date = stored.internal_date;
  entry.save_date = now_seconds();
  entry.flags = flags & d::kAllFlags;
  entry.keywords = d::normalize_keywords(std::move(keywords));
  d::spell_as_defined(mailbox.mailbox.keywords, entry.keywords);
  d::define_keywords(mailbox.mailbox.keywords, entry.keywords);
  entry.modseq = modseq;
  mailbox.mailbox.uid_next = d::Uid{d::value_of(entry.uid) + 1};
  mailbox.mailbox.highest_modseq = modseq;
  stored.entry_count++;
  mailbox.entries.emplace(d::value_of(entry.uid), entry);
  return entry;
}

void MemoryStorage::remove_entry_locked(AccountState& account, MailboxState& mailbox,
                                        std::uint32_t uid, d::ModSeq modseq) {
  auto it = mailbox.entries.find(uid);
  auto message = messages_.find(it->second.message);
  account.account.used_bytes -= std::min(account.account.used_bytes, it->second.size);
  if (--message->second.entry_count == 0) {
    release_blob_locked(message->second.blob);
    messages_.erase(message);
  }
  mailbox.entries.erase(it);
  mailbox.tombstones.emplace_back(d::Uid{uid}, modseq);
}

Result<d::ModSeq> MemoryStorage::expunge_locked(AccountState& account, MailboxState& mailbox,
                                                const std::vector<d::Uid>& uids) {
  std::set<std::uint32_t> present;
  for (auto uid : uids) {
    if (mailbox.entries.contains(d::value_of(uid))) {
      present.insert(d::value_of(uid));
    }
  }
  if (present.empty()) {
    return mailbox.mailbox.highest_modseq;
  }
  auto modseq = d::ModSeq{++account.modseq};
  mailbox.mailbox.highest_modseq = modseq;
  for (auto uid : present) {
    remove_entry_locked(account, mailbox, uid, modseq);
    log_locked(account, modseq, mailbox.mailbox.id, d::Uid{uid}, d::ChangeKind::kMessageExpunged);
  }
  return modseq;
}

Result<std::vector<d::Appended>> MemoryStorage::copy_locked(d::AccountId account, d::MailboxId from,
                                                            const std::vector<d::Uid>& uids,
                                                            d::MailboxId to) {
  auto* owner = find_account_locked(account);
  auto source = owned_mailbox_locked(account, from);
  auto target = owned_mailbox_locked(account, to);
  if (owner == nullptr || !source || !target) {
    return fail(ErrorCode::kNotFound, "no such mailbox");
  }
  std::vector<const d::Entry*> copied;
  std::uint64_t bytes = 0;
  for (auto uid : uids) {
    auto it = (*source)->entries.find(d::value_of(uid));
    if (it != (*source)->entries.end()) {
      copied.push_back(&it->second);
      bytes += it->second.size;
    }
  }
  auto& quota_account = owner->account;
  if (quota_account.quota_bytes != 0 &&
      quota_account.used_bytes + bytes > quota_account.quota_bytes) {
    return fail(ErrorCode::kLimitExceeded, "over quota: " + quota_account.address);
  }
  std::vector<d::Appended> out;
  if (copied.empty()) {
    return out;
  }
  auto modseq = d::ModSeq{++owner->modseq};
  // Copy the source entries first: adding to `to` may not invalidate them (std::map
  // nodes are stable), but from == to must not see its own new entries.
  std::vector<d::Entry> snapshot;
  for (const auto* entry : copied) {
    snapshot.push_back(*entry);
  }
  for (auto& entry : snapshot) {
    auto added = add_entry_locked(**target, entry.message, entry.flags, entry.keywords, modseq);
    quota_account.used_bytes += added.size;
    log_locked(*owner, modseq, to, added.uid, d::ChangeKind::kMessageAdded);
    out.push_back(d::Appended{to, added.uid, modseq, entry.message});
  }
  return out;
}

void MemoryStorage::delete_mailbox_locked(AccountState& account, d::MailboxId id) {
  auto& mailbox = mailboxes_.at(id);
  auto modseq = d::ModSeq{++account.modseq};
  std::vector<std::uint32_t> uids;
  for (const auto& [uid, entry] : mailbox.entries) {
    uids.push_back(uid);
  }
  for (auto uid : uids) {
    remove_entry_locked(account, mailbox, uid, modseq);
  }
  log_locked(account, modseq, id, d::Uid{0}, d::ChangeKind::kMailboxDeleted);
  mailboxes_.erase(id);
}

}  // namespace tern::store::memory
