// SPDX-License-Identifier: Apache-2.0
// Account use-cases over the storage ports: provisioning, recipient resolution
// (Postfix virtual-alias semantics) and the quota check.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/model.hpp"
#include "domain/ports.hpp"

namespace tern::domain {

// Every function here is synchronous: it calls get() on the port futures, so it
// runs on the blocking pool, in the CLI or in tests, never on an I/O thread.

// A mailbox every new account gets.
struct DefaultMailbox {
  std::string_view name;
  SpecialUse special_use = SpecialUse::kNone;
};

// The mailboxes provision_account() creates, all subscribed. The special-use
// names are the ones Thunderbird, Apple Mail and Outlook look for (RFC 6154).
inline constexpr std::array<DefaultMailbox, 6> kDefaultMailboxes{{
    {"INBOX", SpecialUse::kNone},
    {"Drafts", SpecialUse::kDrafts},
    {"Sent", SpecialUse::kSent},
    {"Junk", SpecialUse::kJunk},
    {"Trash", SpecialUse::kTrash},
    {"Archive", SpecialUse::kArchive},
}};

// Creates the account and its kDefaultMailboxes, all subscribed, and returns the
// stored Account. `account.address` is normalised first (normalize_address());
// `password_hash` is stored as given (make it with sasl::hash_password()).
//
// A mailbox that already exists (backends create INBOX with the account) is
// subscribed rather than created again. If creating a mailbox fails, the account
// is removed again, so a failed call leaves nothing behind (best effort: if that
// removal fails too, the original error is still returned).
//
// Errors: kInvalidInput for a malformed address; kNotFound when the domain is not
// local; kAlreadyExists when the account exists; backend errors as they come,
// prefixed with what was being done.
Result<Account> provision_account(Storage& storage, NewAccount account);

// An account a message goes to.
struct LocalRecipient {
  AccountId account{};
  std::string address;  // the account's address
  // The sub-address tag that led here ("tag" for "user+tag@example.org"), for
  // Sieve's :detail and folder delivery; "" for none. A tag stripped before an
  // alias expansion is inherited by the alias's local destinations that have no
  // tag of their own (Postfix's propagate_unmatched_extensions).
  std::string detail;
};

enum class RecipientKind {
  kLocal,     // the domain is ours: see accounts and external
  kNotLocal,  // the domain is not ours: relay (submission) or refuse (MX)
};

// Where one recipient address goes.
struct Resolution {
  RecipientKind kind = RecipientKind::kLocal;
  std::string address;                   // the recipient, normalised
  std::vector<LocalRecipient> accounts;  // de-duplicated by account, first seen first
  std::vector<std::string> external;     // addresses in other domains, de-duplicated
  // Local destinations of aliases that lead nowhere (no account, no alias, no
  // catch-all) or back into the expansion (a loop). They are skipped, not fatal,
  // as long as something else is deliverable; callers log them.
  std::vector<std::string> unresolved;
};

// Alias expansion limits. Postfix's own (virtual_alias_recursion_limit,
// virtual_alias_expansion_limit) are 1000 each; mail setups never need more than
// a few levels, so depth is kept small to surface mistakes early.
constexpr int kMaxAliasDepth = 10;
constexpr std::size_t kMaxAliasExpansion = 1000;

// Resolves a recipient the way Postfix applies virtual_alias_maps before
// virtual_mailbox_maps. For an address in a local domain, the first match wins:
//   1. an alias whose source is exactly the address: each destination is resolved
//      again, recursively (a destination equal to the alias's own source is
//      delivered to that account instead of expanded, so "a@d -> a@d, b@x"
//      keeps a copy and forwards);
//   2. an account with exactly this address;
//   3. with sub-addressing (any character of `subaddress_separator` splits the
//      local part at its first occurrence; "" disables): the alias, else the
//      account, of "user@domain" for "user+tag@domain", remembering "tag";
//   4. the domain's catch-all alias "@domain", only when nothing above matched.
// Destinations in other domains are collected in `external` unchanged.
//
// Returns:
//   kind == kNotLocal (and nothing else filled) when the domain is not local;
//   kInvalidInput  the address is malformed (normalize_address());
//   kNotFound      a local address that resolves to nothing deliverable
//                  ("user unknown": MX and LMTP reply 550 5.1.1);
//   kLimitExceeded the expansion is deeper than kMaxAliasDepth or visits more than
//                  kMaxAliasExpansion addresses (a configuration mistake: 4xx);
//   backend errors as they come.
Result<Resolution> resolve_recipient(Directory& directory, std::string_view address,
                                     std::string_view subaddress_separator);

// Checks that a message of `size_bytes` fits in the account's quota
// (quota_bytes == 0: unlimited). Errors: kLimitExceeded (SMTP 552 5.2.2, IMAP
// NO [OVERQUOTA]). The backend enforces the quota again atomically on append;
// this check lets a session refuse early, before reading the message.
Result<void> check_quota(const Account& account, std::uint64_t size_bytes);

}  // namespace tern::domain
