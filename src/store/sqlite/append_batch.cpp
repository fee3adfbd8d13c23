// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/append_batch.hpp"

#include <algorithm>
#include <chrono>

#include "domain/flags.hpp"

namespace tern::store::sqlite {

namespace d = tern::domain;

Result<void> define_keywords(Connection& c, std::int64_t box,
                             const std::vector<std::string>& keywords) {
  if (keywords.empty()) {
    return ok();
  }
  auto stmt = c.query("SELECT keywords FROM mailboxes WHERE id = ?1", box);
  if (!stmt) {
    return stmt.error();
  }
  auto row = stmt->next();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return ok();  // the caller reports the missing mailbox
  }
  // Sorted on read: the migration that filled the column could not promise order.
  auto defined = d::normalize_keywords(split_keywords(stmt->text(0)));
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

std::int64_t now_seconds_ticks() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now())
      .time_since_epoch()
      .count();
}

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

  // Pass 2: the rows. Small bytes go to one message_bytes row that the message
  // rows (one per account) share; a blob file takes one blobs reference per
  // message row. Small bytes are not looked up by hash: that index took a random
  // page per append (migration 0010).
  std::int64_t bytes_id = 0;  // rowids start at 1
  if (!accounts.empty()) {
    if (request.span) {
      TERN_TRY_VOID(
          c.run("INSERT INTO message_bytes (refs, data, segment, seg_offset, seg_length) "
                "VALUES (?1, x'', ?2, ?3, ?4)",
                static_cast<std::int64_t>(accounts.size()), request.span->segment,
                request.span->offset, request.span->length));
      bytes_id = c.last_insert_rowid();
    } else if (inline_blob != nullptr) {
      TERN_TRY_VOID(c.run("INSERT INTO message_bytes (refs, data) VALUES (?1, ?2)",
                          static_cast<std::int64_t>(accounts.size()),
                          AsBlob{inline_blob->inline_bytes}));
      bytes_id = c.last_insert_rowid();
    } else {
      TERN_TRY_VOID(reference_blob(c, request.hex, request.size,
                                   static_cast<std::int64_t>(accounts.size()), nullptr));
    }
  }
  for (auto& [owner, count] : accounts) {
    TERN_TRY_VOID(
        c.run("INSERT INTO messages (account_id, blob, size, internal_date, facts, entry_count, "
              "bytes_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0))",
              owner->id, request.hex, request.size, request.internal_date,
              AsBlob{request.split ? std::string_view("") : std::string_view(request.facts)}, count,
              bytes_id));
    count = c.last_insert_rowid();  // from here on: the message id
    if (request.split) {
      TERN_TRY_VOID(c.run("INSERT INTO message_records (message_id, record) VALUES (?1, ?2)", count,
                          AsBlob{request.facts}));
      TERN_TRY_VOID(c.run("INSERT INTO message_envelopes (message_id, envelope) VALUES (?1, ?2)",
                          count, AsBlob{request.split->envelope}));
      if (request.split->has_search) {
        TERN_TRY_VOID(
            c.run("INSERT INTO message_search_headers (message_id, headers) VALUES (?1, ?2)", count,
                  AsBlob{request.split->search_headers}));
        TERN_TRY_VOID(c.run("INSERT INTO message_search_text (message_id, text) VALUES (?1, ?2)",
                            count, AsBlob{request.split->search_text}));
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
    TERN_TRY_VOID(c.run(
        "INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, modseq) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        box.id, uid, message, save_date, static_cast<int>(target.flags & d::kAllFlags),
        join_keywords(d::normalize_keywords(target.keywords)), modseq));
    TERN_TRY_VOID(define_keywords(c, box.id, d::normalize_keywords(target.keywords)));
    TERN_TRY_VOID(
        c.run("INSERT INTO changes (account_id, modseq, mailbox_id, uid, kind) "
              "VALUES (?1, ?2, ?3, ?4, ?5)",
              owner.id, modseq, box.id, uid, static_cast<int>(d::ChangeKind::kMessageAdded)));
    out.emplace_back(
        d::Appended{target.mailbox, d::Uid{uid}, d::ModSeq{modseq}, d::MessageId{message}});
  }
  return out;
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
