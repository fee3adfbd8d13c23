// SPDX-License-Identifier: Apache-2.0
// store::sqlite: the embedded default backend. Metadata in <dir>/tern.db (SQLite,
// WAL, one writer thread with group commit), blobs in <dir>/blobs/ab/cd/<sha256>.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/log.hpp"
#include "domain/ports.hpp"
#include "domain/store_import.hpp"
#include "store/sqlite/blob_files.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/segment_files.hpp"

namespace tern::store::sqlite {

class AppendBatch;

struct SqliteOptions {
  // true: every write request queued while the previous batch was committing joins
  // one transaction and one round of fsyncs (group commit). false: one transaction
  // and one round of fsyncs per request; only for benchmarks and comparisons.
  bool group_commit = true;
  // The most requests in one batch; bounds the latency a batch adds to its members.
  std::size_t max_batch = 512;
  // The writer's WAL frames are gathered and written in 64 KiB pieces at commit,
  // not with two writes each (store/sqlite/wal_vfs.hpp). false: SQLite's default
  // VFS, for comparisons.
  bool gather_wal_writes = true;
  // Blobs up to this size are stored in the database (table blob_bytes) instead of
  // a file: the batch's WAL fsync then makes them durable too, so a batch of small
  // messages costs one sync. Larger blobs are files under blobs/ab/cd/. 0: always
  // files. Most mail is far below the default.
  std::size_t inline_blob_max_bytes = 64 * 1024;
  // Under load (see segment_min_queue; never without group commit) a delivered
  // message up to inline_blob_max_bytes goes to a segment file (segments/, many
  // messages a file) that the appending thread writes and the writer syncs once
  // per batch, instead of into the database, where its bytes would be written
  // twice (WAL and checkpoint) by the one writer thread
  // (docs/adr/0020-message-segments.md). A segment takes this many bytes; 0:
  // such bytes are stored in the database (message_bytes.data).
  std::uint64_t segment_bytes = 64ULL << 20;
  // An append's bytes go to a segment only when at least this many writes are
  // queued, i.e. when its batch will be large: a segment costs a second sync
  // per batch. With 10 writers (batches of about 6) segments cost 12% of
  // appends/s, with 50 (batches of about 33) they gained 12-18%
  // (tern_store_bench, ADR 0020). 0: always (tests).
  std::size_t segment_min_queue = 8;
  // Reader threads, each with its own connection (WAL readers never block the
  // writer nor each other).
  std::size_t readers = 2;
  // Connections for reads made by a thread that may block (tern::MayBlockScope:
  // a blocking-pool job). Such a read runs on the calling thread and returns a
  // ready future, without the two thread switches through a reader thread; past
  // this many at once, reads queue for the reader threads as from any thread.
  // Opened on first use. 0: every read goes through the reader threads.
  std::size_t inline_readers = 4;
  // When the WAL holds this many frames after a commit, the checkpointer thread
  // copies them into the database file (a PASSIVE checkpoint on its own
  // connection) while the writer goes on; the writer then only finishes what
  // was committed meanwhile, between batches, so that the WAL starts over
  // (docs/adr/0019-checkpoints-off-the-writer.md). SQLite's own default is 1000.
  int checkpoint_frames = 1000;
  log::Logger logger;
  // Tests only: runs on the writer after a batch's own requests, before it takes
  // late joiners (docs/adr/0021-late-joiners.md).
  std::function<void()> before_late_joiners;
};

// Counters of the writer, for benchmarks and tests.
struct WriterStats {
  std::uint64_t batches = 0;   // committed transactions
  std::uint64_t requests = 0;  // write requests completed (successfully or not)
};

// SqliteStorage implements every storage port over SQLite and blob files, with the
// same observable behaviour as store::memory (the conformance suite checks it).
//
// Durability (ARCHITECTURE.md §4): a write's future completes only after
//   1. each new blob it stored was written to blobs/tmp/, fdatasynced, renamed to
//      its final name and its directory fsynced, and each segment span it wrote
//      was fdatasynced in its segment, and then
//   2. the SQLite transaction holding its rows was committed with
//      synchronous=FULL (the WAL is fsynced at commit).
// So a kill -9 or power loss at any moment loses nothing that was acknowledged,
// and no committed row names a missing or partial blob file or span. Blob files
// and spans whose rows never committed are harmless orphans that
// collect_garbage() removes.
//
// Threads: one writer thread owns the write connection and runs write requests in
// batches; a checkpointer thread copies the WAL into the database on its own
// connection (ADR 0019); segment files have a syncing and a zero-filling thread
// (ADR 0020); `readers` threads run reads on their own connections. Every port
// method may be called from any thread and returns at once; futures complete on
// the writer and reader threads (so on_ready callbacks must be short and must not
// block).
//
// One process at a time should serve a data directory. A second process (the
// CLI) may open it: schema migrations run under BEGIN IMMEDIATE and SQLite locks
// keep the database consistent, but blob deduplication assumes no other process
// runs collect_garbage() concurrently.
class SqliteStorage final : public domain::Storage,
                            private domain::Directory,
                            private domain::MailStore,
                            private domain::BlobStore,
                            private domain::QueueStore,
                            private domain::ReportStore,
                            private domain::SpamStore,
                            private domain::GreylistStore,
                            public domain::StoreImport {
 public:
  // Opens or creates the store in `dir` (created if missing): applies pending
  // migrations, deletes stale temp blob files left by a crash, and starts the
  // writer and reader threads. kIo if the directory or database cannot be opened,
  // kCorrupt if the schema is newer than this binary knows.
  static Result<std::unique_ptr<SqliteStorage>> open(std::filesystem::path dir,
                                                     SqliteOptions options = {});

  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;
  // Calls close().
  ~SqliteStorage() override;

  // Completes every queued write (drains the writer), then stops the threads.
  // Requests made after close() fail with kCancelled. Idempotent.
  void close();

  // Runs PRAGMA integrity_check on a fresh connection; "ok" when the database is
  // sound, otherwise SQLite's report. Blocks the calling thread.
  Result<std::string> integrity_check();

  // The ids of blobs that committed rows reference but whose bytes (a file, a
  // blob_bytes or message_bytes row, a segment's span) are missing.
  // Empty on a healthy store. Blocks the calling thread.
  Result<std::vector<std::string>> missing_blobs();

  WriterStats stats() const;

  domain::Directory& directory() override { return *this; }

  domain::MailStore& mail() override { return *this; }

  domain::BlobStore& blobs() override { return *this; }

  domain::QueueStore& queue() override { return *this; }

  domain::ReportStore& reports() override { return *this; }

  domain::SpamStore& spam() override { return *this; }

  domain::GreylistStore& greylist() override { return *this; }

 private:
  struct WriteJob;
  struct ReadJob;

  SqliteStorage(std::filesystem::path dir, SqliteOptions options);
  Result<void> start();
  void writer_loop();
  void reader_loop(Connection& connection);
  void checkpointer_loop(Connection& connection);
  // sqlite3_wal_hook of the writer's connection: runs after each commit with the
  // WAL's frame count and wakes the checkpointer past options_.checkpoint_frames.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int frames);
  // Between batches: when a background checkpoint round has ended, checkpoints
  // the frames committed during it (few) so that the next commit restarts the WAL
  // from its beginning instead of growing it.
  void finish_checkpoint(Connection& c);
  void run_batch(std::vector<WriteJob>& batch);
  void submit_write(WriteJob job);
  // Group commit: moves the appends queued meanwhile that can join the running
  // transaction (their bytes go with their rows: no segment span, no blob file)
  // from the front of the queue to the end of `batch`, up to max_batch; how many.
  std::size_t take_late_joiners(std::vector<WriteJob>& batch);
  // Runs the append jobs batch[begin, end) through `appends` (one savepoint for
  // the run; request by request again if one fails). An error when SQLite
  // aborted the whole transaction.
  static std::optional<Error> run_appends(Connection& c, AppendBatch& appends,
                                          std::vector<WriteJob>& batch,
                                          std::vector<std::vector<TempBlob>>& inline_of,
                                          std::vector<std::optional<Error>>& failed,
                                          std::size_t begin, std::size_t end);
  // Stages `bytes` (whose SHA-256 is `hex`) for a write job: in memory when small
  // enough to be stored inline, otherwise in a temp file written on this thread.
  Result<TempBlob> stage_blob(const std::string& hex, std::string_view bytes);
  // The same, taking over `bytes` instead of copying them when they stay inline.
  Result<TempBlob> stage_blob(const std::string& hex, std::string&& bytes);

  // Queues `body(connection)` (returning Result<T>) for the writer; `blobs` are
  // temp files written by the caller that must be durable before the body runs.
  // `exclusive` jobs run alone in their batch.
  template <class T, class Body>
  domain::Async<T> write(std::vector<TempBlob> blobs, Body body, bool exclusive = false);
  template <class T, class Body>
  domain::Async<T> read(Body body);
  // An idle inline-read connection, opening one while fewer than
  // options_.inline_readers exist; null when none is free or the store is closing.
  std::unique_ptr<Connection> take_inline_reader();
  void return_inline_reader(std::unique_ptr<Connection> connection);

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

  // ----- domain::GreylistStore (migration 0017_greylist.sql)
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

  // Reads and checks a blob file against its id (kCorrupt on mismatch or when a
  // referenced file is missing).
  Result<std::string> read_blob(Connection& c, const std::string& hex);
  // collect_garbage() for segments, in the writer's transaction: moves the live
  // spans of mostly dead segments into the active one and returns the ids of
  // segments without a live span, to be removed after the commit.
  Result<std::vector<std::int64_t>> compact_segments(Connection& c);

  std::filesystem::path dir_;
  SqliteOptions options_;
  BlobFiles blob_files_;
  SegmentFiles segment_files_;
  std::unique_ptr<Connection> writer_connection_;  // used only by the writer thread
  std::vector<std::unique_ptr<Connection>> reader_connections_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable write_cv_;
  std::condition_variable read_cv_;
  std::deque<WriteJob> write_queue_;
  std::deque<std::function<void(Connection&)>> read_queue_;
  bool stopping_ = false;
  bool closed_ = false;
  WriterStats stats_;
  // write_queue_.size(), for append() to read without the lock.
  std::atomic<std::size_t> queued_writes_{0};

  std::thread writer_;
  std::vector<std::thread> readers_;

  // ----- checkpoints off the writer (ADR 0019)
  std::unique_ptr<Connection> checkpoint_connection_;  // the checkpointer's only
  std::mutex checkpoint_mutex_;                        // guards the two below
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool checkpoint_stopping_ = false;
  std::atomic<bool> checkpoint_busy_{false};   // a round is asked for or running
  std::atomic<bool> checkpoint_ended_{false};  // a round ended; writer: finish it
  std::thread checkpointer_;

  std::mutex inline_mutex_;  // guards the three below
  std::vector<std::unique_ptr<Connection>> inline_idle_;
  std::size_t inline_open_ = 0;  // idle and in use
  bool inline_closed_ = false;
};

}  // namespace tern::store::sqlite
