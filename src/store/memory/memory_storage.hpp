// SPDX-License-Identifier: Apache-2.0
// store::memory: a complete in-memory domain::Storage. It backs unit tests, fuzzers
// and `ternd --ephemeral`; nothing survives the object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "domain/ports.hpp"
#include "domain/store_import.hpp"
#include "store/memory/memory_greylist.hpp"
#include "store/memory/memory_reports.hpp"

namespace tern::store::memory {

// One spam filter model of MemoryStorage: the site-wide one or an account's (kept
// in its account's state, so it goes with the account).
struct MemorySpamModel {
  std::uint64_t spam_messages = 0;
  std::uint64_t ham_messages = 0;
  // token -> (spam, ham); a token whose counts are both 0 has no entry
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>> tokens;
  std::map<std::string, domain::SpamLabel> learned;  // message key -> label
};

// MemoryStorage implements every storage port over plain maps guarded by one
// mutex. It is the reference behaviour the conformance suite
// (store/conformance/) pins down for every backend, so its semantics are the
// contract:
//
//   - Every future it returns is already ready: callers may get() at once.
//   - Thread-safety: every method may be called from any thread; each call is one
//     atomic step under the mutex, so concurrent calls behave as some serial order.
//   - Deterministic: ids (domains, accounts, mailboxes, messages, queue entries)
//     count up from 1 and UIDVALIDITY values count up from 1 per store, so a test
//     or a fuzzer run is reproducible. Only save dates read the system clock.
//   - "Durable" means "stored in this object": there is no I/O and no fsync.
//
// Behaviour shared with every backend (the conformance suite checks each point):
//   - add_account() also creates the account's subscribed "INBOX". Any case
//     variant of "inbox" names the INBOX. INBOX cannot be deleted or renamed
//     (kInvalidInput); IMAP's rename-INBOX semantics are built above, from move().
//   - rename_mailbox() renames the mailbox's children ("a/b" when "a" is renamed).
//   - One modseq per change and per mailbox: an append takes one per target, a
//     change_flags/copy/expunge one for all the entries it touches in the mailbox;
//     move takes one for the copies and one for the expunge.
//   - Messages are per account: the targets of one append in the same account share
//     one MessageId; copy and move keep the MessageId. A message goes (and its blob
//     reference is released) when its last entry is expunged.
//   - Quota counts entry sizes (a message in two mailboxes counts twice).
//   - collect_garbage() removes every blob with no message or queue reference; the
//     in-flight window is empty because no operation holds an unreferenced blob
//     across calls.
//
// It also implements domain::StoreImport (`tern migrate` into memory, and the
// import conformance cases without a database): imported UIDVALIDITYs raise the
// store's counter, so mailboxes created later still get larger ones.
class MemoryStorage final : public domain::Storage,
                            private domain::Directory,
                            private domain::MailStore,
                            private domain::BlobStore,
                            private domain::QueueStore,
                            private domain::SpamStore,
                            public domain::StoreImport {
 public:
  MemoryStorage() = default;
  MemoryStorage(const MemoryStorage&) = delete;
  MemoryStorage& operator=(const MemoryStorage&) = delete;
  ~MemoryStorage() override = default;

  domain::Directory& directory() override { return *this; }

  domain::MailStore& mail() override { return *this; }

  domain::BlobStore& blobs() override { return *this; }

  domain::QueueStore& queue() override { return *this; }

  domain::ReportStore& reports() override { return reports_; }

  domain::SpamStore& spam() override { return *this; }

  domain::GreylistStore& greylist() override { return greylist_; }

  // ----- domain::StoreImport (see store_import.hpp for the contract)
  domain::Async<domain::Mailbox> import_mailbox(domain::AccountId account,
                                                domain::Mailbox mailbox) override;
  domain::Async<domain::MessageId> import_message(
      domain::AccountId account, domain::NewMessage message,
      std::vector<domain::ImportEntry> entries) override;
  domain::Async<void> import_changes(domain::AccountId account,
                                     std::vector<domain::AccountChange> changes,
                                     domain::ModSeq modseq) override;
  domain::Async<domain::QueueId> import_queued(domain::QueuedMessage entry,
                                               std::string raw) override;

  domain::Async<domain::RecordedReportRows> export_report_rows() override {
    return reports_.export_rows();
  }

  domain::Async<void> import_report_rows(domain::RecordedReportRows rows) override {
    return reports_.import_rows(std::move(rows));
  }

  // (memory_spam.cpp)
  domain::Async<std::vector<domain::SpamModelRows>> export_spam_models() override;
  domain::Async<void> import_spam_models(std::vector<domain::SpamModelRows> models) override;

 private:
  // ----- domain::Directory
  domain::Async<domain::Domain> add_domain(std::string name) override;
  domain::Async<std::vector<domain::Domain>> domains() override;
  domain::Async<std::optional<domain::Domain>> find_domain(std::string name) override;
  domain::Async<void> remove_domain(std::string name) override;
  domain::Async<domain::Account> add_account(domain::NewAccount account) override;
  domain::Async<std::optional<domain::Account>> find_account(std::string address) override;
  domain::Async<std::optional<domain::Account>> find_account_by_id(domain::AccountId id) override;
  domain::Async<std::vector<domain::Account>> accounts(std::optional<std::string> domain) override;
  domain::Async<void> set_credentials(std::string address,
                                      domain::Credentials credentials) override;
  domain::Async<void> set_quota(std::string address, std::uint64_t quota_bytes) override;
  domain::Async<void> remove_account(std::string address) override;
  domain::Async<void> add_alias(domain::Alias alias) override;
  domain::Async<std::vector<domain::Alias>> aliases(std::optional<std::string> domain) override;
  domain::Async<std::vector<std::string>> alias_destinations(std::string source) override;
  domain::Async<void> remove_alias(std::string source,
                                   std::optional<std::string> destination) override;
  domain::Async<void> put_sieve_script(domain::AccountId account, std::string name,
                                       std::string text) override;
  domain::Async<std::vector<domain::SieveScript>> sieve_scripts(domain::AccountId account) override;
  domain::Async<std::optional<domain::SieveScript>> active_sieve_script(
      domain::AccountId account) override;
  domain::Async<void> activate_sieve_script(domain::AccountId account,
                                            std::optional<std::string> name) override;
  domain::Async<void> rename_sieve_script(domain::AccountId account, std::string from,
                                          std::string to) override;
  domain::Async<void> remove_sieve_script(domain::AccountId account, std::string name) override;
  domain::Async<bool> note_vacation_reply(domain::AccountId account, std::string key,
                                          SystemTime now, std::chrono::seconds period) override;

  // ----- domain::MailStore
  domain::Async<std::vector<domain::Mailbox>> mailboxes(domain::AccountId account) override;
  domain::Async<domain::Mailbox> create_mailbox(domain::AccountId account, std::string name,
                                                domain::SpecialUse special_use) override;
  domain::Async<domain::Mailbox> rename_mailbox(domain::AccountId account,
                                                domain::MailboxId mailbox,
                                                std::string new_name) override;
  domain::Async<void> delete_mailbox(domain::AccountId account, domain::MailboxId mailbox) override;
  domain::Async<void> set_subscribed(domain::AccountId account, domain::MailboxId mailbox,
                                     bool subscribed) override;
  domain::Async<std::vector<Result<domain::Appended>>> append(
      domain::NewMessage message, std::vector<domain::AppendTarget> targets) override;
  domain::Async<std::vector<domain::Entry>> entries(domain::AccountId account,
                                                    domain::MailboxId mailbox, domain::Uid first,
                                                    domain::Uid last) override;
  domain::Async<std::string> read_message(domain::AccountId account,
                                          domain::MessageId message) override;
  domain::Async<std::string> message_facts(domain::AccountId account,
                                           domain::MessageId message) override;
  domain::Async<std::vector<domain::MessageSummary>> message_summaries(
      domain::AccountId account, domain::MailboxId mailbox, std::vector<domain::Uid> uids,
      domain::SummaryParts what) override;
  domain::Async<domain::FlagResult> change_flags(domain::AccountId account,
                                                 domain::MailboxId mailbox,
                                                 std::vector<domain::Uid> uids,
                                                 domain::FlagChange change) override;
  domain::Async<std::vector<domain::Appended>> copy(domain::AccountId account,
                                                    domain::MailboxId from,
                                                    std::vector<domain::Uid> uids,
                                                    domain::MailboxId to) override;
  domain::Async<std::vector<domain::Appended>> move(domain::AccountId account,
                                                    domain::MailboxId from,
                                                    std::vector<domain::Uid> uids,
                                                    domain::MailboxId to) override;
  domain::Async<domain::ModSeq> expunge(domain::AccountId account, domain::MailboxId mailbox,
                                        std::vector<domain::Uid> uids) override;
  domain::Async<domain::MailboxChanges> changes_since(domain::AccountId account,
                                                      domain::MailboxId mailbox,
                                                      domain::ModSeq since) override;
  domain::Async<std::vector<domain::AccountChange>> account_changes_since(
      domain::AccountId account, domain::ModSeq since) override;
  domain::Async<domain::Usage> usage(domain::AccountId account) override;

  // ----- domain::BlobStore
  domain::Async<domain::BlobId> put(std::string bytes) override;
  domain::Async<std::string> get(domain::BlobId id) override;
  domain::Async<std::uint64_t> collect_garbage() override;

  // ----- domain::QueueStore
  domain::Async<domain::QueueId> enqueue(domain::NewQueuedMessage message) override;
  domain::Async<std::vector<domain::QueuedMessage>> queued() override;
  domain::Async<std::optional<domain::QueuedMessage>> find_queued(domain::QueueId id) override;
  domain::Async<std::string> read_queued(domain::QueueId id) override;
  domain::Async<std::vector<domain::QueuedMessage>> claim_due(SystemTime now, std::size_t limit,
                                                              std::chrono::seconds lease) override;
  domain::Async<void> update_queued(domain::QueueId id, domain::QueueUpdate update) override;
  domain::Async<void> remove_queued(domain::QueueId id) override;
  domain::Async<void> set_held(domain::QueueId id, bool held, SystemTime now) override;
  domain::Async<void> reschedule(domain::QueueId id, SystemTime when) override;

  // ----- domain::SpamStore (memory_spam.cpp)
  domain::Async<domain::SpamCounts> spam_counts(std::optional<domain::AccountId> account,
                                                std::vector<std::uint64_t> tokens) override;
  domain::Async<domain::SpamLearned> learn_spam(domain::SpamLesson lesson) override;
  domain::Async<bool> forget_spam(std::optional<domain::AccountId> account, std::string message_key,
                                  std::vector<std::uint64_t> tokens) override;
  domain::Async<domain::SpamModelStats> spam_stats(
      std::optional<domain::AccountId> account) override;
  domain::Async<void> reset_spam_model(std::optional<domain::AccountId> account) override;

  // ----- state; every member below is guarded by mutex_
  struct VacationReply {
    SystemTime sent{};
    SystemTime expires{};  // sent + the period it was recorded with
  };

  struct AccountState {
    domain::Account account;
    std::uint64_t modseq = 0;  // the last modseq handed out
    std::vector<domain::AccountChange> log;
    std::map<std::string, std::string> sieve_scripts;       // name -> text
    std::optional<std::string> active_sieve_script;         // a key of sieve_scripts
    std::map<std::string, VacationReply> vacation_replies;  // by key
    MemorySpamModel spam_model;
  };

  struct MailboxState {
    domain::Mailbox mailbox;
    std::map<std::uint32_t, domain::Entry> entries;                  // by uid
    std::vector<std::pair<domain::Uid, domain::ModSeq>> tombstones;  // ascending modseq
  };

  struct MessageState {
    domain::AccountId account{};
    domain::BlobId blob;
    std::uint64_t size = 0;
    SystemTime internal_date{};
    // The facts as sqlite keeps them (mime::facts::split_facts()): the record
    // without search fields plus the parts apart; `facts` alone (has_envelope
    // false) for bytes that are no readable record.
    std::string facts;
    bool has_envelope = false;
    bool has_search = false;
    bool has_order = false;
    std::string envelope;
    std::string order;
    std::string search_headers;
    std::string search_text;
    std::uint64_t entry_count = 0;
  };

  struct BlobState {
    std::string bytes;
    std::uint64_t references = 0;
  };

  AccountState* find_account_locked(domain::AccountId id);
  AccountState* find_account_locked(const std::string& address);
  Result<MailboxState*> owned_mailbox_locked(domain::AccountId account, domain::MailboxId id);
  domain::ModSeq next_modseq_locked(AccountState& account, domain::MailboxId mailbox,
                                    domain::Uid uid, domain::ChangeKind kind);
  void log_locked(AccountState& account, domain::ModSeq modseq, domain::MailboxId mailbox,
                  domain::Uid uid, domain::ChangeKind kind);
  domain::BlobId put_locked(std::string bytes);
  // Stores a new message of `account` (its blob referenced once, its facts kept
  // apart as split_facts() gives them) with no entries yet.
  domain::MessageId add_message_locked(domain::AccountId account, const domain::BlobId& blob,
                                       const domain::NewMessage& message);
  void release_blob_locked(const domain::BlobId& id);
  domain::Entry add_entry_locked(MailboxState& mailbox, domain::MessageId message,
                                 domain::Flags flags, std::vector<std::string> keywords,
                                 domain::ModSeq modseq);
  void remove_entry_locked(AccountState& account, MailboxState& mailbox, std::uint32_t uid,
                           domain::ModSeq modseq);
  Result<domain::ModSeq> expunge_locked(AccountState& account, MailboxState& mailbox,
                                        const std::vector<domain::Uid>& uids);
  Result<std::vector<domain::Appended>> copy_locked(domain::AccountId account,
                                                    domain::MailboxId from,
                                                    const std::vector<domain::Uid>& uids,
                                                    domain::MailboxId to);
  void delete_mailbox_locked(AccountState& account, domain::MailboxId id);
  // The site-wide model (nullopt) or the account's; kNotFound for no such account.
  Result<MemorySpamModel*> spam_model_locked(std::optional<domain::AccountId> account);

  std::mutex mutex_;
  std::map<std::string, domain::Domain> domains_;  // by name
  std::map<domain::AccountId, AccountState> accounts_;
  std::map<std::string, domain::AccountId> account_by_address_;
  std::set<std::pair<std::string, std::string>> aliases_;  // (source, destination)
  std::map<domain::MailboxId, MailboxState> mailboxes_;
  std::map<domain::MessageId, MessageState> messages_;
  std::map<std::string, BlobState> blobs_;  // by hex id
  std::map<domain::QueueId, domain::QueuedMessage> queue_;
  MemorySpamModel site_spam_model_;
  std::int64_t next_id_ = 1;  // one counter for every kind of id keeps them distinct
  std::uint32_t next_uid_validity_ = 1;
  MemoryReportStore reports_;     // has its own mutex
  MemoryGreylistStore greylist_;  // has its own mutex
};

}  // namespace tern::store::memory
