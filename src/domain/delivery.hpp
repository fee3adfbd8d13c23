// SPDX-License-Identifier: Apache-2.0
// Local delivery: one message, stored once, linked into the INBOX of every local
// recipient. Shared by SMTP/LMTP sessions and the `tern deliver` LDA.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/result.hpp"
#include "domain/accounts.hpp"
#include "domain/compiled_scripts.hpp"
#include "domain/ports.hpp"
#include "domain/spam_filter.hpp"
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
  Result<Appended> result;
};

// What Sieve filtering at delivery needs beyond the message (RFC 5228 §5.4
// envelope, redirect and vacation).
struct Filtering {
  std::string sender;    // the envelope's reverse path; "" for the null sender
  std::string hostname;  // this server: the vacation replies' Message-IDs
  // Redirects of a foreign sender's mail are queued with an SRS sender, as alias
  // forwards are (forwarding_sender()). Null: the sender is kept.
  const Srs* srs = nullptr;
  std::string subaddress_separators = "+";
  SystemTime now{};
  // The zone date tests show times in when a script names none, in minutes east
  // of UTC (the host's: runtime::local_zone_minutes).
  int zone_minutes = 0;
  // The MAIL FROM parameters a redirect carries on (as an alias forward does).
  QueueEnvelope envelope;
  // Compiled scripts kept between deliveries; null: each is compiled anew.
  CompiledScripts* scripts = nullptr;
  // The spam filter (spam_filter.hpp); null: no classification.
  const SpamPolicy* spam = nullptr;
};

// What filtering did for one account, for the log.
struct FilterReport {
  std::vector<std::string> mailboxes;          // where copies were stored
  std::size_t redirects = 0;                   // queued redirects
  bool vacation = false;                       // a vacation reply was queued
  bool discarded = false;                      // nothing was stored
  std::string error;                           // a run-time or compile error (the message was kept)
  spam::Class spam = spam::Class::kUntrained;  // the spam filter's verdict (not run: kUntrained)
  double spam_score = 0.5;
  std::string spam_error;  // the models could not be read (the message went to its folder)
};

// Stores `message` once and appends it to the INBOX (or, with `folder` kJunk,
// the Junk mailbox) of each account in `recipients` (an account named twice is
// delivered once; the later ones repeat the first outcome).
//
// With `filtering` and its `spam` policy classifying, each account's copy is
// first classified with the site's and the account's spam models
// (classify_for()); a spam verdict makes the account's Junk mailbox its folder
// (as kJunk does), so the implicit keep of its Sieve script goes there too,
// and the script's spamtest (RFC 5235) sees the score.
//
// With `filtering`, each account's active Sieve script (Directory::
// active_sieve_script) decides where its copy goes instead: the mailboxes of keep
// and fileinto (flags and keywords set, :create creating a missing one; fileinto a
// mailbox that does not exist keeps the message, as Dovecot does), redirects
// queued to the outbound queue (X-Sieve-Redirected-From on top; a message that
// already carries it for this account is not redirected again, so two accounts
// redirecting to each other do not loop), vacation replies queued from the null
// sender (RFC 5230 §5.1) at most once per period per sender and handle
// (Directory::note_vacation_reply), discard storing nothing. An account without
// an active script, or whose script no longer compiles, gets the message in its
// folder. `recipients[i].detail` rebuilds the address a script sees as the
// envelope "to". `reports`, when given, receives one FilterReport per recipient.
//
// Synchronous: it waits on the storage futures, so call it on a blocking pool or
// from the CLI.
//
// Errors: the outer Result fails only when nothing could be stored (kIo: disk
// full, store error — the caller answers 451 4.3.0 and nothing was kept);
// per-account problems are in the outcomes (kLimitExceeded over quota, kNotFound
// without INBOX). An outcome's result is the first stored copy; an account whose
// script stored nothing has an Appended with uid 0.
//
// Durability: returns only after the store's append has completed, i.e. the bytes
// are on stable storage (ARCHITECTURE.md §4), so the caller may then answer 250.
// Queued redirects and replies are durable before it returns. If storing fails
// after redirects were queued, they are removed again (best effort) so that the
// client's retry does not send them twice.
Result<std::vector<DeliveryOutcome>> deliver(Storage& storage, NewMessage message,
                                             const std::vector<LocalRecipient>& recipients,
                                             DeliveryFolder folder,
                                             const Filtering* filtering = nullptr,
                                             std::vector<FilterReport>* reports = nullptr);

// Logs what filtering did for each recipient of one delivery (`reports[i]` for
// `recipients[i]`, as deliver() fills them), under the message's `id`: Sieve
// errors and spam-model errors as warnings; redirects, vacation replies,
// discards and spam verdicts at info (their fields built only when info is on).
void log_filter_reports(const log::Logger& logger, std::string_view id,
                        const std::vector<LocalRecipient>& recipients,
                        const std::vector<FilterReport>& reports);

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
