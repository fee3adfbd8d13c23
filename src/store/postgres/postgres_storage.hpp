// SPDX-License-Identifier: Apache-2.0
// store::postgres: every storage port on PostgreSQL through libpq, so any number
// of ternd nodes can serve the same accounts from one database (issue #9,
// docs/adr/0015-postgres-backend.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.hpp"
#include "domain/ports.hpp"
#include "domain/store_import.hpp"

namespace tern::store::postgres {

class BlobDir;
class Connection;
struct PendingAppend;  // an append() waiting for the append lane

// The channel every mail change is announced on, in the same transaction as the
// change: `NOTIFY <channel>, '<account id>'` (decimal). A node that LISTENs on it
// learns that the account changed on another node once that change commits.
// kChangeChannel is the channel of the default schema.
inline constexpr std::string_view kChangeChannel = "tern_changes";

// The channel of the store in `schema` (PostgresOptions::schema). NOTIFY channels
// belong to the database, not to a schema, while account ids are only unique
// within one schema: stores in two schemas of one database (staging beside
// production, the tests) must not hear each other's "account 1 changed". So:
//   ""  and "public"                 -> "tern_changes" (the same tables normally)
//   letters, digits, "_", short      -> "tern_changes_<schema>" (readable in psql)
//   anything else, or too long       -> "tern_changesx<16 hex digits of a hash>"
// Always a plain identifier of at most 63 bytes (NAMEDATALEN - 1), so LISTEN and
// pg_notify() take it as it is. Every node of one deployment must name the same
// schema, or they do not hear each other.
std::string change_channel(std::string_view schema);

struct PostgresOptions {
  // A libpq connection string or URL ("host=/run/postgresql dbname=tern",
  // "postgresql://tern@db.example/tern"). Required.
  std::string conninfo;
  // Connections in the pool, each served by its own thread. Every port call runs
  // on one of them; this bounds the concurrent transactions of this node.
  std::size_t pool_size = 4;
  // The schema holding tern's tables ("" = the connection's default search_path,
  // normally "public"). Created if missing. Lets several stores (tests, staging)
  // share one database.
  std::string schema;
  // Blob bytes are stored in rows of at most this many bytes (table blob_chunks),
  // so a large message never needs one huge bytea value in memory on the server.
  std::size_t chunk_bytes = 1024 * 1024;
  // "" (default): blob bytes live in the database. Otherwise a directory every
  // node mounts (`[store] blob_dir`): new blobs are written there as
  // <blob_dir>/ab/cd/<sha256>, fsynced before their row commits; the database
  // keeps their rows and reference counts. Rows written before a switch keep
  // their bytes where they are.
  std::string blob_dir;
  // collect_garbage() removes files in blob_dir that no row names only when
  // older than this: a file younger may belong to another node's transaction
  // that has not committed yet (the port's in-flight window).
  std::chrono::seconds blob_dir_grace{3600};
  // The most append() requests one pool connection runs in one transaction (one
  // commit, one WAL flush). 1 turns batching off.
  std::size_t max_append_batch = 64;
  // How often a transaction that PostgreSQL aborted for a serialization failure
  // or a deadlock (SQLSTATE 40001, 40P01) is retried before kTemporary.
  int max_retries = 5;
  log::Logger logger;
};

// Counters for tests and benchmarks.
struct PostgresStats {
  std::uint64_t transactions = 0;  // committed transactions
  std::uint64_t appends = 0;       // append() requests committed
  std::uint64_t retries = 0;       // transactions retried after 40001/40P01
};

// PostgresStorage implements every storage port on PostgreSQL 15 with the
// observable behaviour of store::memory and store::sqlite (the conformance suite
// checks it), and is safe to share between processes and hosts:
//
//   - UIDs and modseqs: every mail-changing transaction first locks the rows of
//     the accounts it touches (SELECT ... FOR UPDATE, ascending id), then takes
//     modseqs from accounts.modseq and UIDs from mailboxes.uid_next. Two nodes
//     appending to one mailbox therefore never hand out one UID or modseq twice,
//     and modseqs become visible in the order they were allocated.
//   - Queue: claim_due() picks rows with FOR UPDATE SKIP LOCKED and sets a lease;
//     no two nodes claim one entry while its lease holds, and an expired lease
//     (a dead node) makes the entry claimable again.
//   - Durability: a future completes after COMMIT returned with the server's
//     synchronous_commit (on by default), blob bytes included (they are rows,
//     or with blob_dir files fsynced before the transaction began).
//   - Changes: every transaction that changes an account's mail also runs
//     pg_notify(change_channel(schema), '<account id>').
//   - Migrations (src/store/postgres/migrations/NNNN_*.sql, embedded) run at open
//     in one transaction holding pg_advisory_xact_lock, so nodes starting at once
//     apply each version exactly once; schema_version records them.
//
// Threads: `pool_size` threads, each owning one connection. Port methods may be
// called from any thread and return at once; futures complete on pool threads
// (on_ready callbacks must be short and must not block). A broken connection is
// re-established on its next use; the request that found it broken fails with
// kTemporary.
class PostgresStorage final : public domain::Storage,
                              private domain::Directory,
                              private domain::MailStore,
                              private domain::BlobStore,
                              private domain::QueueStore,
                              private domain::ReportStore,
                              private domain::SpamStore,
                              private domain::GreylistStore,
                              public domain::StoreImport {
 public:
  // Connects `pool_size` connections, creates the schema if asked, applies
  // pending migrations and starts the pool. kInvalidInput for an empty conninfo;
  // kIo when the server cannot be reached; kCorrupt if the schema is newer than
  // this binary knows.
  static Result<std::unique_ptr<PostgresStorage>> open(PostgresOptions options);

  PostgresStorage(const PostgresStorage&) = delete;
  PostgresStorage& operator=(const PostgresStorage&) = delete;
  // Calls close().
  ~PostgresStorage() override;

  // Runs every request already submitted, then closes the connections. Requests
  // made after close() fail with kCancelled. Idempotent.
  void close();

  // The highest migration version applied to the database.
  Result<int> schema_version();

  PostgresStats stats() const;

  // The server process ids of the pool's connections (PQbackendPID), as of their
  // last (re)connect: a LISTEN connection can tell this node's own
  // notifications (PGnotify::be_pid) from other nodes'.
  std::vector<int> backend_pids() const;

  // ----- this node's own change notifications (services/cluster's self-filter)
  //
  // Every committed change is announced twice: in process to the observer set
  // here, at once, and to LISTEN connections by PostgreSQL. A node's listener
  // drops the notices its own pool sent (the observer already woke the node)
  // and passes on other nodes'. Matching is exact, never by pid alone: before a
  // transaction that announced accounts commits, the pool records one expected
  // notice per (server pid, account); a received notice is the node's own only
  // if it consumes such a record. A pid of a pool connection that died and was
  // replaced (whose number the server may hand to another node's backend later)
  // therefore filters nothing once its notices are matched, and a failed COMMIT
  // withdraws its records. A notice that matches no record is passed on: at
  // worst a second wake, never a missed change.

  // Called on a pool thread after each commit that announced `account`. Short,
  // non-blocking (ChangeHub::notify). Set before the store is used.
  void set_change_observer(std::function<void(domain::AccountId)> observer);
  // Starts recording expected notices, forgetting those recorded so far: the
  // listener calls it each time LISTEN is acknowledged (notices sent before were
  // not heard by it). Until the first call nothing is recorded.
  void expect_own_notifications();
  // True (and the record consumed) when this store's pool sent a notice for
  // `account` from server process `sender_pid` that has not been matched yet.
  bool take_own_notification(int sender_pid, domain::AccountId account);

  // ----- domain::StoreImport (`tern migrate`)
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
  domain::Async<domain::RecordedReportRows> export_report_rows() override;
  domain::Async<void> import_report_rows(domain::RecordedReportRows rows) override;
  domain::Async<std::vector<domain::SpamModelRows>> export_spam_models() override;
  domain::Async<void> import_spam_models(std::vector<domain::SpamModelRows> models) override;

  domain::Directory& directory() override { return *this; }

  domain::MailStore& mail() override { return *this; }

  domain::BlobStore& blobs() override { return *this; }

  domain::QueueStore& queue() override { return *this; }

  domain::ReportStore& reports() override { return *this; }

  domain::SpamStore& spam() override { return *this; }

  domain::GreylistStore& greylist() override { return *this; }

 private:
  struct Job;

  explicit PostgresStorage(PostgresOptions options);
  Result<void> start();
  void worker_loop(Connection& connection);
  void submit(Job job);
  // Runs `body(connection)` (returning Result<T>) in one transaction on a pool
  // thread, retrying serialization failures; the future gets its result after
  // COMMIT (or the error after ROLLBACK).
  template <class T, class Body>
  domain::Async<T> transaction(Body body, bool read_only = false);
  // Runs `body` in a transaction on `connection`, retrying retryable failures.
  template <class T, class Body>
  Result<T> run_transaction(Connection& connection, Body& body, bool read_only);
  // Runs a batch of appends in one transaction; if it fails for a reason other
  // than a retryable conflict, runs each append alone so only the bad one fails.
  void run_appends(Connection& connection, std::vector<std::unique_ptr<PendingAppend>>& batch);
  // With blob_dir: makes the blob's file durable (before its row may commit).
  Result<void> store_blob_file(const std::string& hex, std::string_view bytes);
  // Records the new server pid of a connection that was re-established.
  void note_reconnect(Connection& c);
  // The accounts `c`'s transaction announced, each once (PostgreSQL folds equal
  // notices of one transaction), recorded as expected notices of `c`'s pid.
  std::vector<std::int64_t> expect_announced(Connection& c);
  // Withdraws what expect_announced() recorded (the COMMIT failed).
  void withdraw_announced(int pid, const std::vector<std::int64_t>& accounts);
  // Tells the change observer, after the COMMIT.
  void observe_announced(const std::vector<std::int64_t>& accounts);
  void count(std::uint64_t transactions, std::uint64_t appends, std::uint64_t retries);

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

  // ----- domain::ReportStore (the SQL is in report_tables.cpp)
  domain::Async<void> record_dmarc(domain::DmarcEvaluation evaluation) override;
  domain::Async<void> record_tls(domain::TlsSessionResult result) override;
  domain::Async<std::vector<std::string>> dmarc_domains(SystemTime begin, SystemTime end) override;
  domain::Async<domain::DmarcAggregate> dmarc_aggregate(std::string domain, SystemTime begin,
                                                        SystemTime end) override;
  domain::Async<std::vector<std::string>> tls_domains(SystemTime begin, SystemTime end) override;
  domain::Async<std::vector<domain::TlsPolicySummary>> tls_summary(std::string domain,
                                                                   SystemTime begin,
                                                                   SystemTime end) override;
  domain::Async<bool> store_received_report(domain::ReceivedReport report) override;
  domain::Async<std::vector<domain::ReceivedReport>> received_reports(
      domain::ReceivedReportQuery query) override;
  domain::Async<std::optional<SystemTime>> report_cursor(std::string name) override;
  domain::Async<void> set_report_cursor(std::string name, SystemTime value) override;
  domain::Async<bool> compare_and_set_report_cursor(std::string name,
                                                    std::optional<SystemTime> expected,
                                                    SystemTime value) override;
  domain::Async<void> put_report_post(domain::ReportPost post) override;
  domain::Async<std::vector<domain::ReportPost>> due_report_posts(SystemTime now,
                                                                  std::size_t limit) override;
  domain::Async<std::vector<domain::ReportPost>> claim_report_posts(
      SystemTime now, std::size_t limit, std::chrono::seconds lease) override;
  domain::Async<void> remove_report_post(std::string uri, std::string report_id) override;
  domain::Async<std::uint64_t> prune_reports(SystemTime before) override;

  // ----- domain::GreylistStore (migration 0007_greylist.sql)
  domain::Async<domain::GreylistVerdict> check_greylist(domain::GreylistTriplet triplet,
                                                        domain::GreylistPolicy policy,
                                                        std::int64_t now) override;
  domain::Async<std::uint64_t> purge_greylist(std::int64_t before) override;

  // ----- domain::SpamStore (the SQL is in spam_tables.cpp)
  domain::Async<domain::SpamCounts> spam_counts(std::optional<domain::AccountId> account,
                                                std::vector<std::uint64_t> tokens) override;
  domain::Async<domain::SpamLearned> learn_spam(domain::SpamLesson lesson) override;
  domain::Async<bool> forget_spam(std::optional<domain::AccountId> account, std::string message_key,
                                  std::vector<std::uint64_t> tokens) override;
  domain::Async<domain::SpamModelStats> spam_stats(
      std::optional<domain::AccountId> account) override;
  domain::Async<void> reset_spam_model(std::optional<domain::AccountId> account) override;

  PostgresOptions options_;
  std::unique_ptr<BlobDir> blob_dir_;  // null: blobs in the database
  std::vector<std::unique_ptr<Connection>> connections_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::deque<std::unique_ptr<PendingAppend>> appends_;
  // One batch of appends runs at a time, in submission order, so appends issued
  // one after another by one caller get ascending UIDs (the port's promise).
  bool append_running_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  PostgresStats stats_;
  std::vector<int> backend_pids_;  // by connection, updated on reconnect

  // Guards the own-notification records and the observer (never held with mutex_).
  mutable std::mutex notices_mutex_;
  bool expecting_ = false;  // expect_own_notifications() was called
  // (server pid, account) -> notices sent and not matched yet
  std::map<std::pair<int, std::int64_t>, std::uint32_t> expected_;
  std::function<void(domain::AccountId)> observer_;

  std::vector<std::thread> workers_;
};

}  // namespace tern::store::postgres
