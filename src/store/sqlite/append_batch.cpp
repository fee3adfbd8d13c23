// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/append_batch.hpp"

#include <algorithm>
#include <chrono>

#include "domain/flags.hpp"

namespace tern::store::sqlite {

namespace d = tern::domain;

Result<std::vector<std::string>> defined_keywords(Connection& c, std::int64_t box) {
  auto stmt = c.query("SELECT keywords FROM mailboxes WHERE id = ?1", box);
  if (!stmt) {
    return stmt.error();
  }
  auto row = stmt->next();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::vector<std::string>{};  // the caller reports the missing mailbox
  }
  // Sorted on read: the migration that filled the column could not promise order.
  return d::normalize_keywords(split_keywords(stmt->text(0)));
}

Result<void> define_keywords(Connection& c, std::int64_t box, std::vector<std::string>& keywords) {
  if (keywords.empty()) {
    return ok();
  }
  TERN_TRY(auto defined, defined_keywords(c, box));
  d::spell_as_defined(defined, keywords);
  return add_defined_keywords(c, box, std::move(defined), keywords);
}

Result<void> add_defined_keywords(Connection& c, std::int64_t box, std::vector<std::string> defined,
                                  const std::vector<std::string>& keywords) {
  if (!d::define_keywords(defined, keywords)) {
    return ok();
  }
  return c.run("UPDATE mailboxes SET keywords = ?2 WHERE id = ?1", box, join_keywords(defined));
}

Result<void> reference_blob(Connection& c, const std::string& hex, std::uint64_t size,
                            std::int64_t add_refs, const std::string* inline_bytes) {
  // The bytes go first, at the end of blob_bytes (cheap), so that a new blobs row
  // names them in the one upsert; the rare duplicate (the row existed) then
  // deletes them again.
  std::int64_t data_id = 0;  // rowids start at 1
  if (inline_bytes != nullptr) {
    TERN_TRY_VOID(c.run("INSERT INTO blob_bytes (data) VALUES (?1)", AsBlob{*inline_bytes}));
    data_id = c.last_insert_rowid();
  }
  TERN_TRY(auto stored, c.scalar("INSERT INTO blobs (hash, size, refs, data_id) "
                                 "VALUES (?1, ?2, ?3, nullif(?4, 0)) ON CONFLICT(hash) "
                                 "DO UPDATE SET refs = refs + ?3 RETURNING data_id",
                                 hex, size, add_refs, data_id));
  if (data_id != 0 && stored.value_or(0) != data_id) {
    TERN_TRY_VOID(c.run("DELETE FROM blob_bytes WHERE id = ?1", data_id));
  }
  return ok();
}

void finish_append(AppendRequest& request, const Error* error) {
  if (error != nullptr) {
    request.promise.set_value(*error);
  } else if (request.result) {
    request.promise.set_value(std::move(*request.result));
  } else {
    request.promise.set_value(Error{ErrorCode::kInternal, "append not run"});
  }
}

namespace {

// Now, whole seconds, in the ticks the entries' dates are stored in
// (SystemTime::duration, as sqlite_storage.cpp's ticks()).
std::int64_t now_seconds_ticks() {
  const SystemTime now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  return now.time_since_epoch().count();
}

// One multi-row INSERT per chunk of `rows`: the chunks are powers of two up to
// kMaxChunk, so a table needs at most a handful of prepared statements whatever
// the batch size. `bind(statement, first_parameter, row)` binds one row's
// `columns` values.
constexpr std::size_t kMaxChunk = 32;

class MultiInsert {
 public:
  MultiInsert(std::string_view head, int columns) : columns_(columns) {
    // "INSERT INTO t (a, b) VALUES (?,?),(?,?)…" for 1, 2, 4 … kMaxChunk rows.
    std::string row = "(";
    for (int i = 0; i < columns; ++i) {
      row += i == 0 ? "?" : ",?";
    }
    row += ")";
    for (std::size_t n = 1; n <= kMaxChunk; n *= 2) {
      std::string sql(head);
      for (std::size_t r = 0; r < n; ++r) {
        sql += r == 0 ? "" : ",";
        sql += row;
      }
      sql_.push_back(std::move(sql));
    }
  }

  template <class Row, class Bind>
  Result<void> run(Connection& c, const std::vector<Row>& rows, Bind bind) const {
    for (std::size_t done = 0; done < rows.size();) {
      std::size_t level = 0;
      while (level + 1 < sql_.size() && (std::size_t{2} << level) <= rows.size() - done) {
        ++level;
      }
      const std::size_t n = std::size_t{1} << level;
      TERN_TRY(auto stmt, c.query(sql_[level]));
      for (std::size_t r = 0; r < n; ++r) {
        bind(stmt, static_cast<int>(r) * columns_ + 1, rows[done + r]);
      }
      TERN_TRY_VOID(stmt.done());
      done += n;
    }
    return ok();
  }

 private:
  int columns_;
  std::vector<std::string> sql_;  // [k]: 2^k rows
};

}  // namespace

Result<AppendBatch::AccountState*> AppendBatch::account(Connection& c, std::int64_t id) {
  for (auto& state : accounts_) {
    if (state.id == id) {
      return &state;
    }
  }
  TERN_TRY(
      auto stmt,
      c.query("SELECT address, quota_bytes, used_bytes, modseq FROM accounts WHERE id = ?1", id));
  TERN_TRY(bool found, stmt.next());
  if (!found) {
    return static_cast<AccountState*>(nullptr);
  }
  AccountState& state = accounts_.emplace_back();
  state.id = id;
  state.address = stmt.text(0);
  state.quota_bytes = stmt.uint64(1);
  state.used_bytes = stmt.uint64(2);
  state.modseq = stmt.uint64(3);
  return &state;
}

Result<AppendBatch::MailboxState*> AppendBatch::mailbox(Connection& c, std::int64_t id) {
  for (auto& state : mailboxes_) {
    if (state.id == id) {
      return &state;
    }
  }
  TERN_TRY(auto stmt,
           c.query("SELECT account_id, uid_next, highest_modseq FROM mailboxes WHERE id = ?1", id));
  TERN_TRY(bool found, stmt.next());
  if (!found) {
    return static_cast<MailboxState*>(nullptr);
  }
  MailboxState& state = mailboxes_.emplace_back();
  state.id = id;
  state.account = stmt.int64(0);
  state.uid_next = static_cast<std::uint32_t>(stmt.int64(1));
  state.highest_modseq = stmt.uint64(2);
  return &state;
}

Result<AppendOutcome> AppendBatch::run(Connection& c, const AppendRequest& request,
                                       const TempBlob* inline_blob) {
  // Pass 1: decide every target in order, in memory. Quota counts the bytes of
  // the targets accepted before it, as if each had been stored already.
  struct Decision {
    AccountState* account = nullptr;  // null: refused, see `error`
    MailboxState* box = nullptr;
    std::optional<Error> error;
  };

  std::vector<Decision> decisions(request.targets.size());
  std::vector<std::pair<AccountState*, std::int64_t>> accounts;  // -> entry count, then id
  for (std::size_t i = 0; i < request.targets.size(); ++i) {
    const auto& target = request.targets[i];
    TERN_TRY(auto* owner, account(c, d::value_of(target.account)));
    TERN_TRY(auto* box, mailbox(c, d::value_of(target.mailbox)));
    // Another account's mailbox is reported as missing, so ids reveal nothing.
    if (owner == nullptr || box == nullptr || box->account != owner->id) {
      decisions[i].error = Error{ErrorCode::kNotFound, "no such mailbox"};
      continue;
    }
    if (owner->quota_bytes != 0 && owner->used_bytes + request.size > owner->quota_bytes) {
      decisions[i].error = Error{ErrorCode::kLimitExceeded, "over quota: " + owner->address};
      continue;
    }
    owner->used_bytes += request.size;
    owner->dirty = true;
    decisions[i].account = owner;
    decisions[i].box = box;
    auto it = std::find_if(accounts.begin(), accounts.end(),
                           [&](const auto& entry) { return entry.first == owner; });
    if (it == accounts.end()) {
      accounts.emplace_back(owner, 1);
    } else {
      ++it->second;
    }
  }

  // Pass 2: the rows, staged for write_rows(). Small bytes go to one
  // message_bytes row that the message rows (one per account) share; a blob file
  // takes one blobs reference per message row. Small bytes are not looked up by
  // hash: that index took a random page per append (migration 0010).
  std::int64_t bytes_id = 0;  // rowids start at 1
  if (!accounts.empty()) {
    if (request.span || inline_blob != nullptr) {
      TERN_TRY(bytes_id, take_bytes_id(c));
      BytesRow& row = bytes_rows_.emplace_back();
      row.id = bytes_id;
      row.refs = static_cast<std::int64_t>(accounts.size());
      if (request.span) {
        row.span = &*request.span;
      } else {
        row.data = inline_blob->inline_bytes;
      }
    } else {
      TERN_TRY_VOID(reference_blob(c, request.hex, request.size,
                                   static_cast<std::int64_t>(accounts.size()), nullptr));
    }
  }
  for (auto& [owner, count] : accounts) {
    TERN_TRY(const std::int64_t id, take_message_id(c));
    message_rows_.push_back(MessageRow{
        id, owner->id, request.hex, request.size, request.internal_date,
        request.split ? std::string_view("") : std::string_view(request.facts), count, bytes_id});
    count = id;  // from here on: the message id
    if (request.split) {
      record_rows_.push_back({id, request.facts});
      envelope_rows_.push_back({id, request.split->envelope,
                                request.split->has_order
                                    ? std::optional<std::string_view>(request.split->order)
                                    : std::nullopt});
      if (request.split->has_search) {
        search_header_rows_.push_back({id, request.split->search_headers});
        search_text_rows_.push_back({id, request.split->search_text});
      }
    }
  }

  AppendOutcome out;
  out.reserve(request.targets.size());
  const std::int64_t save_date = now_seconds_ticks();
  for (std::size_t i = 0; i < request.targets.size(); ++i) {
    auto& decision = decisions[i];
    if (decision.error) {
      out.emplace_back(std::move(*decision.error));
      continue;
    }
    const auto& target = request.targets[i];
    AccountState& owner = *decision.account;
    MailboxState& box = *decision.box;
    const std::int64_t message =
        std::find_if(accounts.begin(), accounts.end(), [&](const auto& entry) {
          return entry.first == &owner;
        })->second;
    // Every entry takes its own modseq (RFC 7162 §3.1.1: MODSEQ per change) and
    // the mailbox's next UID (RFC 9051 §2.3.1.1: strictly ascending).
    const std::uint64_t modseq = ++owner.modseq;
    const std::uint32_t uid = box.uid_next++;
    box.highest_modseq = modseq;
    box.dirty = true;
    auto keywords = d::normalize_keywords(target.keywords);
    TERN_TRY_VOID(define_keywords(c, box.id, keywords));
    entry_rows_.push_back(EntryRow{box.id, uid, message, save_date,
                                   static_cast<int>(target.flags & d::kAllFlags),
                                   join_keywords(keywords), modseq});
    change_rows_.push_back(ChangeRow{owner.id, modseq, box.id, uid});
    out.emplace_back(
        d::Appended{target.mailbox, d::Uid{uid}, d::ModSeq{modseq}, d::MessageId{message}});
  }
  return out;
}

Result<std::int64_t> AppendBatch::take_bytes_id(Connection& c) {
  if (!next_bytes_id_) {
    TERN_TRY(auto largest, c.scalar("SELECT coalesce(max(id), 0) FROM message_bytes"));
    next_bytes_id_ = largest.value_or(0) + 1;
  }
  return (*next_bytes_id_)++;
}

Result<std::int64_t> AppendBatch::take_message_id(Connection& c) {
  if (!next_message_id_) {
    // AUTOINCREMENT: above every id the table ever had, which sqlite_sequence
    // keeps (an explicit id raises it as SQLite's own choice would).
    TERN_TRY(auto largest,
             c.scalar("SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
                      "'messages'), 0), coalesce((SELECT max(id) FROM messages), 0))"));
    next_message_id_ = largest.value_or(0) + 1;
  }
  return (*next_message_id_)++;
}

void AppendBatch::unstage() {
  bytes_rows_.clear();
  message_rows_.clear();
  record_rows_.clear();
  envelope_rows_.clear();
  search_header_rows_.clear();
  search_text_rows_.clear();
  entry_rows_.clear();
  change_rows_.clear();
}

Result<void> AppendBatch::write_rows(Connection& c) {
  static const MultiInsert bytes_insert(
      "INSERT INTO message_bytes (id, refs, data, segment, seg_offset, seg_length) VALUES ", 6);
  static const MultiInsert messages_insert(
      "INSERT INTO messages (id, account_id, blob, size, internal_date, facts, entry_count, "
      "bytes_id) VALUES ",
      8);
  static const MultiInsert records_insert(
      "INSERT INTO message_records (message_id, record) VALUES ", 2);
  static const MultiInsert envelopes_insert(
      "INSERT INTO message_envelopes (message_id, envelope, order_keys) VALUES ", 3);
  static const MultiInsert search_headers_insert(
      "INSERT INTO message_search_headers (message_id, headers) VALUES ", 2);
  static const MultiInsert search_text_insert(
      "INSERT INTO message_search_text (message_id, text) VALUES ", 2);
  static const MultiInsert entries_insert(
      "INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, modseq) "
      "VALUES ",
      7);
  static const MultiInsert changes_insert(
      "INSERT INTO changes (account_id, modseq, mailbox_id, uid, kind) VALUES ", 5);
  auto summary = [](Statement& stmt, int at, const SummaryRow& row) {
    stmt.bind(at, row.message);
    stmt.bind_blob(at + 1, row.value);
  };
  // Parents first: messages name their bytes, entries their message.
  TERN_TRY_VOID(bytes_insert.run(c, bytes_rows_, [](Statement& stmt, int at, const BytesRow& row) {
    stmt.bind(at, row.id);
    stmt.bind(at + 1, row.refs);
    stmt.bind_blob(at + 2, row.data);
    if (row.span != nullptr) {
      stmt.bind(at + 3, row.span->segment);
      stmt.bind(at + 4, static_cast<std::int64_t>(row.span->offset));
      stmt.bind(at + 5, static_cast<std::int64_t>(row.span->length));
    } else {
      stmt.bind_null(at + 3);
      stmt.bind_null(at + 4);
      stmt.bind_null(at + 5);
    }
  }));
  TERN_TRY_VOID(
      messages_insert.run(c, message_rows_, [](Statement& stmt, int at, const MessageRow& row) {
        stmt.bind(at, row.id);
        stmt.bind(at + 1, row.account);
        stmt.bind(at + 2, row.hex);
        stmt.bind(at + 3, static_cast<std::int64_t>(row.size));
        stmt.bind(at + 4, row.internal_date);
        stmt.bind_blob(at + 5, row.facts);
        stmt.bind(at + 6, row.entry_count);
        if (row.bytes_id != 0) {
          stmt.bind(at + 7, row.bytes_id);
        } else {
          stmt.bind_null(at + 7);
        }
      }));
  TERN_TRY_VOID(records_insert.run(c, record_rows_, summary));
  TERN_TRY_VOID(
      envelopes_insert.run(c, envelope_rows_, [](Statement& stmt, int at, const EnvelopeRow& row) {
        stmt.bind(at, row.message);
        stmt.bind_blob(at + 1, row.envelope);
        if (row.order) {
          stmt.bind_blob(at + 2, *row.order);
        } else {
          stmt.bind_null(at + 2);
        }
      }));
  TERN_TRY_VOID(search_headers_insert.run(c, search_header_rows_, summary));
  TERN_TRY_VOID(search_text_insert.run(c, search_text_rows_, summary));
  TERN_TRY_VOID(
      entries_insert.run(c, entry_rows_, [](Statement& stmt, int at, const EntryRow& row) {
        stmt.bind(at, row.box);
        stmt.bind(at + 1, static_cast<std::int64_t>(row.uid));
        stmt.bind(at + 2, row.message);
        stmt.bind(at + 3, row.save_date);
        stmt.bind(at + 4, static_cast<std::int64_t>(row.flags));
        stmt.bind(at + 5, std::string_view(row.keywords));
        stmt.bind(at + 6, static_cast<std::int64_t>(row.modseq));
      }));
  TERN_TRY_VOID(
      changes_insert.run(c, change_rows_, [](Statement& stmt, int at, const ChangeRow& row) {
        stmt.bind(at, row.account);
        stmt.bind(at + 1, static_cast<std::int64_t>(row.modseq));
        stmt.bind(at + 2, row.box);
        stmt.bind(at + 3, static_cast<std::int64_t>(row.uid));
        stmt.bind(at + 4, static_cast<std::int64_t>(d::ChangeKind::kMessageAdded));
      }));
  unstage();
  return ok();
}

bool AppendBatch::dirty() const {
  return std::any_of(accounts_.begin(), accounts_.end(), [](const auto& a) { return a.dirty; }) ||
         std::any_of(mailboxes_.begin(), mailboxes_.end(), [](const auto& m) { return m.dirty; });
}

Result<void> AppendBatch::flush(Connection& c) {
  for (auto& state : accounts_) {
    if (state.dirty) {
      TERN_TRY_VOID(c.run("UPDATE accounts SET modseq = ?2, used_bytes = ?3 WHERE id = ?1",
                          state.id, state.modseq, state.used_bytes));
      state.dirty = false;
    }
  }
  for (auto& state : mailboxes_) {
    if (state.dirty) {
      TERN_TRY_VOID(c.run("UPDATE mailboxes SET uid_next = ?2, highest_modseq = ?3 WHERE id = ?1",
                          state.id, state.uid_next, state.highest_modseq));
      state.dirty = false;
    }
  }
  return ok();
}

}  // namespace tern::store::sqlite
