// SPDX-License-Identifier: Apache-2.0
// A thin libpq wrapper for store::postgres: one PGconn, statements prepared once
// per connection and reused, typed parameter binding and row access, and the
// mapping from SQLSTATE to tern error codes. Not thread-safe: one thread uses a
// Connection at a time (the pool gives each thread its own).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"

struct pg_conn;
struct pg_result;

namespace tern::store::postgres {

// Binds as a binary `bytea` parameter (any bytes, NULs included).
struct Bytes {
  std::string_view data;
};

// The parameters of one statement, bound by value. Integers and booleans are sent
// as text (the server parses them against the prepared statement's types); text
// must not contain NUL (PostgreSQL text cannot hold it), which makes the
// statement fail with kInvalidInput instead of silently truncating.
class Params {
 public:
  void add(std::int64_t value) { text(std::to_string(value)); }

  void add(std::uint64_t value) { text(std::to_string(value)); }

  void add(int value) { text(std::to_string(value)); }

  void add(std::uint32_t value) { text(std::to_string(value)); }

  void add(bool value) { text(value ? "t" : "f"); }

  void add(std::string_view value);

  void add(const std::string& value) { add(std::string_view(value)); }

  void add(const char* value) { add(std::string_view(value)); }

  void add(Bytes value);
  // A bigint[] ("{1,2,3}"), for `= ANY($n)`.
  void add(const std::vector<std::int64_t>& values);
  // A text[] literal, each element quoted, for unnest().
  void add(const std::vector<std::string>& values);

  void add(std::nullopt_t) { values_.push_back(Value{std::nullopt, {}, 0}); }

  // Whether every value could be bound (no NUL in text).
  bool valid() const { return valid_; }

  std::size_t size() const { return values_.size(); }

  // One bound value (read by Connection when it sends the statement).
  struct Value {
    std::optional<std::string> owned;  // nullopt with empty view: SQL NULL
    std::string_view view;             // binary values borrowed from the caller
    int format = 0;                    // 0 text, 1 binary
  };

 private:
  friend class Connection;

  void text(std::string value) { values_.push_back(Value{std::move(value), {}, 0}); }

  std::vector<Value> values_;
  bool valid_ = true;
};

// The rows of one statement's result.
class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* result);

  int size() const { return rows_; }

  bool empty() const { return rows_ == 0; }

  bool is_null(int row, int column) const;
  std::string_view view(int row, int column) const;

  std::string text(int row, int column) const { return std::string(view(row, column)); }

  std::int64_t int64(int row, int column) const;

  std::uint64_t uint64(int row, int column) const {
    return static_cast<std::uint64_t>(int64(row, column));
  }

  bool boolean(int row, int column) const { return view(row, column) == "t"; }

  // An int8 column of a binary-format result (network byte order).
  std::int64_t be_int64(int row, int column) const;
  // A bytea column: raw bytes in a binary-format result, decoded from the "\x..."
  // hex form in a text-format one.
  std::string bytes(int row, int column) const;

  // The affected-row count of an INSERT/UPDATE/DELETE.
  std::uint64_t affected() const { return affected_; }

 private:
  std::shared_ptr<pg_result> result_;
  int rows_ = 0;
  std::uint64_t affected_ = 0;
  bool binary_ = false;
};

// One statement of a pipeline.
struct Statement {
  std::string sql;
  Params params;
};

class Connection {
 public:
  // Connects, and when `schema` is non-empty makes it the session's search_path
  // (the caller creates it). kIo if the server cannot be reached.
  static Result<std::unique_ptr<Connection>> open(const std::string& conninfo,
                                                  const std::string& schema);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement, prepared on first use and reused after. Errors carry the
  // SQLSTATE's meaning: 23505 kAlreadyExists, 40001/40P01 kTemporary (the
  // transaction must be retried), a lost connection kTemporary, other kIo.
  Result<Rows> exec(std::string_view sql, const Params& params);

  template <class... Args>
  Result<Rows> query(std::string_view sql, const Args&... args) {
    Params params;
    (params.add(args), ...);
    return exec(sql, params);
  }

  // The same, asking for binary-format results (for bytea columns).
  Result<Rows> exec_binary(std::string_view sql, const Params& params);

  // Sends every statement before reading any answer (libpq pipeline mode): one
  // round trip for the lot, in order. The first failure is returned (the
  // statements after it were not run) and the transaction is then aborted.
  Result<std::vector<Rows>> pipeline(const std::vector<Statement>& statements);

  // Runs SQL text through the simple-query protocol (several statements, no
  // parameters): BEGIN/COMMIT, migrations.
  Result<void> script(std::string_view sql);

  // The schema given to open() ("" = the server's default search_path).
  const std::string& schema() const { return schema_; }

  // The accounts the open transaction announced with pg_notify(), for the
  // store's record of its own notifications; the store clears it at BEGIN.
  std::vector<std::int64_t>& announced() { return announced_; }

  // Quotes an identifier (schema name) for SQL text.
  std::string quote_identifier(std::string_view name);

  // The SQLSTATE of the last failed statement ("" if none or not from the server).
  const std::string& last_sqlstate() const { return last_sqlstate_; }

  // True when the last failure was a serialization failure or a deadlock: the
  // whole transaction may be retried.
  bool retryable() const { return last_sqlstate_ == "40001" || last_sqlstate_ == "40P01" || lost_; }

  // The server process serving this connection (PQbackendPID).
  int backend_pid() const;

  // Whether the connection is usable; false after the server went away.
  bool healthy() const;
  // Re-establishes a broken connection (prepared statements are prepared again).
  Result<void> reset();

 private:
  Connection(pg_conn* conn, std::string schema);
  Result<Rows> run(std::string_view sql, const Params& params, int result_format);
  // The rows of a finished statement, or its error (the result is freed).
  Result<Rows> take(pg_result* result);
  // The name of the statement prepared for `sql`, preparing it on first use.
  Result<std::string> prepare(std::string_view sql, const Params& params);
  Result<void> apply_schema();
  Error error_of(pg_result* result, std::string_view what);

  pg_conn* conn_ = nullptr;
  std::string schema_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  std::string last_sqlstate_;
  std::vector<std::int64_t> announced_;
  bool lost_ = false;
};

}  // namespace tern::store::postgres
