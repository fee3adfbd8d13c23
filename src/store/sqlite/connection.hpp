// SPDX-License-Identifier: Apache-2.0
// A thin RAII layer over one sqlite3 connection: prepared-statement cache, typed
// binding and SQLite result codes mapped to tern ErrorCodes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "base/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace tern::store::sqlite {

// Maps an SQLite result code to a tern Error: BUSY/LOCKED -> kTemporary,
// FULL/IOERR/CANTOPEN -> kIo, CORRUPT/NOTADB -> kCorrupt, CONSTRAINT -> kConflict,
// anything else -> kInternal. `context` prefixes the message.
Error sqlite_error(int code, std::string_view context, std::string_view detail = {});

// A cached prepared statement in use. Binding happens in Connection::query();
// step with next(). Destroying the Statement resets it (and so ends any implicit
// read transaction it held), ready for the next use.
// Lifetime: must not outlive its Connection. Not thread-safe.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Steps once: true when a row is available, false when done; an error otherwise.
  Result<bool> next();
  // Steps until done; for statements that return no rows (or whose rows are unused).
  Result<void> done();

  std::int64_t int64(int column) const;

  std::uint64_t uint64(int column) const { return static_cast<std::uint64_t>(int64(column)); }

  std::string text(int column) const;  // TEXT or BLOB bytes; "" for NULL
  bool is_null(int column) const;

  void bind(int index, std::int64_t value);
  void bind(int index, std::string_view value);       // bound as TEXT, copied
  void bind_blob(int index, std::string_view value);  // not copied: see AsBlob
  void bind_null(int index);

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// Marks a query() argument to be bound as a BLOB rather than TEXT (STRICT tables
// refuse TEXT in a BLOB column). The bytes are bound without a copy, so they must
// stay alive and unchanged until the Statement is destroyed: always true for
// run() and scalar(); with query(), the bytes must outlive the Statement.
struct AsBlob {
  std::string_view bytes;
};

// One connection to tern.db. Not thread-safe: each thread owns its own (the writer
// thread one, each reader thread one).
class Connection {
 public:
  // Opens (creating if asked) the database at `path` with foreign keys on and a
  // busy timeout, through SQLite's VFS named `vfs` (null: the default one). kIo
  // if it cannot be opened.
  static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& path, bool create,
                                                  const char* vfs = nullptr);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements with no parameters and no rows (DDL, PRAGMA, BEGIN).
  Result<void> exec(std::string_view sql);

  // Prepares (once per connection, then cached) `sql`, binds `args` to ?1..?N and
  // returns the statement ready to step. Arguments: integers (any width; unsigned
  // values are stored as their int64 bit pattern), std::string / std::string_view
  // / const char* (TEXT), AsBlob (BLOB) and std::nullopt (NULL).
  template <class... Args>
  Result<Statement> query(std::string_view sql, const Args&... args) {
    auto stmt = prepare(sql);
    if (!stmt) {
      return stmt.error();
    }
    int index = 1;
    (bind_one(*stmt, index++, args), ...);
    return stmt;
  }

  // Runs `sql` to completion (no rows expected).
  template <class... Args>
  Result<void> run(std::string_view sql, const Args&... args) {
    auto stmt = query(sql, args...);
    if (!stmt) {
      return stmt.error();
    }
    return stmt->done();
  }

  // The first column of the first row as an integer, or nullopt when no row.
  template <class... Args>
  Result<std::optional<std::int64_t>> scalar(std::string_view sql, const Args&... args) {
    auto stmt = query(sql, args...);
    if (!stmt) {
      return stmt.error();
    }
    auto row = stmt->next();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return std::optional<std::int64_t>();
    }
    return std::optional<std::int64_t>(stmt->int64(0));
  }

  // Rows changed by the last INSERT/UPDATE/DELETE.
  int changes() const;
  std::int64_t last_insert_rowid() const;

  sqlite3* raw() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  Result<Statement> prepare(std::string_view sql);

  template <class T>
  static void bind_one(Statement& stmt, int index, const T& value) {
    if constexpr (std::is_same_v<T, std::nullopt_t>) {
      stmt.bind_null(index);
    } else if constexpr (std::is_same_v<T, AsBlob>) {
      stmt.bind_blob(index, value.bytes);
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      stmt.bind(index, static_cast<std::int64_t>(value));
    } else {
      stmt.bind(index, std::string_view(value));
    }
  }

  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

}  // namespace tern::store::sqlite
