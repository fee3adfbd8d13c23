// SPDX-License-Identifier: Apache-2.0
// The storage ports (ARCHITECTURE.md §4, docs/adr/0003-storage-ports.md). They speak
// mail, not SQL. Backends (store/memory, store/sqlite, later store/postgres)
// implement them; only app/ and tests name a backend.
//
// Every operation is asynchronous from the caller's point of view: it returns a
// Future at once and completes on a backend thread (or at once, for store::memory).
// Coroutines await it with runtime::await(); synchronous callers (the CLI, tests,
// code on the blocking pool) call get().
//
// Common error contract, unless an operation says otherwise:
//   kNotFound       the named account, mailbox, message or queue entry does not exist
//   kAlreadyExists  a create collided with an existing name
//   kInvalidInput   an argument is malformed (empty name, bad address)
//   kIo, kCorrupt   the backend failed; nothing was changed
//   kTemporary      the backend is busy; retrying may succeed
// A failed operation changes nothing: every operation is one transaction.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/future.hpp"
#include "base/result.hpp"
#include "domain/greylist.hpp"
#include "domain/model.hpp"
#include "domain/report_model.hpp"

namespace tern::domain {

template <class T>
using Async = Future<Result<T>>;

// Domains, accounts, credentials and aliases. Addresses passed in must already be
// normalised (normalize_address()); the store compares them byte for byte.
class Directory {
 public:
  virtual ~Directory() = default;

  virtual Async<Domain> add_domain(std::string name) = 0;
  virtual Async<std::vector<Domain>> domains() = 0;  // sorted by name
  virtual Async<std::optional<Domain>> find_domain(std::string name) = 0;
  // kConflict while the domain still has accounts or aliases.
  virtual Async<void> remove_domain(std::string name) = 0;

  // kNotFound if the address's domain is not a local domain.
  virtual Async<Account> add_account(NewAccount account) = 0;
  virtual Async<std::optional<Account>> find_account(std::string address) = 0;
  virtual Async<std::optional<Account>> find_account_by_id(AccountId id) = 0;
  // All accounts, or those of one domain; sorted by address.
  virtual Async<std::vector<Account>> accounts(std::optional<std::string> domain) = 0;
  // Replaces both password secrets of the account at once.
  virtual Async<void> set_credentials(std::string address, Credentials credentials) = 0;
  virtual Async<void> set_quota(std::string address, std::uint64_t quota_bytes) = 0;
  // Removes the account with its mailboxes and messages (blobs are released).
  virtual Async<void> remove_account(std::string address) = 0;

  // kNotFound if the source's domain is not local; kAlreadyExists for a duplicate.
  virtual Async<void> add_alias(Alias alias) = 0;
  // All aliases, or those whose source is in `domain`; sorted by source, destination.
  virtual Async<std::vector<Alias>> aliases(std::optional<std::string> domain) = 0;
  // The destinations of exactly `source` (no catch-all or sub-address logic here;
  // that is resolve_recipient()'s job).
  virtual Async<std::vector<std::string>> alias_destinations(std::string source) = 0;
  // Removes one destination of `source`, or all when `destination` is empty.
  virtual Async<void> remove_alias(std::string source, std::optional<std::string> destination) = 0;

  // Sieve scripts (RFC 5228) of an account, as ManageSieve (RFC 5804) keeps them:
  // names compare byte for byte, at most one script is active, and
  // remove_account() removes them with the vacation records below. Every call
  // is kNotFound when the account does not exist. The text is stored as given:
  // callers compile it first (sieve::compile), the store does not.
  //
  // Creates or replaces the script `name` (a replaced script keeps its active
  // state). kInvalidInput unless is_valid_sieve_script_name(name).
  virtual Async<void> put_sieve_script(AccountId account, std::string name, std::string text) = 0;
  // All scripts of the account, sorted by name, with their text.
  virtual Async<std::vector<SieveScript>> sieve_scripts(AccountId account) = 0;
  // The account's active script, if any.
  virtual Async<std::optional<SieveScript>> active_sieve_script(AccountId account) = 0;
  // Makes `name` the only active script; nullopt deactivates all (no error when
  // none was active). kNotFound: no such script.
  virtual Async<void> activate_sieve_script(AccountId account, std::optional<std::string> name) = 0;
  // Renames a script, which keeps its text and active state. kNotFound: no script
  // `from`; kAlreadyExists: a script `to` exists (`to` == `from` included);
  // kInvalidInput unless is_valid_sieve_script_name(to).
  virtual Async<void> rename_sieve_script(AccountId account, std::string from, std::string to) = 0;
  // kNotFound: no such script; kConflict: it is the active script (RFC 5804
  // DELETESCRIPT refuses that one: deactivate it first).
  virtual Async<void> remove_sieve_script(AccountId account, std::string name) = 0;

  // Vacation response tracking (RFC 5230 §4.2): true when no reply with `key`
  // was recorded for the account within the last `period` before `now` (none at
  // all, or one at or before now - period), and then records one at `now`;
  // false otherwise (no reply should be sent), changing nothing. `key` is
  // opaque bytes (the caller hashes sender and :handle). A record is kept for the
  // period it was recorded with: a call drops the account's records whose own
  // period has passed, so the table holds only the replies still being tracked.
  // One atomic step: two deliveries asking at once get one true between them.
  virtual Async<bool> note_vacation_reply(AccountId account, std::string key, SystemTime now,
                                          std::chrono::seconds period) = 0;
};

// Mailboxes, messages and their per-mailbox entries, and the per-account change
// log that IMAP CONDSTORE/QRESYNC and JMAP /changes build on.
//
// Invariants every backend keeps (the conformance suite checks them):
//   - UIDs in a mailbox strictly increase and are never reused; uid_next only grows.
//   - Every change (append, flag change, expunge, mailbox create/rename/delete)
//     takes the account's next modseq; a mailbox's highest_modseq is the largest
//     modseq of its changes.
//   - Expunged entries leave tombstones (uid, modseq) so changes_since() can report
//     them as vanished.
class MailStore {
 public:
  virtual ~MailStore() = default;

  // Sorted by name, each with its defined keywords (Mailbox::keywords): append(),
  // copy(), move() and change_flags() add the keywords they put on entries to the
  // target mailbox's set in the same transaction; nothing removes them but
  // delete_mailbox().
  virtual Async<std::vector<Mailbox>> mailboxes(AccountId account) = 0;
  virtual Async<Mailbox> create_mailbox(AccountId account, std::string name,
                                        SpecialUse special_use) = 0;
  virtual Async<Mailbox> rename_mailbox(AccountId account, MailboxId mailbox,
                                        std::string new_name) = 0;
  // Deletes the mailbox and expunges its entries.
  virtual Async<void> delete_mailbox(AccountId account, MailboxId mailbox) = 0;
  virtual Async<void> set_subscribed(AccountId account, MailboxId mailbox, bool subscribed) = 0;

  // Stores `message` once (one blob) and links it into every target. The outer
  // Result fails only when nothing could be stored (kIo: disk full, store error);
  // otherwise there is one Result per target, in order: kNotFound for a missing
  // mailbox, kLimitExceeded when the target account's quota would be exceeded.
  //
  // Durability: the future completes only after the blob is fsynced and the
  // metadata committed. Concurrent appends may share one sync (group commit).
  virtual Async<std::vector<Result<Appended>>> append(NewMessage message,
                                                      std::vector<AppendTarget> targets) = 0;

  // Entries with first <= uid <= last, ascending by uid.
  virtual Async<std::vector<Entry>> entries(AccountId account, MailboxId mailbox, Uid first,
                                            Uid last) = 0;
  // The message's raw bytes as appended.
  virtual Async<std::string> read_message(AccountId account, MessageId message) = 0;
  // The facts stored with the message by append(). A readable facts record may come
  // back without its search fields (a version 1 record, mime/facts README): a
  // backend keeps those apart for message_summaries(). Other bytes come back as
  // they were given.
  virtual Async<std::string> message_facts(AccountId account, MessageId message) = 0;
  // The parts `what` (SummaryPart bits) of the stored facts of the mailbox's entries
  // with the given UIDs, in one round trip: FETCH ENVELOPE and SEARCH on header or
  // text keys read a chunk of messages at a time instead of one facts record per
  // message. The result is in the order of `uids`; UIDs with no entry are left
  // out. kNotFound if the mailbox is not the account's. Callers pass chunks of a
  // few hundred to a few thousand UIDs (the result holds all of their parts).
  // Parts of messages appended before a backend kept them apart are derived from
  // the stored record on the fly (same result, slower).
  virtual Async<std::vector<MessageSummary>> message_summaries(AccountId account, MailboxId mailbox,
                                                               std::vector<Uid> uids,
                                                               SummaryParts what) = 0;

  // Applies `change` to the entries with the given UIDs (missing UIDs are skipped).
  // Entries whose flags do not change keep their modseq.
  virtual Async<FlagResult> change_flags(AccountId account, MailboxId mailbox,
                                         std::vector<Uid> uids, FlagChange change) = 0;
  // Copies entries to `to`, preserving flags and keywords; the result is in the
  // order of `uids`, missing UIDs skipped. kLimitExceeded over quota.
  virtual Async<std::vector<Appended>> copy(AccountId account, MailboxId from,
                                            std::vector<Uid> uids, MailboxId to) = 0;
  // Copy, then expunge the sources, in one transaction (RFC 6851).
  virtual Async<std::vector<Appended>> move(AccountId account, MailboxId from,
                                            std::vector<Uid> uids, MailboxId to) = 0;
  // Removes the entries (missing UIDs skipped); returns the modseq of the expunge
  // (the mailbox's highest_modseq afterwards). Unreferenced blobs are released.
  virtual Async<ModSeq> expunge(AccountId account, MailboxId mailbox, std::vector<Uid> uids) = 0;

  virtual Async<MailboxChanges> changes_since(AccountId account, MailboxId mailbox,
                                              ModSeq since) = 0;
  // The account's change log after `since`, ascending.
  virtual Async<std::vector<AccountChange>> account_changes_since(AccountId account,
                                                                  ModSeq since) = 0;
  virtual Async<Usage> usage(AccountId account) = 0;
};

// Content-addressed blobs (SHA-256), deduplicated and reference-counted. The
// QueueStore, and the MailStore for what it keeps here, take references; put()
// alone takes none, and collect_garbage() removes blobs that no one references.
// A mailbox message's bytes are read with MailStore::read_message(): a backend
// may keep a small message's bytes with the message instead of under its id
// (Entry::blob stays their SHA-256 either way), so get(entry.blob) may be
// kNotFound, and such bytes go with the message, not at collect_garbage()
// (docs/adr/0018-message-bytes-by-message.md).
class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores `bytes` durably (fsynced before completion) and returns its id.
  virtual Async<BlobId> put(std::string bytes) = 0;
  // kNotFound for an unknown id; kCorrupt if the stored bytes no longer hash to it.
  virtual Async<std::string> get(BlobId id) = 0;
  // Removes unreferenced blobs older than the in-flight window; returns how many.
  virtual Async<std::uint64_t> collect_garbage() = 0;
};

// The outbound queue. enqueue() has append()'s durability promise. Delivery
// workers claim due entries with a lease; a claim whose lease expires (the worker
// died) becomes claimable again, so nothing is lost after a crash.
class QueueStore {
 public:
  virtual ~QueueStore() = default;

  virtual Async<QueueId> enqueue(NewQueuedMessage message) = 0;
  virtual Async<std::vector<QueuedMessage>> queued() = 0;  // all entries, by id
  virtual Async<std::optional<QueuedMessage>> find_queued(QueueId id) = 0;
  virtual Async<std::string> read_queued(QueueId id) = 0;  // the message bytes
  // Marks up to `limit` due entries (kQueued with next_attempt <= now, or kActive
  // with lease_until <= now) kActive with lease_until = now + lease and returns them.
  virtual Async<std::vector<QueuedMessage>> claim_due(SystemTime now, std::size_t limit,
                                                      std::chrono::seconds lease) = 0;
  // Records an attempt's outcome and returns the entry to kQueued.
  virtual Async<void> update_queued(QueueId id, QueueUpdate update) = 0;
  // Removes the entry (delivered or bounced); its blob is released.
  virtual Async<void> remove_queued(QueueId id) = 0;
  // kHeld entries are never claimed; releasing makes them kQueued and due now.
  virtual Async<void> set_held(QueueId id, bool held, SystemTime now) = 0;
  // Makes a kQueued entry due at `when` (`tern queue flush|retry`); kActive and
  // kHeld entries are left alone. kNotFound for an unknown id.
  virtual Async<void> reschedule(QueueId id, SystemTime when) = 0;
};

// The data behind outgoing DMARC aggregate (RFC 9990) and TLS (RFC 8460) reports,
// and the reports others send us (report_model.hpp). The MX records one
// DmarcEvaluation per evaluated message, the outbound transport one
// TlsSessionResult per TLS attempt; the report generator asks for a period's
// aggregate per domain. Backends count equal rows instead of keeping one row per
// message, bucketed by the hour of `time` (UTC): a period [begin, end) covers the
// hours h with begin <= h < end, so periods should start and end on whole hours.
class ReportStore {
 public:
  virtual ~ReportStore() = default;

  // kInvalidInput when the policy domain or source_ip is empty.
  virtual Async<void> record_dmarc(DmarcEvaluation evaluation) = 0;
  // kInvalidInput when policy_domain is empty or sessions is 0.
  virtual Async<void> record_tls(TlsSessionResult result) = 0;

  // Policy domains with DMARC evaluations in [begin, end), sorted.
  virtual Async<std::vector<std::string>> dmarc_domains(SystemTime begin, SystemTime end) = 0;
  // One policy domain's rows over [begin, end), counts summed; kNotFound when it
  // has none.
  virtual Async<DmarcAggregate> dmarc_aggregate(std::string domain, SystemTime begin,
                                                SystemTime end) = 0;
  // Policy domains with TLS results in [begin, end), sorted.
  virtual Async<std::vector<std::string>> tls_domains(SystemTime begin, SystemTime end) = 0;
  // One policy domain's summaries over [begin, end), one per distinct policy
  // (type, strings, mx hosts), sorted by encode_tls_policy(); empty when none.
  virtual Async<std::vector<TlsPolicySummary>> tls_summary(std::string domain, SystemTime begin,
                                                           SystemTime end) = 0;

  // Stores a received report; false (and nothing changed) when one with the same
  // kind, org_name and report_id is already stored: mail is delivered at least once.
  virtual Async<bool> store_received_report(ReceivedReport report) = 0;
  virtual Async<std::vector<ReceivedReport>> received_reports(ReceivedReportQuery query) = 0;

  // A named point in time the report scheduler keeps ("dmarc", "tls": the end of
  // the last period reported), so a restart neither repeats nor skips a period.
  virtual Async<std::optional<SystemTime>> report_cursor(std::string name) = 0;
  virtual Async<void> set_report_cursor(std::string name, SystemTime value) = 0;
  // Compare-and-set, in one atomic step: sets cursor `name` to `value` only when
  // it currently holds `expected` (nullopt: the cursor is not set; times compare
  // in whole seconds, as cursors are kept) and says whether it did. Nodes sharing
  // one store take turns through it (domain::reports::run_due_reports).
  virtual Async<bool> compare_and_set_report_cursor(std::string name,
                                                    std::optional<SystemTime> expected,
                                                    SystemTime value) = 0;

  // Pending HTTPS deliveries of TLS reports (ReportPost). put_report_post inserts
  // or replaces the row with the same (uri, report_id), every field as given
  // (kInvalidInput when uri or report_id is empty). due_report_posts returns the
  // rows whose next_attempt <= `now`, earliest next_attempt first (then uri,
  // report_id), at most `limit`. remove_report_post deletes one row (no error
  // when it is already gone).
  virtual Async<void> put_report_post(ReportPost post) = 0;
  virtual Async<std::vector<ReportPost>> due_report_posts(SystemTime now, std::size_t limit) = 0;
  // Claims the posts due_report_posts(now, limit) would return for one delivery
  // attempt: in the same atomic step each one's next_attempt becomes now + lease,
  // so a concurrent claimer (another node on the same store) gets other rows,
  // and a post whose claimer died is due again once the lease ends, as with
  // QueueStore::claim_due. Returns the claimed rows, next_attempt = now + lease.
  virtual Async<std::vector<ReportPost>> claim_report_posts(SystemTime now, std::size_t limit,
                                                            std::chrono::seconds lease) = 0;
  virtual Async<void> remove_report_post(std::string uri, std::string report_id) = 0;

  // Removes recorded evaluations and TLS results older than `before` (by hour) and
  // received reports whose period ended before it; returns how many rows went.
  virtual Async<std::uint64_t> prune_reports(SystemTime before) = 0;
};

// The statistical spam filter's models (src/spam, domain/spam_filter.hpp): per
// model, how many messages were learned as spam and as ham, each token's counts,
// and which messages were learned (by key) with which label. `account` nullopt is
// the site-wide model; an account's model goes with remove_account(). Calls
// naming an account that does not exist are kNotFound.
class SpamStore {
 public:
  virtual ~SpamStore() = default;

  // The model's message totals and the counts of those of `tokens` it has seen
  // (sorted by token; a token never seen, or whose counts went back to 0, is
  // absent). An empty model gives zeros, not an error.
  virtual Async<SpamCounts> spam_counts(std::optional<AccountId> account,
                                        std::vector<std::uint64_t> tokens) = 0;
  // Teaches the model one message, in one atomic step:
  //   - message_key not learned yet: each token's count of `label` and the
  //     model's messages of `label` go up by one (kLearned);
  //   - learned with the same label: nothing changes (kUnchanged);
  //   - learned with the other label: that label's counts of these tokens and
  //     messages go down by one (never below 0) and `label`'s up (kRelearned).
  // kInvalidInput when message_key is empty.
  virtual Async<SpamLearned> learn_spam(SpamLesson lesson) = 0;
  // Takes a learned message back out of the model (its label's counts of `tokens`
  // and messages go down by one, never below 0); false, changing nothing, when
  // message_key was not learned.
  virtual Async<bool> forget_spam(std::optional<AccountId> account, std::string message_key,
                                  std::vector<std::uint64_t> tokens) = 0;
  virtual Async<SpamModelStats> spam_stats(std::optional<AccountId> account) = 0;
  // Empties the model: counts, totals and learned keys.
  virtual Async<void> reset_spam_model(std::optional<AccountId> account) = 0;
};

// Greylisting's records (domain/greylist.hpp): one per triplet, shared by every
// node on the store.
class GreylistStore {
 public:
  virtual ~GreylistStore() = default;

  // One attempt of `triplet` at `now` (Unix seconds), in one atomic step: reads
  // the triplet's record and how many of its client network's triplets have
  // passed, decides with decide_greylist() and stores the new record. Concurrent
  // attempts of one triplet are serialised, so exactly one is the first.
  virtual Async<GreylistVerdict> check_greylist(GreylistTriplet triplet, GreylistPolicy policy,
                                                std::int64_t now) = 0;
  // Deletes the records last seen before `before`; returns how many.
  virtual Async<std::uint64_t> purge_greylist(std::int64_t before) = 0;
};

// One backend: all ports over one consistent store.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual Directory& directory() = 0;
  virtual MailStore& mail() = 0;
  virtual BlobStore& blobs() = 0;
  virtual QueueStore& queue() = 0;
  virtual ReportStore& reports() = 0;
  virtual SpamStore& spam() = 0;
  virtual GreylistStore& greylist() = 0;
};

}  // namespace tern::domain
