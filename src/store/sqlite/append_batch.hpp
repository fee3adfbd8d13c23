// SPDX-License-Identifier: Apache-2.0
// The writer's fast path for MailStore::append: a run of append requests in one
// batch shares the account and mailbox counters (modseq, used bytes, UID) in
// memory and writes them back once, and inserts its rows with one multi-row
// INSERT per table (docs/adr/0004-sqlite-group-commit.md, "Appends in bulk" and
// "Rows in bulk").
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/future.hpp"
#include "base/result.hpp"
#include "domain/flags.hpp"
#include "domain/model.hpp"
#include "mime/facts/facts.hpp"
#include "store/sqlite/blob_files.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/segment_files.hpp"

namespace tern::store::sqlite {

using AppendOutcome = std::vector<Result<domain::Appended>>;

// One MailStore::append() call as the writer thread runs it. Built on the caller's
// thread (hash and staging done there), then owned by the writer until its
// promise is fulfilled after the batch's commit.
struct AppendRequest {
  std::string hex;                 // SHA-256 of the message: its blob id
  std::uint64_t size = 0;          // bytes of the message
  std::int64_t internal_date = 0;  // system_clock ticks
  std::string facts;               // stored as messages.facts
  // The parts of the facts kept apart (migration 0008): set when the facts were a
  // readable record, which `facts` then holds without its search fields and which
  // goes to message_records instead (messages.facts stays empty).
  std::optional<mime::facts::SplitFacts> split;
  std::vector<domain::AppendTarget> targets;  // non-empty
  // Where the appending thread wrote the bytes, when they went to a segment
  // (SqliteOptions::segment_bytes); the writer syncs it before the batch.
  std::optional<SegmentSpan> span;
  // The outcome, set by AppendBatch::run(): an Error only when the request as a
  // whole failed (an SQL error); per-target failures are inside the vector.
  std::optional<Result<AppendOutcome>> result;
  Promise<Result<AppendOutcome>> promise;
};

// The counter cache and SQL of a run of appends inside the writer's transaction.
//
// Contract with the writer (SqliteStorage::run_batch):
//   - run() decides a request's targets and stages its rows (message bytes,
//     messages and their summaries, entries, change log) in memory, with the ids
//     it hands out itself; write_rows() inserts what is staged, a multi-row INSERT
//     per table. The writer calls write_rows() at the end of every run of
//     appends; an SQL error there is the run's (it then redoes the run request by
//     request, write_rows() after each, to find the failing one). Blob-file
//     references and keyword definitions are still written by run() itself.
//   - The counters in `accounts` (modseq, used_bytes) and `mailboxes` (uid_next,
//     highest_modseq) change only in memory; flush() writes them back. The writer
//     calls flush() and then clear() before any other request's SQL runs and
//     before COMMIT, so no other statement ever sees stale counters or ids.
//   - A rolled-back request must be undone in memory too: take snapshot() before
//     it and restore() after the ROLLBACK TO (restore() also drops staged rows).
//   - clear() at the end of every batch: another process (the CLI) may change
//     accounts between batches, so nothing is trusted across commits.
// Not thread-safe: the writer thread only.
class AppendBatch {
 public:
  struct AccountState {
    std::int64_t id = 0;
    std::string address;
    std::uint64_t quota_bytes = 0;
    std::uint64_t used_bytes = 0;
    std::uint64_t modseq = 0;  // the last modseq handed out
    bool dirty = false;
  };

  struct MailboxState {
    std::int64_t id = 0;
    std::int64_t account = 0;
    std::uint32_t uid_next = 1;
    std::uint64_t highest_modseq = 0;
    bool dirty = false;
  };

  struct Snapshot {
    std::deque<AccountState> accounts;
    std::deque<MailboxState> mailboxes;
    std::optional<std::int64_t> next_bytes_id;
    std::optional<std::int64_t> next_message_id;
  };

  // Decides `request` inside the writer's transaction and stages its rows: the
  // bytes, or the segment span that holds them (request.span), in one
  // message_bytes row when `inline_blob` or the span is given, or else references
  // on the blob file's blobs row (taken at once); one message row per account
  // (sharing those bytes) with its summary rows, and one entry and change-log row
  // per accepted target. Unknown or foreign mailboxes and quota overruns are
  // per-target errors; an SQL failure is returned as the request's error, and the
  // caller must roll the request's rows back and restore() the counters. The
  // outcome holds the ids the rows will have once write_rows() succeeds.
  // Requires: `request` and `inline_blob` outlive the next write_rows().
  Result<AppendOutcome> run(Connection& c, const AppendRequest& request,
                            const TempBlob* inline_blob);

  // Inserts the rows staged since the last write_rows() (or restore()), one
  // multi-row INSERT per table and chunk: the per-statement work of SQLite is
  // then paid per batch, not per append. On an SQL error nothing is unstaged:
  // the caller rolls back and restore()s.
  Result<void> write_rows(Connection& c);

  // Writes every changed counter back (one UPDATE per touched account and
  // mailbox). Leaves the cache as it is.
  Result<void> flush(Connection& c);

  // True when counters are held that flush() has not written.
  bool dirty() const;

  Snapshot snapshot() const {
    return Snapshot{accounts_, mailboxes_, next_bytes_id_, next_message_id_};
  }

  void restore(Snapshot snapshot) {
    accounts_ = std::move(snapshot.accounts);
    mailboxes_ = std::move(snapshot.mailboxes);
    next_bytes_id_ = snapshot.next_bytes_id;
    next_message_id_ = snapshot.next_message_id;
    unstage();
  }

  // Forgets every cached row and id (the next run() reloads from the database),
  // and drops anything still staged.
  void clear() {
    accounts_.clear();
    mailboxes_.clear();
    next_bytes_id_.reset();
    next_message_id_.reset();
    unstage();
  }

 private:
  // Staged rows. Views point into the requests (and their inline blobs), which
  // live until the batch is answered.
  struct BytesRow {
    std::int64_t id = 0;
    std::int64_t refs = 0;
    std::string_view data;              // empty when the bytes are in a segment
    const SegmentSpan* span = nullptr;  // the request's, when they are
  };

  struct MessageRow {
    std::int64_t id = 0;
    std::int64_t account = 0;
    std::string_view hex;
    std::uint64_t size = 0;
    std::int64_t internal_date = 0;
    std::string_view facts;
    std::int64_t entry_count = 0;
    std::int64_t bytes_id = 0;  // 0: NULL (the bytes are a blobs row's)
  };

  struct SummaryRow {  // message_records, message_search_*
    std::int64_t message = 0;
    std::string_view value;
  };

  struct EnvelopeRow {  // message_envelopes
    std::int64_t message = 0;
    std::string_view envelope;
    std::optional<std::string_view> order;  // none: NULL (facts without order keys)
  };

  struct EntryRow {
    std::int64_t box = 0;
    std::uint32_t uid = 0;
    std::int64_t message = 0;
    std::int64_t save_date = 0;
    int flags = 0;
    std::string keywords;
    std::uint64_t modseq = 0;
  };

  struct ChangeRow {
    std::int64_t account = 0;
    std::uint64_t modseq = 0;
    std::int64_t box = 0;
    std::uint32_t uid = 0;
  };

  // The cached row, loaded on first use; nullptr when it does not exist.
  Result<AccountState*> account(Connection& c, std::int64_t id);
  Result<MailboxState*> mailbox(Connection& c, std::int64_t id);

  // The next rowid of message_bytes and of messages, as SQLite would choose it
  // (largest + 1; for AUTOINCREMENT messages, also above sqlite_sequence).
  Result<std::int64_t> take_bytes_id(Connection& c);
  Result<std::int64_t> take_message_id(Connection& c);

  void unstage();

  // A batch touches few accounts and mailboxes: linear search beats hashing. A
  // deque keeps the pointers run() holds valid while it loads more rows.
  std::deque<AccountState> accounts_;
  std::deque<MailboxState> mailboxes_;
  std::optional<std::int64_t> next_bytes_id_;
  std::optional<std::int64_t> next_message_id_;
  std::vector<BytesRow> bytes_rows_;
  std::vector<MessageRow> message_rows_;
  std::vector<SummaryRow> record_rows_;
  std::vector<EnvelopeRow> envelope_rows_;
  std::vector<SummaryRow> search_header_rows_;
  std::vector<SummaryRow> search_text_rows_;
  std::vector<EntryRow> entry_rows_;
  std::vector<ChangeRow> change_rows_;
};

// Takes `add_refs` references on blob `hex` (inserting its blobs row with that
// count when missing). `inline_bytes`, when given, are the blob's bytes to keep
// in the database (blob_bytes): stored only if the row is new, since an existing
// row's bytes (or file) are durable already. An SQL error otherwise.
Result<void> reference_blob(Connection& c, const std::string& hex, std::uint64_t size,
                            std::int64_t add_refs, const std::string* inline_bytes);

// Fulfils the request's promise once its batch is over: with `error` when the
// request could not be stored (the batch or its blob failed), otherwise with the
// result run() left (which may itself be the request's error).
void finish_append(AppendRequest& request, const Error* error);

// Keywords live in one space-separated TEXT column (entries.keywords,
// mailboxes.keywords): domain::join_keywords() and split_keywords().
using domain::join_keywords;
using domain::split_keywords;

// The keywords mailbox `box` defines (normalised; none for a missing mailbox).
Result<std::vector<std::string>> defined_keywords(Connection& c, std::int64_t box);

// Adds `keywords` (normalised, spelled as defined) to `defined`, the mailbox's
// definitions as defined_keywords() read them, and writes the set when it grew.
Result<void> add_defined_keywords(Connection& c, std::int64_t box, std::vector<std::string> defined,
                                  const std::vector<std::string>& keywords);

// Spells `keywords` (normalised) as mailbox `box` defines them
// (domain::spell_as_defined), then adds the new ones to its definitions. Call it
// before the entries take the keywords.
Result<void> define_keywords(Connection& c, std::int64_t box, std::vector<std::string>& keywords);

}  // namespace tern::store::sqlite
