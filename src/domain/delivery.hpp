// SPDX-License-Identifier: Apache-2.0
// Local delivery: one message, stored once, linked into the INBOX of every local
// recipient. Shared by SMTP/LMTP sessions and the `tern deliver` LDA.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "domain/ports.hpp"
#include "domain/srs.hpp"

namespace tern::domain {

// Where a delivered message goes in each account.
enum class DeliveryFolder {
  kInbox,
  // The account's \Junk mailbox (RFC 6154): the first mailbox with that special
  // use, else one named "Junk", else a new "Junk" created with \Junk. Where a
  // DMARC quarantine disposition puts mail (RFC 7489 §6.3 p=quarantine).
  kJunk,
};

// The outcome for one recipient account, in the order the accounts were given.
struct DeliveryOutcome {
  AccountId account{};
  Result<Appended> result;  // kLimitExceeded over quota, kNotFound without INBOX
};

// Stores `message` once and appends it to the INBOX (or, with `folder` kJunk,
// the Junk mailbox) of each account in `accounts` (duplicates are delivered once;
// the later ones repeat the first outcome). Synchronous: it waits on the storage futures, so call
// it on a blocking pool or from the CLI.
//
// Errors: the outer Result fails only when nothing could be stored (kIo: disk
// full, store error — the caller answers 451 4.3.0 and nothing was kept);
// per-account problems are in the outcomes.
//
// Durability: returns only after the store's append has completed, i.e. the bytes
// are on stable storage (ARCHITECTURE.md §4), so the caller may then answer 250.
Result<std::vector<DeliveryOutcome>> deliver_to_inboxes(
    Storage& storage, NewMessage message, const std::vector<AccountId>& accounts,
    DeliveryFolder folder = DeliveryFolder::kInbox);

// The envelope sender for mail of `sender` that an alias forwards to another
// domain. With `srs` set and a sender whose domain is not one of ours, the SRS0
// address (or SRS1 for an SRS sender) at srs->config().domain, so SPF at the next hop
// checks us and bounces come back to be reversed; otherwise `sender` unchanged.
// The null sender stays null (a bounce is never rewritten). Errors: backend errors
// from the domain lookup.
Result<std::string> forwarding_sender(Directory& directory, const Srs* srs, std::string_view sender,
                                      SystemTime now);

// Returns `raw` with every line ending as CRLF: bare LF becomes CRLF and a bare CR
// (not followed by LF) becomes CRLF too. Messages are stored in this canonical
// form, whatever a local injector (an MTA's pipe to the LDA) handed over.
std::string to_crlf(std::string_view raw);

}  // namespace tern::domain
