// SPDX-License-Identifier: Apache-2.0
#include "domain/accounts.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "domain/address.hpp"

namespace tern::domain {
namespace {

// Mailbox names compare as the backends store them, except that any case of
// "INBOX" is the INBOX (RFC 9051 §5.1).
bool same_mailbox_name(std::string_view a, std::string_view b) {
  auto is_inbox = [](std::string_view name) {
    if (name.size() != 5) {
      return false;
    }
    for (std::size_t i = 0; i < 5; ++i) {
      char c = name[i];
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 'a' + 'A');
      }
      if (c != "INBOX"[i]) {
        return false;
      }
    }
    return true;
  };
  if (is_inbox(a) || is_inbox(b)) {
    return is_inbox(a) && is_inbox(b);
  }
  return a == b;
}

Result<void> create_default_mailboxes(MailStore& mail, AccountId account) {
  auto existing = mail.mailboxes(account).get();
  if (!existing) {
    return existing.error().with_context("list mailboxes");
  }
  for (const auto& wanted : kDefaultMailboxes) {
    auto found = std::find_if(existing->begin(), existing->end(), [&](const Mailbox& m) {
      return same_mailbox_name(m.name, wanted.name);
    });
    Mailbox mailbox;
    if (found != existing->end()) {
      mailbox = *found;
    } else {
      auto created =
          mail.create_mailbox(account, std::string(wanted.name), wanted.special_use).get();
      if (!created) {
        return created.error().with_context("create mailbox \"" + std::string(wanted.name) + "\"");
      }
      mailbox = std::move(*created);
    }
    if (!mailbox.subscribed) {
      auto subscribed = mail.set_subscribed(account, mailbox.id, true).get();
      if (!subscribed) {
        return subscribed.error().with_context("subscribe \"" + std::string(wanted.name) + "\"");
      }
    }
  }
  return ok();
}

// One resolve_recipient() call: the directory, the running result, and a cache
// of domain lookups (an alias list usually stays within a few domains).
class Resolver {
 public:
  Resolver(Directory& directory, std::string_view separator, Resolution& out)
      : directory_(directory), separator_(separator), out_(out) {}

  Result<bool> is_local_domain(const std::string& domain) {
    if (auto it = local_domains_.find(domain); it != local_domains_.end()) {
      return it->second;
    }
    auto found = directory_.find_domain(domain).get();
    if (!found) {
      return found.error().with_context("find domain " + domain);
    }
    local_domains_[domain] = found->has_value();
    return found->has_value();
  }

  // Resolves `address` (normalised, local or not) into out_. kNotFound when a
  // local address matches nothing.
  Result<void> expand(const std::string& address, const std::string& detail, int depth) {
    if (++visited_ > kMaxAliasExpansion) {
      return fail(ErrorCode::kLimitExceeded, "alias expansion visits more than " +
                                                 std::to_string(kMaxAliasExpansion) + " addresses");
    }
    TERN_TRY(AddressParts parts, split_address(address));
    std::string domain(parts.domain);
    TERN_TRY(bool local, is_local_domain(domain));
    if (!local) {
      add_unique(out_.external, address);
      return ok();
    }

    TERN_TRY(auto exact, destinations(address));
    if (!exact.empty()) {
      return expand_alias(address, exact, detail, depth);
    }
    TERN_TRY(bool delivered, deliver_to_account(address, detail));
    if (delivered) {
      return ok();
    }

    if (auto split = parts.local.find_first_of(separator_);
        !separator_.empty() && split != std::string_view::npos && split > 0) {
      std::string base = std::string(parts.local.substr(0, split)) + "@" + domain;
      std::string tag(parts.local.substr(split + 1));
      TERN_TRY(auto base_aliases, destinations(base));
      if (!base_aliases.empty()) {
        return expand_alias(base, base_aliases, tag, depth);
      }
      TERN_TRY(bool base_delivered, deliver_to_account(base, tag));
      if (base_delivered) {
        return ok();
      }
    }

    std::string catch_all = "@" + domain;
    TERN_TRY(auto catch_all_destinations, destinations(catch_all));
    if (!catch_all_destinations.empty()) {
      return expand_alias(catch_all, catch_all_destinations, detail, depth);
    }
    return fail(ErrorCode::kNotFound, "no such user: " + address);
  }

 private:
  Result<std::vector<std::string>> destinations(const std::string& source) {
    auto found = directory_.alias_destinations(source).get();
    if (!found) {
      if (found.error().code == ErrorCode::kNotFound) {
        return std::vector<std::string>{};
      }
      return found.error().with_context("look up alias " + source);
    }
    return std::move(*found);
  }

  // Adds the account with exactly `address` to out_; false if there is none.
  Result<bool> deliver_to_account(const std::string& address, const std::string& detail) {
    auto found = directory_.find_account(address).get();
    if (!found) {
      return found.error().with_context("find account " + address);
    }
    if (!found->has_value()) {
      return false;
    }
    const Account& account = **found;
    bool seen = std::any_of(out_.accounts.begin(), out_.accounts.end(),
                            [&](const LocalRecipient& r) { return r.account == account.id; });
    if (!seen) {
      out_.accounts.push_back(LocalRecipient{account.id, account.address, detail});
    }
    return true;
  }

  Result<void> expand_alias(const std::string& source, const std::vector<std::string>& targets,
                            const std::string& detail, int depth) {
    if (depth >= kMaxAliasDepth) {
      return fail(ErrorCode::kLimitExceeded,
                  "alias expansion of " + out_.address + " is deeper than " +
                      std::to_string(kMaxAliasDepth) + " levels at " + source);
    }
    path_.push_back(source);
    for (const auto& target : targets) {
      auto normalized = normalize_address(target);
      if (!normalized) {
        add_unique(out_.unresolved, target);
        continue;
      }
      const std::string& destination = *normalized;
      if (destination == source) {
        // Postfix: an alias that names itself delivers to its own mailbox
        // rather than expanding again ("keep a copy and forward").
        TERN_TRY(bool delivered, deliver_to_account(destination, detail));
        if (!delivered) {
          add_unique(out_.unresolved, destination);
        }
        continue;
      }
      if (std::find(path_.begin(), path_.end(), destination) != path_.end()) {
        add_unique(out_.unresolved, destination);  // a loop through other aliases
        continue;
      }
      auto expanded = expand(destination, detail, depth + 1);
      if (!expanded) {
        if (expanded.error().code != ErrorCode::kNotFound) {
          path_.pop_back();
          return expanded.error();
        }
        add_unique(out_.unresolved, destination);
      }
    }
    path_.pop_back();
    return ok();
  }

  static void add_unique(std::vector<std::string>& list, const std::string& value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) {
      list.push_back(value);
    }
  }

  Directory& directory_;
  std::string_view separator_;
  Resolution& out_;
  std::map<std::string, bool> local_domains_;
  std::vector<std::string> path_;  // alias sources being expanded, outermost first
  std::size_t visited_ = 0;
};

}  // namespace

Result<Account> provision_account(Storage& storage, NewAccount account) {
  TERN_TRY(account.address, normalize_address(account.address));
  std::string address = account.address;
  auto added = storage.directory().add_account(std::move(account)).get();
  if (!added) {
    return added.error().with_context("add account " + address);
  }
  auto mailboxes = create_default_mailboxes(storage.mail(), added->id);
  if (!mailboxes) {
    // Undo, so a retry starts clean; the mailbox error is the one worth reporting.
    (void)storage.directory().remove_account(address).get();
    return mailboxes.error().with_context("provision " + address);
  }
  return std::move(*added);
}

Result<Resolution> resolve_recipient(Directory& directory, std::string_view address,
                                     std::string_view subaddress_separator) {
  Resolution out;
  TERN_TRY(out.address, normalize_address(address));
  Resolver resolver(directory, subaddress_separator, out);
  TERN_TRY(AddressParts parts, split_address(out.address));
  TERN_TRY(bool local, resolver.is_local_domain(std::string(parts.domain)));
  if (!local) {
    out.kind = RecipientKind::kNotLocal;
    return out;
  }
  TERN_TRY_VOID(resolver.expand(out.address, "", 0));
  if (out.accounts.empty() && out.external.empty()) {
    return fail(ErrorCode::kNotFound, "no deliverable destination for " + out.address);
  }
  return out;
}

Result<void> check_quota(const Account& account, std::uint64_t size_bytes) {
  if (account.quota_bytes == 0) {
    return ok();
  }
  // Written to avoid overflow: used + size > quota.
  if (account.used_bytes > account.quota_bytes ||
      size_bytes > account.quota_bytes - account.used_bytes) {
    return fail(ErrorCode::kLimitExceeded, "quota exceeded for " + account.address + ": " +
                                               std::to_string(account.used_bytes) + " + " +
                                               std::to_string(size_bytes) + " bytes > " +
                                               std::to_string(account.quota_bytes));
  }
  return ok();
}

}  // namespace tern::domain
