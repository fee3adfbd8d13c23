// SPDX-License-Identifier: Apache-2.0
#include "store/postgres/postgres_storage.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <sstream>

#include <pthread.h>

#include "domain/address.hpp"
#include "domain/flags.hpp"
#include "domain/mailbox_name.hpp"
#include "domain/summary.hpp"
#include "mime/facts/facts.hpp"
#include "store/postgres/blob_dir.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/report_tables.hpp"
#include "store/postgres/spam_tables.hpp"

namespace tern::store::postgres {

namespace d = tern::domain;
using d::canonical_mailbox_name;
using d::domain_of;
using d::is_valid_mailbox_name;
using d::join_keywords;
using d::sha256_hex;
using d::split_keywords;

// A port call waiting for a pool thread.
// A port call waiting for a pool thread; `run` gets nullptr once the store is
// closed.
struct PostgresStorage::Job {
  std::function<void(Connection*)> run;
};

// An append() waiting for the append lane; hashed on the caller's thread.
struct PendingAppend {
  std::string hex;
  std::string raw;
  std::int64_t internal_date = 0;
  std::string facts;  // the record without its search fields when `split` is set
  std::optional<mime::facts::SplitFacts> split;
  std::vector<d::AppendTarget> targets;
  Promise<Result<std::vector<Result<d::Appended>>>> promise;
  std::optional<Result<std::vector<Result<d::Appended>>>> result;
};

namespace {

// The advisory lock key of the migration transaction ('tern'); the second key
// is the hash of the schema name, so stores in different schemas do not wait
// for each other.
constexpr int kMigrationLock = 0x7465726e;

std::int64_t ticks(SystemTime t) {
  return t.time_since_epoch().count();
}

SystemTime from_ticks(std::int64_t v) {
  return SystemTime(SystemTime::duration(v));
}

std::int64_t now_seconds_ticks() {
  return ticks(
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
}

Error not_found(std::string what) {
  return Error{ErrorCode::kNotFound, std::move(what)};
}

// ----- row readers

constexpr std::string_view kAccountColumns =
    "SELECT id, domain_id, address, password_hash, quota_bytes, used_bytes, scram_sha256 FROM "
    "accounts ";

d::Account account_from(const Rows& r, int i) {
  d::Account a;
  a.id = d::AccountId{r.int64(i, 0)};
  a.domain = d::DomainId{r.int64(i, 1)};
  a.address = r.text(i, 2);
  a.password_hash = r.text(i, 3);
  a.quota_bytes = r.uint64(i, 4);
  a.used_bytes = r.uint64(i, 5);
  a.scram_sha256 = r.text(i, 6);
  return a;
}

constexpr std::string_view kMailboxColumns =
    "SELECT id, account_id, name, special_use, uid_validity, uid_next, highest_modseq, "
    "subscribed, keywords FROM mailboxes ";

d::Mailbox mailbox_from(const Rows& r, int i) {
  d::Mailbox m;
  m.id = d::MailboxId{r.int64(i, 0)};
  m.account = d::AccountId{r.int64(i, 1)};
  m.name = r.text(i, 2);
  m.special_use = static_cast<d::SpecialUse>(r.int64(i, 3));
  m.uid_validity = d::UidValidity{static_cast<std::uint32_t>(r.int64(i, 4))};
  m.uid_next = d::Uid{static_cast<std::uint32_t>(r.int64(i, 5))};
  m.highest_modseq = d::ModSeq{r.uint64(i, 6)};
  m.subscribed = r.boolean(i, 7);
  m.keywords = d::normalize_keywords(split_keywords(r.text(i, 8)));
  return m;
}

constexpr std::string_view kEntryColumns =
    "SELECT e.mailbox_id, e.uid, e.message_id, m.blob, m.size, m.internal_date, e.save_date, "
    "e.flags, e.keywords, e.modseq FROM entries e JOIN messages m ON m.id = e.message_id ";

d::Entry entry_from(const Rows& r, int i) {
  d::Entry e;
  e.mailbox = d::MailboxId{r.int64(i, 0)};
  e.uid = d::Uid{static_cast<std::uint32_t>(r.int64(i, 1))};
  e.message = d::MessageId{r.int64(i, 2)};
  e.blob = d::BlobId{r.text(i, 3)};
  e.size = r.uint64(i, 4);
  e.internal_date = from_ticks(r.int64(i, 5));
  e.save_date = from_ticks(r.int64(i, 6));
  e.flags = static_cast<d::Flags>(r.int64(i, 7));
  e.keywords = d::normalize_keywords(split_keywords(r.text(i, 8)));
  e.modseq = d::ModSeq{r.uint64(i, 9)};
  return e;
}

constexpr std::string_view kQueueColumns =
    "id, blob, size, sender, envid, ret, created, next_attempt, attempts, state, lease_until, "
    "smtputf8, body_type, requiretls, submitter, delay_warned";

d::QueuedMessage queued_from(const Rows& r, int i) {
  d::QueuedMessage q;
  q.id = d::QueueId{r.int64(i, 0)};
  q.blob = d::BlobId{r.text(i, 1)};
  q.size = r.uint64(i, 2);
  q.sender = r.text(i, 3);
  q.envid = r.text(i, 4);
  q.ret = r.text(i, 5);
  q.created = from_ticks(r.int64(i, 6));
  q.next_attempt = from_ticks(r.int64(i, 7));
  q.attempts = static_cast<std::uint32_t>(r.int64(i, 8));
  q.state = static_cast<d::QueueState>(r.int64(i, 9));
  q.lease_until = from_ticks(r.int64(i, 10));
  q.envelope.smtputf8 = r.boolean(i, 11);
  q.envelope.body = static_cast<d::BodyType>(r.int64(i, 12));
  q.envelope.requiretls = r.boolean(i, 13);
  q.envelope.submitter = r.text(i, 14);
  q.delay_warned = r.boolean(i, 15);
  return q;
}

template <class T, class Reader, class... Args>
Result<std::vector<T>> rows(Connection& c, std::string_view sql, Reader reader,
                            const Args&... args) {
  TERN_TRY(auto result, c.query(sql, args...));
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(result.size()));
  for (int i = 0; i < result.size(); ++i) {
    out.push_back(reader(result, i));
  }
  return out;
}

template <class T, class Reader, class... Args>
Result<std::optional<T>> one_row(Connection& c, std::string_view sql, Reader reader,
                                 const Args&... args) {
  TERN_TRY(auto result, c.query(sql, args...));
  if (result.empty()) {
    return std::optional<T>();
  }
  return std::optional<T>(reader(result, 0));
}

// The first column of the first row, or nullopt when there is no row.
template <class... Args>
Result<std::optional<std::int64_t>> scalar(Connection& c, std::string_view sql,
                                           const Args&... args) {
  TERN_TRY(auto result, c.query(sql, args...));
  if (result.empty() || result.is_null(0, 0)) {
    return std::optional<std::int64_t>();
  }
  return std::optional<std::int64_t>(result.int64(0, 0));
}

template <class... Args>
Result<void> run(Connection& c, std::string_view sql, const Args&... args) {
  TERN_TRY_VOID(c.query(sql, args...).transform([](const Rows&) {}));
  return ok();
}

template <class... Args>
Result<std::uint64_t> affected(Connection& c, std::string_view sql, const Args&... args) {
  TERN_TRY(auto result, c.query(sql, args...));
  return result.affected();
}

// The account row; `lock` takes its row lock for the rest of the transaction,
// which every mail change does first (the allocation order of modseqs and UIDs).
Result<std::optional<d::Account>> load_account(Connection& c, d::AccountId id, bool lock = false) {
  return one_row<d::Account>(
      c, std::string(kAccountColumns) + (lock ? "WHERE id = $1 FOR UPDATE" : "WHERE id = $1"),
      account_from, d::value_of(id));
}

Result<std::optional<d::Account>> load_account(Connection& c, const std::string& address,
                                               bool lock = false) {
  return one_row<d::Account>(c,
                             std::string(kAccountColumns) +
                                 (lock ? "WHERE address = $1 FOR UPDATE" : "WHERE address = $1"),
                             account_from, address);
}

// Locks the account row (see load_account); kNotFound when it does not exist.
Result<d::Account> lock_account(Connection& c, d::AccountId id) {
  TERN_TRY(auto account, load_account(c, id, true));
  if (!account) {
    return not_found("no such account");
  }
  return *account;
}

// The mailbox if it exists and belongs to `account`; another account's mailbox is
// reported as missing, so ids reveal nothing.
Result<d::Mailbox> owned_mailbox(Connection& c, d::AccountId account, d::MailboxId id) {
  TERN_TRY(auto box, one_row<d::Mailbox>(c, std::string(kMailboxColumns) + "WHERE id = $1",
                                         mailbox_from, d::value_of(id)));
  if (!box || box->account != account) {
    return not_found("no such mailbox");
  }
  return *box;
}

// ----- change log and counters (callers hold the account's row lock)

// Tells other nodes that `account` changed; delivered when this transaction
// commits, dropped with it when it rolls back (PostgreSQL queues NOTIFYs in the
// transaction and folds identical ones, so a retried body cannot send two).
Result<void> notify(Connection& c, d::AccountId account) {
  c.announced().push_back(d::value_of(account));
  return run(c, "SELECT pg_notify($1, $2::text)", change_channel(c.schema()),
             std::to_string(d::value_of(account)));
}

Result<d::ModSeq> allocate_modseq(Connection& c, d::AccountId account) {
  TERN_TRY(auto value, scalar(c,
                              "UPDATE accounts SET modseq = modseq + 1 WHERE id = $1 "
                              "RETURNING modseq",
                              d::value_of(account)));
  if (!value) {
    return not_found("no such account");
  }
  return d::ModSeq{static_cast<std::uint64_t>(*value)};
}

Result<void> log_change(Connection& c, d::AccountId account, d::ModSeq modseq, d::MailboxId box,
                        d::Uid uid, d::ChangeKind kind) {
  return run(c,
             "INSERT INTO changes (account_id, modseq, mailbox_id, uid, kind) "
             "VALUES ($1, $2, $3, $4, $5)",
             d::value_of(account), d::value_of(modseq), d::value_of(box), d::value_of(uid),
             static_cast<int>(kind));
}

Result<void> set_highest(Connection& c, d::MailboxId box, d::ModSeq modseq) {
  return run(c, "UPDATE mailboxes SET highest_modseq = $2 WHERE id = $1", d::value_of(box),
             d::value_of(modseq));
}

// The mailbox's defined keywords (normalised; none for a missing mailbox).
Result<std::vector<std::string>> defined_keywords(Connection& c, d::MailboxId box) {
  TERN_TRY(auto stored, c.query("SELECT keywords FROM mailboxes WHERE id = $1", d::value_of(box)));
  if (stored.empty()) {
    return std::vector<std::string>{};  // the caller reports the missing mailbox
  }
  return d::normalize_keywords(split_keywords(stored.text(0, 0)));
}

// Adds `keywords` (normalised, spelled as defined) to `defined`, the mailbox's
// definitions as defined_keywords() read them, and writes the set when it grew.
Result<void> add_defined_keywords(Connection& c, d::MailboxId box, std::vector<std::string> defined,
                                  const std::vector<std::string>& keywords) {
  if (!d::define_keywords(defined, keywords)) {
    return ok();
  }
  return run(c, "UPDATE mailboxes SET keywords = $2 WHERE id = $1", d::value_of(box),
             join_keywords(defined));
}

// Spells `keywords` (normalised) as the mailbox defines them
// (domain::spell_as_defined), then adds the new ones to Mailbox::keywords. Call it
// before the entries take the keywords.
Result<void> define_keywords(Connection& c, d::MailboxId box, std::vector<std::string>& keywords) {
  if (keywords.empty()) {
    return ok();
  }
  TERN_TRY(auto defined, defined_keywords(c, box));
  d::spell_as_defined(defined, keywords);
  return add_defined_keywords(c, box, std::move(defined), keywords);
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
// than the last one handed out plus one (RFC 9051 §2.3.1.1). The meta row's lock
// orders concurrent creations on every node.
Result<d::UidValidity> next_uid_validity(Connection& c) {
  const auto now =
      static_cast<std::int64_t>(to_unix_seconds(std::chrono::system_clock::now()) & 0xffffffff);
  TERN_TRY(auto value, scalar(c,
                              "UPDATE meta SET value = CASE WHEN greatest(value + 1, $1::bigint) > "
                              "4294967295 THEN 1 ELSE greatest(value + 1, $1::bigint) END "
                              "WHERE key = 'uid_validity' RETURNING value",
                              now));
  if (!value) {
    return Error{ErrorCode::kCorrupt, "meta row uid_validity is missing"};
  }
  return d::UidValidity{static_cast<std::uint32_t>(*value)};
}

// Adds `add_refs` references to the blob of `bytes` (hash `hex`), storing the
// bytes in chunks when the row is new. One upsert: a concurrent
// collect_garbage() either deleted the row before (the insert then stores the
// bytes again) or waits for this transaction and then sees refs > 0.
// With `in_file` the bytes are already durable in the blob directory and the
// row only says so.
Result<void> reference_blob(Connection& c, const std::string& hex, std::string_view bytes,
                            std::int64_t add_refs, std::size_t chunk_bytes, bool in_file) {
  TERN_TRY(auto inserted,
           c.query("INSERT INTO blobs (hash, size, refs, in_file) VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + excluded.refs "
                   "RETURNING (xmax = 0)",
                   hex, static_cast<std::uint64_t>(bytes.size()), add_refs, in_file));
  if (inserted.empty() || !inserted.boolean(0, 0) || in_file) {
    return ok();
  }
  const std::size_t step = std::max<std::size_t>(1, chunk_bytes);
  int seq = 0;
  std::size_t offset = 0;
  do {
    auto chunk = bytes.substr(offset, step);
    TERN_TRY_VOID(run(c, "INSERT INTO blob_chunks (hash, seq, data) VALUES ($1, $2, $3)", hex,
                      seq++, Bytes{chunk}));
    offset += chunk.size();
  } while (offset < bytes.size());
  return ok();
}

// Drops references (sorted by hash, the order every transaction takes blob row
// locks in, so two of them never wait for each other in a cycle).
Result<void> release_blobs(Connection& c, std::vector<std::string> hashes) {
  std::sort(hashes.begin(), hashes.end());
  for (const auto& hex : hashes) {
    TERN_TRY_VOID(run(c, "UPDATE blobs SET refs = refs - 1 WHERE hash = $1 AND refs > 0", hex));
  }
  return ok();
}

// Reads the blob's chunks (or its file) and checks them against its id.
Result<std::string> read_blob(Connection& c, const std::string& hex, const BlobDir* dir) {
  TERN_TRY(auto row, c.query("SELECT size, in_file FROM blobs WHERE hash = $1", hex));
  if (row.empty()) {
    return not_found("no such blob: " + hex);
  }
  std::string data;
  if (row.boolean(0, 1)) {
    if (dir == nullptr) {
      return Error{ErrorCode::kCorrupt, "blob is in a file but no blob_dir is set: " + hex};
    }
    auto bytes = dir->read(hex);
    if (!bytes) {
      return bytes.error().code == ErrorCode::kNotFound
                 ? Error{ErrorCode::kCorrupt, "referenced blob file is missing: " + hex}
                 : bytes.error();
    }
    data = std::move(*bytes);
  } else {
    Params params;
    params.add(hex);
    TERN_TRY(auto chunks,
             c.exec_binary("SELECT data FROM blob_chunks WHERE hash = $1 ORDER BY seq", params));
    data.reserve(static_cast<std::size_t>(row.int64(0, 0)));
    for (int i = 0; i < chunks.size(); ++i) {
      data += chunks.view(i, 0);
    }
  }
  if (sha256_hex(data) != hex) {
    return Error{ErrorCode::kCorrupt, "blob does not match its id: " + hex};
  }
  return data;
}

Result<d::Mailbox> insert_mailbox(Connection& c, d::AccountId account, const std::string& name,
                                  d::SpecialUse special_use, bool subscribed) {
  TERN_TRY(auto uid_validity, next_uid_validity(c));
  TERN_TRY(auto id, scalar(c,
                           "INSERT INTO mailboxes (account_id, name, special_use, uid_validity, "
                           "uid_next, highest_modseq, subscribed) VALUES ($1, $2, $3, $4, 1, 0, "
                           "$5) RETURNING id",
                           d::value_of(account), name, static_cast<int>(special_use),
                           d::value_of(uid_validity), subscribed));
  d::Mailbox box;
  box.id = d::MailboxId{id.value_or(0)};
  TERN_TRY(auto modseq,
           mailbox_change(c, account, box.id, d::Uid{0}, d::ChangeKind::kMailboxCreated));
  box.account = account;
  box.name = name;
  box.special_use = special_use;
  box.uid_validity = uid_validity;
  box.highest_modseq = modseq;
  box.subscribed = subscribed;
  return box;
}

// Links `message` into `box` with the next UID and logs it; returns the UID.
Result<d::Uid> insert_entry(Connection& c, d::AccountId account, d::MailboxId box,
                            d::MessageId message, d::Flags flags, std::vector<std::string> keywords,
                            d::ModSeq modseq, std::uint64_t size) {
  TERN_TRY_VOID(define_keywords(c, box, keywords));
  TERN_TRY(auto uid, scalar(c,
                            "UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = $2 "
                            "WHERE id = $1 RETURNING uid_next - 1",
                            d::value_of(box), d::value_of(modseq)));
  if (!uid) {
    return not_found("no such mailbox");
  }
  TERN_TRY_VOID(
      run(c,
          "WITH e AS (INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, "
          "keywords, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7)) "
          "INSERT INTO changes (account_id, modseq, mailbox_id, uid, kind) "
          "VALUES ($8, $7, $1, $2, $9)",
          d::value_of(box), *uid, d::value_of(message), now_seconds_ticks(),
          static_cast<int>(flags & d::kAllFlags), join_keywords(keywords), d::value_of(modseq),
          d::value_of(account), static_cast<int>(d::ChangeKind::kMessageAdded)));
  TERN_TRY_VOID(run(c, "UPDATE messages SET entry_count = entry_count + 1 WHERE id = $1",
                    d::value_of(message)));
  TERN_TRY_VOID(run(c, "UPDATE accounts SET used_bytes = used_bytes + $2 WHERE id = $1",
                    d::value_of(account), size));
  return d::Uid{static_cast<std::uint32_t>(*uid)};
}

// Removes one entry (if present), leaving a tombstone at `modseq` when asked, and
// drops the message with its last entry, adding its blob to `released`. Returns
// whether the entry existed.
Result<bool> remove_entry(Connection& c, d::AccountId account, d::MailboxId box, d::Uid uid,
                          d::ModSeq modseq, bool tombstone, std::vector<std::string>& released) {
  TERN_TRY(auto found,
           c.query("DELETE FROM entries e USING messages m WHERE m.id = e.message_id AND "
                   "e.mailbox_id = $1 AND e.uid = $2 RETURNING e.message_id, m.size",
                   d::value_of(box), d::value_of(uid)));
  if (found.empty()) {
    return false;
  }
  const auto message = found.int64(0, 0);
  const auto size = found.int64(0, 1);
  TERN_TRY_VOID(run(c,
                    "UPDATE accounts SET used_bytes = greatest(used_bytes - $2, 0) WHERE id = $1",
                    d::value_of(account), size));
  if (tombstone) {
    TERN_TRY_VOID(run(c,
                      "INSERT INTO tombstones (mailbox_id, uid, modseq) VALUES ($1, $2, $3) "
                      "ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
                      d::value_of(box), d::value_of(uid), d::value_of(modseq)));
  }
  TERN_TRY(auto remaining, scalar(c,
                                  "UPDATE messages SET entry_count = entry_count - 1 WHERE id = $1 "
                                  "RETURNING entry_count",
                                  message));
  if (remaining && *remaining <= 0) {
    TERN_TRY(auto blob, c.query("DELETE FROM messages WHERE id = $1 RETURNING blob", message));
    if (!blob.empty()) {
      released.push_back(blob.text(0, 0));
    }
  }
  return true;
}

Result<d::ModSeq> expunge_uids(Connection& c, d::AccountId account, const d::Mailbox& box,
                               std::vector<d::Uid> uids) {
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  std::optional<d::ModSeq> modseq;
  std::vector<std::string> released;
  for (auto uid : uids) {
    TERN_TRY(auto present, scalar(c, "SELECT 1 FROM entries WHERE mailbox_id = $1 AND uid = $2",
                                  d::value_of(box.id), d::value_of(uid)));
    if (!present) {
      continue;
    }
    if (!modseq) {
      TERN_TRY(auto allocated, allocate_modseq(c, account));
      modseq = allocated;
      TERN_TRY_VOID(set_highest(c, box.id, *modseq));
    }
    TERN_TRY_VOID(
        remove_entry(c, account, box.id, uid, *modseq, true, released).transform([](bool) {}));
    TERN_TRY_VOID(log_change(c, account, *modseq, box.id, uid, d::ChangeKind::kMessageExpunged));
  }
  if (!modseq) {
    TERN_TRY(auto current, owned_mailbox(c, account, box.id));
    return current.highest_modseq;
  }
  TERN_TRY_VOID(release_blobs(c, std::move(released)));
  TERN_TRY_VOID(notify(c, account));
  return *modseq;
}

Result<void> delete_mailbox_rows(Connection& c, d::AccountId account, d::MailboxId box) {
  TERN_TRY(auto modseq, allocate_modseq(c, account));
  TERN_TRY(auto uids, rows<std::int64_t>(
                          c, "SELECT uid FROM entries WHERE mailbox_id = $1",
                          [](const Rows& r, int i) { return r.int64(i, 0); }, d::value_of(box)));
  std::vector<std::string> released;
  for (auto uid : uids) {
    TERN_TRY_VOID(remove_entry(c, account, box, d::Uid{static_cast<std::uint32_t>(uid)}, modseq,
                               false, released)
                      .transform([](bool) {}));
  }
  TERN_TRY_VOID(release_blobs(c, std::move(released)));
  TERN_TRY_VOID(run(c, "DELETE FROM tombstones WHERE mailbox_id = $1", d::value_of(box)));
  TERN_TRY_VOID(run(c, "DELETE FROM mailboxes WHERE id = $1", d::value_of(box)));
  TERN_TRY_VOID(log_change(c, account, modseq, box, d::Uid{0}, d::ChangeKind::kMailboxDeleted));
  return notify(c, account);
}

Result<std::vector<d::Appended>> copy_rows(Connection& c, d::AccountId account, d::MailboxId from,
                                           const std::vector<d::Uid>& uids, d::MailboxId to) {
  TERN_TRY(auto owner, lock_account(c, account));
  TERN_TRY(auto source, owned_mailbox(c, account, from));
  TERN_TRY(auto target, owned_mailbox(c, account, to));
  std::vector<d::Entry> copied;
  std::uint64_t bytes = 0;
  for (auto uid : uids) {
    TERN_TRY(
        auto entry,
        one_row<d::Entry>(c, std::string(kEntryColumns) + "WHERE e.mailbox_id = $1 AND e.uid = $2",
                          entry_from, d::value_of(source.id), d::value_of(uid)));
    if (entry) {
      bytes += entry->size;
      copied.push_back(std::move(*entry));
    }
  }
  if (owner.quota_bytes != 0 && owner.used_bytes + bytes > owner.quota_bytes) {
    return Error{ErrorCode::kLimitExceeded, "over quota: " + owner.address};
  }
  std::vector<d::Appended> out;
  if (copied.empty()) {
    return out;
  }
  TERN_TRY(auto modseq, allocate_modseq(c, account));
  for (const auto& entry : copied) {
    TERN_TRY(auto uid, insert_entry(c, account, target.id, entry.message, entry.flags,
                                    entry.keywords, modseq, entry.size));
    out.push_back(d::Appended{target.id, uid, modseq, entry.message});
  }
  TERN_TRY_VOID(notify(c, account));
  return out;
}

Result<void> load_recipients(Connection& c, d::QueuedMessage& q) {
  TERN_TRY(auto recipients,
           rows<d::QueueRecipient>(
               c,
               "SELECT address, state, notify, orcpt, last_reply, status, remote_host "
               "FROM queue_recipients WHERE queue_id = $1 ORDER BY position",
               [](const Rows& r, int i) {
                 return d::QueueRecipient{
                     r.text(i, 0),  static_cast<d::RecipientState>(r.int64(i, 1)),
                     r.text(i, 2),  r.text(i, 3),
                     r.bytes(i, 4), r.text(i, 5),
                     r.text(i, 6)};
               },
               d::value_of(q.id)));
  q.recipients = std::move(recipients);
  return ok();
}

Result<void> store_recipients(Connection& c, d::QueueId id,
                              const std::vector<d::QueueRecipient>& recipients) {
  TERN_TRY_VOID(run(c, "DELETE FROM queue_recipients WHERE queue_id = $1", d::value_of(id)));
  int position = 0;
  for (const auto& r : recipients) {
    TERN_TRY_VOID(run(c,
                      "INSERT INTO queue_recipients (queue_id, position, address, state, notify, "
                      "orcpt, last_reply, status, remote_host) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                      "$8, $9)",
                      d::value_of(id), position++, r.address, static_cast<int>(r.state), r.notify,
                      r.orcpt, Bytes{r.last_reply}, r.status, r.remote_host));
  }
  return ok();
}

Result<std::optional<d::QueuedMessage>> load_queued(Connection& c, d::QueueId id) {
  TERN_TRY(auto found, one_row<d::QueuedMessage>(
                           c, "SELECT " + std::string(kQueueColumns) + " FROM queue WHERE id = $1",
                           queued_from, d::value_of(id)));
  if (found) {
    TERN_TRY_VOID(load_recipients(c, *found));
  }
  return found;
}

// The queue entry's state, locking its row; kNotFound when it does not exist.
Result<d::QueueState> lock_queued(Connection& c, d::QueueId id) {
  TERN_TRY(auto state,
           scalar(c, "SELECT state FROM queue WHERE id = $1 FOR UPDATE", d::value_of(id)));
  if (!state) {
    return not_found("no such queue entry");
  }
  return static_cast<d::QueueState>(*state);
}

// Applies the embedded migrations newer than the database's schema_version, in
// one transaction that holds an advisory lock: a second node starting at the
// same moment waits here and then finds nothing left to do.
Result<void> apply_migrations(Connection& c, const std::string& schema) {
  TERN_TRY_VOID(c.script("BEGIN"));
  auto applied = [&]() -> Result<void> {
    TERN_TRY_VOID(run(c, "SELECT pg_advisory_xact_lock($1, hashtext($2))", kMigrationLock,
                      schema.empty() ? std::string("public") : schema));
    if (!schema.empty()) {
      TERN_TRY_VOID(c.script("CREATE SCHEMA IF NOT EXISTS " + c.quote_identifier(schema)));
    }
    TERN_TRY_VOID(c.script(
        "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT "
        "NULL, applied bigint NOT NULL)"));
    TERN_TRY(auto current, scalar(c, "SELECT max(version) FROM schema_version"));
    const std::int64_t version = current.value_or(0);
    auto all = migrations();
    if (!all.empty() && version > all.back().version) {
      return Error{ErrorCode::kCorrupt, "schema version " + std::to_string(version) +
                                            " is newer than this binary knows"};
    }
    for (const auto& migration : all) {
      if (migration.version <= version) {
        continue;
      }
      auto result = c.script(migration.sql);
      if (!result) {
        return result.error().with_context("migration " + std::string(migration.name));
      }
      TERN_TRY_VOID(
          run(c, "INSERT INTO schema_version (version, name, applied) VALUES ($1, $2, $3)",
              migration.version, std::string(migration.name),
              static_cast<std::int64_t>(to_unix_seconds(std::chrono::system_clock::now()))));
    }
    return ok();
  }();
  if (!applied) {
    (void)c.script("ROLLBACK");
    return applied.error();
  }
  return c.script("COMMIT");
}

}  // namespace

std::string change_channel(std::string_view schema) {
  if (schema.empty() || schema == "public") {
    return std::string(kChangeChannel);
  }
  // 63 bytes at most (NAMEDATALEN - 1): a longer name would be cut by LISTEN
  // but refused by pg_notify().
  constexpr std::size_t kMaxChannel = 63;
  const bool plain = std::all_of(schema.begin(), schema.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
  });
  std::string channel = std::string(kChangeChannel) + "_" + std::string(schema);
  if (plain && channel.size() <= kMaxChannel) {
    return channel;
  }
  // FNV-1a: stable across builds and hosts, which std::hash need not be.
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char ch : schema) {
    hash = (hash ^ ch) * 0x100000001b3ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  channel = std::string(kChangeChannel) + "x";
  for (int shift = 60; shift >= 0; shift -= 4) {
    channel.push_back(kHex[(hash >> shift) & 0xf]);
  }
  return channel;
}

// ----- lifecycle

PostgresStorage::PostgresStorage(PostgresOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<PostgresStorage>> PostgresStorage::open(PostgresOptions options) {
  if (options.conninfo.empty()) {
    return Error{ErrorCode::kInvalidInput, "postgres: empty connection string"};
  }
  std::unique_ptr<PostgresStorage> storage(new PostgresStorage(std::move(options)));
  auto started = storage->start();
  if (!started) {
    return started.error().with_context("open postgres store");
  }
  return storage;
}

Result<void> PostgresStorage::start() {
  if (!options_.blob_dir.empty()) {
    blob_dir_ = std::make_unique<BlobDir>(options_.blob_dir);
    TERN_TRY_VOID(blob_dir_->prepare());
  }
  const std::size_t size = std::max<std::size_t>(1, options_.pool_size);
  for (std::size_t i = 0; i < size; ++i) {
    TERN_TRY(auto connection, Connection::open(options_.conninfo, options_.schema));
    if (i == 0) {
      TERN_TRY_VOID(apply_migrations(*connection, options_.schema));
    }
    connections_.push_back(std::move(connection));
  }
  for (auto& connection : connections_) {
    backend_pids_.push_back(connection->backend_pid());
  }
  for (auto& connection : connections_) {
    workers_.emplace_back([this, c = connection.get()] { worker_loop(*c); });
  }
  return ok();
}

PostgresStorage::~PostgresStorage() {
  close();
}

void PostgresStorage::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      return;
    }
    closed_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) {
      worker.join();
    }
  }
  workers_.clear();
  connections_.clear();
}

PostgresStats PostgresStorage::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void PostgresStorage::note_reconnect(Connection& c) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < connections_.size() && i < backend_pids_.size(); ++i) {
    if (connections_[i].get() == &c) {
      backend_pids_[i] = c.backend_pid();
    }
  }
}

void PostgresStorage::set_change_observer(std::function<void(d::AccountId)> observer) {
  std::lock_guard lock(notices_mutex_);
  observer_ = std::move(observer);
}

void PostgresStorage::expect_own_notifications() {
  std::lock_guard lock(notices_mutex_);
  expecting_ = true;
  expected_.clear();
}

bool PostgresStorage::take_own_notification(int sender_pid, d::AccountId account) {
  std::lock_guard lock(notices_mutex_);
  auto it = expected_.find({sender_pid, d::value_of(account)});
  if (it == expected_.end()) {
    return false;
  }
  if (--it->second == 0) {
    expected_.erase(it);
  }
  return true;
}

std::vector<std::int64_t> PostgresStorage::expect_announced(Connection& c) {
  auto accounts = std::move(c.announced());
  c.announced().clear();
  std::sort(accounts.begin(), accounts.end());
  accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
  if (accounts.empty()) {
    return accounts;
  }
  // Records of notices that never arrive (none should, while a listener
  // listens) are bounded: dropping them costs only a second wake.
  constexpr std::size_t kMaxExpected = 65536;
  const int pid = c.backend_pid();
  std::lock_guard lock(notices_mutex_);
  if (!expecting_) {
    return accounts;
  }
  if (expected_.size() + accounts.size() > kMaxExpected) {
    expected_.clear();
  }
  for (auto account : accounts) {
    ++expected_[{pid, account}];
  }
  return accounts;
}

void PostgresStorage::withdraw_announced(int pid, const std::vector<std::int64_t>& accounts) {
  std::lock_guard lock(notices_mutex_);
  for (auto account : accounts) {
    auto it = expected_.find({pid, account});
    if (it != expected_.end() && --it->second == 0) {
      expected_.erase(it);
    }
  }
}

void PostgresStorage::observe_announced(const std::vector<std::int64_t>& accounts) {
  if (accounts.empty()) {
    return;
  }
  std::function<void(d::AccountId)> observer;
  {
    std::lock_guard lock(notices_mutex_);
    observer = observer_;
  }
  if (observer) {
    for (auto account : accounts) {
      observer(d::AccountId{account});
    }
  }
}

std::vector<int> PostgresStorage::backend_pids() const {
  std::lock_guard lock(mutex_);
  return backend_pids_;
}

void PostgresStorage::count(std::uint64_t transactions, std::uint64_t appends,
                            std::uint64_t retries) {
  std::lock_guard lock(mutex_);
  stats_.transactions += transactions;
  stats_.appends += appends;
  stats_.retries += retries;
}

Result<int> PostgresStorage::schema_version() {
  auto version = transaction<int>(
      [](Connection& c) -> Result<int> {
        TERN_TRY(auto v, scalar(c, "SELECT max(version) FROM schema_version"));
        return static_cast<int>(v.value_or(0));
      },
      true);
  return version.get();
}

void PostgresStorage::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      jobs_.push_back(std::move(job));
      cv_.notify_one();
      return;
    }
  }
  job.run(nullptr);  // closed: the job reports kCancelled
}

void PostgresStorage::worker_loop(Connection& connection) {
  ::pthread_setname_np(::pthread_self(), "tern-pg");
  while (true) {
    Job job;
    std::vector<std::unique_ptr<PendingAppend>> batch;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] {
        return stopping_ || !jobs_.empty() || (!append_running_ && !appends_.empty());
      });
      if (!append_running_ && !appends_.empty()) {
        // Every append that queued while the last batch committed joins this
        // one: one transaction, one WAL flush (group commit).
        const std::size_t limit = std::max<std::size_t>(1, options_.max_append_batch);
        while (!appends_.empty() && batch.size() < limit) {
          batch.push_back(std::move(appends_.front()));
          appends_.pop_front();
        }
        append_running_ = true;
      } else if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      } else {
        return;  // stopping, and nothing left that this thread may run
      }
    }
    if (!connection.healthy() && connection.reset()) {
      note_reconnect(connection);  // a failure shows in the request's own error
    }
    if (!batch.empty()) {
      run_appends(connection, batch);
      {
        std::lock_guard lock(mutex_);
        append_running_ = false;
      }
      cv_.notify_all();
      continue;
    }
    job.run(&connection);
  }
}

template <class T, class Body>
Result<T> PostgresStorage::run_transaction(Connection& c, Body& body, bool read_only) {
  std::uint64_t retries = 0;
  for (int attempt = 0;; ++attempt) {
    if (!c.healthy()) {
      if (auto reset = c.reset(); !reset) {
        return reset.error();
      }
      note_reconnect(c);
    }
    // Reads see one snapshot (REPEATABLE READ), so the rows of several
    // statements agree; writes run at READ COMMITTED and order themselves with
    // row locks (the account row first), which never fails for serialization.
    auto begun = c.script(read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
    Result<T> result = begun ? Result<T>(Error{ErrorCode::kInternal, "not run"}) : begun.error();
    bool commit_failed = false;
    c.announced().clear();  // a retried body announces again
    if (begun) {
      try {
        result = body(c);
      } catch (const std::exception& e) {
        result = Error{ErrorCode::kInternal, std::string("postgres request threw: ") + e.what()};
      }
      if (result) {
        // Recorded before COMMIT: the notice may reach the listener before this
        // thread reads COMMIT's answer.
        const int pid = c.backend_pid();
        const auto announced = expect_announced(c);
        if (auto committed = c.script("COMMIT"); !committed) {
          result = committed.error();
          commit_failed = true;
          withdraw_announced(pid, announced);
        } else {
          observe_announced(announced);
        }
      }
    }
    // A COMMIT that failed because the connection went away may have committed
    // all the same: retrying could store the request twice, so its outcome is
    // reported as unknown (kTemporary) and the caller decides, as an SMTP
    // client does after a lost 250.
    bool retry = !result && c.retryable() && !(commit_failed && !c.healthy()) &&
                 attempt < options_.max_retries;
    if (!result && c.healthy()) {
      (void)c.script("ROLLBACK");
    }
    if (result || !retry) {
      count(result ? 1 : 0, 0, retries);
      return result;
    }
    ++retries;
  }
}

template <class T, class Body>
d::Async<T> PostgresStorage::transaction(Body body, bool read_only) {
  Promise<Result<T>> promise;
  auto future = promise.future();
  Job job;
  job.run = [this, promise, body = std::move(body), read_only](Connection* c) mutable {
    if (c == nullptr) {
      promise.set_value(Error{ErrorCode::kCancelled, "store is closed"});
      return;
    }
    promise.set_value(run_transaction<T>(*c, body, read_only));
  };
  submit(std::move(job));
  return future;
}

// ----- appends

namespace {

// The counters of one account or mailbox while a batch of appends runs; written
// back once at the end of the batch.
struct AccountState {
  std::int64_t id = 0;
  std::string address;
  std::uint64_t quota_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t modseq = 0;
  bool dirty = false;
};

struct MailboxState {
  std::int64_t id = 0;
  std::int64_t account = 0;
  std::uint64_t uid_next = 1;
  std::uint64_t highest_modseq = 0;
  std::vector<std::string> keywords;  // defined keywords (Mailbox::keywords)
  bool dirty = false;
};

}  // namespace

namespace {

// Stores a batch of appends in the open transaction. Per-target refusals (a
// missing mailbox, quota) are decided in memory after the accounts are locked,
// so an SQL error means the whole batch failed.
Result<void> append_rows(Connection& c, std::vector<std::unique_ptr<PendingAppend>>& batch,
                         std::size_t chunk_bytes, bool in_file);

}  // namespace

void PostgresStorage::run_appends(Connection& c,
                                  std::vector<std::unique_ptr<PendingAppend>>& batch) {
  auto attempt = [&](std::vector<std::unique_ptr<PendingAppend>>& jobs) -> Result<void> {
    auto body = [&](Connection& conn) -> Result<void> {
      for (auto& job : jobs) {
        job->result.reset();
      }
      return append_rows(conn, jobs, options_.chunk_bytes, blob_dir_ != nullptr);
    };
    return run_transaction<void>(c, body, false);
  };
  auto stored = attempt(batch);
  if (stored) {
    count(0, batch.size(), 0);
  } else if (batch.size() > 1 && stored.error().code != ErrorCode::kTemporary) {
    // Something in the batch made PostgreSQL refuse it; alone, only that append
    // fails.
    for (auto& job : batch) {
      std::vector<std::unique_ptr<PendingAppend>> one;
      one.push_back(std::move(job));
      auto alone = attempt(one);
      job = std::move(one.front());
      if (!alone) {
        job->result.emplace(alone.error());
      } else {
        count(0, 1, 0);
      }
    }
  } else {
    for (auto& job : batch) {
      job->result.emplace(stored.error());
    }
  }
  for (auto& job : batch) {
    if (job->result) {
      job->promise.set_value(std::move(*job->result));
    } else {
      job->promise.set_value(Error{ErrorCode::kInternal, "append not run"});
    }
  }
}

namespace {

Result<void> append_rows(Connection& c, std::vector<std::unique_ptr<PendingAppend>>& batch,
                         std::size_t chunk_bytes, bool in_file) {
  // 1. Lock every account of the batch, ascending by id: the same order on every
  //    node, so two batches never deadlock on account rows.
  std::vector<std::int64_t> account_ids;
  std::vector<std::int64_t> mailbox_ids;
  for (const auto& job : batch) {
    for (const auto& target : job->targets) {
      account_ids.push_back(d::value_of(target.account));
      mailbox_ids.push_back(d::value_of(target.mailbox));
    }
  }
  std::sort(account_ids.begin(), account_ids.end());
  account_ids.erase(std::unique(account_ids.begin(), account_ids.end()), account_ids.end());
  std::map<std::int64_t, AccountState> accounts;
  TERN_TRY(auto locked, c.query("SELECT id, address, quota_bytes, used_bytes, modseq FROM accounts "
                                "WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
                                account_ids));
  for (int i = 0; i < locked.size(); ++i) {
    AccountState state{locked.int64(i, 0),  locked.text(i, 1),   locked.uint64(i, 2),
                       locked.uint64(i, 3), locked.uint64(i, 4), false};
    accounts.emplace(state.id, std::move(state));
  }
  std::map<std::int64_t, MailboxState> mailboxes;
  TERN_TRY(auto boxes,
           c.query("SELECT id, account_id, uid_next, highest_modseq, keywords FROM mailboxes "
                   "WHERE id = ANY($1::bigint[])",
                   mailbox_ids));
  for (int i = 0; i < boxes.size(); ++i) {
    MailboxState state{boxes.int64(i, 0),
                       boxes.int64(i, 1),
                       boxes.uint64(i, 2),
                       boxes.uint64(i, 3),
                       d::normalize_keywords(split_keywords(boxes.text(i, 4))),
                       false};
    mailboxes.emplace(state.id, state);
  }

  // 2. Decide every target in order, in memory. Quota counts the bytes of the
  //    targets accepted before it, as if each had been stored already.
  struct Decision {
    AccountState* account = nullptr;  // null: refused, see `error`
    MailboxState* box = nullptr;
    std::optional<Error> error;
  };

  std::vector<std::vector<Decision>> decisions(batch.size());
  std::map<std::string, std::pair<std::int64_t, const std::string*>> blob_refs;
  for (std::size_t j = 0; j < batch.size(); ++j) {
    const auto& job = *batch[j];
    std::set<std::int64_t> owners;
    for (const auto& target : job.targets) {
      Decision decision;
      auto account = accounts.find(d::value_of(target.account));
      auto box = mailboxes.find(d::value_of(target.mailbox));
      // Another account's mailbox is reported as missing, so ids reveal nothing.
      if (account == accounts.end() || box == mailboxes.end() ||
          box->second.account != account->first) {
        decision.error = Error{ErrorCode::kNotFound, "no such mailbox"};
      } else if (account->second.quota_bytes != 0 &&
                 account->second.used_bytes + job.raw.size() > account->second.quota_bytes) {
        decision.error = Error{ErrorCode::kLimitExceeded, "over quota: " + account->second.address};
      } else {
        account->second.used_bytes += job.raw.size();
        account->second.dirty = true;
        decision.account = &account->second;
        decision.box = &box->second;
        owners.insert(account->first);
      }
      decisions[j].push_back(std::move(decision));
    }
    if (!owners.empty()) {
      auto& refs = blob_refs[job.hex];
      refs.first += static_cast<std::int64_t>(owners.size());
      refs.second = &job.raw;
    }
  }

  // 3.-5. go out as one pipeline (one round trip for the whole batch): nothing
  // below needs an answer before the next statement can be written, since the
  // UIDs and modseqs were taken in memory under the account locks.
  std::vector<Statement> statements;
  auto add = [&statements](std::string_view sql, const auto&... args) {
    Statement& statement = statements.emplace_back();
    statement.sql = std::string(sql);
    (statement.params.add(args), ...);
    return statements.size() - 1;
  };

  // 3. Blobs, sorted by hash (std::map order): one reference per message row.
  //    Chunks are sent whatever the row's state and kept only when the blob is
  //    new and in the database (ON CONFLICT DO NOTHING otherwise).
  for (const auto& [hex, refs] : blob_refs) {
    const std::string_view bytes = *refs.second;
    add("INSERT INTO blobs (hash, size, refs, in_file) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + excluded.refs",
        hex, static_cast<std::uint64_t>(bytes.size()), refs.first, in_file);
    if (in_file) {
      continue;
    }
    const std::size_t step = std::max<std::size_t>(1, chunk_bytes);
    int seq = 0;
    std::size_t offset = 0;
    do {
      auto chunk = bytes.substr(offset, step);
      add("INSERT INTO blob_chunks (hash, seq, data) SELECT $1, $2, $3 FROM blobs "
          "WHERE hash = $1 AND NOT in_file ON CONFLICT (hash, seq) DO NOTHING",
          hex, seq++, Bytes{chunk});
      offset += chunk.size();
    } while (offset < bytes.size());
  }

  // 4. One statement per append and account: the message row, its summary
  //    parts and its entries with their change-log rows.
  struct Pending {
    std::size_t job;
    std::size_t result;     // index in the job's outcome
    std::size_t statement;  // the statement returning the message id
  };

  std::vector<Pending> pending;
  std::vector<std::vector<Result<d::Appended>>> outcomes(batch.size());
  const std::int64_t save_date = now_seconds_ticks();
  for (std::size_t j = 0; j < batch.size(); ++j) {
    auto& job = *batch[j];
    auto& out = outcomes[j];

    struct TargetRows {
      std::vector<std::int64_t> mailbox, uid, flags, modseq;
      std::vector<std::string> keywords;
      std::vector<std::size_t> results;
    };

    std::map<std::int64_t, TargetRows> by_owner;  // account -> its entries of this append
    std::vector<std::int64_t> owner_order;
    for (std::size_t i = 0; i < job.targets.size(); ++i) {
      auto& decision = decisions[j][i];
      if (decision.error) {
        out.emplace_back(std::move(*decision.error));
        continue;
      }
      const auto& target = job.targets[i];
      AccountState& owner = *decision.account;
      MailboxState& box = *decision.box;
      // Every entry takes its own modseq (RFC 7162 §3.1.1: MODSEQ per change) and
      // the mailbox's next UID (RFC 9051 §2.3.1.1: strictly ascending).
      const std::uint64_t modseq = ++owner.modseq;
      const std::uint64_t uid = box.uid_next++;
      auto keywords = d::normalize_keywords(target.keywords);
      d::spell_as_defined(box.keywords, keywords);
      d::define_keywords(box.keywords, keywords);
      box.highest_modseq = modseq;
      box.dirty = true;
      auto [rows, fresh] = by_owner.try_emplace(owner.id);
      if (fresh) {
        owner_order.push_back(owner.id);
      }
      rows->second.mailbox.push_back(box.id);
      rows->second.uid.push_back(static_cast<std::int64_t>(uid));
      rows->second.flags.push_back(target.flags & d::kAllFlags);
      rows->second.modseq.push_back(static_cast<std::int64_t>(modseq));
      rows->second.keywords.push_back(join_keywords(keywords));
      rows->second.results.push_back(out.size());
      out.emplace_back(d::Appended{target.mailbox, d::Uid{static_cast<std::uint32_t>(uid)},
                                   d::ModSeq{modseq}, d::MessageId{0}});
    }
    const bool split = job.split.has_value();
    const bool search = split && job.split->has_search;
    const bool order = split && job.split->has_order;
    static const std::string kNone;
    for (auto owner : owner_order) {
      const auto& rows = by_owner[owner];
      const auto statement = add(
          "WITH m AS (INSERT INTO messages (account_id, blob, size, internal_date, facts, "
          "entry_count) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id), "
          "v AS (INSERT INTO message_envelopes (message_id, envelope, order_keys) "
          "SELECT id, $7::bytea, CASE WHEN $19::boolean THEN $20::bytea END FROM m "
          "WHERE $8::boolean), "
          "h AS (INSERT INTO message_search_headers (message_id, headers) "
          "SELECT id, $9::bytea FROM m WHERE $10::boolean), "
          "t AS (INSERT INTO message_search_text (message_id, text) "
          "SELECT id, $11::bytea FROM m WHERE $10::boolean), "
          "e AS (INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, "
          "modseq) SELECT x.mailbox, x.uid, m.id, $12::bigint, x.flags, x.keywords, x.modseq "
          "FROM m, unnest($13::bigint[], $14::bigint[], $15::smallint[], $16::text[], "
          "$17::bigint[]) AS x(mailbox, uid, flags, keywords, modseq)), "
          "c AS (INSERT INTO changes (account_id, modseq, mailbox_id, uid, kind) "
          "SELECT $1::bigint, x.modseq, x.mailbox, x.uid, $18::smallint FROM "
          "unnest($13::bigint[], $14::bigint[], $17::bigint[]) AS x(mailbox, uid, modseq)) "
          "SELECT id FROM m",
          owner, job.hex, static_cast<std::uint64_t>(job.raw.size()), job.internal_date,
          Bytes{job.facts}, static_cast<std::int64_t>(rows.uid.size()),
          Bytes{split ? job.split->envelope : kNone}, split,
          Bytes{search ? job.split->search_headers : kNone}, search,
          Bytes{search ? job.split->search_text : kNone}, save_date, rows.mailbox, rows.uid,
          rows.flags, rows.keywords, rows.modseq, static_cast<int>(d::ChangeKind::kMessageAdded),
          order, Bytes{order ? job.split->order : kNone});
      for (auto result : rows.results) {
        pending.push_back(Pending{j, result, statement});
      }
    }
  }

  // 5. The counters, once per account and mailbox, and the announcements.
  for (const auto& [id, state] : accounts) {
    if (state.dirty) {
      add("UPDATE accounts SET modseq = $2, used_bytes = $3 WHERE id = $1", id, state.modseq,
          state.used_bytes);
      add("SELECT pg_notify($1, $2::text)", change_channel(c.schema()), std::to_string(id));
      c.announced().push_back(id);
    }
  }
  for (const auto& [id, state] : mailboxes) {
    if (state.dirty) {
      add("UPDATE mailboxes SET uid_next = $2, highest_modseq = $3, keywords = $4 WHERE id = $1",
          id, state.uid_next, state.highest_modseq, join_keywords(state.keywords));
    }
  }
  TERN_TRY(auto results, c.pipeline(statements));
  for (const auto& p : pending) {
    const auto& rows = results[p.statement];
    if (rows.empty()) {
      return Error{ErrorCode::kInternal, "message insert returned no id"};
    }
    (*outcomes[p.job][p.result]).message = d::MessageId{rows.int64(0, 0)};
  }
  for (std::size_t j = 0; j < batch.size(); ++j) {
    batch[j]->result.emplace(std::move(outcomes[j]));
  }
  return ok();
}

}  // namespace

// ----- Directory

d::Async<d::Domain> PostgresStorage::add_domain(std::string name) {
  return transaction<d::Domain>([name](Connection& c) -> Result<d::Domain> {
    if (name.empty() || name.find('@') != std::string::npos) {
      return Error{ErrorCode::kInvalidInput, "invalid domain name"};
    }
    TERN_TRY(auto id, scalar(c,
                             "INSERT INTO domains (name) VALUES ($1) ON CONFLICT (name) DO NOTHING "
                             "RETURNING id",
                             name));
    if (!id) {
      return Error{ErrorCode::kAlreadyExists, "domain exists: " + name};
    }
    return d::Domain{d::DomainId{*id}, name};
  });
}

d::Async<std::vector<d::Domain>> PostgresStorage::domains() {
  return transaction<std::vector<d::Domain>>(
      [](Connection& c) {
        return rows<d::Domain>(c, "SELECT id, name FROM domains ORDER BY name COLLATE \"C\"",
                               [](const Rows& r, int i) {
                                 return d::Domain{d::DomainId{r.int64(i, 0)}, r.text(i, 1)};
                               });
      },
      true);
}

d::Async<std::optional<d::Domain>> PostgresStorage::find_domain(std::string name) {
  return transaction<std::optional<d::Domain>>(
      [name](Connection& c) {
        return one_row<d::Domain>(
            c, "SELECT id, name FROM domains WHERE name = $1",
            [](const Rows& r, int i) {
              return d::Domain{d::DomainId{r.int64(i, 0)}, r.text(i, 1)};
            },
            name);
      },
      true);
}

d::Async<void> PostgresStorage::remove_domain(std::string name) {
  return transaction<void>([name](Connection& c) -> Result<void> {
    // The domain row's lock keeps accounts and aliases from being added to it
    // (their inserts check the domain under FOR SHARE) while this decides.
    TERN_TRY(auto id, scalar(c, "SELECT id FROM domains WHERE name = $1 FOR UPDATE", name));
    if (!id) {
      return not_found("no such domain: " + name);
    }
    TERN_TRY(auto account, scalar(c, "SELECT 1 FROM accounts WHERE domain_id = $1 LIMIT 1", *id));
    if (account) {
      return Error{ErrorCode::kConflict, "domain still has accounts: " + name};
    }
    TERN_TRY(auto alias, scalar(c, "SELECT 1 FROM aliases WHERE domain = $1 LIMIT 1", name));
    if (alias) {
      return Error{ErrorCode::kConflict, "domain still has aliases: " + name};
    }
    return run(c, "DELETE FROM domains WHERE id = $1", *id);
  });
}

d::Async<d::Account> PostgresStorage::add_account(d::NewAccount account) {
  return transaction<d::Account>([account](Connection& c) -> Result<d::Account> {
    auto at = account.address.rfind('@');
    if (at == std::string::npos || at == 0) {
      return Error{ErrorCode::kInvalidInput, "invalid address"};
    }
    TERN_TRY(auto domain, scalar(c, "SELECT id FROM domains WHERE name = $1 FOR SHARE",
                                 domain_of(account.address)));
    if (!domain) {
      return not_found("not a local domain: " + account.address);
    }
    TERN_TRY(auto id,
             scalar(c,
                    "INSERT INTO accounts (domain_id, address, password_hash, quota_bytes, "
                    "scram_sha256) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (address) DO NOTHING RETURNING id",
                    *domain, account.address, account.password_hash, account.quota_bytes,
                    account.scram_sha256));
    if (!id) {
      return Error{ErrorCode::kAlreadyExists, "account exists: " + account.address};
    }
    TERN_TRY_VOID(insert_mailbox(c, d::AccountId{*id}, "INBOX", d::SpecialUse::kNone, true)
                      .transform([](const d::Mailbox&) {}));
    TERN_TRY(auto stored, load_account(c, d::AccountId{*id}));
    if (!stored) {
      return Error{ErrorCode::kInternal, "account vanished"};
    }
    return *stored;
  });
}

d::Async<std::optional<d::Account>> PostgresStorage::find_account(std::string address) {
  return transaction<std::optional<d::Account>>(
      [address](Connection& c) { return load_account(c, address); }, true);
}

d::Async<std::optional<d::Account>> PostgresStorage::find_account_by_id(d::AccountId id) {
  return transaction<std::optional<d::Account>>([id](Connection& c) { return load_account(c, id); },
                                                true);
}

d::Async<std::vector<d::Account>> PostgresStorage::accounts(std::optional<std::string> domain) {
  return transaction<std::vector<d::Account>>(
      [domain](Connection& c) -> Result<std::vector<d::Account>> {
        if (!domain) {
          return rows<d::Account>(
              c, std::string(kAccountColumns) + "ORDER BY address COLLATE \"C\"", account_from);
        }
        TERN_TRY(auto id, scalar(c, "SELECT id FROM domains WHERE name = $1", *domain));
        if (!id) {
          return not_found("no such domain: " + *domain);
        }
        return rows<d::Account>(
            c, std::string(kAccountColumns) + "WHERE domain_id = $1 ORDER BY address COLLATE \"C\"",
            account_from, *id);
      },
      true);
}

d::Async<void> PostgresStorage::set_credentials(std::string address, d::Credentials credentials) {
  return transaction<void>([address, credentials](Connection& c) -> Result<void> {
    TERN_TRY(auto n, affected(c,
                              "UPDATE accounts SET password_hash = $2, scram_sha256 = $3 "
                              "WHERE address = $1",
                              address, credentials.password_hash, credentials.scram_sha256));
    if (n == 0) {
      return not_found("no such account: " + address);
    }
    return ok();
  });
}

d::Async<void> PostgresStorage::set_quota(std::string address, std::uint64_t quota_bytes) {
  return transaction<void>([address, quota_bytes](Connection& c) -> Result<void> {
    TERN_TRY(auto n, affected(c, "UPDATE accounts SET quota_bytes = $2 WHERE address = $1", address,
                              quota_bytes));
    if (n == 0) {
      return not_found("no such account: " + address);
    }
    return ok();
  });
}

d::Async<void> PostgresStorage::remove_account(std::string address) {
  return transaction<void>([address](Connection& c) -> Result<void> {
    TERN_TRY(auto account, load_account(c, address, true));
    if (!account) {
      return not_found("no such account: " + address);
    }
    auto id = d::value_of(account->id);
    // Each message holds one blob reference; release them all at once, in hash
    // order like every other release.
    TERN_TRY_VOID(run(c,
                      "UPDATE blobs b SET refs = b.refs - m.n FROM (SELECT blob, count(*) AS n "
                      "FROM messages WHERE account_id = $1 GROUP BY blob ORDER BY blob) m "
                      "WHERE b.hash = m.blob",
                      id));
    TERN_TRY_VOID(run(c,
                      "DELETE FROM entries WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE "
                      "account_id = $1)",
                      id));
    TERN_TRY_VOID(run(c,
                      "DELETE FROM tombstones WHERE mailbox_id IN (SELECT id FROM mailboxes "
                      "WHERE account_id = $1)",
                      id));
    TERN_TRY_VOID(run(c, "DELETE FROM messages WHERE account_id = $1", id));
    TERN_TRY_VOID(run(c, "DELETE FROM mailboxes WHERE account_id = $1", id));
    TERN_TRY_VOID(run(c, "DELETE FROM changes WHERE account_id = $1", id));
    TERN_TRY_VOID(run(c, "DELETE FROM sieve_scripts WHERE account_id = $1", id));
    TERN_TRY_VOID(run(c, "DELETE FROM sieve_vacation WHERE account_id = $1", id));
    TERN_TRY_VOID(spam::remove_model(c, id));
    TERN_TRY_VOID(run(c, "DELETE FROM accounts WHERE id = $1", id));
    return notify(c, account->id);
  });
}

d::Async<void> PostgresStorage::add_alias(d::Alias alias) {
  return transaction<void>([alias](Connection& c) -> Result<void> {
    if (alias.source.empty() || alias.destination.empty() ||
        alias.source.find('@') == std::string::npos) {
      return Error{ErrorCode::kInvalidInput, "invalid alias"};
    }
    auto domain = domain_of(alias.source);
    TERN_TRY(auto local, scalar(c, "SELECT 1 FROM domains WHERE name = $1 FOR SHARE", domain));
    if (!local) {
      return not_found("not a local domain: " + alias.source);
    }
    TERN_TRY(auto n, affected(c,
                              "INSERT INTO aliases (source, destination, domain) VALUES ($1, $2, "
                              "$3) ON CONFLICT (source, destination) DO NOTHING",
                              alias.source, alias.destination, domain));
    if (n == 0) {
      return Error{ErrorCode::kAlreadyExists, "alias exists: " + alias.source};
    }
    return ok();
  });
}

d::Async<std::vector<d::Alias>> PostgresStorage::aliases(std::optional<std::string> domain) {
  return transaction<std::vector<d::Alias>>(
      [domain](Connection& c) -> Result<std::vector<d::Alias>> {
        auto alias_from = [](const Rows& r, int i) { return d::Alias{r.text(i, 0), r.text(i, 1)}; };
        if (!domain) {
          return rows<d::Alias>(c,
                                "SELECT source, destination FROM aliases ORDER BY source COLLATE "
                                "\"C\", destination COLLATE \"C\"",
                                alias_from);
        }
        TERN_TRY(auto local, scalar(c, "SELECT 1 FROM domains WHERE name = $1", *domain));
        if (!local) {
          return not_found("no such domain: " + *domain);
        }
        return rows<d::Alias>(c,
                              "SELECT source, destination FROM aliases WHERE domain = $1 ORDER BY "
                              "source COLLATE \"C\", destination COLLATE \"C\"",
                              alias_from, *domain);
      },
      true);
}

d::Async<std::vector<std::string>> PostgresStorage::alias_destinations(std::string source) {
  return transaction<std::vector<std::string>>(
      [source](Connection& c) {
        return rows<std::string>(
            c,
            "SELECT destination FROM aliases WHERE source = $1 ORDER BY destination COLLATE \"C\"",
            [](const Rows& r, int i) { return r.text(i, 0); }, source);
      },
      true);
}

d::Async<void> PostgresStorage::remove_alias(std::string source,
                                             std::optional<std::string> destination) {
  return transaction<void>([source, destination](Connection& c) -> Result<void> {
    std::uint64_t n = 0;
    if (destination && !destination->empty()) {
      TERN_TRY(n, affected(c, "DELETE FROM aliases WHERE source = $1 AND destination = $2", source,
                           *destination));
    } else {
      TERN_TRY(n, affected(c, "DELETE FROM aliases WHERE source = $1", source));
    }
    if (n == 0) {
      return not_found("no such alias: " + source);
    }
    return ok();
  });
}

// ----- Sieve scripts and vacation replies

namespace {

// Script changes lock the account row (FOR UPDATE, as mail changes do): they run
// one at a time per account, so two activations never both see no active script,
// and remove_account() waits for them.
Result<void> lock_account_for_scripts(Connection& c, d::AccountId account) {
  TERN_TRY(auto locked, lock_account(c, account));
  (void)locked;
  return ok();
}

Result<void> require_account(Connection& c, d::AccountId account) {
  TERN_TRY(auto exists, scalar(c, "SELECT 1 FROM accounts WHERE id = $1", d::value_of(account)));
  if (!exists) {
    return not_found("no such account");
  }
  return ok();
}

// The script text is bytea: it comes back as given, whatever its bytes.
d::SieveScript sieve_script_from(const Rows& r, int i) {
  return d::SieveScript{r.text(i, 0), r.bytes(i, 1), r.boolean(i, 2)};
}

Result<std::optional<bool>> script_is_active(Connection& c, std::int64_t account,
                                             const std::string& name) {
  TERN_TRY(auto result, c.query("SELECT active FROM sieve_scripts WHERE account_id = $1 AND "
                                "name = $2",
                                account, name));
  if (result.empty()) {
    return std::optional<bool>();
  }
  return std::optional<bool>(result.boolean(0, 0));
}

}  // namespace

d::Async<void> PostgresStorage::put_sieve_script(d::AccountId account, std::string name,
                                                 std::string text) {
  return transaction<void>(
      [account, name = std::move(name), text = std::move(text)](Connection& c) -> Result<void> {
        TERN_TRY_VOID(lock_account_for_scripts(c, account));
        if (!d::is_valid_sieve_script_name(name)) {
          return Error{ErrorCode::kInvalidInput, "invalid sieve script name"};
        }
        return run(c,
                   "INSERT INTO sieve_scripts (account_id, name, script) VALUES ($1, $2, $3) "
                   "ON CONFLICT (account_id, name) DO UPDATE SET script = EXCLUDED.script",
                   d::value_of(account), name, Bytes{text});
      });
}

d::Async<std::vector<d::SieveScript>> PostgresStorage::sieve_scripts(d::AccountId account) {
  return transaction<std::vector<d::SieveScript>>(
      [account](Connection& c) -> Result<std::vector<d::SieveScript>> {
        TERN_TRY_VOID(require_account(c, account));
        return rows<d::SieveScript>(c,
                                    "SELECT name, script, active FROM sieve_scripts WHERE "
                                    "account_id = $1 ORDER BY name COLLATE \"C\"",
                                    sieve_script_from, d::value_of(account));
      },
      true);
}

d::Async<std::optional<d::SieveScript>> PostgresStorage::active_sieve_script(d::AccountId account) {
  return transaction<std::optional<d::SieveScript>>(
      [account](Connection& c) -> Result<std::optional<d::SieveScript>> {
        TERN_TRY_VOID(require_account(c, account));
        return one_row<d::SieveScript>(c,
                                       "SELECT name, script, active FROM sieve_scripts WHERE "
                                       "account_id = $1 AND active",
                                       sieve_script_from, d::value_of(account));
      },
      true);
}

d::Async<void> PostgresStorage::activate_sieve_script(d::AccountId account,
                                                      std::optional<std::string> name) {
  return transaction<void>([account, name = std::move(name)](Connection& c) -> Result<void> {
    TERN_TRY_VOID(lock_account_for_scripts(c, account));
    const auto id = d::value_of(account);
    if (name) {
      TERN_TRY(auto active, script_is_active(c, id, *name));
      if (!active) {
        return not_found("no such sieve script: " + *name);
      }
    }
    // The old one first: the unique index on the active script is checked row by row.
    TERN_TRY_VOID(
        run(c, "UPDATE sieve_scripts SET active = false WHERE account_id = $1 AND active", id));
    if (!name) {
      return ok();
    }
    return run(c, "UPDATE sieve_scripts SET active = true WHERE account_id = $1 AND name = $2", id,
               *name);
  });
}

d::Async<void> PostgresStorage::rename_sieve_script(d::AccountId account, std::string from,
                                                    std::string to) {
  return transaction<void>(
      [account, from = std::move(from), to = std::move(to)](Connection& c) -> Result<void> {
        TERN_TRY_VOID(lock_account_for_scripts(c, account));
        if (!d::is_valid_sieve_script_name(to)) {
          return Error{ErrorCode::kInvalidInput, "invalid sieve script name"};
        }
        const auto id = d::value_of(account);
        TERN_TRY(auto source, script_is_active(c, id, from));
        if (!source) {
          return not_found("no such sieve script: " + from);
        }
        TERN_TRY(auto taken, script_is_active(c, id, to));
        if (taken) {
          return Error{ErrorCode::kAlreadyExists, "sieve script exists: " + to};
        }
        return run(c, "UPDATE sieve_scripts SET name = $3 WHERE account_id = $1 AND name = $2", id,
                   from, to);
      });
}

d::Async<void> PostgresStorage::remove_sieve_script(d::AccountId account, std::string name) {
  return transaction<void>([account, name = std::move(name)](Connection& c) -> Result<void> {
    TERN_TRY_VOID(lock_account_for_scripts(c, account));
    const auto id = d::value_of(account);
    TERN_TRY(auto active, script_is_active(c, id, name));
    if (!active) {
      return not_found("no such sieve script: " + name);
    }
    if (*active) {
      return Error{ErrorCode::kConflict, "the sieve script is active: " + name};
    }
    return run(c, "DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2", id, name);
  });
}

d::Async<bool> PostgresStorage::note_vacation_reply(d::AccountId account, std::string key,
                                                    SystemTime now, std::chrono::seconds period) {
  return transaction<bool>(
      [account, key = std::move(key), now, period](Connection& c) -> Result<bool> {
        const auto id = d::value_of(account);
        // FOR KEY SHARE: deliveries to one account do not wait for each other here,
        // but remove_account() (which deletes the row) waits for them.
        TERN_TRY(auto exists, scalar(c, "SELECT 1 FROM accounts WHERE id = $1 FOR KEY SHARE", id));
        if (!exists) {
          return not_found("no such account");
        }
        // One statement decides and records: a concurrent call with the same key
        // waits on the row and then sees this one's `sent`, so only one gets true.
        TERN_TRY(auto recorded,
                 c.query("INSERT INTO sieve_vacation (account_id, reply_key, sent, expires) "
                         "VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, reply_key) DO UPDATE "
                         "SET sent = EXCLUDED.sent, expires = EXCLUDED.expires "
                         "WHERE sieve_vacation.sent <= $5 RETURNING 1",
                         id, Bytes{key}, ticks(now), ticks(now + period), ticks(now - period)));
        if (recorded.empty()) {
          return false;
        }
        TERN_TRY_VOID(run(c,
                          "DELETE FROM sieve_vacation WHERE account_id = $1 AND expires <= $2 AND "
                          "reply_key <> $3",
                          id, ticks(now), Bytes{key}));
        return true;
      });
}

// ----- MailStore

d::Async<std::vector<d::Mailbox>> PostgresStorage::mailboxes(d::AccountId account) {
  return transaction<std::vector<d::Mailbox>>(
      [account](Connection& c) -> Result<std::vector<d::Mailbox>> {
        TERN_TRY(auto owner, load_account(c, account));
        if (!owner) {
          return not_found("no such account");
        }
        return rows<d::Mailbox>(
            c, std::string(kMailboxColumns) + "WHERE account_id = $1 ORDER BY name COLLATE \"C\"",
            mailbox_from, d::value_of(account));
      },
      true);
}

d::Async<d::Mailbox> PostgresStorage::create_mailbox(d::AccountId account, std::string name,
                                                     d::SpecialUse special_use) {
  return transaction<d::Mailbox>([account, name, special_use](Connection& c) -> Result<d::Mailbox> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    auto canonical = canonical_mailbox_name(name);
    if (!is_valid_mailbox_name(canonical)) {
      return Error{ErrorCode::kInvalidInput, "invalid mailbox name"};
    }
    TERN_TRY(auto exists, scalar(c, "SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2",
                                 d::value_of(account), canonical));
    if (exists) {
      return Error{ErrorCode::kAlreadyExists, "mailbox exists: " + canonical};
    }
    TERN_TRY(auto box, insert_mailbox(c, account, canonical, special_use, false));
    TERN_TRY_VOID(notify(c, account));
    return box;
  });
}

d::Async<d::Mailbox> PostgresStorage::rename_mailbox(d::AccountId account, d::MailboxId mailbox,
                                                     std::string new_name) {
  return transaction<d::Mailbox>([account, mailbox, new_name](Connection& c) -> Result<d::Mailbox> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    TERN_TRY(auto target, owned_mailbox(c, account, mailbox));
    auto name = canonical_mailbox_name(new_name);
    const std::string old_name = target.name;
    if (old_name == "INBOX" || name == "INBOX" || !is_valid_mailbox_name(name)) {
      return Error{ErrorCode::kInvalidInput, "cannot rename to " + name};
    }
    if (name == old_name) {
      return target;
    }
    TERN_TRY(auto all, rows<d::Mailbox>(c, std::string(kMailboxColumns) + "WHERE account_id = $1",
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
      TERN_TRY_VOID(run(c, "UPDATE mailboxes SET name = $2 WHERE id = $1", d::value_of(box.id),
                        "\x01rename\x01" + std::to_string(d::value_of(box.id))));
    }
    for (const auto& box : renamed) {
      TERN_TRY_VOID(run(c, "UPDATE mailboxes SET name = $2 WHERE id = $1", d::value_of(box.id),
                        name + box.name.substr(old_name.size())));
      TERN_TRY_VOID(mailbox_change(c, account, box.id, d::Uid{0}, d::ChangeKind::kMailboxRenamed)
                        .transform([](d::ModSeq) {}));
    }
    TERN_TRY_VOID(notify(c, account));
    return owned_mailbox(c, account, mailbox);
  });
}

d::Async<void> PostgresStorage::delete_mailbox(d::AccountId account, d::MailboxId mailbox) {
  return transaction<void>([account, mailbox](Connection& c) -> Result<void> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    TERN_TRY(auto target, owned_mailbox(c, account, mailbox));
    if (target.name == "INBOX") {
      return Error{ErrorCode::kInvalidInput, "cannot delete INBOX"};
    }
    return delete_mailbox_rows(c, account, mailbox);
  });
}

d::Async<void> PostgresStorage::set_subscribed(d::AccountId account, d::MailboxId mailbox,
                                               bool subscribed) {
  return transaction<void>([account, mailbox, subscribed](Connection& c) -> Result<void> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    TERN_TRY(auto target, owned_mailbox(c, account, mailbox));
    if (target.subscribed == subscribed) {
      return ok();
    }
    TERN_TRY_VOID(run(c, "UPDATE mailboxes SET subscribed = $2 WHERE id = $1", d::value_of(mailbox),
                      subscribed));
    TERN_TRY_VOID(
        mailbox_change(c, account, mailbox, d::Uid{0}, d::ChangeKind::kMailboxSubscription)
            .transform([](d::ModSeq) {}));
    return notify(c, account);
  });
}

d::Async<std::vector<Result<d::Appended>>> PostgresStorage::append(
    d::NewMessage message, std::vector<d::AppendTarget> targets) {
  using Out = std::vector<Result<d::Appended>>;
  if (targets.empty()) {
    return make_ready_future<Result<Out>>(
        Error{ErrorCode::kInvalidInput, "append without targets"});
  }
  // Hash (and with blob_dir write the file) on the caller's thread, so the
  // append lane only talks to the server.
  auto job = std::make_unique<PendingAppend>();
  job->hex = sha256_hex(message.raw);
  if (auto stored = store_blob_file(job->hex, message.raw); !stored) {
    return make_ready_future<Result<Out>>(stored.error());
  }
  job->raw = std::move(message.raw);
  job->internal_date = ticks(message.internal_date);
  // Split off the lane too: the lane only inserts the parts.
  if (auto split = mime::facts::split_facts(message.facts)) {
    job->facts = std::move(split->record);
    job->split = std::move(*split);
  } else {
    job->facts = std::move(message.facts);
  }
  job->targets = std::move(targets);
  auto future = job->promise.future();
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      appends_.push_back(std::move(job));
      cv_.notify_one();
      return future;
    }
  }
  job->promise.set_value(Error{ErrorCode::kCancelled, "store is closed"});
  return future;
}

d::Async<std::vector<d::Entry>> PostgresStorage::entries(d::AccountId account, d::MailboxId mailbox,
                                                         d::Uid first, d::Uid last) {
  return transaction<std::vector<d::Entry>>(
      [account, mailbox, first, last](Connection& c) -> Result<std::vector<d::Entry>> {
        TERN_TRY_VOID(owned_mailbox(c, account, mailbox).transform([](const d::Mailbox&) {}));
        return rows<d::Entry>(c,
                              std::string(kEntryColumns) +
                                  "WHERE e.mailbox_id = $1 AND e.uid BETWEEN $2 AND $3 "
                                  "ORDER BY e.uid",
                              entry_from, d::value_of(mailbox), d::value_of(first),
                              d::value_of(last));
      },
      true);
}

d::Async<std::string> PostgresStorage::read_message(d::AccountId account, d::MessageId message) {
  return transaction<std::string>(
      [account, message, dir = blob_dir_.get()](Connection& c) -> Result<std::string> {
        TERN_TRY(auto blob, c.query("SELECT blob FROM messages WHERE id = $1 AND account_id = $2",
                                    d::value_of(message), d::value_of(account)));
        if (blob.empty()) {
          return not_found("no such message");
        }
        auto bytes = read_blob(c, blob.text(0, 0), dir);
        if (!bytes && bytes.error().code == ErrorCode::kNotFound) {
          return Error{ErrorCode::kCorrupt, "referenced blob is missing: " + blob.text(0, 0)};
        }
        return bytes;
      },
      true);
}

d::Async<std::string> PostgresStorage::message_facts(d::AccountId account, d::MessageId message) {
  return transaction<std::string>(
      [account, message](Connection& c) -> Result<std::string> {
        TERN_TRY(auto facts, c.query("SELECT facts FROM messages WHERE id = $1 AND account_id = $2",
                                     d::value_of(message), d::value_of(account)));
        if (facts.empty()) {
          return not_found("no such message");
        }
        return facts.bytes(0, 0);
      },
      true);
}

d::Async<d::FlagResult> PostgresStorage::change_flags(d::AccountId account, d::MailboxId mailbox,
                                                      std::vector<d::Uid> uids,
                                                      d::FlagChange change) {
  return transaction<d::FlagResult>([account, mailbox, uids,
                                     change](Connection& c) mutable -> Result<d::FlagResult> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    TERN_TRY_VOID(owned_mailbox(c, account, mailbox).transform([](const d::Mailbox&) {}));
    auto prepared = d::prepare_flag_change(change);
    std::vector<std::string> defined;  // read once: spelled by, then added to
    if (!prepared.keywords.empty()) {
      TERN_TRY(defined, defined_keywords(c, mailbox));
      d::spell_as_defined(defined, prepared.keywords);
    }
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    std::vector<std::int64_t> wanted;
    wanted.reserve(uids.size());
    for (auto uid : uids) {
      wanted.push_back(d::value_of(uid));
    }
    TERN_TRY(auto found, rows<d::Entry>(c,
                                        std::string(kEntryColumns) +
                                            "WHERE e.mailbox_id = $1 AND e.uid = ANY($2::bigint[]) "
                                            "ORDER BY e.uid",
                                        entry_from, d::value_of(mailbox), wanted));
    d::FlagResult result;
    std::vector<d::Entry> updates;
    for (auto& entry : found) {
      if (d::violates_unchanged_since(entry, prepared)) {
        result.conflicts.push_back(entry.uid);
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
      TERN_TRY_VOID(add_defined_keywords(c, mailbox, std::move(defined), prepared.keywords));
    }
    TERN_TRY(auto modseq, allocate_modseq(c, account));
    TERN_TRY_VOID(set_highest(c, mailbox, modseq));
    for (auto& entry : updates) {
      entry.modseq = modseq;
      TERN_TRY_VOID(run(c,
                        "WITH e AS (UPDATE entries SET flags = $3, keywords = $4, modseq = $5 "
                        "WHERE mailbox_id = $1 AND uid = $2) INSERT INTO changes (account_id, "
                        "modseq, mailbox_id, uid, kind) VALUES ($6, $5, $1, $2, $7)",
                        d::value_of(mailbox), d::value_of(entry.uid), static_cast<int>(entry.flags),
                        join_keywords(entry.keywords), d::value_of(modseq), d::value_of(account),
                        static_cast<int>(d::ChangeKind::kFlagsChanged)));
      result.changed.push_back(std::move(entry));
    }
    TERN_TRY_VOID(notify(c, account));
    return result;
  });
}

d::Async<std::vector<d::Appended>> PostgresStorage::copy(d::AccountId account, d::MailboxId from,
                                                         std::vector<d::Uid> uids,
                                                         d::MailboxId to) {
  return transaction<std::vector<d::Appended>>(
      [account, from, uids, to](Connection& c) { return copy_rows(c, account, from, uids, to); });
}

d::Async<std::vector<d::Appended>> PostgresStorage::move(d::AccountId account, d::MailboxId from,
                                                         std::vector<d::Uid> uids,
                                                         d::MailboxId to) {
  return transaction<std::vector<d::Appended>>(
      [account, from, uids, to](Connection& c) -> Result<std::vector<d::Appended>> {
        TERN_TRY(auto copied, copy_rows(c, account, from, uids, to));
        TERN_TRY(auto source, owned_mailbox(c, account, from));
        TERN_TRY_VOID(expunge_uids(c, account, source, uids).transform([](d::ModSeq) {}));
        return copied;
      });
}

d::Async<d::ModSeq> PostgresStorage::expunge(d::AccountId account, d::MailboxId mailbox,
                                             std::vector<d::Uid> uids) {
  return transaction<d::ModSeq>([account, mailbox, uids](Connection& c) -> Result<d::ModSeq> {
    TERN_TRY(auto box, owned_mailbox(c, account, mailbox));
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    return expunge_uids(c, account, box, uids);
  });
}

d::Async<d::MailboxChanges> PostgresStorage::changes_since(d::AccountId account,
                                                           d::MailboxId mailbox, d::ModSeq since) {
  return transaction<d::MailboxChanges>(
      [account, mailbox, since](Connection& c) -> Result<d::MailboxChanges> {
        TERN_TRY(auto box, owned_mailbox(c, account, mailbox));
        d::MailboxChanges changes;
        TERN_TRY(changes.changed,
                 rows<d::Entry>(c,
                                std::string(kEntryColumns) +
                                    "WHERE e.mailbox_id = $1 AND e.modseq > $2 ORDER BY e.uid",
                                entry_from, d::value_of(mailbox), d::value_of(since)));
        TERN_TRY(changes.vanished,
                 rows<d::Uid>(
                     c,
                     "SELECT uid FROM tombstones WHERE mailbox_id = $1 AND modseq > $2 "
                     "ORDER BY uid",
                     [](const Rows& r, int i) {
                       return d::Uid{static_cast<std::uint32_t>(r.int64(i, 0))};
                     },
                     d::value_of(mailbox), d::value_of(since)));
        changes.highest = box.highest_modseq;
        return changes;
      },
      true);
}

d::Async<std::vector<d::AccountChange>> PostgresStorage::account_changes_since(d::AccountId account,
                                                                               d::ModSeq since) {
  return transaction<std::vector<d::AccountChange>>(
      [account, since](Connection& c) -> Result<std::vector<d::AccountChange>> {
        TERN_TRY(auto owner, load_account(c, account));
        if (!owner) {
          return not_found("no such account");
        }
        return rows<d::AccountChange>(
            c,
            "SELECT modseq, mailbox_id, uid, kind FROM changes WHERE account_id = $1 AND "
            "modseq > $2 ORDER BY modseq, seq",
            [](const Rows& r, int i) {
              return d::AccountChange{d::ModSeq{r.uint64(i, 0)}, d::MailboxId{r.int64(i, 1)},
                                      d::Uid{static_cast<std::uint32_t>(r.int64(i, 2))},
                                      static_cast<d::ChangeKind>(r.int64(i, 3))};
            },
            d::value_of(account), d::value_of(since));
      },
      true);
}

d::Async<d::Usage> PostgresStorage::usage(d::AccountId account) {
  return transaction<d::Usage>(
      [account](Connection& c) -> Result<d::Usage> {
        TERN_TRY(auto owner, load_account(c, account));
        if (!owner) {
          return not_found("no such account");
        }
        TERN_TRY(auto count, scalar(c,
                                    "SELECT count(*) FROM entries WHERE mailbox_id IN (SELECT id "
                                    "FROM mailboxes WHERE account_id = $1)",
                                    d::value_of(account)));
        return d::Usage{owner->used_bytes, static_cast<std::uint64_t>(count.value_or(0))};
      },
      true);
}

// ----- BlobStore

d::Async<d::BlobId> PostgresStorage::put(std::string bytes) {
  auto hex = sha256_hex(bytes);
  if (auto stored = store_blob_file(hex, bytes); !stored) {
    return make_ready_future<Result<d::BlobId>>(stored.error());
  }
  return transaction<d::BlobId>(
      [hex, bytes = std::move(bytes), chunk = options_.chunk_bytes,
       in_file = blob_dir_ != nullptr](Connection& c) -> Result<d::BlobId> {
        TERN_TRY_VOID(reference_blob(c, hex, bytes, 0, chunk, in_file));
        return d::BlobId{hex};
      });
}

d::Async<std::string> PostgresStorage::get(d::BlobId id) {
  if (!d::is_sha256_hex(id.hex)) {
    return make_ready_future<Result<std::string>>(not_found("no such blob: " + id.hex));
  }
  return transaction<std::string>(
      [hex = id.hex, dir = blob_dir_.get()](Connection& c) -> Result<std::string> {
        return read_blob(c, hex, dir);
      },
      true);
}

d::Async<std::uint64_t> PostgresStorage::collect_garbage() {
  Promise<Result<std::uint64_t>> promise;
  auto future = promise.future();
  Job job;
  job.run = [this, promise](Connection* c) mutable {
    if (c == nullptr) {
      promise.set_value(Error{ErrorCode::kCancelled, "store is closed"});
      return;
    }
    auto remove_rows = [](Connection& conn) -> Result<std::uint64_t> {
      // SKIP LOCKED: a row some transaction is referencing right now is not
      // waited for (its refs are about to rise); the next collection sees it.
      // The chunks go with their row (ON DELETE CASCADE).
      return affected(conn,
                      "DELETE FROM blobs WHERE hash IN (SELECT hash FROM blobs WHERE "
                      "refs <= 0 ORDER BY hash FOR UPDATE SKIP LOCKED) AND refs <= 0");
    };
    auto removed = run_transaction<std::uint64_t>(*c, remove_rows, false);
    if (removed && blob_dir_) {
      // Files go only after their rows are gone for good, and only once older
      // than the grace period: a young file may be another node's blob whose row
      // has not committed yet (a crash in between leaves an orphan, never a row
      // without its file).
      auto swept = blob_dir_->sweep(
          [c](const std::string& hex) -> Result<bool> {
            TERN_TRY(auto known, scalar(*c, "SELECT 1 FROM blobs WHERE hash = $1", hex));
            return known.has_value();
          },
          options_.blob_dir_grace);
      if (!swept) {
        options_.logger.warn("blob dir sweep", {{"error", swept.error().message}});
      }
    }
    promise.set_value(std::move(removed));
  };
  submit(std::move(job));
  return future;
}

Result<void> PostgresStorage::store_blob_file(const std::string& hex, std::string_view bytes) {
  if (!blob_dir_) {
    return ok();
  }
  return blob_dir_->store(hex, bytes);
}

// ----- QueueStore

d::Async<d::QueueId> PostgresStorage::enqueue(d::NewQueuedMessage message) {
  if (message.recipients.empty()) {
    return make_ready_future<Result<d::QueueId>>(Error{ErrorCode::kInvalidInput, "no recipients"});
  }
  auto hex = sha256_hex(message.raw);
  if (auto stored = store_blob_file(hex, message.raw); !stored) {
    return make_ready_future<Result<d::QueueId>>(stored.error());
  }
  return transaction<d::QueueId>([hex, message = std::move(message), chunk = options_.chunk_bytes,
                                  in_file =
                                      blob_dir_ != nullptr](Connection& c) -> Result<d::QueueId> {
    TERN_TRY_VOID(reference_blob(c, hex, message.raw, 1, chunk, in_file));
    TERN_TRY(
        auto id,
        scalar(c,
               "INSERT INTO queue (blob, size, sender, envid, ret, created, next_attempt, "
               "attempts, state, lease_until, smtputf8, body_type, requiretls, submitter) "
               "VALUES ($1, $2, $3, $4, $5, $6, $6, 0, $7, 0, $8, $9, $10, $11) RETURNING id",
               hex, static_cast<std::uint64_t>(message.raw.size()), message.sender, message.envid,
               message.ret, ticks(message.now), static_cast<int>(d::QueueState::kQueued),
               message.envelope.smtputf8, static_cast<int>(message.envelope.body),
               message.envelope.requiretls, message.envelope.submitter));
    d::QueueId queue_id{id.value_or(0)};
    TERN_TRY_VOID(store_recipients(c, queue_id, message.recipients));
    return queue_id;
  });
}

d::Async<std::vector<d::QueuedMessage>> PostgresStorage::queued() {
  return transaction<std::vector<d::QueuedMessage>>(
      [](Connection& c) -> Result<std::vector<d::QueuedMessage>> {
        TERN_TRY(auto all,
                 rows<d::QueuedMessage>(
                     c, "SELECT " + std::string(kQueueColumns) + " FROM queue ORDER BY id",
                     queued_from));
        for (auto& q : all) {
          TERN_TRY_VOID(load_recipients(c, q));
        }
        return all;
      },
      true);
}

d::Async<std::optional<d::QueuedMessage>> PostgresStorage::find_queued(d::QueueId id) {
  return transaction<std::optional<d::QueuedMessage>>(
      [id](Connection& c) { return load_queued(c, id); }, true);
}

d::Async<std::string> PostgresStorage::read_queued(d::QueueId id) {
  return transaction<std::string>(
      [id, dir = blob_dir_.get()](Connection& c) -> Result<std::string> {
        TERN_TRY(auto blob, c.query("SELECT blob FROM queue WHERE id = $1", d::value_of(id)));
        if (blob.empty()) {
          return not_found("no such queue entry");
        }
        auto bytes = read_blob(c, blob.text(0, 0), dir);
        if (!bytes && bytes.error().code == ErrorCode::kNotFound) {
          return Error{ErrorCode::kCorrupt, "referenced blob is missing: " + blob.text(0, 0)};
        }
        return bytes;
      },
      true);
}

d::Async<std::vector<d::QueuedMessage>> PostgresStorage::claim_due(SystemTime now,
                                                                   std::size_t limit,
                                                                   std::chrono::seconds lease) {
  return transaction<std::vector<d::QueuedMessage>>(
      [now, limit, lease](Connection& c) -> Result<std::vector<d::QueuedMessage>> {
        // SKIP LOCKED: rows another node is claiming right now are left to it, so
        // two nodes never claim one entry; the lease (lease_until) is what frees
        // an entry whose node died mid-delivery.
        const auto until = ticks(now + lease);
        TERN_TRY(auto due,
                 rows<d::QueuedMessage>(
                     c,
                     "WITH due AS (SELECT id FROM queue WHERE (state = $1 AND next_attempt <= $3) "
                     "OR (state = $2 AND lease_until <= $3) ORDER BY next_attempt, id LIMIT $4 "
                     "FOR UPDATE SKIP LOCKED) UPDATE queue q SET state = $2, lease_until = $5 "
                     "FROM due WHERE q.id = due.id RETURNING q." +
                         [] {
                           std::string columns(kQueueColumns);
                           std::string out;
                           for (char ch : columns) {
                             out += ch;
                             if (ch == ' ') {
                               out += "q.";
                             }
                           }
                           return out;
                         }(),
                     queued_from, static_cast<int>(d::QueueState::kQueued),
                     static_cast<int>(d::QueueState::kActive), ticks(now),
                     static_cast<std::int64_t>(limit), until));
        std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
          return a.next_attempt != b.next_attempt ? a.next_attempt < b.next_attempt
                                                  : d::value_of(a.id) < d::value_of(b.id);
        });
        for (auto& q : due) {
          TERN_TRY_VOID(load_recipients(c, q));
        }
        return due;
      });
}

d::Async<void> PostgresStorage::update_queued(d::QueueId id, d::QueueUpdate update) {
  return transaction<void>([id, update](Connection& c) -> Result<void> {
    TERN_TRY(auto state, lock_queued(c, id));
    auto new_state = state == d::QueueState::kActive ? d::QueueState::kQueued : state;
    TERN_TRY_VOID(run(c,
                      "UPDATE queue SET next_attempt = $2, attempts = $3, state = $4, "
                      "lease_until = 0, delay_warned = $5 WHERE id = $1",
                      d::value_of(id), ticks(update.next_attempt), update.attempts,
                      static_cast<int>(new_state), update.delay_warned));
    return store_recipients(c, id, update.recipients);
  });
}

d::Async<void> PostgresStorage::remove_queued(d::QueueId id) {
  return transaction<void>([id](Connection& c) -> Result<void> {
    TERN_TRY(auto blob, c.query("DELETE FROM queue WHERE id = $1 RETURNING blob", d::value_of(id)));
    if (blob.empty()) {
      return not_found("no such queue entry");
    }
    return release_blobs(c, {blob.text(0, 0)});
  });
}

d::Async<void> PostgresStorage::set_held(d::QueueId id, bool held, SystemTime now) {
  return transaction<void>([id, held, now](Connection& c) -> Result<void> {
    TERN_TRY(auto state, lock_queued(c, id));
    if (held) {
      return run(c, "UPDATE queue SET state = $2, lease_until = 0 WHERE id = $1", d::value_of(id),
                 static_cast<int>(d::QueueState::kHeld));
    }
    if (state != d::QueueState::kHeld) {
      return ok();
    }
    return run(c, "UPDATE queue SET state = $2, next_attempt = $3, lease_until = 0 WHERE id = $1",
               d::value_of(id), static_cast<int>(d::QueueState::kQueued), ticks(now));
  });
}

d::Async<void> PostgresStorage::reschedule(d::QueueId id, SystemTime when) {
  return transaction<void>([id, when](Connection& c) -> Result<void> {
    TERN_TRY_VOID(lock_queued(c, id).transform([](d::QueueState) {}));
    return run(c, "UPDATE queue SET next_attempt = $2 WHERE id = $1 AND state = $3",
               d::value_of(id), ticks(when), static_cast<int>(d::QueueState::kQueued));
  });
}

// ----- message summaries

namespace {

// The query of message_summaries() for the parts `what`: the entries named in
// the array $2 of mailbox $1 in its order, each part LEFT JOINed from its own
// table. Columns: uid, message id, whether every joined part row is there, the
// envelope, search headers, search text, and messages.facts — read only when
// asked for or when a part row is missing (facts that were no readable record),
// so an envelope fetch never reads the record — and the order keys (a column of
// the envelope row, NULL when not asked for or stored before migration 0004).
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
  const std::string stored = "(SELECT facts FROM messages WHERE id = e.message_id)";
  return "SELECT e.uid, e.message_id, " + present + ", " +
         (envelope ? "v.envelope" : "NULL::bytea") + ", " +
         (headers ? "h.headers" : "NULL::bytea") + ", " + (text ? "t.text" : "NULL::bytea") + ", " +
         ((what & d::kSummaryFacts) != 0
              ? stored
              : "CASE WHEN " + present + " THEN NULL::bytea ELSE " + stored + " END") +
         ", " + (order ? "v.order_keys" : "NULL::bytea") +
         " FROM unnest($2::bigint[]) WITH ORDINALITY AS j(uid, n) JOIN entries e ON "
         "e.mailbox_id = $1 AND e.uid = j.uid" +
         joins + " ORDER BY j.n";
}

}  // namespace

d::Async<std::vector<d::MessageSummary>> PostgresStorage::message_summaries(
    d::AccountId account, d::MailboxId mailbox, std::vector<d::Uid> uids, d::SummaryParts what) {
  using Out = std::vector<d::MessageSummary>;
  return transaction<Out>(
      [account, mailbox, uids = std::move(uids), what](Connection& c) -> Result<Out> {
        TERN_TRY_VOID(owned_mailbox(c, account, mailbox).transform([](const d::Mailbox&) {}));
        // One statement for the whole list: the array is one parameter, so the
        // statement is prepared once per `what` whatever the chunk size.
        std::vector<std::int64_t> wanted;
        wanted.reserve(uids.size());
        for (auto uid : uids) {
          wanted.push_back(d::value_of(uid));
        }
        Params params;
        params.add(d::value_of(mailbox));
        params.add(wanted);
        TERN_TRY(auto result, c.exec_binary(summary_query(what), params));
        Out out;
        out.reserve(static_cast<std::size_t>(result.size()));
        for (int i = 0; i < result.size(); ++i) {
          d::MessageSummary& s = out.emplace_back();
          // Binary results: integers arrive in network byte order.
          s.uid = d::Uid{static_cast<std::uint32_t>(result.be_int64(i, 0))};
          s.message = d::MessageId{result.be_int64(i, 1)};
          // Column 2 is a binary boolean. Without the part rows (facts that were
          // no readable record at append) column 6 is the whole record.
          d::fill_summary(s,
                          {result.view(i, 2) == std::string_view("\x01", 1), result.bytes(i, 3),
                           result.bytes(i, 4), result.bytes(i, 5), result.bytes(i, 6),
                           result.is_null(i, 7) ? std::nullopt
                                                : std::optional<std::string>(result.bytes(i, 7))},
                          what);
        }
        return out;
      },
      true);
}

// ----- domain::ReportStore: routed to report_tables.cpp

d::Async<void> PostgresStorage::record_dmarc(d::DmarcEvaluation evaluation) {
  return transaction<void>(
      [e = std::move(evaluation)](Connection& c) { return reports::record_dmarc(c, e); });
}

d::Async<void> PostgresStorage::record_tls(d::TlsSessionResult result) {
  return transaction<void>(
      [r = std::move(result)](Connection& c) { return reports::record_tls(c, r); });
}

d::Async<std::vector<std::string>> PostgresStorage::dmarc_domains(SystemTime begin,
                                                                  SystemTime end) {
  return transaction<std::vector<std::string>>(
      [begin, end](Connection& c) { return reports::dmarc_domains(c, begin, end); }, true);
}

d::Async<d::DmarcAggregate> PostgresStorage::dmarc_aggregate(std::string domain, SystemTime begin,
                                                             SystemTime end) {
  return transaction<d::DmarcAggregate>(
      [domain = std::move(domain), begin, end](Connection& c) {
        return reports::dmarc_aggregate(c, domain, begin, end);
      },
      true);
}

d::Async<std::vector<std::string>> PostgresStorage::tls_domains(SystemTime begin, SystemTime end) {
  return transaction<std::vector<std::string>>(
      [begin, end](Connection& c) { return reports::tls_domains(c, begin, end); }, true);
}

d::Async<std::vector<d::TlsPolicySummary>> PostgresStorage::tls_summary(std::string domain,
                                                                        SystemTime begin,
                                                                        SystemTime end) {
  return transaction<std::vector<d::TlsPolicySummary>>(
      [domain = std::move(domain), begin, end](Connection& c) {
        return reports::tls_summary(c, domain, begin, end);
      },
      true);
}

d::Async<bool> PostgresStorage::store_received_report(d::ReceivedReport report) {
  return transaction<bool>(
      [r = std::move(report)](Connection& c) { return reports::store_received(c, r); });
}

d::Async<std::vector<d::ReceivedReport>> PostgresStorage::received_reports(
    d::ReceivedReportQuery query) {
  return transaction<std::vector<d::ReceivedReport>>(
      [query = std::move(query)](Connection& c) { return reports::received(c, query); }, true);
}

d::Async<std::optional<SystemTime>> PostgresStorage::report_cursor(std::string name) {
  return transaction<std::optional<SystemTime>>(
      [name = std::move(name)](Connection& c) { return reports::cursor(c, name); }, true);
}

d::Async<void> PostgresStorage::set_report_cursor(std::string name, SystemTime value) {
  return transaction<void>([name = std::move(name), value](Connection& c) {
    return reports::set_cursor(c, name, value);
  });
}

d::Async<bool> PostgresStorage::compare_and_set_report_cursor(std::string name,
                                                              std::optional<SystemTime> expected,
                                                              SystemTime value) {
  return transaction<bool>([name = std::move(name), expected, value](Connection& c) {
    return reports::compare_and_set_cursor(c, name, expected, value);
  });
}

d::Async<void> PostgresStorage::put_report_post(d::ReportPost post) {
  return transaction<void>(
      [p = std::move(post)](Connection& c) { return reports::put_post(c, p); });
}

d::Async<std::vector<d::ReportPost>> PostgresStorage::due_report_posts(SystemTime now,
                                                                       std::size_t limit) {
  return transaction<std::vector<d::ReportPost>>(
      [now, limit](Connection& c) { return reports::due_posts(c, now, limit); }, true);
}

d::Async<std::vector<d::ReportPost>> PostgresStorage::claim_report_posts(
    SystemTime now, std::size_t limit, std::chrono::seconds lease) {
  return transaction<std::vector<d::ReportPost>>(
      [now, limit, lease](Connection& c) { return reports::claim_posts(c, now, limit, lease); });
}

d::Async<void> PostgresStorage::remove_report_post(std::string uri, std::string report_id) {
  return transaction<void>([uri = std::move(uri), id = std::move(report_id)](Connection& c) {
    return reports::remove_post(c, uri, id);
  });
}

d::Async<std::uint64_t> PostgresStorage::prune_reports(SystemTime before) {
  return transaction<std::uint64_t>([before](Connection& c) { return reports::prune(c, before); });
}

// ----- domain::SpamStore

d::Async<d::SpamCounts> PostgresStorage::spam_counts(std::optional<d::AccountId> account,
                                                     std::vector<std::uint64_t> tokens) {
  return transaction<d::SpamCounts>([account, tokens = std::move(tokens)](
                                        Connection& c) { return spam::counts(c, account, tokens); },
                                    true);
}

d::Async<d::SpamLearned> PostgresStorage::learn_spam(d::SpamLesson lesson) {
  return transaction<d::SpamLearned>(
      [lesson = std::move(lesson)](Connection& c) { return spam::learn(c, lesson); });
}

d::Async<bool> PostgresStorage::forget_spam(std::optional<d::AccountId> account,
                                            std::string message_key,
                                            std::vector<std::uint64_t> tokens) {
  return transaction<bool>([account, key = std::move(message_key), tokens = std::move(tokens)](
                               Connection& c) { return spam::forget(c, account, key, tokens); });
}

d::Async<d::SpamModelStats> PostgresStorage::spam_stats(std::optional<d::AccountId> account) {
  return transaction<d::SpamModelStats>(
      [account](Connection& c) { return spam::stats(c, account); }, true);
}

d::Async<void> PostgresStorage::reset_spam_model(std::optional<d::AccountId> account) {
  return transaction<void>([account](Connection& c) { return spam::reset(c, account); });
}

// ----- domain::GreylistStore

d::Async<d::GreylistVerdict> PostgresStorage::check_greylist(d::GreylistTriplet triplet,
                                                             d::GreylistPolicy policy,
                                                             std::int64_t now) {
  return transaction<d::GreylistVerdict>(
      [t = std::move(triplet), policy, now](Connection& c) -> Result<d::GreylistVerdict> {
        // The triplet's attempts, on every node, one at a time (till commit).
        TERN_TRY_VOID(run(c, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                          t.client + '\n' + t.sender + '\n' + t.recipient));
        std::uint64_t client_passes = 0;
        if (policy.auto_allow_after > 0) {
          TERN_TRY(auto passes, scalar(c,
                                       "SELECT count(*) FROM greylist WHERE client = $1 AND "
                                       "passed",
                                       t.client));
          client_passes = static_cast<std::uint64_t>(passes.value_or(0));
        }
        TERN_TRY(auto found, c.query("SELECT first_seen, last_seen, passed FROM greylist "
                                     "WHERE client = $1 AND sender = $2 AND recipient = $3",
                                     t.client, t.sender, t.recipient));
        std::optional<d::GreylistRecord> record;
        if (!found.empty()) {
          record = d::GreylistRecord{found.int64(0, 0), found.int64(0, 1), found.boolean(0, 2)};
        }
        auto decision = d::decide_greylist(record, client_passes, policy, now);
        TERN_TRY_VOID(run(c,
                          "INSERT INTO greylist (client, sender, recipient, first_seen, last_seen, "
                          "passed) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client, sender, "
                          "recipient) DO UPDATE SET first_seen = excluded.first_seen, "
                          "last_seen = excluded.last_seen, passed = excluded.passed",
                          t.client, t.sender, t.recipient, decision.record.first_seen,
                          decision.record.last_seen, decision.record.passed));
        return decision.verdict;
      });
}

d::Async<std::uint64_t> PostgresStorage::purge_greylist(std::int64_t before) {
  return transaction<std::uint64_t>([before](Connection& c) -> Result<std::uint64_t> {
    TERN_TRY(auto purged, scalar(c,
                                 "WITH gone AS (DELETE FROM greylist WHERE last_seen < $1 "
                                 "RETURNING 1) SELECT count(*) FROM gone",
                                 before));
    return static_cast<std::uint64_t>(purged.value_or(0));
  });
}

// ----- domain::StoreImport

d::Async<d::Mailbox> PostgresStorage::import_mailbox(d::AccountId account, d::Mailbox mailbox) {
  return transaction<d::Mailbox>([account, mailbox](Connection& c) -> Result<d::Mailbox> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    const auto name = canonical_mailbox_name(mailbox.name);
    if (!is_valid_mailbox_name(name) || d::value_of(mailbox.uid_next) == 0) {
      return Error{ErrorCode::kInvalidInput, "invalid mailbox to import: " + name};
    }
    const auto keywords = join_keywords(d::normalize_keywords(mailbox.keywords));
    TERN_TRY(auto existing,
             scalar(c, "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2",
                    d::value_of(account), name));
    if (existing) {
      TERN_TRY(auto used,
               scalar(c, "SELECT 1 FROM entries WHERE mailbox_id = $1 LIMIT 1", *existing));
      if (used) {
        return Error{ErrorCode::kAlreadyExists, "mailbox holds mail: " + name};
      }
      TERN_TRY_VOID(run(c,
                        "UPDATE mailboxes SET special_use = $2, uid_validity = $3, uid_next = $4, "
                        "highest_modseq = $5, subscribed = $6, keywords = $7 WHERE id = $1",
                        *existing, static_cast<int>(mailbox.special_use),
                        d::value_of(mailbox.uid_validity), d::value_of(mailbox.uid_next),
                        d::value_of(mailbox.highest_modseq), mailbox.subscribed, keywords));
    } else {
      TERN_TRY(existing, scalar(c,
                                "INSERT INTO mailboxes (account_id, name, special_use, "
                                "uid_validity, uid_next, highest_modseq, subscribed, keywords) "
                                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                                d::value_of(account), name, static_cast<int>(mailbox.special_use),
                                d::value_of(mailbox.uid_validity), d::value_of(mailbox.uid_next),
                                d::value_of(mailbox.highest_modseq), mailbox.subscribed, keywords));
    }
    // New mailboxes must still get UIDVALIDITYs above every imported one.
    TERN_TRY_VOID(run(c,
                      "UPDATE meta SET value = greatest(value, $1::bigint) WHERE key = "
                      "'uid_validity'",
                      d::value_of(mailbox.uid_validity)));
    return owned_mailbox(c, account, d::MailboxId{existing.value_or(0)});
  });
}

d::Async<d::MessageId> PostgresStorage::import_message(d::AccountId account, d::NewMessage message,
                                                       std::vector<d::ImportEntry> entries) {
  if (entries.empty()) {
    return make_ready_future<Result<d::MessageId>>(
        Error{ErrorCode::kInvalidInput, "import without entries"});
  }
  auto hex = sha256_hex(message.raw);
  if (auto stored = store_blob_file(hex, message.raw); !stored) {
    return make_ready_future<Result<d::MessageId>>(stored.error());
  }
  std::optional<mime::facts::SplitFacts> split;
  if (auto parts = mime::facts::split_facts(message.facts)) {
    split = std::move(*parts);
    message.facts = split->record;
  }
  return transaction<d::MessageId>([this, account, hex, message = std::move(message),
                                    split = std::move(split), entries = std::move(entries),
                                    in_file = blob_dir_ !=
                                              nullptr](Connection& c) -> Result<d::MessageId> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    for (const auto& entry : entries) {
      TERN_TRY(auto box, owned_mailbox(c, account, entry.mailbox));
      if (d::value_of(entry.uid) == 0 || d::value_of(entry.uid) >= d::value_of(box.uid_next)) {
        return Error{ErrorCode::kInvalidInput, "imported UID outside the mailbox's range"};
      }
      TERN_TRY(auto taken, scalar(c, "SELECT 1 FROM entries WHERE mailbox_id = $1 AND uid = $2",
                                  d::value_of(entry.mailbox), d::value_of(entry.uid)));
      if (taken) {
        return Error{ErrorCode::kAlreadyExists,
                     "UID taken: " + std::to_string(d::value_of(entry.uid))};
      }
    }
    const auto size = static_cast<std::uint64_t>(message.raw.size());
    TERN_TRY_VOID(reference_blob(c, hex, message.raw, 1, options_.chunk_bytes, in_file));
    TERN_TRY(auto id, scalar(c,
                             "INSERT INTO messages (account_id, blob, size, internal_date, facts, "
                             "entry_count) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                             d::value_of(account), hex, size, ticks(message.internal_date),
                             Bytes{message.facts}, static_cast<std::int64_t>(entries.size())));
    const auto message_id = id.value_or(0);
    if (split) {
      TERN_TRY_VOID(run(c,
                        "INSERT INTO message_envelopes (message_id, envelope, order_keys) "
                        "VALUES ($1, $2, CASE WHEN $3::boolean THEN $4::bytea END)",
                        message_id, Bytes{split->envelope}, split->has_order, Bytes{split->order}));
      if (split->has_search) {
        TERN_TRY_VOID(
            run(c, "INSERT INTO message_search_headers (message_id, headers) VALUES ($1, $2)",
                message_id, Bytes{split->search_headers}));
        TERN_TRY_VOID(run(c, "INSERT INTO message_search_text (message_id, text) VALUES ($1, $2)",
                          message_id, Bytes{split->search_text}));
      }
    }
    for (const auto& entry : entries) {
      TERN_TRY_VOID(run(c,
                        "INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, "
                        "keywords, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        d::value_of(entry.mailbox), d::value_of(entry.uid), message_id,
                        ticks(entry.save_date), static_cast<int>(entry.flags & d::kAllFlags),
                        join_keywords(d::normalize_keywords(entry.keywords)),
                        d::value_of(entry.modseq)));
    }
    TERN_TRY_VOID(run(c, "UPDATE accounts SET used_bytes = used_bytes + $2 WHERE id = $1",
                      d::value_of(account), size * entries.size()));
    return d::MessageId{message_id};
  });
}

d::Async<void> PostgresStorage::import_changes(d::AccountId account,
                                               std::vector<d::AccountChange> changes,
                                               d::ModSeq modseq) {
  return transaction<void>([account, changes = std::move(changes),
                            modseq](Connection& c) -> Result<void> {
    TERN_TRY_VOID(lock_account(c, account).transform([](const d::Account&) {}));
    for (const auto& change : changes) {
      TERN_TRY_VOID(log_change(c, account, change.modseq, change.mailbox, change.uid, change.kind));
      if (change.kind == d::ChangeKind::kMessageExpunged) {
        TERN_TRY_VOID(run(c,
                          "INSERT INTO tombstones (mailbox_id, uid, modseq) VALUES ($1, $2, $3) "
                          "ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
                          d::value_of(change.mailbox), d::value_of(change.uid),
                          d::value_of(change.modseq)));
      }
    }
    return run(c, "UPDATE accounts SET modseq = greatest(modseq, $2::bigint) WHERE id = $1",
               d::value_of(account), d::value_of(modseq));
  });
}

d::Async<d::RecordedReportRows> PostgresStorage::export_report_rows() {
  return transaction<d::RecordedReportRows>([](Connection& c) { return reports::export_rows(c); },
                                            true);
}

d::Async<void> PostgresStorage::import_report_rows(d::RecordedReportRows rows) {
  return transaction<void>(
      [rows = std::move(rows)](Connection& c) { return reports::import_rows(c, rows); });
}

d::Async<std::vector<d::SpamModelRows>> PostgresStorage::export_spam_models() {
  return transaction<std::vector<d::SpamModelRows>>(
      [](Connection& c) { return spam::export_models(c); }, true);
}

d::Async<void> PostgresStorage::import_spam_models(std::vector<d::SpamModelRows> models) {
  return transaction<void>(
      [models = std::move(models)](Connection& c) { return spam::import_models(c, models); });
}

d::Async<d::QueueId> PostgresStorage::import_queued(d::QueuedMessage entry, std::string raw) {
  if (entry.recipients.empty()) {
    return make_ready_future<Result<d::QueueId>>(Error{ErrorCode::kInvalidInput, "no recipients"});
  }
  auto hex = sha256_hex(raw);
  if (auto stored = store_blob_file(hex, raw); !stored) {
    return make_ready_future<Result<d::QueueId>>(stored.error());
  }
  return transaction<d::QueueId>([hex, entry = std::move(entry), raw = std::move(raw),
                                  chunk = options_.chunk_bytes, in_file = blob_dir_ != nullptr](
                                     Connection& c) -> Result<d::QueueId> {
    TERN_TRY_VOID(reference_blob(c, hex, raw, 1, chunk, in_file));
    // A lease belonged to the source's workers: an active entry arrives queued.
    const auto state = entry.state == d::QueueState::kActive ? d::QueueState::kQueued : entry.state;
    TERN_TRY(auto id,
             scalar(c,
                    "INSERT INTO queue (blob, size, sender, envid, ret, created, next_attempt, "
                    "attempts, state, lease_until, smtputf8, body_type, requiretls, submitter, "
                    "delay_warned) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, "
                    "$13, $14) RETURNING id",
                    hex, static_cast<std::uint64_t>(raw.size()), entry.sender, entry.envid,
                    entry.ret, ticks(entry.created), ticks(entry.next_attempt), entry.attempts,
                    static_cast<int>(state), entry.envelope.smtputf8,
                    static_cast<int>(entry.envelope.body), entry.envelope.requiretls,
                    entry.envelope.submitter, entry.delay_warned));
    d::QueueId queue_id{id.value_or(0)};
    TERN_TRY_VOID(store_recipients(c, queue_id, entry.recipients));
    return queue_id;
  });
}

}  // namespace tern::store::postgres
