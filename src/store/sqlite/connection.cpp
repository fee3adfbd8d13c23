// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/connection.hpp"

#include <sqlite3.h>

namespace tern::store::sqlite {

Error sqlite_error(int code, std::string_view context, std::string_view detail) {
  ErrorCode kind = ErrorCode::kInternal;
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      kind = ErrorCode::kTemporary;
      break;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      kind = ErrorCode::kIo;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      kind = ErrorCode::kCorrupt;
      break;
    case SQLITE_CONSTRAINT:
      kind = ErrorCode::kConflict;
      break;
    default:
      break;
  }
  std::string message(context);
  message += ": ";
  message += detail.empty() ? std::string_view(sqlite3_errstr(code)) : detail;
  return Error{kind, std::move(message)};
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Result<bool> Statement::next() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return sqlite_error(rc, "sqlite step", sqlite3_errmsg(db_));
}

Result<void> Statement::done() {
  while (true) {
    auto row = next();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return ok();
    }
  }
}

std::int64_t Statement::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::text(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) {
    return {};
  }
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

void Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
}

void Statement::bind(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void Statement::bind_blob(int index, std::string_view value) {
  // SQLITE_STATIC: blobs are message bytes; copying them once more per append
  // (a 4 KiB malloc, memcpy and free) showed in the profile. The caller keeps
  // them alive until the statement is reset (see AsBlob).
  // An empty view may have no data pointer, which SQLite would bind as NULL.
  sqlite3_bind_blob64(stmt_, index, value.data() != nullptr ? value.data() : "", value.size(),
                      SQLITE_STATIC);
}

void Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& path, bool create,
                                                     const char* vfs) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs);
  if (rc != SQLITE_OK) {
    auto error = sqlite_error(rc, "open " + path.string(), db ? sqlite3_errmsg(db) : "");
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  // Busy timeout: a second process (the CLI next to ternd) may hold the write lock
  // briefly; waiting beats failing.
  sqlite3_busy_timeout(db, 10000);
  std::unique_ptr<Connection> connection(new Connection(db));
  auto pragmas = connection->exec("PRAGMA foreign_keys = ON;");
  if (!pragmas) {
    return pragmas.error();
  }
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db_);
}

Result<void> Connection::exec(std::string_view sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string detail = message ? message : "";
    sqlite3_free(message);
    return sqlite_error(rc, "sqlite exec", detail);
  }
  return ok();
}

Result<Statement> Connection::prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      return sqlite_error(rc, "sqlite prepare", sqlite3_errmsg(db_));
    }
    it = cache_.emplace(std::string(sql), stmt).first;
  }
  return Statement(db_, it->second);
}

int Connection::changes() const {
  return sqlite3_changes(db_);
}

std::int64_t Connection::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

}  // namespace tern::store::sqlite
