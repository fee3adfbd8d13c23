// SPDX-License-Identifier: Apache-2.0
#include "store/postgres/connection.hpp"

#include <charconv>

#include <libpq-fe.h>

namespace tern::store::postgres {

// ----- Params

void Params::add(std::string_view value) {
  // libpq sends text parameters as C strings: a NUL would cut the value short
  // without an error, so such a value is refused instead.
  if (value.find('\0') != std::string_view::npos) {
    valid_ = false;
  }
  text(std::string(value));
}

void Params::add(Bytes value) {
  values_.push_back(Value{std::nullopt, value.data, 1});
  // A binary value's pointer may be null for an empty string; libpq needs a
  // non-null pointer to tell an empty value from SQL NULL.
  if (values_.back().view.data() == nullptr) {
    values_.back().view = std::string_view("", 0);  // NOLINT(bugprone-string-constructor)
  }
}

void Params::add(const std::vector<std::int64_t>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      literal += ',';
    }
    literal += std::to_string(values[i]);
  }
  literal += '}';
  text(std::move(literal));
}

void Params::add(const std::vector<std::string>& values) {
  // Array literal syntax: every element double-quoted, '"' and '\\' escaped.
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      literal += ',';
    }
    literal += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') {
        literal += '\\';
      }
      literal += c;
    }
    literal += '"';
    if (values[i].find('\0') != std::string::npos) {
      valid_ = false;
    }
  }
  literal += '}';
  text(std::move(literal));
}

// ----- Rows

Rows::Rows(pg_result* result)
    : result_(result, PQclear), rows_(PQntuples(result)), binary_(PQbinaryTuples(result) != 0) {
  const char* count = PQcmdTuples(result);
  if (count != nullptr && *count != '\0') {
    std::from_chars(count, count + std::char_traits<char>::length(count), affected_);
  }
}

bool Rows::is_null(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view Rows::view(int row, int column) const {
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::int64_t Rows::int64(int row, int column) const {
  auto text = view(row, column);
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::int64_t Rows::be_int64(int row, int column) const {
  auto raw = view(row, column);
  std::uint64_t value = 0;
  for (char c : raw) {
    value = value << 8 | static_cast<unsigned char>(c);
  }
  return static_cast<std::int64_t>(value);
}

std::string Rows::bytes(int row, int column) const {
  auto raw = view(row, column);
  if (binary_) {
    return std::string(raw);
  }
  // bytea_output = hex (the default since 9.0): "\x" then two hex digits a byte.
  if (raw.size() < 2 || raw[0] != '\\' || raw[1] != 'x') {
    return std::string(raw);
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    return (c | 0x20) - 'a' + 10;
  };
  std::string out;
  out.reserve((raw.size() - 2) / 2);
  for (std::size_t i = 2; i + 1 < raw.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(raw[i]) << 4 | nibble(raw[i + 1])));
  }
  return out;
}

// ----- Connection

Connection::Connection(pg_conn* conn, std::string schema)
    : conn_(conn), schema_(std::move(schema)) {}

Connection::~Connection() {
  if (conn_ != nullptr) {
    PQfinish(conn_);
  }
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& conninfo,
                                                     const std::string& schema) {
  pg_conn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) {
    return Error{ErrorCode::kIo, "postgres: out of memory"};
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return Error{ErrorCode::kIo, "postgres connect: " + message};
  }
  // Server notices (NOTICE: drop cascades to ...) are not errors; libpq would
  // print them on stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<Connection> connection(new Connection(conn, schema));
  TERN_TRY_VOID(connection->apply_schema());
  return connection;
}

Result<void> Connection::apply_schema() {
  // Timestamps are integers and text is bound as given, so only the session
  // settings that change what statements mean are pinned here.
  std::string setup = "SET client_encoding = 'UTF8'; SET bytea_output = 'hex';";
  // pg_stat_activity then tells tern's connections apart, store by store.
  auto* name = PQescapeLiteral(conn_, schema_.data(), schema_.size());
  if (name != nullptr) {
    setup += std::string(" SELECT set_config('application_name', 'tern:' || ") + name + ", false);";
    PQfreemem(name);
  }
  if (!schema_.empty()) {
    setup += " SET search_path TO " + quote_identifier(schema_) + ";";
  }
  return script(setup);
}

int Connection::backend_pid() const {
  return PQbackendPID(conn_);
}

bool Connection::healthy() const {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

Result<void> Connection::reset() {
  PQreset(conn_);
  prepared_.clear();
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Error{ErrorCode::kTemporary,
                 std::string("postgres reconnect: ") + PQerrorMessage(conn_)};
  }
  lost_ = false;
  return apply_schema();
}

std::string Connection::quote_identifier(std::string_view name) {
  char* quoted = PQescapeIdentifier(conn_, name.data(), name.size());
  if (quoted == nullptr) {
    return "\"\"";
  }
  std::string out = quoted;
  PQfreemem(quoted);
  return out;
}

Error Connection::error_of(pg_result* result, std::string_view what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state != nullptr ? state : "";
  std::string message =
      result != nullptr ? PQresultErrorMessage(result) : std::string(PQerrorMessage(conn_));
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    lost_ = true;
    return Error{ErrorCode::kTemporary, "postgres connection lost: " + message};
  }
  ErrorCode code = ErrorCode::kIo;
  if (last_sqlstate_ == "23505") {
    code = ErrorCode::kAlreadyExists;
  } else if (last_sqlstate_ == "40001" || last_sqlstate_ == "40P01" ||
             last_sqlstate_.starts_with("53") || last_sqlstate_.starts_with("57P")) {
    // Serialization failure, deadlock, insufficient resources, shutdown: the
    // same request may succeed later.
    code = ErrorCode::kTemporary;
  } else if (last_sqlstate_.starts_with("22")) {
    code = ErrorCode::kInvalidInput;  // data exception: a value the column refuses
  }
  return Error{code, std::string(what) + ": " + message};
}

Result<std::string> Connection::prepare(std::string_view sql, const Params& params) {
  if (!params.valid()) {
    return Error{ErrorCode::kInvalidInput, "text value contains NUL"};
  }
  std::string key(sql);
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = "t" + std::to_string(prepared_.size() + 1);
    pg_result* prepared =
        PQprepare(conn_, name.c_str(), key.c_str(), static_cast<int>(params.size()), nullptr);
    if (prepared == nullptr || PQresultStatus(prepared) != PGRES_COMMAND_OK) {
      auto error = error_of(prepared, "prepare");
      if (prepared != nullptr) {
        PQclear(prepared);
      }
      return error;
    }
    PQclear(prepared);
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  return it->second;
}

namespace {

// The C arrays PQexecPrepared / PQsendQueryPrepared take, pointing into `params`.
struct Bound {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;

  explicit Bound(const std::vector<Params::Value>& params)
      : values(params.size()), lengths(params.size()), formats(params.size()) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& v = params[i];
      if (v.owned) {
        values[i] = v.owned->c_str();
        lengths[i] = static_cast<int>(v.owned->size());
      } else if (v.format == 1) {
        values[i] = v.view.data();
        lengths[i] = static_cast<int>(v.view.size());
      } else {
        values[i] = nullptr;  // SQL NULL
      }
      formats[i] = v.format;
    }
  }
};

}  // namespace

Result<Rows> Connection::run(std::string_view sql, const Params& params, int result_format) {
  last_sqlstate_.clear();
  TERN_TRY(auto name, prepare(sql, params));
  Bound bound(params.values_);
  pg_result* result = PQexecPrepared(conn_, name.c_str(), static_cast<int>(bound.values.size()),
                                     bound.values.data(), bound.lengths.data(),
                                     bound.formats.data(), result_format);
  return take(result);
}

Result<Rows> Connection::take(pg_result* result) {
  auto status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    auto error = error_of(result, "postgres");
    if (result != nullptr) {
      PQclear(result);
    }
    return error;
  }
  return Rows(result);
}

Result<std::vector<Rows>> Connection::pipeline(const std::vector<Statement>& statements) {
  last_sqlstate_.clear();
  std::vector<std::string> names;
  names.reserve(statements.size());
  for (const auto& statement : statements) {
    TERN_TRY(auto name, prepare(statement.sql, statement.params));
    names.push_back(std::move(name));
  }
  if (PQenterPipelineMode(conn_) != 1) {
    return error_of(nullptr, "enter pipeline mode");
  }
  // Everything is sent before anything is read: one round trip for the lot. The
  // server's answers are small, so its output never fills while we still write.
  std::optional<Error> failure;
  for (std::size_t i = 0; i < statements.size() && !failure; ++i) {
    Bound bound(statements[i].params.values_);
    if (PQsendQueryPrepared(conn_, names[i].c_str(), static_cast<int>(bound.values.size()),
                            bound.values.data(), bound.lengths.data(), bound.formats.data(),
                            0) != 1) {
      failure = error_of(nullptr, "pipeline send");
    }
  }
  if (!failure && PQpipelineSync(conn_) != 1) {
    failure = error_of(nullptr, "pipeline sync");
  }
  std::vector<Rows> out;
  out.reserve(statements.size());
  // Read every result up to the sync point even after an error, so the
  // connection leaves pipeline mode clean.
  for (;;) {
    pg_result* result = PQgetResult(conn_);
    if (result == nullptr) {
      if (PQstatus(conn_) != CONNECTION_OK) {
        failure = error_of(nullptr, "pipeline");
        break;
      }
      continue;  // the end of one statement's results
    }
    const auto status = PQresultStatus(result);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      break;
    }
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      out.emplace_back(result);
    } else {
      if (!failure && status != PGRES_PIPELINE_ABORTED) {
        failure = error_of(result, "postgres");
      }
      PQclear(result);
    }
  }
  if (PQstatus(conn_) == CONNECTION_OK) {
    PQexitPipelineMode(conn_);
  }
  if (failure) {
    return *failure;
  }
  return out;
}

Result<Rows> Connection::exec(std::string_view sql, const Params& params) {
  return run(sql, params, 0);
}

Result<Rows> Connection::exec_binary(std::string_view sql, const Params& params) {
  return run(sql, params, 1);
}

Result<void> Connection::script(std::string_view sql) {
  last_sqlstate_.clear();
  std::string text(sql);
  return take(PQexec(conn_, text.c_str())).transform([](const Rows&) {});
}

}  // namespace tern::store::postgres
