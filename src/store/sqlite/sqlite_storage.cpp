// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/sqlite_storage.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <pthread.h>
#include <sqlite3.h>

#include "domain/address.hpp"
#include "domain/flags.hpp"
#include "domain/mailbox_name.hpp"
#include "domain/summary.hpp"
#include "mime/facts/facts.hpp"
#include "store/sqlite/append_batch.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/report_tables.hpp"
#include "store/sqlite/spam_tables.hpp"
#include "store/sqlite/wal_vfs.hpp"

namespace tern::store::sqlite {

namespace d = tern::domain;
using d::canonical_mailbox_name;
using d::domain_of;
using d::is_valid_mailbox_name;
using d::sha256_hex;
namespace fs = std::filesystem;

// A write request. `body` runs inside the batch transaction under its own
// SAVEPOINT and returns false when its changes must be rolled back; `finish` then
// delivers the outcome once the batch is durable (error == nullptr) or failed.
// An append carries no closures: the writer runs it through AppendBatch, which
// shares the counters of a run of appends (`append` set, `body` empty).
struct SqliteStorage::WriteJob {
  std::vector<TempBlob> blobs;
  std::function<bool(Connection&)> body;
  std::function<void(Connection&)> after_commit;
  std::function<void(const Error*)> finish;
  std::unique_ptr<AppendRequest> append;
  bool exclusive = false;
};

namespace {

std::int64_t ticks(SystemTime t) {
  return t.time_since_epoch().count();
}

SystemTime from_ticks(std::int64_t v) {
  return SystemTime(SystemTime::duration(v));
}

SystemTime now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

Error not_found(std::string what) {
  return Error{ErrorCode::kNotFound, std::move(what)};
}

// ----- row readers

constexpr std::string_view kAccountColumns =
    "SELECT id, domain_id, address, password_hash, quota_bytes, used_bytes, scram_sha256 FROM "
    "accounts ";

d::Account account_from(const Statement& s) {
  d::Account a;
  a.id = d::AccountId{s.int64(0)};
  a.domain = d::DomainId{s.int64(1)};
  a.address = s.text(2);
  a.password_hash = s.text(3);
  a.quota_bytes = s.uint64(4);
  a.used_bytes = s.uint64(5);
  a.scram_sha256 = s.text(6);
  return a;
}

constexpr std::string_view kMailboxColumns =
    "SELECT id, account_id, name, special_use, uid_validity, uid_next, highest_modseq, "
    "subscribed, keywords FROM mailboxes ";

d::Mailbox mailbox_from(const Statement& s) {
  d::Mailbox m;
  m.id = d::MailboxId{s.int64(0)};
  m.account = d::AccountId{s.int64(1)};
  m.name = s.text(2);
  m.special_use = static_cast<d::SpecialUse>(s.int64(3));
  m.uid_validity = d::UidValidity{static_cast<std::uint32_t>(s.int64(4))};
  m.uid_next = d::Uid{static_cast<std::uint32_t>(s.int64(5))};
  m.highest_modseq = d::ModSeq{s.uint64(6)};
  m.subscribed = s.int64(7) != 0;
  m.keywords = d::normalize_keywords(split_keywords(s.text(8)));
  return m;
}

constexpr std::string_view kEntryColumns =
    "SELECT e.mailbox_id, e.uid, e.message_id, m.blob, m.size, m.internal_date, e.save_date, "
    "e.flags, e.keywords, e.modseq FROM entries e JOIN messages m ON m.id = e.message_id ";

d::Entry entry_from(const Statement& s) {
  d::Entry e;
  e.mailbox = d::MailboxId{s.int64(0)};
  e.uid = d::Uid{static_cast<std::uint32_t>(s.int64(1))};
  e.message = d::MessageId{s.int64(2)};
  e.blob = d::BlobId{s.text(3)};
  e.size = s.uint64(4);
  e.internal_date = from_ticks(s.int64(5));
  e.save_date = from_ticks(s.int64(6));
  e.flags = static_cast<d::Flags>(s.int64(7));
  e.keywords = d::normalize_keywords(split_keywords(s.text(8)));
  e.modseq = d::ModSeq{s.uint64(9)};
  return e;
}

template <class T, class Reader, class... Args>
Result<std::vector<T>> rows(Connection& c, std::string_view sql, Reader reader,
                            const Args&... args) {
  auto stmt = c.query(sql, args...);
  if (!stmt) {
    return stmt.error();
  }
  std::vector<T> out;
  while (true) {
    auto row = stmt->next();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return out;
    }
    out.push_back(reader(*stmt));
  }
}

template <class T, class Reader, class... Args>
Result<std::optional<T>> one_row(Connection& c, std::string_view sql, Reader reader,
                                 const Args&... args) {
  auto stmt = c.query(sql, args...);
  if (!stmt) {
    return stmt.error();
  }
  auto row = stmt->next();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<T>();
  }
  return std::optional<T>(reader(*stmt));
}

Result<std::optional<d::Account>> load_account(Connection& c, d::AccountId id) {
  return one_row<d::Account>(c, std::string(kAccountColumns) + "WHERE id = ?1", account_from,
                             d::value_of(id));
}

Result<std::optional<d::Account>> load_account(Connection& c, const std::string& address) {
  return one_row<d::Account>(c, std::string(kAccountColumns) + "WHERE address = ?1", account_from,
                             address);
}

// The mailbox if it exists and belongs to `account`; another account's mailbox is
// reported as missing, so ids reveal nothing.
Result<d::Mailbox> owned_mailbox(Connection& c, d::AccountId account, d::MailboxId id) {
  auto box = one_row<d::Mailbox>(c, std::string(kMailboxColumns) + "WHERE id = ?1", mailbox_from,
                                 d::value_of(id));
  if (!box) {
    return box.error();
  }
  if (!*box || (*box)->account != account) {
    return not_found("no such mailbox");
  }
  return **box;
}

// ----- change log and counters (writer only)

Result<d::ModSeq> allocate_modseq(Connection& c, d::AccountId account) {
  auto value = c.scalar("UPDATE accounts SET modseq = modseq + 1 WHERE id = ?1 RETURNING modseq",
                        d::value_of(account));
  if (!value) {
    return value.error();
  }
  if (!*value) {
    return not_found("no such account");
  }
  return d::ModSeq{static_cast<std::uint64_t>(**value)};
}

Result<void> log_change(Connection& c, d::AccountId account, d::ModSeq modseq, d::MailboxId box,
                        d::Uid uid, d::ChangeKind kind) {
  return c.run(
      "INSERT INTO changes (account_id, modseq, mailbox_id, uid, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
      d::value_of(account), d::value_of(modseq), d::value_of(box), d::value_of(uid),
      static_cast<int>(kind));
}

Result<void> set_highest(Connection& c, d::MailboxId box, d::ModSeq modseq) {
  return c.run("UPDATE mailboxes SET highest_modseq = ?2 WHERE id = ?1", d::value_of(box),
               d::value_of(modseq));
}

// Takes the account's next modseq for a mailbox-level or single-entry change and
// records it in the log and the mailbox.
Result<d::ModSeq> mailbox_change(Connection& c, d::AccountId account, d::MailboxId box, d::Uid uid,
                                 d::ChangeKind kind) {
  TERN_TRY(auto modseq, allocate_modseq(c, account));
  TERN_TRY_VOID(log_change(c, account, modseq, box, uid, kind));
  TERN_TRY_VOID(set_highest(c, box, modseq));
  return modseq;
}

// A UIDVALIDITY no mailbox of this store had before: the clock, but never less
// than the last one handed out plus one (RFC 9051 §2.3.1.1).
Result<d::UidValidity> next_uid_validity(Connection& c) {
  TERN_TRY(auto last, c.scalar("SELECT value FROM meta WHERE key = 'uid_validity'"));
  auto now =
      static_cast<std::int64_t>(to_unix_seconds(std::chrono::system_clock::now()) & 0xffffffff);
  std::int64_t next = std::max<std::int64_t>(now, last.value_or(0) + 1);
  if (next > 0xffffffffLL) {
    next = 1;
  }
  TERN_TRY_VOID(
      c.run("INSERT INTO meta (key, value) VALUES ('uid_validity', ?1) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            next));
  return d::UidValidity{static_cast<std::uint32_t>(next)};
}

Result<void> add_blob_reference(Connection& c, const std::string& hex, std::uint64_t size) {
  TERN_TRY_VOID(
      c.run("INSERT INTO blobs (hash, size, refs) VALUES (?1, ?2, 1) "
            "ON CONFLICT(hash) DO UPDATE SET refs = refs + 1",
            hex, size));
  return ok();
}

Result<void> release_blob(Connection& c, const std::string& hex) {
  return c.run("UPDATE blobs SET refs = refs - 1 WHERE hash = ?1 AND refs > 0", hex);
}

Result<d::Mailbox> insert_mailbox(Connection& c, d::AccountId account, const std::string& name,
                                  d::SpecialUse special_use, bool subscribed) {
  TERN_TRY(auto uid_validity, next_uid_validity(c));
  TERN_TRY_VOID(
      c.run("INSERT INTO mailboxes (account_id, name, special_use, uid_validity, uid_next, "
            "highest_modseq, subscribed) VALUES (?1, ?2, ?3, ?4, 1, 0, ?5)",
            d::value_of(account), name, static_cast<int>(special_use), d::value_of(uid_validity),
            subscribed ? 1 : 0));
  d::MailboxId id{c.last_insert_rowid()};
  TERN_TRY(auto modseq, mailbox_change(c, account, id, d::Uid{0}, d::ChangeKind::kMailboxCreated));
  d::Mailbox box;
  box.id = id;
  box.account = account;
  box.name = name;
  box.special_use = special_use;
  box.uid_validity = uid_validity;
  box.highest_modseq = modseq;
  box.subscribed = subscribed;
  return box;
}

// Links `message` into `box` with the next UID; returns the UID.
Result<d::Uid> insert_entry(Connection& c, d::MailboxId box, d::MessageId message, d::Flags flags,
                            std::vector<std::string> keywords, d::ModSeq modseq, std::uint64_t size,
                            d::AccountId account) {
  TERN_TRY_VOID(define_keywords(c, d::value_of(box), keywords));
  TERN_TRY(auto uid, c.scalar("UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = ?2 "
                              "WHERE id = ?1 RETURNING uid_next - 1",
                              d::value_of(box), d::value_of(modseq)));
  if (!uid) {
    return not_found("no such mailbox");
  }
  TERN_TRY_VOID(
      c.run("INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, modseq) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            d::value_of(box), *uid, d::value_of(message), ticks(now_seconds()),
            static_cast<int>(flags & d::kAllFlags), join_keywords(keywords), d::value_of(modseq)));
  TERN_TRY_VOID(c.run("UPDATE messages SET entry_count = entry_count + 1 WHERE id = ?1",
                      d::value_of(message)));
  TERN_TRY_VOID(c.run("UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE id = ?1",
                      d::value_of(account), size));
  return d::Uid{static_cast<std::uint32_t>(*uid)};
}

// Removes one entry (if present), leaving a tombstone at `modseq` when asked, and
// drops the message and its blob reference with its last entry. Returns whether
// the entry existed.
Result<bool> remove_entry(Connection& c, d::AccountId account, d::MailboxId box, d::Uid uid,
                          d::ModSeq modseq, bool tombstone) {
  auto found = one_row<std::pair<std::int64_t, std::int64_t>>(
      c,
      "SELECT e.message_id, m.size FROM entries e JOIN messages m ON m.id = e.message_id "
      "WHERE e.mailbox_id = ?1 AND e.uid = ?2",
      [](const Statement& s) { return std::make_pair(s.int64(0), s.int64(1)); }, d::value_of(box),
      d::value_of(uid));
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return false;
  }
  auto [message, size] = **found;
  TERN_TRY_VOID(c.run("DELETE FROM entries WHERE mailbox_id = ?1 AND uid = ?2", d::value_of(box),
                      d::value_of(uid)));
  TERN_TRY_VOID(c.run("UPDATE accounts SET used_bytes = max(used_bytes - ?2, 0) WHERE id = ?1",
                      d::value_of(account), size));
  if (tombstone) {
    TERN_TRY_VOID(
        c.run("INSERT OR REPLACE INTO tombstones (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
              d::value_of(box), d::value_of(uid), d::value_of(modseq)));
  }
  TERN_TRY(auto remaining,
           c.scalar("UPDATE messages SET entry_count = entry_count - 1 WHERE id = ?1 "
                    "RETURNING entry_count",
                    message));
  if (remaining && *remaining <= 0) {
    // Bytes of its own (bytes_id) go with the row (trigger messages_release_bytes);
    // a blob file's reference is released here.
    auto blob = one_row<std::string>(
        c, "DELETE FROM messages WHERE id = ?1 RETURNING blob, bytes_id IS NULL",
        [](const Statement& s) { return s.int64(1) != 0 ? s.text(0) : std::string(); }, message);
    if (!blob) {
      return blob.error();
    }
    if (*blob && !(*blob)->empty()) {
      TERN_TRY_VOID(release_blob(c, **blob));
    }
  }
  return true;
}

Result<d::ModSeq> expunge_uids(Connection& c, d::AccountId account, const d::Mailbox& box,
                               std::vector<d::Uid> uids) {
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  std::optional<d::ModSeq> modseq;
  for (auto uid : uids) {
    TERN_TRY(auto present, c.scalar("SELECT 1 FROM entries WHERE mailbox_id = ?1 AND uid = ?2",
                                    d::value_of(box.id), d::value_of(uid)));
    if (!present) {
      continue;
    }
    if (!modseq) {
      TERN_TRY(auto allocated, allocate_modseq(c, account));
      modseq = allocated;
      TERN_TRY_VOID(set_highest(c, box.id, *modseq));
    }
    TERN_TRY_VOID(remove_entry(c, account, box.id, uid, *modseq, true).transform([](bool) {}));
    TERN_TRY_VOID(log_change(c, account, *modseq, box.id, uid, d::ChangeKind::kMessageExpunged));
  }
  if (!modseq) {
    TERN_TRY(auto current, owned_mailbox(c, account, box.id));
    return current.highest_modseq;
  }
  return *modseq;
}

Result<void> delete_mailbox_rows(Connection& c, d::AccountId account, d::MailboxId box) {
  TERN_TRY(auto modseq, allocate_modseq(c, account));
  TERN_TRY(auto uids, rows<std::int64_t>(
                          c, "SELECT uid FROM entries WHERE mailbox_id = ?1",
                          [](const Statement& s) { return s.int64(0); }, d::value_of(box)));
  for (auto uid : uids) {
    TERN_TRY_VOID(
        remove_entry(c, account, box, d::Uid{static_cast<std::uint32_t>(uid)}, modseq, false)
            .transform([](bool) {}));
  }
  TERN_TRY_VOID(c.run("DELETE FROM tombstones WHERE mailbox_id = ?1", d::value_of(box)));
  TERN_TRY_VOID(c.run("DELETE FROM mailboxes WHERE id = ?1", d::value_of(box)));
  return log_change(c, account, modseq, box, d::Uid{0}, d::ChangeKind::kMailboxDeleted);
}

Result<std::vector<d::Appended>> copy_rows(Connection& c, d::AccountId account, d::MailboxId from,
                                           const std::vector<d::Uid>& uids, d::MailboxId to) {
  TERN_TRY(auto owner, load_account(c, account));
  if (!owner) {
    return not_found("no such account");
  }
  TERN_TRY(auto source, owned_mailbox(c, account, from));
  TERN_TRY(auto target, owned_mailbox(c, account, to));
  std::vector<d::Entry> copied;
  std::uint64_t bytes = 0;
  for (auto uid : uids) {
    TERN_TRY(
        auto entry,
        one_row<d::Entry>(c, std::string(kEntryColumns) + "WHERE e.mailbox_id = ?1 AND e.uid = ?2",
                          entry_from, d::value_of(source.id), d::value_of(uid)));
    if (entry) {
      bytes += entry->size;
      copied.push_back(std::move(*entry));
    }
  }
  if (owner->quota_bytes != 0 && owner->used_bytes + bytes > owner->quota_bytes) {
    return Error{ErrorCode::kLimitExceeded, "over quota: " + owner->address};
  }
  std::vector<d::Appended> out;
  if (copied.empty()) {
    return out;
  }
  TERN_TRY(auto modseq, allocate_modseq(c, account));
  for (const auto& entry : copied) {
    TERN_TRY(auto uid, insert_entry(c, target.id, entry.message, entry.flags, entry.keywords,
                                    modseq, entry.size, account));
    TERN_TRY_VOID(log_change(c, account, modseq, target.id, uid, d::ChangeKind::kMessageAdded));
    out.push_back(d::Appended{target.id, uid, modseq, entry.message});
  }
  return out;
}

d::QueuedMessage queued_from(const Statement& s) {
  d::QueuedMessage q;
  q.id = d::QueueId{s.int64(0)};
  q.blob = d::BlobId{s.text(1)};
  q.size = s.uint64(2);
  q.sender = s.text(3);
  q.envid = s.text(4);
  q.ret = s.text(5);
  q.created = from_ticks(s.int64(6));
  q.next_attempt = from_ticks(s.int64(7));
  q.attempts = static_cast<std::uint32_t>(s.int64(8));
  q.state = static_cast<d::QueueState>(s.int64(9));
  q.lease_until = from_ticks(s.int64(10));
  q.envelope.smtputf8 = s.int64(11) != 0;
  q.envelope.body = static_cast<d::BodyType>(s.int64(12));
  q.envelope.requiretls = s.int64(13) != 0;
  q.envelope.submitter = s.text(14);
  q.delay_warned = s.int64(15) != 0;
  return q;
}

constexpr std::string_view kQueueColumns =
    "SELECT id, blob, size, sender, envid, ret, created, next_attempt, attempts, state, "
    "lease_until, smtputf8, body_type, requiretls, submitter, delay_warned FROM queue ";

Result<void> load_recipients(Connection& c, d::QueuedMessage& q) {
  TERN_TRY(auto recipients,
           rows<d::QueueRecipient>(
               c,
               "SELECT address, state, notify, orcpt, last_reply, status, remote_host "
               "FROM queue_recipients WHERE queue_id = ?1 ORDER BY position",
               [](const Statement& s) {
                 return d::QueueRecipient{s.text(0), static_cast<d::RecipientState>(s.int64(1)),
                                          s.text(2), s.text(3),
                                          s.text(4), s.text(5),
                                          s.text(6)};
               },
               d::value_of(q.id)));
  q.recipients = std::move(recipients);
  return ok();
}

Result<void> store_recipients(Connection& c, d::QueueId id,
                              const std::vector<d::QueueRecipient>& recipients) {
  TERN_TRY_VOID(c.run("DELETE FROM queue_recipients WHERE queue_id = ?1", d::value_of(id)));
  int position = 0;
  for (const auto& r : recipients) {
    TERN_TRY_VOID(
        c.run("INSERT INTO queue_recipients (queue_id, position, address, state, notify, orcpt, "
              "last_reply, status, remote_host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
              d::value_of(id), position++, r.address, static_cast<int>(r.state), r.notify, r.orcpt,
              r.last_reply, r.status, r.remote_host));
  }
  return ok();
}

// Applies the migrations `c` has not seen in one transaction; with foreign keys
// off (see apply_migrations), so it checks them itself before COMMIT.
Result<void> migrate_in_transaction(Connection& c) {
  // BEGIN IMMEDIATE takes the write lock first, so two processes opening a new
  // store at once serialise here instead of both applying version 1.
  TERN_TRY_VOID(c.exec("BEGIN IMMEDIATE"));
  auto applied = [&]() -> Result<void> {
    TERN_TRY_VOID(c.exec(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT "
        "NULL, applied INTEGER NOT NULL) STRICT"));
    TERN_TRY(auto current, c.scalar("SELECT max(version) FROM schema_version"));
    std::int64_t version = current.value_or(0);
    auto all = migrations();
    if (!all.empty() && version > all.back().version) {
      return Error{ErrorCode::kCorrupt, "schema version " + std::to_string(version) +
                                            " is newer than this binary knows"};
    }
    for (const auto& migration : all) {
      if (migration.version <= version) {
        continue;
      }
      auto result = c.exec(migration.sql);
      if (!result) {
        return result.error().with_context("migration " + std::string(migration.name));
      }
      TERN_TRY_VOID(c.run("INSERT INTO schema_version (version, name, applied) VALUES (?1, ?2, ?3)",
                          migration.version, migration.name,
                          to_unix_seconds(std::chrono::system_clock::now())));
    }
    if (all.empty() || version == all.back().version) {
      return ok();  // nothing applied, nothing to check (the check reads every table)
    }
    TERN_TRY(auto violation, c.scalar("SELECT 1 FROM pragma_foreign_key_check LIMIT 1"));
    if (violation) {
      return Error{ErrorCode::kCorrupt, "a migration left a foreign key violated"};
    }
    return ok();
  }();
  if (!applied) {
    (void)c.exec("ROLLBACK");
    return applied.error();
  }
  return c.exec("COMMIT");
}

Result<void> apply_migrations(Connection& c) {
  // Foreign keys are off while migrations run (a table rebuild drops a table that
  // others reference; SQLite ignores this pragma inside a transaction) and are
  // checked as a whole before COMMIT instead.
  TERN_TRY_VOID(c.exec("PRAGMA foreign_keys = OFF"));
  auto migrated = migrate_in_transaction(c);
  auto restored = c.exec("PRAGMA foreign_keys = ON");
  if (!migrated) {
    return migrated;
  }
  return restored;
}

// A read-only connection.
Result<std::unique_ptr<Connection>> open_reader(const fs::path& db) {
  TERN_TRY(auto reader, Connection::open(db, false));
  TERN_TRY_VOID(reader->exec("PRAGMA query_only = ON"));
  // 16 MiB of pages per reader (SQLite's default is 2 MiB), filled only as read:
  // the entries and messages pages of a 100,000-message mailbox (~13 MB), which
  // every SELECT and FETCH 1:* walks, then stay cached instead of coming through
  // pread() each time (bench/README.md, imap_bench).
  TERN_TRY_VOID(reader->exec("PRAGMA cache_size = -16384"));
  return reader;
}

}  // namespace

// ----- lifecycle

SqliteStorage::SqliteStorage(fs::path dir, SqliteOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      blob_files_(dir_ / "blobs"),
      segment_files_(dir_ / "segments",
                     SegmentFiles::Options{std::max<std::uint64_t>(options_.segment_bytes, 1)}) {}

Result<std::unique_ptr<SqliteStorage>> SqliteStorage::open(fs::path dir, SqliteOptions options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error{ErrorCode::kIo, "create " + dir.string() + ": " + ec.message()};
  }
  std::unique_ptr<SqliteStorage> storage(new SqliteStorage(dir, std::move(options)));
  auto started = storage->start();
  if (!started) {
    return started.error().with_context("open sqlite store " + dir.string());
  }
  return storage;
}

Result<void> SqliteStorage::start() {
  TERN_TRY_VOID(blob_files_.prepare());
  TERN_TRY_VOID(segment_files_.prepare());
  // A temp no live writer holds was being written when its process died; no row
  // references it (rows commit only after the rename), so it goes.
  TERN_TRY(auto stale, blob_files_.remove_stale_temps(std::chrono::seconds{0}));
  if (stale > 0) {
    options_.logger.info("removed stale temp blob files", {{"count", std::to_string(stale)}});
  }
  TERN_TRY(writer_connection_,
           Connection::open(dir_ / "tern.db", true,
                            options_.gather_wal_writes ? gathering_wal_vfs() : nullptr));
  // WAL: readers never block the writer. synchronous=FULL: every commit fsyncs the
  // WAL, which is what makes an acknowledged write durable; group commit, not a
  // weaker sync level, is what makes it fast (docs/adr/0004-sqlite-group-commit.md).
  TERN_TRY_VOID(writer_connection_->exec("PRAGMA journal_mode = WAL"));
  TERN_TRY_VOID(writer_connection_->exec("PRAGMA synchronous = FULL"));
  // The writer's page cache holds the hot index pages (blob hashes arrive in
  // random order, so their b-tree is touched everywhere): with 2 MiB, the
  // default, the writer re-read pages from the OS on every batch and 50 writers
  // got half the appends/s. Not larger: SQLite walks the whole page cache's hash
  // table at every COMMIT in WAL mode (pcache1 truncate), which at 32 MiB cost
  // ~1.5 µs per append in a batch and far more per lone commit. Savepoint
  // journals stay in memory.
  TERN_TRY_VOID(writer_connection_->exec("PRAGMA cache_size = -8192"));
  TERN_TRY_VOID(writer_connection_->exec("PRAGMA temp_store = MEMORY"));
  TERN_TRY_VOID(apply_migrations(*writer_connection_));
  if (options_.checkpoint_frames > 0) {
    // The hook takes the place of SQLite's auto-checkpoint, which would copy the
    // WAL into the database inside the writer's COMMIT (ADR 0019).
    TERN_TRY(checkpoint_connection_, Connection::open(dir_ / "tern.db", false));
    TERN_TRY_VOID(checkpoint_connection_->exec("PRAGMA synchronous = FULL"));
    sqlite3_wal_hook(writer_connection_->raw(), &SqliteStorage::on_wal_commit, this);
  }
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.readers); ++i) {
    TERN_TRY(auto reader, open_reader(dir_ / "tern.db"));
    reader_connections_.push_back(std::move(reader));
  }
  writer_ = std::thread([this] { writer_loop(); });
  if (checkpoint_connection_) {
    checkpointer_ = std::thread([this] { checkpointer_loop(*checkpoint_connection_); });
  }
  for (auto& connection : reader_connections_) {
    readers_.emplace_back([this, c = connection.get()] { reader_loop(*c); });
  }
  return ok();
}

SqliteStorage::~SqliteStorage() {
  close();
}

void SqliteStorage::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      return;
    }
    closed_ = true;
    stopping_ = true;
  }
  {
    std::lock_guard lock(inline_mutex_);
    inline_closed_ = true;
    inline_idle_.clear();  // one still in use closes when it comes back
  }
  write_cv_.notify_all();
  read_cv_.notify_all();
  if (writer_.joinable()) {
    writer_.join();
  }
  segment_files_.close();
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) {
    checkpointer_.join();
  }
  checkpoint_connection_.reset();
  for (auto& reader : readers_) {
    if (reader.joinable()) {
      reader.join();
    }
  }
  readers_.clear();
  reader_connections_.clear();
  writer_connection_.reset();
}

WriterStats SqliteStorage::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

Result<std::string> SqliteStorage::integrity_check() {
  TERN_TRY(auto connection, Connection::open(dir_ / "tern.db", false));
  TERN_TRY(auto report, rows<std::string>(*connection, "PRAGMA integrity_check",
                                          [](const Statement& s) { return s.text(0); }));
  std::string out;
  for (const auto& line : report) {
    out += out.empty() ? line : "\n" + line;
  }
  return out;
}

Result<std::vector<std::string>> SqliteStorage::missing_blobs() {
  TERN_TRY(auto connection, Connection::open(dir_ / "tern.db", false));
  // Messages with bytes of their own whose row is gone.
  TERN_TRY(auto missing,
           rows<std::string>(*connection,
                             "SELECT blob FROM messages WHERE bytes_id IS NOT NULL AND bytes_id "
                             "NOT IN (SELECT id FROM message_bytes)",
                             [](const Statement& s) { return s.text(0); }));
  // Spans past the end of their segment, or in a segment that is gone. The rows
  // first: a segment listed before them could miss one started meanwhile.
  auto short_spans = [&]() -> Result<std::set<std::string>> {
    using SpanEnd = std::tuple<std::string, std::int64_t, std::uint64_t>;  // blob, segment, end
    TERN_TRY(auto spans,
             rows<SpanEnd>(
                 *connection,
                 "SELECT m.blob, b.segment, b.seg_offset + b.seg_length FROM messages m "
                 "JOIN message_bytes b ON b.id = m.bytes_id WHERE b.segment IS NOT NULL",
                 [](const Statement& s) { return SpanEnd(s.text(0), s.int64(1), s.uint64(2)); }));
    TERN_TRY(auto on_disk, segment_files_.list());
    std::set<std::string> out;
    for (auto& [hex, segment, end] : spans) {
      auto file = on_disk.find(segment);
      if (file == on_disk.end() || end > file->second) {
        out.insert(std::move(hex));
      }
    }
    return out;
  };
  // A compaction between the query and the listing moves spans out of a segment
  // it then removes: what is short twice over is short.
  TERN_TRY(auto first, short_spans());
  if (!first.empty()) {
    TERN_TRY(auto second, short_spans());
    std::set_intersection(first.begin(), first.end(), second.begin(), second.end(),
                          std::back_inserter(missing));
  }
  // Everything else names a blobs row, whose bytes are inline or in a file.
  TERN_TRY(auto referenced, rows<std::string>(*connection,
                                              "SELECT blob FROM messages WHERE bytes_id IS NULL "
                                              "UNION SELECT blob FROM queue",
                                              [](const Statement& s) { return s.text(0); }));
  for (const auto& hex : referenced) {
    TERN_TRY(auto row, one_row<std::optional<std::int64_t>>(
                           *connection, "SELECT data_id FROM blobs WHERE hash = ?1",
                           [](const Statement& s) {
                             return s.is_null(0) ? std::nullopt
                                                 : std::optional<std::int64_t>(s.int64(0));
                           },
                           hex));
    if (!row) {
      missing.push_back(hex);  // no blobs row at all
      continue;
    }
    if (*row) {
      TERN_TRY(auto stored, connection->scalar("SELECT 1 FROM blob_bytes WHERE id = ?1", **row));
      if (!stored) {
        missing.push_back(hex);
      }
      continue;
    }
    std::error_code ec;
    if (!d::is_sha256_hex(hex) || !fs::exists(blob_files_.path_of(hex), ec)) {
      missing.push_back(hex);
    }
  }
  return missing;
}

// ----- the writer: batches and group commit

Result<TempBlob> SqliteStorage::stage_blob(const std::string& hex, std::string_view bytes) {
  if (bytes.size() <= options_.inline_blob_max_bytes) {
    return stage_blob(hex, std::string(bytes));
  }
  return blob_files_.write_temp(hex, bytes);
}

Result<TempBlob> SqliteStorage::stage_blob(const std::string& hex, std::string&& bytes) {
  if (bytes.size() <= options_.inline_blob_max_bytes) {
    TempBlob blob;
    blob.hex = hex;
    blob.is_inline = true;
    blob.inline_bytes = std::move(bytes);  // the caller's copy, not a new one
    return blob;
  }
  return blob_files_.write_temp(hex, bytes);
}

void SqliteStorage::submit_write(WriteJob job) {
  {
    std::unique_lock lock(mutex_);
    if (!stopping_) {
      write_queue_.push_back(std::move(job));
      queued_writes_.store(write_queue_.size(), std::memory_order_relaxed);
      lock.unlock();
      write_cv_.notify_one();
      return;
    }
  }
  for (auto& blob : job.blobs) {
    blob_files_.discard(blob);
  }
  Error error{ErrorCode::kCancelled, "store is closed"};
  job.finish(&error);
}

std::size_t SqliteStorage::take_late_joiners(std::vector<WriteJob>& batch) {
  std::lock_guard lock(mutex_);
  std::size_t taken = 0;
  // From the front only, so that requests still run in the order they came.
  while (!write_queue_.empty() && batch.size() < options_.max_batch) {
    const WriteJob& next = write_queue_.front();
    const bool joins = next.append && !next.append->span && !next.exclusive &&
                       std::all_of(next.blobs.begin(), next.blobs.end(),
                                   [](const TempBlob& blob) { return blob.is_inline; });
    if (!joins) {
      break;
    }
    batch.push_back(std::move(write_queue_.front()));
    write_queue_.pop_front();
    ++taken;
  }
  queued_writes_.store(write_queue_.size(), std::memory_order_relaxed);
  return taken;
}

void SqliteStorage::writer_loop() {
  // Named so that `top -H` and the store bench can tell the serial writer apart.
  ::pthread_setname_np(::pthread_self(), "tern-sqlite-w");
  while (true) {
    std::vector<WriteJob> batch;
    {
      std::unique_lock lock(mutex_);
      write_cv_.wait(lock, [&] { return stopping_ || !write_queue_.empty(); });
      if (write_queue_.empty()) {
        return;  // stopping, and everything queued before close() is done
      }
      // Everything that queued up while the previous batch was syncing goes into
      // this one: that is the whole of group commit.
      const std::size_t limit = options_.group_commit ? options_.max_batch : 1;
      if (write_queue_.front().exclusive) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
      } else {
        while (!write_queue_.empty() && batch.size() < limit && !write_queue_.front().exclusive) {
          batch.push_back(std::move(write_queue_.front()));
          write_queue_.pop_front();
        }
      }
      queued_writes_.store(write_queue_.size(), std::memory_order_relaxed);
    }
    run_batch(batch);
    finish_checkpoint(*writer_connection_);
  }
}

int SqliteStorage::on_wal_commit(void* self, sqlite3* /*db*/, const char* /*schema*/, int frames) {
  auto* store = static_cast<SqliteStorage*>(self);
  if (frames >= store->options_.checkpoint_frames && !store->checkpoint_busy_.exchange(true)) {
    {
      std::lock_guard lock(store->checkpoint_mutex_);
      store->checkpoint_wanted_ = true;
    }
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStorage::checkpointer_loop(Connection& connection) {
  ::pthread_setname_np(::pthread_self(), "tern-sqlite-c");
  while (true) {
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_wanted_; });
      if (checkpoint_stopping_) {
        return;
      }
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what no reader still needs from the WAL, syncs the database
    // file, and never waits for the writer nor stops it.
    const int rc = sqlite3_wal_checkpoint_v2(connection.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      options_.logger.warn("sqlite checkpoint",
                           {{"error", sqlite_error(rc, "checkpoint").message}});
    }
    checkpoint_ended_.store(true);
    checkpoint_busy_.store(false);
  }
}

void SqliteStorage::finish_checkpoint(Connection& c) {
  if (!checkpoint_ended_.exchange(false)) {
    return;
  }
  // BUSY when a new background round has begun: that one ends with this again.
  (void)sqlite3_wal_checkpoint_v2(c.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

void SqliteStorage::run_batch(std::vector<WriteJob>& batch) {
  Connection& c = *writer_connection_;
  std::vector<std::optional<Error>> failed(batch.size());

  // 1. Blobs. A blob whose row already exists is durable (rows commit only after
  //    their file is), so its new temp copy is dropped; so is a second copy of the
  //    same bytes within this batch. The rest are made durable together.
  //    Inline blobs stay with their request: each request inserts its own copy
  //    (if still missing) under its own savepoint, so a request that is rolled
  //    back cannot take away the bytes another request of the batch relies on.
  std::vector<TempBlob> to_sync;
  std::vector<std::vector<std::size_t>> jobs_of_blob;  // index in to_sync -> jobs
  std::vector<std::vector<TempBlob>> inline_of(batch.size());
  std::map<std::string, std::size_t> pending;
  for (std::size_t j = 0; j < batch.size(); ++j) {
    for (auto& blob : batch[j].blobs) {
      if (blob.is_inline) {
        inline_of[j].push_back(std::move(blob));
        continue;
      }
      if (auto it = pending.find(blob.hex); it != pending.end()) {
        jobs_of_blob[it->second].push_back(j);
        blob_files_.discard(blob);
        continue;
      }
      auto exists = c.scalar("SELECT 1 FROM blobs WHERE hash = ?1", blob.hex);
      if (exists && *exists) {
        blob_files_.discard(blob);
        continue;
      }
      pending.emplace(blob.hex, to_sync.size());
      jobs_of_blob.push_back({j});
      to_sync.push_back(std::move(blob));
    }
    batch[j].blobs.clear();
  }
  // Group commit makes a batch's blobs durable with one file-system sync; one
  // blob alone (and the one-sync-per-message mode) is cheaper file by file.
  auto strategy = options_.group_commit && to_sync.size() > 1 ? BlobFiles::SyncStrategy::kFileSystem
                                                              : BlobFiles::SyncStrategy::kPerFile;
  auto synced = blob_files_.make_durable(to_sync, strategy);
  for (std::size_t b = 0; b < synced.size(); ++b) {
    if (!synced[b]) {
      for (auto j : jobs_of_blob[b]) {
        failed[j] = synced[b].error();
      }
    }
  }

  //    Segments: the bytes the appending threads wrote, one sync per segment
  //    file, on the syncing thread while this one runs the SQL; COMMIT waits
  //    for it (step 3).
  std::vector<std::shared_ptr<SegmentFile>> segments;
  for (auto& job : batch) {
    if (job.append && job.append->span &&
        std::find(segments.begin(), segments.end(), job.append->span->file) == segments.end()) {
      segments.push_back(job.append->span->file);
    }
  }
  segment_files_.start_sync(std::move(segments));

  // 2. One transaction; each request under its own savepoint so one request's
  //    failure (a constraint, a missing mailbox) does not undo the others. Runs
  //    of appends go through AppendBatch under one savepoint for the whole run.
  std::optional<Error> batch_error;
  if (auto begun = c.run("BEGIN IMMEDIATE"); !begun) {
    batch_error = begun.error();
  }
  AppendBatch appends;
  for (std::size_t j = 0; j < batch.size() && !batch_error; ++j) {
    if (failed[j]) {
      continue;
    }
    if (batch[j].append) {
      std::size_t end = j;
      while (end < batch.size() && batch[end].append) {
        ++end;
      }
      batch_error = run_appends(c, appends, batch, inline_of, failed, j, end);
      j = end - 1;
      continue;
    }
    // The request's SQL must see the counters the appends before it took.
    if (auto flushed = appends.flush(c); !flushed) {
      batch_error = flushed.error();
      break;
    }
    appends.clear();
    (void)c.run("SAVEPOINT request");
    bool keep = false;
    // The request's small blobs: a row with no references yet and the bytes,
    // which the body then references like any stored blob.
    for (const auto& blob : inline_of[j]) {
      if (auto stored =
              reference_blob(c, blob.hex, blob.inline_bytes.size(), 0, &blob.inline_bytes);
          !stored) {
        failed[j] = stored.error();
      }
    }
    try {
      if (!failed[j]) {
        keep = batch[j].body(c);
      }
    } catch (const std::exception& e) {
      failed[j] = Error{ErrorCode::kInternal, std::string("write request threw: ") + e.what()};
    }
    if (sqlite3_get_autocommit(c.raw()) != 0) {
      // SQLite rolled the whole transaction back itself (disk full, I/O error):
      // nothing of this batch is stored.
      batch_error = Error{ErrorCode::kIo, "transaction aborted by sqlite"};
      break;
    }
    if (!keep) {
      (void)c.run("ROLLBACK TO request");
    }
    (void)c.run("RELEASE request");
  }
  //    Late joiners (ADR 0021): the appends that queued while that SQL ran
  //    would otherwise wait for the whole of the next batch. Those whose bytes
  //    go with their rows join this transaction, and this COMMIT makes them
  //    durable with the rest. Not an exclusive request's: it runs alone.
  if (options_.group_commit && !batch_error && !batch.front().exclusive) {
    if (options_.before_late_joiners) {
      options_.before_late_joiners();
    }
    for (std::size_t begin = batch.size(); !batch_error && take_late_joiners(batch) > 0;
         begin = batch.size()) {
      failed.resize(batch.size());
      inline_of.resize(batch.size());
      for (std::size_t j = begin; j < batch.size(); ++j) {
        inline_of[j] = std::move(batch[j].blobs);
        batch[j].blobs.clear();
      }
      batch_error = run_appends(c, appends, batch, inline_of, failed, begin, batch.size());
    }
  }
  if (!batch_error) {
    if (auto flushed = appends.flush(c); !flushed) {
      batch_error = flushed.error();
    }
  }
  // 3. The segments' sync must be over before the rows naming their spans can
  //    commit. It fails the whole batch: a failed sync is a disk in trouble.
  if (auto synced_segments = segment_files_.wait_sync(); !synced_segments && !batch_error) {
    batch_error = synced_segments.error();
  }
  if (!batch_error) {
    // COMMIT fsyncs the WAL (synchronous=FULL); only after it returns is any of
    // this batch acknowledged.
    if (auto committed = c.run("COMMIT"); !committed) {
      batch_error = committed.error();
    }
  }
  if (batch_error && sqlite3_get_autocommit(c.raw()) == 0) {
    (void)c.run("ROLLBACK");
  }
  if (batch_error) {
    options_.logger.error("sqlite batch failed", {{"error", batch_error->message}});
  } else {
    for (std::size_t j = 0; j < batch.size(); ++j) {
      if (!failed[j] && batch[j].after_commit) {
        batch[j].after_commit(c);
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    stats_.batches += batch_error ? 0 : 1;
    stats_.requests += batch.size();
  }
  for (std::size_t j = 0; j < batch.size(); ++j) {
    if (batch_error) {
      batch[j].finish(&*batch_error);
    } else if (failed[j]) {
      batch[j].finish(&*failed[j]);
    } else {
      batch[j].finish(nullptr);
    }
  }
}

std::optional<Error> SqliteStorage::run_appends(Connection& c, AppendBatch& appends,
                                                std::vector<WriteJob>& batch,
                                                std::vector<std::vector<TempBlob>>& inline_of,
                                                std::vector<std::optional<Error>>& failed,
                                                std::size_t begin, std::size_t end) {
  auto attempt = [&](std::size_t j) {
    auto& request = *batch[j].append;
    const TempBlob* blob = inline_of[j].empty() ? nullptr : &inline_of[j].front();
    try {
      request.result.emplace(appends.run(c, request, blob));
    } catch (const std::exception& e) {
      request.result.emplace(
          Error{ErrorCode::kInternal, std::string("write request threw: ") + e.what()});
    }
    return request.result->has_value();
  };
  // The staged rows of the run so far; their error fails `j`, the last request.
  auto write = [&](std::size_t j) {
    auto written = appends.write_rows(c);
    if (!written) {
      batch[j].append->result.emplace(written.error());
    }
    return written.has_value();
  };
  auto aborted = [&]() -> std::optional<Error> {
    if (sqlite3_get_autocommit(c.raw()) != 0) {
      return Error{ErrorCode::kIo, "transaction aborted by sqlite"};
    }
    return std::nullopt;
  };
  // Fast path: the whole run under one savepoint. Appends fail on SQL errors
  // only (missing mailboxes and quota are per-target outcomes), so this is the
  // path taken unless the disk or the database is in trouble.
  if (auto saved = c.run("SAVEPOINT appends"); !saved) {
    return saved.error();
  }
  auto before = appends.snapshot();
  bool all_stored = true;
  std::optional<std::size_t> last;
  for (std::size_t j = begin; j < end && all_stored; ++j) {
    if (!failed[j]) {
      all_stored = attempt(j);
      last = j;
    }
  }
  if (all_stored && last) {
    all_stored = write(*last);
  }
  if (auto error = aborted()) {
    return error;
  }
  if (all_stored) {
    (void)c.run("RELEASE appends");
    return std::nullopt;
  }
  // Slow path: one request failed. Undo the run and redo it request by request,
  // each under its own savepoint, so only the failing request is lost.
  (void)c.run("ROLLBACK TO appends");
  (void)c.run("RELEASE appends");
  appends.restore(std::move(before));
  for (std::size_t j = begin; j < end; ++j) {
    if (failed[j]) {
      continue;
    }
    (void)c.run("SAVEPOINT request");
    auto snapshot = appends.snapshot();
    bool stored = attempt(j) && write(j);
    if (auto error = aborted()) {
      return error;
    }
    if (!stored) {
      (void)c.run("ROLLBACK TO request");
      appends.restore(std::move(snapshot));
    }
    (void)c.run("RELEASE request");
  }
  return std::nullopt;
}

template <class T, class Body>
d::Async<T> SqliteStorage::write(std::vector<TempBlob> blobs, Body body, bool exclusive) {
  Promise<Result<T>> promise;
  auto future = promise.future();
  auto result = std::make_shared<std::optional<Result<T>>>();
  WriteJob job;
  job.blobs = std::move(blobs);
  job.exclusive = exclusive;
  job.body = [result, body = std::move(body)](Connection& c) mutable {
    result->emplace(body(c));
    return result->value().has_value();
  };
  job.finish = [promise, result](const Error* error) mutable {
    if (error != nullptr) {
      promise.set_value(*error);
    } else {
      promise.set_value(std::move(result->value()));
    }
  };
  submit_write(std::move(job));
  return future;
}

// ----- readers

void SqliteStorage::reader_loop(Connection& connection) {
  ::pthread_setname_np(::pthread_self(), "tern-sqlite-r");
  while (true) {
    std::function<void(Connection&)> job;
    {
      std::unique_lock lock(mutex_);
      read_cv_.wait(lock, [&] { return stopping_ || !read_queue_.empty(); });
      if (read_queue_.empty()) {
        return;
      }
      job = std::move(read_queue_.front());
      read_queue_.pop_front();
    }
    job(connection);
  }
}

std::unique_ptr<Connection> SqliteStorage::take_inline_reader() {
  {
    std::lock_guard lock(inline_mutex_);
    if (inline_closed_) {
      return nullptr;
    }
    if (!inline_idle_.empty()) {
      auto connection = std::move(inline_idle_.back());
      inline_idle_.pop_back();
      return connection;
    }
    if (inline_open_ >= options_.inline_readers) {
      return nullptr;
    }
    ++inline_open_;
  }
  // Opened outside the lock: it reads the schema from disk.
  auto opened = open_reader(dir_ / "tern.db");
  if (!opened) {
    options_.logger.warn("cannot open an inline sqlite reader",
                         {{"error", opened.error().message}});
    std::lock_guard lock(inline_mutex_);
    --inline_open_;
    return nullptr;
  }
  return std::move(*opened);
}

void SqliteStorage::return_inline_reader(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(inline_mutex_);
  if (inline_closed_) {
    --inline_open_;
    return;  // closes it
  }
  inline_idle_.push_back(std::move(connection));
}

template <class T, class Body>
d::Async<T> SqliteStorage::read(Body body) {
  auto run = [](Body& fn, Connection& c) -> Result<T> {
    try {
      return fn(c);
    } catch (const std::exception& e) {
      return Error{ErrorCode::kInternal, std::string("read threw: ") + e.what()};
    }
  };
  Promise<Result<T>> promise;
  auto future = promise.future();
  // The caller is going to wait for the answer anyway (ADR 0017): read here.
  if (MayBlockScope::active()) {
    if (auto connection = take_inline_reader()) {
      promise.set_value(run(body, *connection));
      return_inline_reader(std::move(connection));
      return future;
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      promise.set_value(Error{ErrorCode::kCancelled, "store is closed"});
      return future;
    }
    read_queue_.push_back([promise, run, body = std::move(body)](Connection& c) mutable {
      promise.set_value(run(body, c));
    });
  }
  read_cv_.notify_one();
  return future;
}

namespace {

// `data` when it still hashes to `hex`, the id it was stored under; else kCorrupt.
Result<std::string> verified(std::string data, const std::string& hex) {
  if (sha256_hex(data) != hex) {
    return Error{ErrorCode::kCorrupt, "blob does not match its id: " + hex};
  }
  return data;
}

}  // namespace

Result<std::string> SqliteStorage::read_blob(Connection& c, const std::string& hex) {
  TERN_TRY(auto stmt, c.query("SELECT d.data FROM blobs b JOIN blob_bytes d ON d.id = b.data_id "
                              "WHERE b.hash = ?1",
                              hex));
  TERN_TRY(bool inline_row, stmt.next());
  if (inline_row) {
    return verified(stmt.text(0), hex);
  }
  auto bytes = blob_files_.read(hex);
  if (!bytes) {
    if (bytes.error().code == ErrorCode::kNotFound) {
      return Error{ErrorCode::kCorrupt, "referenced blob is missing: " + hex};
    }
    return bytes.error();
  }
  return verified(std::move(*bytes), hex);
}

// ----- Directory

d::Async<d::Domain> SqliteStorage::add_domain(std::string name) {
  return write<d::Domain>({}, [name](Connection& c) -> Result<d::Domain> {
    if (name.empty() || name.find('@') != std::string::npos) {
      return Error{ErrorCode::kInvalidInput, "invalid domain name"};
    }
    TERN_TRY(auto exists, c.scalar("SELECT 1 FROM domains WHERE name = ?1", name));
    if (exists) {
      return Error{ErrorCode::kAlreadyExists, "domain exists: " + name};
    }
    TERN_TRY_VOID(c.run("INSERT INTO domains (name) VALUES (?1)", name));
    return d::Domain{d::DomainId{c.last_insert_rowid()}, name};
  });
}

d::Async<std::vector<d::Domain>> SqliteStorage::domains() {
  return read<std::vector<d::Domain>>([](Connection& c) {
    return rows<d::Domain>(c, "SELECT id, name FROM domains ORDER BY name", [](const Statement& s) {
      return d::Domain{d::DomainId{s.int64(0)}, s.text(1)};
    });
  });
}

d::Async<std::optional<d::Domain>> SqliteStorage::find_domain(std::string name) {
  return read<std::optional<d::Domain>>([name](Connection& c) {
    return one_row<d::Domain>(
        c, "SELECT id, name FROM domains WHERE name = ?1",
        [](const Statement& s) {
          return d::Domain{d::DomainId{s.int64(0)}, s.text(1)};
        },
        name);
  });
}

d::Async<void> SqliteStorage::remove_domain(std::string name) {
  return write<void>({}, [name](Connection& c) -> Result<void> {
    TERN_TRY(auto id, c.scalar("SELECT id FROM domains WHERE name = ?1", name));
    if (!id) {
      return not_found("no such domain: " + name);
    }
    TERN_TRY(auto account, c.scalar("SELECT 1 FROM accounts WHERE domain_id = ?1", *id));
    if (account) {
      return Error{ErrorCode::kConflict, "domain still has accounts: " + name};
    }
    TERN_TRY(auto alias, c.scalar("SELECT 1 FROM aliases WHERE domain = ?1", name));
    if (alias) {
      return Error{ErrorCode::kConflict, "domain still has aliases: " + name};
    }
    return c.run("DELETE FROM domains WHERE id = ?1", *id);
  });
}

d::Async<d::Account> SqliteStorage::add_account(d::NewAccount account) {
  return write<d::Account>({}, [account](Connection& c) -> Result<d::Account> {
    auto at = account.address.rfind('@');
    if (at == std::string::npos || at == 0) {
      return Error{ErrorCode::kInvalidInput, "invalid address"};
    }
    TERN_TRY(auto domain,
             c.scalar("SELECT id FROM domains WHERE name = ?1", domain_of(account.address)));
    if (!domain) {
      return not_found("not a local domain: " + account.address);
    }
    TERN_TRY(auto exists, c.scalar("SELECT 1 FROM accounts WHERE address = ?1", account.address));
    if (exists) {
      return Error{ErrorCode::kAlreadyExists, "account exists: " + account.address};
    }
    TERN_TRY_VOID(
        c.run("INSERT INTO accounts (domain_id, address, password_hash, quota_bytes, scram_sha256) "
              "VALUES (?1, ?2, ?3, ?4, ?5)",
              *domain, account.address, account.password_hash, account.quota_bytes,
              account.scram_sha256));
    d::AccountId id{c.last_insert_rowid()};
    TERN_TRY_VOID(
        insert_mailbox(c, id, "INBOX", d::SpecialUse::kNone, true).transform([](const d::Mailbox&) {
        }));
    TERN_TRY(auto stored, load_account(c, id));
    return *stored;
  });
}

d::Async<std::optional<d::Account>> SqliteStorage::find_account(std::string address) {
  return read<std::optional<d::Account>>(
      [address](Connection& c) { return load_account(c, address); });
}

d::Async<std::optional<d::Account>> SqliteStorage::find_account_by_id(d::AccountId id) {
  return read<std::optional<d::Account>>([id](Connection& c) { return load_account(c, id); });
}

d::Async<std::vector<d::Account>> SqliteStorage::accounts(std::optional<std::string> domain) {
  return read<std::vector<d::Account>>([domain](Connection& c) -> Result<std::vector<d::Account>> {
    if (!domain) {
      return rows<d::Account>(c, std::string(kAccountColumns) + "ORDER BY address", account_from);
    }
    TERN_TRY(auto id, c.scalar("SELECT id FROM domains WHERE name = ?1", *domain));
    if (!id) {
      return not_found("no such domain: " + *domain);
    }
    return rows<d::Account>(c,
                            std::string(kAccountColumns) + "WHERE domain_id = ?1 ORDER BY address",
                            account_from, *id);
  });
}

d::Async<void> SqliteStorage::set_credentials(std::string address, d::Credentials credentials) {
  return write<void>({}, [address, credentials](Connection& c) -> Result<void> {
    TERN_TRY_VOID(
        c.run("UPDATE accounts SET password_hash = ?2, scram_sha256 = ?3 WHERE address = ?1",
              address, credentials.password_hash, credentials.scram_sha256));
    if (c.changes() == 0) {
      return not_found("no such account: " + address);
    }
    return ok();
  });
}

d::Async<void> SqliteStorage::set_quota(std::string address, std::uint64_t quota_bytes) {
  return write<void>({}, [address, quota_bytes](Connection& c) -> Result<void> {
    TERN_TRY_VOID(
        c.run("UPDATE accounts SET quota_bytes = ?2 WHERE address = ?1", address, quota_bytes));
    if (c.changes() == 0) {
      return not_found("no such account: " + address);
    }
    return ok();
  });
}

d::Async<void> SqliteStorage::remove_account(std::string address) {
  return write<void>({}, [address](Connection& c) -> Result<void> {
    TERN_TRY(auto account, load_account(c, address));
    if (!account) {
      return not_found("no such account: " + address);
    }
    auto id = d::value_of(account->id);
    // Each message with a blob file holds one blob reference; release them all at
    // once. Bytes of their own (bytes_id) go with the rows (messages_release_bytes).
    TERN_TRY_VOID(
        c.run("UPDATE blobs SET refs = refs - (SELECT count(*) FROM messages m WHERE m.blob = "
              "blobs.hash AND m.account_id = ?1 AND m.bytes_id IS NULL) WHERE hash IN (SELECT "
              "blob FROM messages WHERE account_id = ?1 AND bytes_id IS NULL)",
              id));
    TERN_TRY_VOID(c.run(
        "DELETE FROM entries WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?1)",
        id));
    TERN_TRY_VOID(c.run(
        "DELETE FROM tombstones WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = "
        "?1)",
        id));
    TERN_TRY_VOID(c.run("DELETE FROM messages WHERE account_id = ?1", id));
    TERN_TRY_VOID(c.run("DELETE FROM mailboxes WHERE account_id = ?1", id));
    TERN_TRY_VOID(c.run("DELETE FROM changes WHERE account_id = ?1", id));
    TERN_TRY_VOID(c.run("DELETE FROM sieve_scripts WHERE account_id = ?1", id));
    TERN_TRY_VOID(c.run("DELETE FROM sieve_vacation WHERE account_id = ?1", id));
    TERN_TRY_VOID(spam::remove_model(c, id));
    return c.run("DELETE FROM accounts WHERE id = ?1", id);
  });
}

d::Async<void> SqliteStorage::add_alias(d::Alias alias) {
  return write<void>({}, [alias](Connection& c) -> Result<void> {
    if (alias.source.empty() || alias.destination.empty() ||
        alias.source.find('@') == std::string::npos) {
      return Error{ErrorCode::kInvalidInput, "invalid alias"};
    }
    auto domain = domain_of(alias.source);
    TERN_TRY(auto local, c.scalar("SELECT 1 FROM domains WHERE name = ?1", domain));
    if (!local) {
      return not_found("not a local domain: " + alias.source);
    }
    TERN_TRY(auto exists, c.scalar("SELECT 1 FROM aliases WHERE source = ?1 AND destination = ?2",
                                   alias.source, alias.destination));
    if (exists) {
      return Error{ErrorCode::kAlreadyExists, "alias exists: " + alias.source};
    }
    return c.run("INSERT INTO aliases (source, destination, domain) VALUES (?1, ?2, ?3)",
                 alias.source, alias.destination, domain);
  });
}

d::Async<std::vector<d::Alias>> SqliteStorage::aliases(std::optional<std::string> domain) {
  return read<std::vector<d::Alias>>([domain](Connection& c) -> Result<std::vector<d::Alias>> {
    auto alias_from = [](const Statement& s) { return d::Alias{s.text(0), s.text(1)}; };
    if (!domain) {
      return rows<d::Alias>(
          c, "SELECT source, destination FROM aliases ORDER BY source, destination", alias_from);
    }
    TERN_TRY(auto local, c.scalar("SELECT 1 FROM domains WHERE name = ?1", *domain));
    if (!local) {
      return not_found("no such domain: " + *domain);
    }
    return rows<d::Alias>(
        c, "SELECT source, destination FROM aliases WHERE domain = ?1 ORDER BY source, destination",
        alias_from, *domain);
  });
}

d::Async<std::vector<std::string>> SqliteStorage::alias_destinations(std::string source) {
  return read<std::vector<std::string>>([source](Connection& c) {
    return rows<std::string>(
        c, "SELECT destination FROM aliases WHERE source = ?1 ORDER BY destination",
        [](const Statement& s) { return s.text(0); }, source);
  });
}

d::Async<void> SqliteStorage::remove_alias(std::string source,
                                           std::optional<std::string> destination) {
  return write<void>({}, [source, destination](Connection& c) -> Result<void> {
    if (destination && !destination->empty()) {
      TERN_TRY_VOID(c.run("DELETE FROM aliases WHERE source = ?1 AND destination = ?2", source,
                          *destination));
    } else {
      TERN_TRY_VOID(c.run("DELETE FROM aliases WHERE source = ?1", source));
    }
    if (c.changes() == 0) {
      return not_found("no such alias: " + source);
    }
    return ok();
  });
}

// ----- Sieve scripts and vacation replies

namespace {

Result<void> require_account(Connection& c, d::AccountId account) {
  TERN_TRY(auto exists, c.scalar("SELECT 1 FROM accounts WHERE id = ?1", d::value_of(account)));
  if (!exists) {
    return not_found("no such account");
  }
  return ok();
}

d::SieveScript sieve_script_from(const Statement& s) {
  return d::SieveScript{s.text(0), s.text(1), s.int64(2) != 0};
}

}  // namespace

d::Async<void> SqliteStorage::put_sieve_script(d::AccountId account, std::string name,
                                               std::string text) {
  return write<void>(
      {}, [account, name = std::move(name), text = std::move(text)](Connection& c) -> Result<void> {
        TERN_TRY_VOID(require_account(c, account));
        if (!d::is_valid_sieve_script_name(name)) {
          return Error{ErrorCode::kInvalidInput, "invalid sieve script name"};
        }
        return c.run(
            "INSERT INTO sieve_scripts (account_id, name, script) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (account_id, name) DO UPDATE SET script = excluded.script",
            d::value_of(account), name, text);
      });
}

d::Async<std::vector<d::SieveScript>> SqliteStorage::sieve_scripts(d::AccountId account) {
  return read<std::vector<d::SieveScript>>(
      [account](Connection& c) -> Result<std::vector<d::SieveScript>> {
        TERN_TRY_VOID(require_account(c, account));
        return rows<d::SieveScript>(
            c, "SELECT name, script, active FROM sieve_scripts WHERE account_id = ?1 ORDER BY name",
            sieve_script_from, d::value_of(account));
      });
}

d::Async<std::optional<d::SieveScript>> SqliteStorage::active_sieve_script(d::AccountId account) {
  return read<std::optional<d::SieveScript>>(
      [account](Connection& c) -> Result<std::optional<d::SieveScript>> {
        TERN_TRY_VOID(require_account(c, account));
        return one_row<d::SieveScript>(
            c,
            "SELECT name, script, active FROM sieve_scripts WHERE account_id = ?1 AND active = 1",
            sieve_script_from, d::value_of(account));
      });
}

d::Async<void> SqliteStorage::activate_sieve_script(d::AccountId account,
                                                    std::optional<std::string> name) {
  return write<void>({}, [account, name = std::move(name)](Connection& c) -> Result<void> {
    TERN_TRY_VOID(require_account(c, account));
    const auto id = d::value_of(account);
    if (name) {
      TERN_TRY(auto exists, c.scalar("SELECT 1 FROM sieve_scripts WHERE account_id = ?1 AND "
                                     "name = ?2",
                                     id, *name));
      if (!exists) {
        return not_found("no such sieve script: " + *name);
      }
    }
    // The old one first: the unique index on the active script is checked row by row.
    TERN_TRY_VOID(
        c.run("UPDATE sieve_scripts SET active = 0 WHERE account_id = ?1 AND active = 1", id));
    if (!name) {
      return ok();
    }
    return c.run("UPDATE sieve_scripts SET active = 1 WHERE account_id = ?1 AND name = ?2", id,
                 *name);
  });
}

d::Async<void> SqliteStorage::rename_sieve_script(d::AccountId account, std::string from,
                                                  std::string to) {
  return write<void>(
      {}, [account, from = std::move(from), to = std::move(to)](Connection& c) -> Result<void> {
        TERN_TRY_VOID(require_account(c, account));
        if (!d::is_valid_sieve_script_name(to)) {
          return Error{ErrorCode::kInvalidInput, "invalid sieve script name"};
        }
        const auto id = d::value_of(account);
        TERN_TRY(
            auto exists,
            c.scalar("SELECT 1 FROM sieve_scripts WHERE account_id = ?1 AND name = ?2", id, from));
        if (!exists) {
          return not_found("no such sieve script: " + from);
        }
        TERN_TRY(
            auto taken,
            c.scalar("SELECT 1 FROM sieve_scripts WHERE account_id = ?1 AND name = ?2", id, to));
        if (taken) {
          return Error{ErrorCode::kAlreadyExists, "sieve script exists: " + to};
        }
        return c.run("UPDATE sieve_scripts SET name = ?3 WHERE account_id = ?1 AND name = ?2", id,
                     from, to);
      });
}

d::Async<void> SqliteStorage::remove_sieve_script(d::AccountId account, std::string name) {
  return write<void>({}, [account, name = std::move(name)](Connection& c) -> Result<void> {
    TERN_TRY_VOID(require_account(c, account));
    const auto id = d::value_of(account);
    TERN_TRY(auto active, c.scalar("SELECT active FROM sieve_scripts WHERE account_id = ?1 AND "
                                   "name = ?2",
                                   id, name));
    if (!active) {
      return not_found("no such sieve script: " + name);
    }
    if (*active != 0) {
      return Error{ErrorCode::kConflict, "the sieve script is active: " + name};
    }
    return c.run("DELETE FROM sieve_scripts WHERE account_id = ?1 AND name = ?2", id, name);
  });
}

d::Async<bool> SqliteStorage::note_vacation_reply(d::AccountId account, std::string key,
                                                  SystemTime now, std::chrono::seconds period) {
  return write<
      bool>({}, [account, key = std::move(key), now, period](Connection& c) -> Result<bool> {
    TERN_TRY_VOID(require_account(c, account));
    const auto id = d::value_of(account);
    // The one writer runs this whole body at a time: the check and the record
    // cannot interleave with another delivery's.
    TERN_TRY(auto sent, c.scalar("SELECT sent FROM sieve_vacation WHERE account_id = ?1 AND "
                                 "reply_key = ?2",
                                 id, AsBlob{key}));
    if (sent && *sent > ticks(now - period)) {
      return false;
    }
    TERN_TRY_VOID(c.run("DELETE FROM sieve_vacation WHERE account_id = ?1 AND expires <= ?2", id,
                        ticks(now)));
    TERN_TRY_VOID(c.run(
        "INSERT INTO sieve_vacation (account_id, reply_key, sent, expires) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (account_id, reply_key) DO UPDATE SET sent = excluded.sent, "
        "expires = excluded.expires",
        id, AsBlob{key}, ticks(now), ticks(now + period)));
    return true;
  });
}

// ----- MailStore

d::Async<std::vector<d::Mailbox>> SqliteStorage::mailboxes(d::AccountId account) {
  return read<std::vector<d::Mailbox>>([account](Connection& c) -> Result<std::vector<d::Mailbox>> {
    TERN_TRY(auto owner, load_account(c, account));
    if (!owner) {
      return not_found("no such account");
    }
    return rows<d::Mailbox>(c, std::string(kMailboxColumns) + "WHERE account_id = ?1 ORDER BY name",
                            mailbox_from, d::value_of(account));
  });
}

d::Async<d::Mailbox> SqliteStorage::create_mailbox(d::AccountId account, std::string name,
                                                   d::SpecialUse special_use) {
  return write<d::Mailbox>({}, [account, name, special_use](Connection& c) -> Result<d::Mailbox> {
    TERN_TRY(auto owner, load_account(c, account));
    if (!owner) {
      return not_found("no such account");
    }
    auto canonical = canonical_mailbox_name(name);
    if (!is_valid_mailbox_name(canonical)) {
      return Error{ErrorCode::kInvalidInput, "invalid mailbox name"};
    }
    TERN_TRY(auto exists, c.scalar("SELECT 1 FROM mailboxes WHERE account_id = ?1 AND name = ?2",
                                   d::value_of(account), canonical));
    if (exists) {
      return Error{ErrorCode::kAlreadyExists, "mailbox exists: " + canonical};
    }
    return insert_mailbox(c, account, canonical, special_use, false);
  });
}

d::Async<d::Mailbox> SqliteStorage::rename_mailbox(d::AccountId account, d::MailboxId mailbox,
                                                   std::string new_name) {
  return write<d::Mailbox>({}, [account, mailbox, new_name](Connection& c) -> Result<d::Mailbox> {
    TERN_TRY(auto target, owned_mailbox(c, account, mailbox));
    auto name = canonical_mailbox_name(new_name);
    const std::string old_name = target.name;
    if (old_name == "INBOX" || name == "INBOX" || !is_valid_mailbox_name(name)) {
      return Error{ErrorCode::kInvalidInput, "cannot rename to " + name};
    }
    if (name == old_name) {
      return target;
    }
    TERN_TRY(auto all, rows<d::Mailbox>(c, std::string(kMailboxColumns) + "WHERE account_id = ?1",
                                        mailbox_from, d::value_of(account)));
    std::set<std::string> names;
    std::vector<d::Mailbox> renamed;
    for (const auto& box : all) {
      names.insert(box.name);
      if (box.name == old_name || box.name.starts_with(old_name + "/")) {
        renamed.push_back(box);
      }
    }
    for (const auto& box : renamed) {
      auto candidate = name + box.name.substr(old_name.size());
      if (names.contains(candidate)) {
        return Error{ErrorCode::kAlreadyExists, "mailbox exists: " + candidate};
      }
    }
    // Two steps so a child's new name never collides with an old one mid-way.
    for (const auto& box : renamed) {
      TERN_TRY_VOID(c.run("UPDATE mailboxes SET name = ?2 WHERE id = ?1", d::value_of(box.id),
                          "\x01rename\x01" + std::to_string(d::value_of(box.id))));
    }
    for (const auto& box : renamed) {
      TERN_TRY_VOID(c.run("UPDATE mailboxes SET name = ?2 WHERE id = ?1", d::value_of(box.id),
                          name + box.name.substr(old_name.size())));
      TERN_TRY_VOID(mailbox_change(c, account, box.id, d::Uid{0}, d::ChangeKind::kMailboxRenamed)
                        .transform([](d::ModSeq) {}));
    }
    return owned_mailbox(c, account, mailbox);
  });
}

d::Async<void> SqliteStorage::delete_mailbox(d::AccountId account, d::MailboxId mailbox) {
  return write<void>({}, [account, mailbox](Connection& c) -> Result<void> {
    TERN_TRY(auto target, owned_mailbox(c, account, mailbox));
    if (target.name == "INBOX") {
      return Error{ErrorCode::kInvalidInput, "cannot delete INBOX"};
    }
    return delete_mailbox_rows(c, account, mailbox);
  });
}

d::Async<void> SqliteStorage::set_subscribed(d::AccountId account, d::MailboxId mailbox,
                                             bool subscribed) {
  return write<void>({}, [account, mailbox, subscribed](Connection& c) -> Result<void> {
    TERN_TRY(auto target, owned_mailbox(c, account, mailbox));
    if (target.subscribed == subscribed) {
      return ok();
    }
    TERN_TRY_VOID(c.run("UPDATE mailboxes SET subscribed = ?2 WHERE id = ?1", d::value_of(mailbox),
                        subscribed ? 1 : 0));
    return mailbox_change(c, account, mailbox, d::Uid{0}, d::ChangeKind::kMailboxSubscription)
        .transform([](d::ModSeq) {});
  });
}

d::Async<std::vector<Result<d::Appended>>> SqliteStorage::append(
    d::NewMessage message, std::vector<d::AppendTarget> targets) {
  using Out = std::vector<Result<d::Appended>>;
  if (targets.empty()) {
    return make_ready_future<Result<Out>>(
        Error{ErrorCode::kInvalidInput, "append without targets"});
  }
  // Hash and stage the blob on the caller's thread (one SHA-256 pass; the bytes
  // are moved, not copied, when they stay inline): the writer thread then only
  // syncs and inserts, so many sessions' work proceeds in parallel.
  auto request = std::make_unique<AppendRequest>();
  request->hex = sha256_hex(message.raw);
  request->size = message.raw.size();
  request->internal_date = ticks(message.internal_date);
  // Split here too, off the writer thread: the writer only inserts the parts.
  if (auto split = mime::facts::split_facts(message.facts)) {
    request->facts = std::move(split->record);
    request->split = std::move(*split);
  } else {
    request->facts = std::move(message.facts);
  }
  request->targets = std::move(targets);
  WriteJob job;
  // With many writes queued, the batch this one joins will be large: the bytes
  // go to a segment, written here in parallel with other sessions, and the
  // writer syncs it once for all of them. In a small batch (and every batch is
  // one request without group commit) that second sync costs more than it
  // saves; the bytes then go through the WAL with the rows.
  if (options_.segment_bytes > 0 && options_.group_commit &&
      message.raw.size() <= options_.inline_blob_max_bytes &&
      queued_writes_.load(std::memory_order_relaxed) >= options_.segment_min_queue) {
    auto span = segment_files_.write(message.raw);
    if (!span) {
      return make_ready_future<Result<Out>>(span.error());
    }
    request->span = std::move(*span);
  } else {
    auto temp = stage_blob(request->hex, std::move(message.raw));
    if (!temp) {
      return make_ready_future<Result<Out>>(temp.error());
    }
    job.blobs.push_back(std::move(*temp));
  }
  auto future = request->promise.future();
  job.finish = [append = request.get()](const Error* error) { finish_append(*append, error); };
  job.append = std::move(request);
  submit_write(std::move(job));
  return future;
}

d::Async<std::vector<d::Entry>> SqliteStorage::entries(d::AccountId account, d::MailboxId mailbox,
                                                       d::Uid first, d::Uid last) {
  return read<std::vector<d::Entry>>([account, mailbox, first,
                                      last](Connection& c) -> Result<std::vector<d::Entry>> {
    TERN_TRY_VOID(owned_mailbox(c, account, mailbox).transform([](const d::Mailbox&) {}));
    return rows<d::Entry>(c,
                          std::string(kEntryColumns) +
                              "WHERE e.mailbox_id = ?1 AND e.uid BETWEEN ?2 AND ?3 "
                              "ORDER BY e.uid",
                          entry_from, d::value_of(mailbox), d::value_of(first), d::value_of(last));
  });
}

d::Async<std::string> SqliteStorage::read_message(d::AccountId account, d::MessageId message) {
  return read<std::string>([this, account, message](Connection& c) -> Result<std::string> {
    // A compaction (collect_garbage) may move a span and remove its segment
    // between the query and the read of the file; the query's second run, on a
    // newer snapshot, finds the span at its new place.
    for (int attempt = 0;; ++attempt) {
      std::string hex;
      SegmentSpan span;
      {
        TERN_TRY(auto stmt,
                 c.query("SELECT m.blob, m.bytes_id IS NOT NULL, b.data, b.segment, b.seg_offset, "
                         "b.seg_length FROM messages m "
                         "LEFT JOIN message_bytes b ON b.id = m.bytes_id "
                         "WHERE m.id = ?1 AND m.account_id = ?2",
                         d::value_of(message), d::value_of(account)));
        TERN_TRY(bool found, stmt.next());
        if (!found) {
          return not_found("no such message");
        }
        hex = stmt.text(0);
        if (stmt.int64(1) == 0) {
          return read_blob(c, hex);  // a blob file, or bytes stored before migration 0010
        }
        if (stmt.is_null(2)) {
          return Error{ErrorCode::kCorrupt, "message bytes are missing: " + hex};
        }
        if (stmt.is_null(3)) {
          return verified(stmt.text(2), hex);
        }
        span.segment = stmt.int64(3);
        span.offset = stmt.uint64(4);
        span.length = stmt.uint64(5);
      }
      auto bytes = segment_files_.read(span.segment, span.offset, span.length);
      if (!bytes && bytes.error().code == ErrorCode::kNotFound) {
        if (attempt == 0) {
          continue;
        }
        return Error{ErrorCode::kCorrupt,
                     "message bytes are missing: " + hex + " (" + bytes.error().message + ")"};
      }
      if (!bytes) {
        return bytes.error();
      }
      return verified(std::move(*bytes), hex);
    }
  });
}

d::Async<std::string> SqliteStorage::message_facts(d::AccountId account, d::MessageId message) {
  return read<std::string>([account, message](Connection& c) -> Result<std::string> {
    // Split at append (migration 0008): the record is in message_records.
    TERN_TRY(auto facts, one_row<std::string>(
                             c,
                             "SELECT coalesce((SELECT record FROM message_records WHERE "
                             "message_id = m.id), m.facts) FROM messages m "
                             "WHERE m.id = ?1 AND m.account_id = ?2",
                             [](const Statement& s) { return s.text(0); }, d::value_of(message),
                             d::value_of(account)));
    if (!facts) {
      return not_found("no such message");
    }
    return *facts;
  });
}

namespace {

// The query of message_summaries() for the parts `what`: the entries named in the
// JSON array ?2 of mailbox ?1, each part LEFT JOINed from its own table (migration
// 0008). Columns: uid, message id, whether every joined part row is there, the
// envelope, search headers, search text, and the facts record (message_records, or
// messages.facts for a message stored before 0008 or facts that were no readable
// record) — read only when it was asked for or a part row is missing, so an
// envelope fetch never reads the record — and the order keys (a column of the
// envelope row, NULL when not asked for or stored before migration 0013).
std::string summary_query(d::SummaryParts what) {
  const bool envelope = (what & d::kSummaryEnvelope) != 0;
  const bool headers = (what & d::kSummarySearchHeaders) != 0;
  const bool text = (what & d::kSummarySearchText) != 0;
  // The order keys are a column of the envelope row.
  const bool order = (what & d::kSummaryOrder) != 0;
  // Without a part table to join, the envelope row tells whether the record was split.
  const bool probe = !envelope && !headers && !text;
  std::string present;
  std::string joins;
  auto join = [&](std::string_view table, std::string_view alias) {
    joins += " LEFT JOIN " + std::string(table) + " " + std::string(alias) + " ON " +
             std::string(alias) + ".message_id = e.message_id";
    present += present.empty() ? "" : " AND ";
    present += std::string(alias) + ".message_id IS NOT NULL";
  };
  if (envelope || order || probe) {
    join("message_envelopes", "v");
  }
  if (headers) {
    join("message_search_headers", "h");
  }
  if (text) {
    join("message_search_text", "t");
  }
  const std::string stored =
      "coalesce((SELECT record FROM message_records WHERE message_id = e.message_id), "
      "(SELECT facts FROM messages WHERE id = e.message_id))";
  return "SELECT e.uid, e.message_id, " + present + ", " + (envelope ? "v.envelope" : "NULL") +
         ", " + (headers ? "h.headers" : "NULL") + ", " + (text ? "t.text" : "NULL") + ", " +
         ((what & d::kSummaryFacts) != 0
              ? stored
              : "CASE WHEN " + present + " THEN NULL ELSE " + stored + " END") +
         ", " + (order ? "v.order_keys" : "NULL") +
         " FROM json_each(?2) j JOIN entries e ON e.mailbox_id = ?1 AND e.uid = j.value" + joins +
         " ORDER BY j.key";
}

}  // namespace

d::Async<std::vector<d::MessageSummary>> SqliteStorage::message_summaries(d::AccountId account,
                                                                          d::MailboxId mailbox,
                                                                          std::vector<d::Uid> uids,
                                                                          d::SummaryParts what) {
  using Out = std::vector<d::MessageSummary>;
  return read<Out>([account, mailbox, uids = std::move(uids), what](Connection& c) -> Result<Out> {
    TERN_TRY_VOID(owned_mailbox(c, account, mailbox).transform([](const d::Mailbox&) {}));
    Out out;
    out.reserve(uids.size());
    // One statement for the whole list: a JSON array bound as one parameter keeps
    // the statement cache at one entry per `what`, whatever the chunk size.
    std::string list = "[";
    for (auto uid : uids) {
      list += list.size() > 1 ? "," : "";
      list += std::to_string(d::value_of(uid));
    }
    list += ']';
    TERN_TRY(auto stmt, c.query(summary_query(what), d::value_of(mailbox), list));
    for (;;) {
      TERN_TRY(bool row, stmt.next());
      if (!row) {
        break;
      }
      d::MessageSummary& s = out.emplace_back();
      s.uid = d::Uid{static_cast<std::uint32_t>(stmt.int64(0))};
      s.message = d::MessageId{stmt.int64(1)};
      // Without the part rows (stored before migration 0008, or not a readable
      // record) column 6 is the whole record, split on the fly.
      d::fill_summary(s,
                      {stmt.int64(2) != 0, stmt.text(3), stmt.text(4), stmt.text(5), stmt.text(6),
                       stmt.is_null(7) ? std::nullopt : std::optional<std::string>(stmt.text(7))},
                      what);
    }
    return out;
  });
}

d::Async<d::FlagResult> SqliteStorage::change_flags(d::AccountId account, d::MailboxId mailbox,
                                                    std::vector<d::Uid> uids,
                                                    d::FlagChange change) {
  return write<d::FlagResult>(
      {}, [account, mailbox, uids, change](Connection& c) mutable -> Result<d::FlagResult> {
        TERN_TRY_VOID(owned_mailbox(c, account, mailbox).transform([](const d::Mailbox&) {}));
        auto prepared = d::prepare_flag_change(change);
        std::vector<std::string> defined;  // read once: spelled by, then added to
        if (!prepared.keywords.empty()) {
          TERN_TRY(defined, defined_keywords(c, d::value_of(mailbox)));
          d::spell_as_defined(defined, prepared.keywords);
        }
        std::sort(uids.begin(), uids.end());
        uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
        d::FlagResult result;
        std::vector<d::Entry> updates;
        for (auto uid : uids) {
          TERN_TRY(auto found,
                   one_row<d::Entry>(
                       c, std::string(kEntryColumns) + "WHERE e.mailbox_id = ?1 AND e.uid = ?2",
                       entry_from, d::value_of(mailbox), d::value_of(uid)));
          if (!found) {
            continue;
          }
          auto entry = std::move(*found);
          if (d::violates_unchanged_since(entry, prepared)) {
            result.conflicts.push_back(uid);
            continue;
          }
          if (d::apply_flag_change(entry, prepared)) {
            updates.push_back(std::move(entry));
          }
        }
        if (updates.empty()) {
          return result;
        }
        if (prepared.op != d::FlagOp::kRemove && !prepared.keywords.empty()) {
          TERN_TRY_VOID(
              add_defined_keywords(c, d::value_of(mailbox), std::move(defined), prepared.keywords));
        }
        TERN_TRY(auto modseq, allocate_modseq(c, account));
        TERN_TRY_VOID(set_highest(c, mailbox, modseq));
        for (auto& entry : updates) {
          entry.modseq = modseq;
          TERN_TRY_VOID(c.run(
              "UPDATE entries SET flags = ?3, keywords = ?4, modseq = ?5 WHERE mailbox_id = ?1 "
              "AND uid = ?2",
              d::value_of(mailbox), d::value_of(entry.uid), static_cast<int>(entry.flags),
              join_keywords(entry.keywords), d::value_of(modseq)));
          TERN_TRY_VOID(
              log_change(c, account, modseq, mailbox, entry.uid, d::ChangeKind::kFlagsChanged));
          result.changed.push_back(std::move(entry));
        }
        return result;
      });
}

d::Async<std::vector<d::Appended>> SqliteStorage::copy(d::AccountId account, d::MailboxId from,
                                                       std::vector<d::Uid> uids, d::MailboxId to) {
  return write<std::vector<d::Appended>>({}, [account, from, uids, to](Connection& c) {
    return copy_rows(c, account, from, uids, to);
  });
}

d::Async<std::vector<d::Appended>> SqliteStorage::move(d::AccountId account, d::MailboxId from,
                                                       std::vector<d::Uid> uids, d::MailboxId to) {
  return write<std::vector<d::Appended>>(
      {}, [account, from, uids, to](Connection& c) -> Result<std::vector<d::Appended>> {
        TERN_TRY(auto copied, copy_rows(c, account, from, uids, to));
        TERN_TRY(auto source, owned_mailbox(c, account, from));
        TERN_TRY_VOID(expunge_uids(c, account, source, uids).transform([](d::ModSeq) {}));
        return copied;
      });
}

d::Async<d::ModSeq> SqliteStorage::expunge(d::AccountId account, d::MailboxId mailbox,
                                           std::vector<d::Uid> uids) {
  return write<d::ModSeq>({}, [account, mailbox, uids](Connection& c) -> Result<d::ModSeq> {
    TERN_TRY(auto box, owned_mailbox(c, account, mailbox));
    return expunge_uids(c, account, box, uids);
  });
}

d::Async<d::MailboxChanges> SqliteStorage::changes_since(d::AccountId account, d::MailboxId mailbox,
                                                         d::ModSeq since) {
  return read<d::MailboxChanges>(
      [account, mailbox, since](Connection& c) -> Result<d::MailboxChanges> {
        // One read transaction, so the entries, tombstones and highest agree.
        TERN_TRY_VOID(c.exec("BEGIN"));
        auto result = [&]() -> Result<d::MailboxChanges> {
          TERN_TRY(auto box, owned_mailbox(c, account, mailbox));
          d::MailboxChanges changes;
          TERN_TRY(changes.changed,
                   rows<d::Entry>(c,
                                  std::string(kEntryColumns) +
                                      "WHERE e.mailbox_id = ?1 AND e.modseq > ?2 ORDER BY e.uid",
                                  entry_from, d::value_of(mailbox), d::value_of(since)));
          TERN_TRY(
              changes.vanished,
              rows<d::Uid>(
                  c,
                  "SELECT uid FROM tombstones WHERE mailbox_id = ?1 AND modseq > ?2 "
                  "ORDER BY uid",
                  [](const Statement& s) { return d::Uid{static_cast<std::uint32_t>(s.int64(0))}; },
                  d::value_of(mailbox), d::value_of(since)));
          changes.highest = box.highest_modseq;
          return changes;
        }();
        (void)c.exec("COMMIT");
        return result;
      });
}

d::Async<std::vector<d::AccountChange>> SqliteStorage::account_changes_since(d::AccountId account,
                                                                             d::ModSeq since) {
  return read<std::vector<d::AccountChange>>(
      [account, since](Connection& c) -> Result<std::vector<d::AccountChange>> {
        TERN_TRY(auto owner, load_account(c, account));
        if (!owner) {
          return not_found("no such account");
        }
        return rows<d::AccountChange>(
            c,
            "SELECT modseq, mailbox_id, uid, kind FROM changes WHERE account_id = ?1 AND modseq > "
            "?2 ORDER BY modseq, rowid",
            [](const Statement& s) {
              return d::AccountChange{d::ModSeq{s.uint64(0)}, d::MailboxId{s.int64(1)},
                                      d::Uid{static_cast<std::uint32_t>(s.int64(2))},
                                      static_cast<d::ChangeKind>(s.int64(3))};
            },
            d::value_of(account), d::value_of(since));
      });
}

d::Async<d::Usage> SqliteStorage::usage(d::AccountId account) {
  return read<d::Usage>([account](Connection& c) -> Result<d::Usage> {
    TERN_TRY_VOID(c.exec("BEGIN"));
    auto result = [&]() -> Result<d::Usage> {
      TERN_TRY(auto owner, load_account(c, account));
      if (!owner) {
        return not_found("no such account");
      }
      TERN_TRY(auto count, c.scalar("SELECT count(*) FROM entries WHERE mailbox_id IN (SELECT id "
                                    "FROM mailboxes WHERE account_id = ?1)",
                                    d::value_of(account)));
      return d::Usage{owner->used_bytes, static_cast<std::uint64_t>(count.value_or(0))};
    }();
    (void)c.exec("COMMIT");
    return result;
  });
}

// ----- BlobStore

d::Async<d::BlobId> SqliteStorage::put(std::string bytes) {
  auto hex = sha256_hex(bytes);
  auto temp = stage_blob(hex, bytes);
  if (!temp) {
    return make_ready_future<Result<d::BlobId>>(temp.error());
  }
  std::vector<TempBlob> blobs;
  blobs.push_back(std::move(*temp));
  return write<d::BlobId>(std::move(blobs),
                          [hex, size = bytes.size()](Connection& c) -> Result<d::BlobId> {
                            TERN_TRY_VOID(
                                c.run("INSERT INTO blobs (hash, size, refs) VALUES (?1, ?2, 0) "
                                      "ON CONFLICT(hash) DO NOTHING",
                                      hex, size));
                            return d::BlobId{hex};
                          });
}

d::Async<std::string> SqliteStorage::get(d::BlobId id) {
  if (!d::is_sha256_hex(id.hex)) {
    return make_ready_future<Result<std::string>>(not_found("no such blob: " + id.hex));
  }
  return read<std::string>([this, hex = id.hex](Connection& c) -> Result<std::string> {
    TERN_TRY(auto known, c.scalar("SELECT 1 FROM blobs WHERE hash = ?1", hex));
    if (!known) {
      return not_found("no such blob: " + hex);
    }
    return read_blob(c, hex);
  });
}

namespace {
// Blob files and temps younger than this are left to their writer, which may be
// another process between writing them and committing their rows.
constexpr auto kOrphanAge = std::chrono::hours{1};
// The live bytes one collection moves at most, and for how long it moves them:
// the writer is busy with it, so deliveries wait (256 MiB is about a second on a
// cached disk). Dead segments go regardless; the rest waits for the next
// collection.
constexpr std::uint64_t kMaxCompactionBytes = 256ULL << 20;
constexpr auto kMaxCompactionTime = std::chrono::seconds{2};
}  // namespace

d::Async<std::uint64_t> SqliteStorage::collect_garbage() {
  // Exclusive: no other request of the batch may be between writing a blob file
  // and committing its row while this deletes files without rows.
  auto doomed = std::make_shared<std::vector<std::string>>();
  Promise<Result<std::uint64_t>> promise;
  auto future = promise.future();
  auto result = std::make_shared<Result<std::uint64_t>>(std::uint64_t{0});
  WriteJob job;
  job.exclusive = true;
  auto dead_segments = std::make_shared<std::vector<std::int64_t>>();
  job.body = [this, doomed, dead_segments, result](Connection& c) {
    auto unreferenced = rows<std::string>(c, "DELETE FROM blobs WHERE refs <= 0 RETURNING hash",
                                          [](const Statement& s) { return s.text(0); });
    if (!unreferenced) {
      *result = unreferenced.error();
      return false;
    }
    auto compacted = compact_segments(c);
    if (!compacted) {
      *result = compacted.error();
      return false;
    }
    *doomed = std::move(*unreferenced);
    *dead_segments = std::move(*compacted);
    *result = static_cast<std::uint64_t>(doomed->size() + dead_segments->size());
    return true;
  };
  // Files go only after their rows are gone for good: a crash in between leaves
  // orphan files (removed by the next collection), never rows without files.
  job.after_commit = [this, doomed, dead_segments](Connection& c) {
    for (auto id : *dead_segments) {
      if (auto removed = segment_files_.remove(id); !removed) {
        options_.logger.warn("segment gc", {{"error", removed.error().message}});
      }
    }
    for (const auto& hex : *doomed) {
      if (auto removed = blob_files_.remove(hex); !removed) {
        options_.logger.warn("blob gc", {{"error", removed.error().message}});
      }
    }
    (void)blob_files_.remove_stale_temps(kOrphanAge);
    // Orphans: files whose row never committed (a crash or a failed batch). Only
    // old ones: another process may have renamed a file into place and not yet
    // committed its row (this process has nothing between the two now, the job
    // being exclusive).
    auto on_disk = blob_files_.list(kOrphanAge);
    if (!on_disk) {
      return;
    }
    for (const auto& hex : *on_disk) {
      auto known = c.scalar("SELECT 1 FROM blobs WHERE hash = ?1", hex);
      if (known && !*known) {
        (void)blob_files_.remove_if_older(hex, kOrphanAge);
      }
    }
  };
  job.finish = [promise, result](const Error* error) mutable {
    promise.set_value(error != nullptr ? Result<std::uint64_t>(*error) : *result);
  };
  submit_write(std::move(job));
  return future;
}

Result<std::vector<std::int64_t>> SqliteStorage::compact_segments(Connection& c) {
  std::vector<std::int64_t> dead;
  TERN_TRY(auto on_disk, segment_files_.list());
  if (on_disk.empty()) {
    return dead;
  }
  using Live = std::pair<std::int64_t, std::uint64_t>;  // segment, bytes its rows name
  TERN_TRY(auto live_rows,
           rows<Live>(c,
                      "SELECT segment, sum(seg_length) FROM message_bytes "
                      "WHERE segment IS NOT NULL GROUP BY segment",
                      [](const Statement& s) { return Live(s.int64(0), s.uint64(1)); }));
  std::map<std::int64_t, std::uint64_t> live(live_rows.begin(), live_rows.end());
  // The highest id stays, even dead: a new segment then never takes the id of
  // one a stale snapshot may still name.
  const std::int64_t highest = on_disk.rbegin()->first;
  const auto deadline = std::chrono::steady_clock::now() + kMaxCompactionTime;
  std::uint64_t moved = 0;
  for (const auto& [id, size] : on_disk) {
    if (id == highest || segment_files_.in_use(id)) {
      continue;  // being appended to, here or by another process
    }
    const std::uint64_t used = live.count(id) != 0 ? live[id] : 0;
    if (used == 0) {
      dead.push_back(id);
      continue;
    }
    if (used * 2 > size || moved >= kMaxCompactionBytes ||
        std::chrono::steady_clock::now() >= deadline) {
      continue;  // mostly live (moving it would cost more than it frees), or later
    }
    moved += used;
    // Moved spans are synced before this transaction commits, like appended ones.
    using Span = std::tuple<std::int64_t, std::uint64_t, std::uint64_t>;  // row, offset, length
    TERN_TRY(
        auto spans,
        rows<Span>(
            c,
            "SELECT id, seg_offset, seg_length FROM message_bytes "
            "WHERE segment = ?1",
            [](const Statement& s) { return Span(s.int64(0), s.uint64(1), s.uint64(2)); }, id));
    std::vector<std::shared_ptr<SegmentFile>> written;
    std::size_t unreadable = 0;
    std::optional<Error> first_error;
    for (const auto& [row, offset, length] : spans) {
      auto bytes = segment_files_.read(id, offset, length);
      if (!bytes) {
        // A segment cut short or gone (damage, or a file restored without it):
        // the rest of the collection goes on, the segment stays, and
        // missing_blobs() names the messages whose bytes it lacks.
        ++unreadable;
        if (!first_error) {
          first_error = bytes.error();
        }
        continue;
      }
      TERN_TRY(auto span, segment_files_.write(*bytes));
      TERN_TRY_VOID(c.run("UPDATE message_bytes SET segment = ?2, seg_offset = ?3 WHERE id = ?1",
                          row, span.segment, span.offset));
      if (std::find(written.begin(), written.end(), span.file) == written.end()) {
        written.push_back(std::move(span.file));
      }
    }
    for (const auto& file : written) {
      TERN_TRY_VOID(segment_files_.sync(file));
    }
    if (unreadable == 0) {
      dead.push_back(id);
    } else {
      // One line per damaged segment and collection, however many spans it lost.
      options_.logger.warn("segment gc: keeping a damaged segment",
                           {{"segment", std::to_string(id)},
                            {"unreadable_spans", std::to_string(unreadable)},
                            {"error", first_error->message}});
    }
  }
  return dead;
}

// ----- QueueStore

d::Async<d::QueueId> SqliteStorage::enqueue(d::NewQueuedMessage message) {
  if (message.recipients.empty()) {
    return make_ready_future<Result<d::QueueId>>(Error{ErrorCode::kInvalidInput, "no recipients"});
  }
  auto hex = sha256_hex(message.raw);
  auto temp = stage_blob(hex, message.raw);
  if (!temp) {
    return make_ready_future<Result<d::QueueId>>(temp.error());
  }
  const std::uint64_t size = message.raw.size();
  message.raw = std::string();  // the bytes are in the temp file now
  std::vector<TempBlob> blobs;
  blobs.push_back(std::move(*temp));
  return write<d::QueueId>(
      std::move(blobs),
      [hex, size, message = std::move(message)](Connection& c) -> Result<d::QueueId> {
        TERN_TRY_VOID(add_blob_reference(c, hex, size));
        TERN_TRY_VOID(c.run(
            "INSERT INTO queue (blob, size, sender, envid, ret, created, next_attempt, attempts, "
            "state, lease_until, smtputf8, body_type, requiretls, submitter) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 0, ?7, 0, ?8, ?9, ?10, ?11)",
            hex, size, message.sender, message.envid, message.ret, ticks(message.now),
            static_cast<int>(d::QueueState::kQueued), message.envelope.smtputf8 ? 1 : 0,
            static_cast<int>(message.envelope.body), message.envelope.requiretls ? 1 : 0,
            message.envelope.submitter));
        d::QueueId id{c.last_insert_rowid()};
        TERN_TRY_VOID(store_recipients(c, id, message.recipients));
        return id;
      });
}

d::Async<std::vector<d::QueuedMessage>> SqliteStorage::queued() {
  return read<std::vector<d::QueuedMessage>>(
      [](Connection& c) -> Result<std::vector<d::QueuedMessage>> {
        TERN_TRY_VOID(c.exec("BEGIN"));
        auto result = [&]() -> Result<std::vector<d::QueuedMessage>> {
          TERN_TRY(auto all, rows<d::QueuedMessage>(c, std::string(kQueueColumns) + "ORDER BY id",
                                                    queued_from));
          for (auto& q : all) {
            TERN_TRY_VOID(load_recipients(c, q));
          }
          return all;
        }();
        (void)c.exec("COMMIT");
        return result;
      });
}

d::Async<std::optional<d::QueuedMessage>> SqliteStorage::find_queued(d::QueueId id) {
  return read<std::optional<d::QueuedMessage>>(
      [id](Connection& c) -> Result<std::optional<d::QueuedMessage>> {
        TERN_TRY_VOID(c.exec("BEGIN"));
        auto result = [&]() -> Result<std::optional<d::QueuedMessage>> {
          TERN_TRY(auto found,
                   one_row<d::QueuedMessage>(c, std::string(kQueueColumns) + "WHERE id = ?1",
                                             queued_from, d::value_of(id)));
          if (found) {
            TERN_TRY_VOID(load_recipients(c, *found));
          }
          return found;
        }();
        (void)c.exec("COMMIT");
        return result;
      });
}

d::Async<std::string> SqliteStorage::read_queued(d::QueueId id) {
  return read<std::string>([this, id](Connection& c) -> Result<std::string> {
    TERN_TRY(auto blob, one_row<std::string>(
                            c, "SELECT blob FROM queue WHERE id = ?1",
                            [](const Statement& s) { return s.text(0); }, d::value_of(id)));
    if (!blob) {
      return not_found("no such queue entry");
    }
    return read_blob(c, *blob);
  });
}

d::Async<std::vector<d::QueuedMessage>> SqliteStorage::claim_due(SystemTime now, std::size_t limit,
                                                                 std::chrono::seconds lease) {
  return write<std::vector<d::QueuedMessage>>(
      {}, [now, limit, lease](Connection& c) -> Result<std::vector<d::QueuedMessage>> {
        // Oldest due first; the writer runs this in its transaction, so two
        // workers never claim the same entry.
        TERN_TRY(auto due, rows<d::QueuedMessage>(
                               c,
                               std::string(kQueueColumns) +
                                   "WHERE (state = ?1 AND next_attempt <= ?3) OR (state = ?2 AND "
                                   "lease_until <= ?3) ORDER BY next_attempt, id LIMIT ?4",
                               queued_from, static_cast<int>(d::QueueState::kQueued),
                               static_cast<int>(d::QueueState::kActive), ticks(now),
                               static_cast<std::int64_t>(limit)));
        const auto until = ticks(now + lease);
        for (auto& q : due) {
          TERN_TRY_VOID(c.run("UPDATE queue SET state = ?2, lease_until = ?3 WHERE id = ?1",
                              d::value_of(q.id), static_cast<int>(d::QueueState::kActive), until));
          q.state = d::QueueState::kActive;
          q.lease_until = from_ticks(until);
          TERN_TRY_VOID(load_recipients(c, q));
        }
        return due;
      });
}

d::Async<void> SqliteStorage::update_queued(d::QueueId id, d::QueueUpdate update) {
  return write<void>({}, [id, update](Connection& c) -> Result<void> {
    TERN_TRY(auto state, c.scalar("SELECT state FROM queue WHERE id = ?1", d::value_of(id)));
    if (!state) {
      return not_found("no such queue entry");
    }
    auto new_state = *state == static_cast<int>(d::QueueState::kActive)
                         ? static_cast<std::int64_t>(d::QueueState::kQueued)
                         : *state;
    TERN_TRY_VOID(
        c.run("UPDATE queue SET next_attempt = ?2, attempts = ?3, state = ?4, lease_until = 0, "
              "delay_warned = ?5 WHERE id = ?1",
              d::value_of(id), ticks(update.next_attempt), update.attempts, new_state,
              update.delay_warned ? 1 : 0));
    return store_recipients(c, id, update.recipients);
  });
}

d::Async<void> SqliteStorage::remove_queued(d::QueueId id) {
  return write<void>({}, [id](Connection& c) -> Result<void> {
    TERN_TRY(auto blob, one_row<std::string>(
                            c, "DELETE FROM queue WHERE id = ?1 RETURNING blob",
                            [](const Statement& s) { return s.text(0); }, d::value_of(id)));
    if (!blob) {
      return not_found("no such queue entry");
    }
    return release_blob(c, *blob);
  });
}

d::Async<void> SqliteStorage::set_held(d::QueueId id, bool held, SystemTime now) {
  return write<void>({}, [id, held, now](Connection& c) -> Result<void> {
    TERN_TRY(auto state, c.scalar("SELECT state FROM queue WHERE id = ?1", d::value_of(id)));
    if (!state) {
      return not_found("no such queue entry");
    }
    if (held) {
      return c.run("UPDATE queue SET state = ?2, lease_until = 0 WHERE id = ?1", d::value_of(id),
                   static_cast<int>(d::QueueState::kHeld));
    }
    if (*state != static_cast<int>(d::QueueState::kHeld)) {
      return ok();
    }
    return c.run("UPDATE queue SET state = ?2, next_attempt = ?3, lease_until = 0 WHERE id = ?1",
                 d::value_of(id), static_cast<int>(d::QueueState::kQueued), ticks(now));
  });
}

d::Async<void> SqliteStorage::reschedule(d::QueueId id, SystemTime when) {
  return write<void>({}, [id, when](Connection& c) -> Result<void> {
    TERN_TRY(auto state, c.scalar("SELECT state FROM queue WHERE id = ?1", d::value_of(id)));
    if (!state) {
      return not_found("no such queue entry");
    }
    return c.run("UPDATE queue SET next_attempt = ?2 WHERE id = ?1 AND state = ?3", d::value_of(id),
                 ticks(when), static_cast<int>(d::QueueState::kQueued));
  });
}

// ----- domain::ReportStore: routed to report_tables.cpp

d::Async<void> SqliteStorage::record_dmarc(d::DmarcEvaluation evaluation) {
  return write<void>(
      {}, [e = std::move(evaluation)](Connection& c) { return reports::record_dmarc(c, e); });
}

d::Async<void> SqliteStorage::record_tls(d::TlsSessionResult result) {
  return write<void>({},
                     [r = std::move(result)](Connection& c) { return reports::record_tls(c, r); });
}

d::Async<std::vector<std::string>> SqliteStorage::dmarc_domains(SystemTime begin, SystemTime end) {
  return read<std::vector<std::string>>(
      [begin, end](Connection& c) { return reports::dmarc_domains(c, begin, end); });
}

d::Async<d::DmarcAggregate> SqliteStorage::dmarc_aggregate(std::string domain, SystemTime begin,
                                                           SystemTime end) {
  return read<d::DmarcAggregate>([domain = std::move(domain), begin, end](Connection& c) {
    return reports::dmarc_aggregate(c, domain, begin, end);
  });
}

d::Async<std::vector<std::string>> SqliteStorage::tls_domains(SystemTime begin, SystemTime end) {
  return read<std::vector<std::string>>(
      [begin, end](Connection& c) { return reports::tls_domains(c, begin, end); });
}

d::Async<std::vector<d::TlsPolicySummary>> SqliteStorage::tls_summary(std::string domain,
                                                                      SystemTime begin,
                                                                      SystemTime end) {
  return read<std::vector<d::TlsPolicySummary>>(
      [domain = std::move(domain), begin, end](Connection& c) {
        return reports::tls_summary(c, domain, begin, end);
      });
}

d::Async<bool> SqliteStorage::store_received_report(d::ReceivedReport report) {
  return write<bool>(
      {}, [r = std::move(report)](Connection& c) { return reports::store_received(c, r); });
}

d::Async<std::vector<d::ReceivedReport>> SqliteStorage::received_reports(
    d::ReceivedReportQuery query) {
  return read<std::vector<d::ReceivedReport>>(
      [query = std::move(query)](Connection& c) { return reports::received(c, query); });
}

d::Async<std::optional<SystemTime>> SqliteStorage::report_cursor(std::string name) {
  return read<std::optional<SystemTime>>(
      [name = std::move(name)](Connection& c) { return reports::cursor(c, name); });
}

d::Async<void> SqliteStorage::set_report_cursor(std::string name, SystemTime value) {
  return write<void>({}, [name = std::move(name), value](Connection& c) {
    return reports::set_cursor(c, name, value);
  });
}

d::Async<bool> SqliteStorage::compare_and_set_report_cursor(std::string name,
                                                            std::optional<SystemTime> expected,
                                                            SystemTime value) {
  return write<bool>({}, [name = std::move(name), expected, value](Connection& c) {
    return reports::compare_and_set_cursor(c, name, expected, value);
  });
}

d::Async<void> SqliteStorage::put_report_post(d::ReportPost post) {
  return write<void>({}, [p = std::move(post)](Connection& c) { return reports::put_post(c, p); });
}

d::Async<std::vector<d::ReportPost>> SqliteStorage::due_report_posts(SystemTime now,
                                                                     std::size_t limit) {
  return read<std::vector<d::ReportPost>>(
      [now, limit](Connection& c) { return reports::due_posts(c, now, limit); });
}

d::Async<std::vector<d::ReportPost>> SqliteStorage::claim_report_posts(SystemTime now,
                                                                       std::size_t limit,
                                                                       std::chrono::seconds lease) {
  // Through the writer: its transaction makes the read and the update one step.
  return write<std::vector<d::ReportPost>>({}, [now, limit, lease](Connection& c) {
    return reports::claim_posts(c, now, limit, lease);
  });
}

d::Async<void> SqliteStorage::remove_report_post(std::string uri, std::string report_id) {
  return write<void>({}, [uri = std::move(uri), id = std::move(report_id)](Connection& c) {
    return reports::remove_post(c, uri, id);
  });
}

d::Async<std::uint64_t> SqliteStorage::prune_reports(SystemTime before) {
  return write<std::uint64_t>({}, [before](Connection& c) { return reports::prune(c, before); });
}

// ----- SpamStore: reads on the readers, each change one writer request.

d::Async<d::SpamCounts> SqliteStorage::spam_counts(std::optional<d::AccountId> account,
                                                   std::vector<std::uint64_t> tokens) {
  return read<d::SpamCounts>([account, tokens = std::move(tokens)](Connection& c) mutable {
    return spam::counts(c, account, std::move(tokens));
  });
}

d::Async<d::SpamLearned> SqliteStorage::learn_spam(d::SpamLesson lesson) {
  return write<d::SpamLearned>(
      {}, [lesson = std::move(lesson)](Connection& c) { return spam::learn(c, lesson); });
}

d::Async<bool> SqliteStorage::forget_spam(std::optional<d::AccountId> account,
                                          std::string message_key,
                                          std::vector<std::uint64_t> tokens) {
  return write<bool>({}, [account, key = std::move(message_key), tokens = std::move(tokens)](
                             Connection& c) { return spam::forget(c, account, key, tokens); });
}

d::Async<d::SpamModelStats> SqliteStorage::spam_stats(std::optional<d::AccountId> account) {
  return read<d::SpamModelStats>([account](Connection& c) { return spam::stats(c, account); });
}

d::Async<void> SqliteStorage::reset_spam_model(std::optional<d::AccountId> account) {
  return write<void>({}, [account](Connection& c) { return spam::reset(c, account); });
}

// ----- GreylistStore: the writer's transaction makes each attempt one atomic step.

d::Async<d::GreylistVerdict> SqliteStorage::check_greylist(d::GreylistTriplet triplet,
                                                           d::GreylistPolicy policy,
                                                           std::int64_t now) {
  return write<d::GreylistVerdict>(
      {}, [t = std::move(triplet), policy, now](Connection& c) -> Result<d::GreylistVerdict> {
        std::uint64_t client_passes = 0;
        if (policy.auto_allow_after > 0) {
          TERN_TRY(auto passes, c.scalar("SELECT count(*) FROM greylist WHERE client = ?1 AND "
                                         "passed = 1",
                                         t.client));
          client_passes = static_cast<std::uint64_t>(passes.value_or(0));
        }
        auto stmt = c.query(
            "SELECT first_seen, last_seen, passed FROM greylist WHERE client = ?1 AND "
            "sender = ?2 AND recipient = ?3",
            t.client, t.sender, t.recipient);
        if (!stmt) {
          return stmt.error();
        }
        TERN_TRY(auto row, stmt->next());
        std::optional<d::GreylistRecord> record;
        if (row) {
          record = d::GreylistRecord{stmt->int64(0), stmt->int64(1), stmt->int64(2) != 0};
        }
        auto decision = d::decide_greylist(record, client_passes, policy, now);
        TERN_TRY_VOID(c.run(
            "INSERT INTO greylist (client, sender, recipient, first_seen, last_seen, passed) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (client, sender, recipient) DO UPDATE "
            "SET first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
            "passed = excluded.passed",
            t.client, t.sender, t.recipient, decision.record.first_seen, decision.record.last_seen,
            decision.record.passed ? 1 : 0));
        return decision.verdict;
      });
}

d::Async<std::uint64_t> SqliteStorage::purge_greylist(std::int64_t before) {
  return write<std::uint64_t>({}, [before](Connection& c) -> Result<std::uint64_t> {
    TERN_TRY_VOID(c.run("DELETE FROM greylist WHERE last_seen < ?1", before));
    return static_cast<std::uint64_t>(c.changes());
  });
}

// ----- StoreImport (`tern migrate`): rows as given, UIDs and modseqs included.

d::Async<d::Mailbox> SqliteStorage::import_mailbox(d::AccountId account, d::Mailbox mailbox) {
  return write<
      d::Mailbox>({}, [account, mailbox = std::move(mailbox)](Connection& c) -> Result<d::Mailbox> {
    TERN_TRY(auto existing, c.scalar("SELECT id FROM mailboxes WHERE account_id = ?1 AND name = ?2",
                                     d::value_of(account), mailbox.name));
    std::int64_t id = 0;
    if (existing) {
      TERN_TRY(auto used,
               c.scalar("SELECT 1 FROM entries WHERE mailbox_id = ?1 LIMIT 1", *existing));
      if (used) {
        return Error{ErrorCode::kAlreadyExists, "mailbox " + mailbox.name + " already holds mail"};
      }
      id = *existing;
      TERN_TRY_VOID(
          c.run("UPDATE mailboxes SET special_use = ?2, uid_validity = ?3, uid_next = ?4, "
                "highest_modseq = ?5, subscribed = ?6, keywords = ?7 WHERE id = ?1",
                id, static_cast<int>(mailbox.special_use), d::value_of(mailbox.uid_validity),
                d::value_of(mailbox.uid_next), d::value_of(mailbox.highest_modseq),
                mailbox.subscribed ? 1 : 0, join_keywords(mailbox.keywords)));
    } else {
      TERN_TRY(auto known, c.scalar("SELECT 1 FROM accounts WHERE id = ?1", d::value_of(account)));
      if (!known) {
        return not_found("no such account");
      }
      TERN_TRY_VOID(
          c.run("INSERT INTO mailboxes (account_id, name, special_use, uid_validity, "
                "uid_next, highest_modseq, subscribed, keywords) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                d::value_of(account), mailbox.name, static_cast<int>(mailbox.special_use),
                d::value_of(mailbox.uid_validity), d::value_of(mailbox.uid_next),
                d::value_of(mailbox.highest_modseq), mailbox.subscribed ? 1 : 0,
                join_keywords(mailbox.keywords)));
      id = c.last_insert_rowid();
    }
    // New mailboxes must still get UIDVALIDITYs no imported one has (RFC 9051 §2.3.1.1).
    TERN_TRY_VOID(
        c.run("INSERT INTO meta (key, value) VALUES ('uid_validity', ?1) "
              "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
              d::value_of(mailbox.uid_validity)));
    return owned_mailbox(c, account, d::MailboxId{id});
  });
}

d::Async<d::MessageId> SqliteStorage::import_message(d::AccountId account, d::NewMessage message,
                                                     std::vector<d::ImportEntry> entries) {
  if (entries.empty()) {
    return make_ready_future<Result<d::MessageId>>(
        Error{ErrorCode::kInvalidInput, "an imported message needs an entry"});
  }
  auto hex = sha256_hex(message.raw);
  auto temp = stage_blob(hex, message.raw);
  if (!temp) {
    return make_ready_future<Result<d::MessageId>>(temp.error());
  }
  const std::uint64_t size = message.raw.size();
  std::vector<TempBlob> blobs;
  blobs.push_back(std::move(*temp));
  // The facts are kept whole (as before migration 0008); message_summaries()
  // derives the parts from such a record (ports.hpp).
  return write<d::MessageId>(
      std::move(blobs),
      [account, hex, size, internal_date = ticks(message.internal_date),
       facts = std::move(message.facts),
       entries = std::move(entries)](Connection& c) -> Result<d::MessageId> {
        for (const auto& e : entries) {
          TERN_TRY(auto box, owned_mailbox(c, account, e.mailbox));
          if (d::value_of(e.uid) == 0 || d::value_of(e.uid) >= d::value_of(box.uid_next)) {
            return Error{ErrorCode::kInvalidInput, "imported UID outside 1..uid_next-1"};
          }
          TERN_TRY(auto taken, c.scalar("SELECT 1 FROM entries WHERE mailbox_id = ?1 AND uid = ?2",
                                        d::value_of(e.mailbox), d::value_of(e.uid)));
          if (taken) {
            return Error{ErrorCode::kAlreadyExists, "UID already taken"};
          }
        }
        TERN_TRY_VOID(add_blob_reference(c, hex, size));
        TERN_TRY_VOID(c.run(
            "INSERT INTO messages (account_id, blob, size, internal_date, facts, entry_count) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            d::value_of(account), hex, size, internal_date, AsBlob{facts},
            static_cast<std::int64_t>(entries.size())));
        const d::MessageId id{c.last_insert_rowid()};
        for (const auto& e : entries) {
          TERN_TRY_VOID(
              c.run("INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, "
                    "modseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    d::value_of(e.mailbox), d::value_of(e.uid), d::value_of(id), ticks(e.save_date),
                    static_cast<int>(e.flags & d::kAllFlags),
                    join_keywords(d::normalize_keywords(e.keywords)), d::value_of(e.modseq)));
        }
        TERN_TRY_VOID(c.run("UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE id = ?1",
                            d::value_of(account),
                            static_cast<std::int64_t>(size * entries.size())));
        return id;
      });
}

d::Async<void> SqliteStorage::import_changes(d::AccountId account,
                                             std::vector<d::AccountChange> changes,
                                             d::ModSeq modseq) {
  return write<void>(
      {}, [account, changes = std::move(changes), modseq](Connection& c) -> Result<void> {
        TERN_TRY(auto known, c.scalar("UPDATE accounts SET modseq = max(modseq, ?2) WHERE id = ?1 "
                                      "RETURNING 1",
                                      d::value_of(account), d::value_of(modseq)));
        if (!known) {
          return not_found("no such account");
        }
        for (const auto& change : changes) {
          TERN_TRY_VOID(
              log_change(c, account, change.modseq, change.mailbox, change.uid, change.kind));
          if (change.kind == d::ChangeKind::kMessageExpunged) {
            TERN_TRY_VOID(c.run(
                "INSERT OR REPLACE INTO tombstones (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
                d::value_of(change.mailbox), d::value_of(change.uid), d::value_of(change.modseq)));
          }
        }
        return ok();
      });
}

d::Async<d::RecordedReportRows> SqliteStorage::export_report_rows() {
  return read<d::RecordedReportRows>([](Connection& c) { return reports::export_rows(c); });
}

d::Async<void> SqliteStorage::import_report_rows(d::RecordedReportRows rows) {
  return write<void>(
      {}, [rows = std::move(rows)](Connection& c) { return reports::import_rows(c, rows); });
}

d::Async<std::vector<d::SpamModelRows>> SqliteStorage::export_spam_models() {
  return read<std::vector<d::SpamModelRows>>([](Connection& c) { return spam::export_models(c); });
}

d::Async<void> SqliteStorage::import_spam_models(std::vector<d::SpamModelRows> models) {
  return write<void>(
      {}, [models = std::move(models)](Connection& c) { return spam::import_models(c, models); });
}

d::Async<d::QueueId> SqliteStorage::import_queued(d::QueuedMessage entry, std::string raw) {
  auto hex = sha256_hex(raw);
  auto temp = stage_blob(hex, raw);
  if (!temp) {
    return make_ready_future<Result<d::QueueId>>(temp.error());
  }
  const std::uint64_t size = raw.size();
  std::vector<TempBlob> blobs;
  blobs.push_back(std::move(*temp));
  // A lease belonged to the source's workers: an active entry arrives queued.
  if (entry.state == d::QueueState::kActive) {
    entry.state = d::QueueState::kQueued;
  }
  return write<d::QueueId>(
      std::move(blobs), [hex, size, q = std::move(entry)](Connection& c) -> Result<d::QueueId> {
        TERN_TRY_VOID(add_blob_reference(c, hex, size));
        TERN_TRY_VOID(c.run(
            "INSERT INTO queue (blob, size, sender, envid, ret, created, next_attempt, attempts, "
            "state, lease_until, smtputf8, body_type, requiretls, submitter, delay_warned) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12, ?13, ?14)",
            hex, size, q.sender, q.envid, q.ret, ticks(q.created), ticks(q.next_attempt),
            static_cast<std::int64_t>(q.attempts), static_cast<int>(q.state),
            q.envelope.smtputf8 ? 1 : 0, static_cast<int>(q.envelope.body),
            q.envelope.requiretls ? 1 : 0, q.envelope.submitter, q.delay_warned ? 1 : 0));
        d::QueueId id{c.last_insert_rowid()};
        TERN_TRY_VOID(store_recipients(c, id, q.recipients));
        return id;
      });
}

}  // namespace tern::store::sqlite
