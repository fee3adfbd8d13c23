// SPDX-License-Identifier: Apache-2.0
#include "config/config_file.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace tern::config {
namespace {

// Upper bounds that keep a typo ("io_threads = 40000") from becoming a resource
// exhaustion at start; generous enough for any real machine.
constexpr std::int64_t kMaxThreads = 1024;
constexpr std::int64_t kMaxStorePool = 256;
constexpr std::int64_t kMaxDrainSeconds = 3600;
constexpr std::int64_t kMaxConnections = 10'000'000;
constexpr std::int64_t kMaxArgon2MemoryKib = 4 * 1024 * 1024;  // 4 GiB
constexpr std::int64_t kMaxArgon2Iterations = 1000;
constexpr std::int64_t kMaxArgon2Parallelism = 255;
// SCRAM iteration bounds: RFC 7677 §4 minimum; the maximum matches sasl::kMaxScramIterations.
constexpr std::int64_t kMinScramIterations = 4096;
constexpr std::int64_t kMaxScramIterations = 10000000;
constexpr std::int64_t kMaxAuthFailures = 1000000;
constexpr std::int64_t kMaxAuthSeconds = 7 * 24 * 3600;  // a week
constexpr std::int64_t kMaxAuthDelaySeconds = 60;
constexpr std::size_t kMaxHostnameBytes = 253;  // RFC 1035 §2.3.4, without the final dot

struct Problem {
  std::uint32_t line = 1;
  std::string text;
};

// Collects problems so one run reports all of them, not just the first.
class Problems {
 public:
  void add(std::uint32_t line, std::string text) {
    items_.push_back(Problem{line == 0 ? 1 : line, std::move(text)});
  }

  bool empty() const { return items_.empty(); }

  std::string render(std::string_view file_name) {
    std::stable_sort(items_.begin(), items_.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    std::string out;
    for (const auto& item : items_) {
      if (!out.empty()) {
        out += '\n';
      }
      out += file_name;
      out += ':';
      out += std::to_string(item.line);
      out += ": ";
      out += item.text;
    }
    return out;
  }

 private:
  std::vector<Problem> items_;
};

std::uint32_t line_of(const toml::node& node) {
  return node.source().begin.line;
}

// "a string", "an integer", ... for "expected X, got Y" messages.
std::string_view type_phrase(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Quotes a value for a message, escaping what would break the one-line format.
std::string quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 1123 §2.1 host name: dot-separated labels of letters, digits and hyphens.
bool is_hostname(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostnameBytes) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!is_alnum(c) && c != '-') {
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

// Lexical path join: `relative` under `base` unless it is absolute. No disk access.
std::string resolve_path(std::string_view base, std::string_view relative) {
  std::filesystem::path path{std::string(relative)};
  if (path.is_relative() && !base.empty()) {
    path = std::filesystem::path{std::string(base)} / path;
  }
  std::string out = path.lexically_normal().string();
  // lexically_normal() keeps a trailing separator ("/etc/tern/." -> "/etc/tern/").
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  return out.empty() ? std::string(".") : out;
}

template <class E>
using Choices = std::initializer_list<std::pair<std::string_view, E>>;

// Reads one table: each read_* consumes a key and validates it; finish() reports
// every key nobody consumed. Missing keys keep the caller's default.
class TableReader {
 public:
  TableReader(Problems& problems, const toml::table* table, std::string prefix,
              std::uint32_t fallback_line)
      : problems_(problems),
        table_(table),
        prefix_(std::move(prefix)),
        fallback_line_(fallback_line) {}

  // The dotted key for messages: "server.hostname", "listener[2].tls".
  std::string path(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  // The line of `key`'s value, else of the table, else 1.
  std::uint32_t line(std::string_view key) const {
    if (const toml::node* node = find(key)) {
      return line_of(*node);
    }
    return table_line();
  }

  std::uint32_t table_line() const {
    if (table_ != nullptr && line_of(*table_) != 0) {
      return line_of(*table_);
    }
    return fallback_line_;
  }

  bool has(std::string_view key) const { return find(key) != nullptr; }

  void missing(std::string_view key) {
    problems_.add(table_line(), "missing key " + quote(path(key)));
  }

  void invalid(std::string_view key, std::string text) {
    problems_.add(line(key), path(key) + ": " + text);
  }

  // Returns the string, or nullopt (with a problem recorded if the key was present).
  std::optional<std::string> read_string(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) {
      return std::nullopt;
    }
    if (!node->is_string()) {
      wrong_type(key, *node, "a string");
      return std::nullopt;
    }
    std::string value = node->as_string()->get();
    if (has_control_char(value)) {
      invalid(key, "must not contain control characters, got " + quote(value));
      return std::nullopt;
    }
    return value;
  }

  void read_uint(std::string_view key, std::uint32_t& out, std::int64_t min, std::int64_t max) {
    const toml::node* node = take(key);
    if (node == nullptr) {
      return;
    }
    if (!node->is_integer()) {
      wrong_type(key, *node, "an integer");
      return;
    }
    std::int64_t value = node->as_integer()->get();
    if (value < min || value > max) {
      invalid(key, "expected an integer from " + std::to_string(min) + " to " +
                       std::to_string(max) + ", got " + std::to_string(value));
      return;
    }
    out = static_cast<std::uint32_t>(value);
  }

  void read_bool(std::string_view key, bool& out) {
    const toml::node* node = take(key);
    if (node == nullptr) {
      return;
    }
    if (!node->is_boolean()) {
      wrong_type(key, *node, "a boolean");
      return;
    }
    out = node->as_boolean()->get();
  }

  template <class E>
  bool read_enum(std::string_view key, E& out, Choices<E> choices) {
    std::optional<std::string> value = read_string(key);
    if (!value) {
      return false;
    }
    for (const auto& [name, choice] : choices) {
      if (*value == name) {
        out = choice;
        return true;
      }
    }
    std::string list;
    for (const auto& choice : choices) {
      if (!list.empty()) {
        list += ", ";
      }
      list += choice.first;
    }
    invalid(key, "expected one of " + list + ", got " + quote(*value));
    return false;
  }

  // Returns the array of strings, or nullopt (with a problem recorded if the key
  // was present but is not an array of strings).
  std::optional<std::vector<std::string>> read_string_list(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) {
      return std::nullopt;
    }
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      wrong_type(key, *node, "an array of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const toml::node& element : *array) {
      if (!element.is_string() || has_control_char(element.as_string()->get())) {
        invalid(key, "expected an array of strings");
        return std::nullopt;
      }
      out.push_back(element.as_string()->get());
    }
    return out;
  }

  // Reports every key not consumed by a read_*.
  void finish() {
    if (table_ == nullptr) {
      return;
    }
    for (auto&& [key, node] : *table_) {
      if (std::find(taken_.begin(), taken_.end(), key.str()) != taken_.end()) {
        continue;
      }
      std::uint32_t at = key.source().begin.line != 0 ? key.source().begin.line : line_of(node);
      std::string what = node.is_table() ? "unknown table " : "unknown key ";
      problems_.add(at, what + quote(path(key.str())));
    }
  }

 private:
  const toml::node* find(std::string_view key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }

  const toml::node* take(std::string_view key) {
    taken_.emplace_back(key);
    return find(key);
  }

  void wrong_type(std::string_view key, const toml::node& node, std::string_view expected) {
    invalid(key, "expected " + std::string(expected) + ", got " + std::string(type_phrase(node)));
  }

  Problems& problems_;
  const toml::table* table_;
  std::string prefix_;
  std::uint32_t fallback_line_;
  std::vector<std::string> taken_;
};

// Finds a top-level section; a non-table value under its name is a problem.
const toml::table* section(Problems& problems, const toml::table& root, std::string_view name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) {
    return nullptr;
  }
  if (!node->is_table()) {
    problems.add(line_of(*node),
                 std::string(name) + ": expected a table, got " + std::string(type_phrase(*node)));
    return nullptr;
  }
  return node->as_table();
}

void read_server(Problems& problems, const toml::table* table, std::string_view base_dir,
                 ServerSettings& out) {
  TableReader r(problems, table, "server", 1);
  if (auto hostname = r.read_string("hostname")) {
    std::string lower;
    for (char c : *hostname) {
      lower += ascii_lower(c);
    }
    if (is_hostname(lower)) {
      out.hostname = lower;
    } else {
      r.invalid("hostname", "expected a domain name, got " + quote(*hostname));
    }
  } else if (!r.has("hostname")) {
    r.missing("hostname");
  }
  std::string data_dir = ".";
  if (auto value = r.read_string("data_dir")) {
    if (value->empty()) {
      r.invalid("data_dir", "expected a path, got \"\"");
    } else {
      data_dir = *value;
    }
  }
  out.data_dir = resolve_path(base_dir, data_dir);
  for (std::string_view key : {"user", "group"}) {
    if (auto value = r.read_string(key)) {
      // Looked up with getpwnam/getgrnam later; these characters never occur in
      // a valid name and would only make the lookup's error message confusing.
      if (value->find_first_of(" :/") != std::string::npos) {
        r.invalid(key, "expected a user or group name, got " + quote(*value));
      } else {
        (key == "user" ? out.user : out.group) = *value;
      }
    }
  }
  r.read_uint("io_threads", out.io_threads, 0, kMaxThreads);
  r.read_uint("blocking_threads", out.blocking_threads, 1, kMaxThreads);
  std::uint32_t drain = static_cast<std::uint32_t>(out.drain_timeout.count());
  r.read_uint("drain_seconds", drain, 0, kMaxDrainSeconds);
  out.drain_timeout = std::chrono::seconds(drain);
  r.finish();
}

void read_log(Problems& problems, const toml::table* table, LogSettings& out) {
  TableReader r(problems, table, "log", 1);
  r.read_enum<log::Level>("level", out.level,
                          {{"debug", log::Level::kDebug},
                           {"info", log::Level::kInfo},
                           {"warn", log::Level::kWarn},
                           {"error", log::Level::kError}});
  r.read_enum<LogFormat>("format", out.format,
                         {{"text", LogFormat::kText}, {"json", LogFormat::kJson}});
  r.finish();
}

void read_tls(Problems& problems, const toml::table* table, std::string_view base_dir,
              TlsSettings& out) {
  TableReader r(problems, table, "tls", 1);
  for (std::string_view key : {"cert", "key"}) {
    if (auto value = r.read_string(key)) {
      if (value->empty()) {
        r.invalid(key, "expected a path, got \"\"");
      } else {
        (key == "cert" ? out.cert : out.key) = resolve_path(base_dir, *value);
      }
    }
  }
  if (r.has("cert") != r.has("key")) {
    r.missing(r.has("cert") ? "key" : "cert");
  }
  r.read_enum<TlsVersion>("min_version", out.min_version,
                          {{"1.2", TlsVersion::kTls12}, {"1.3", TlsVersion::kTls13}});
  r.finish();
}

void read_limits(Problems& problems, const toml::table* table, LimitSettings& out) {
  TableReader r(problems, table, "limits", 1);
  r.read_uint("max_connections", out.max_connections, 1, kMaxConnections);
  r.read_uint("max_connections_per_ip", out.max_connections_per_ip, 1, kMaxConnections);
  if (out.max_connections_per_ip > out.max_connections) {
    r.invalid("max_connections_per_ip", "must not exceed limits.max_connections (" +
                                            std::to_string(out.max_connections) + "), got " +
                                            std::to_string(out.max_connections_per_ip));
  }
  r.finish();
}

// [store] url, pool_size, schema: the PostgreSQL backend's keys (issue #9). The
// URL's syntax is libpq's to judge (at start, with its own message); here only
// what would otherwise fail obscurely: a missing URL, or one with another backend.
void read_postgres_keys(TableReader& r, std::string_view data_dir, StoreSettings& out) {
  const bool postgres = out.backend == StoreBackend::kPostgres;
  for (std::string_view key : {"url", "pool_size", "schema", "blob_dir"}) {
    if (!postgres && r.has(key)) {
      r.invalid(key, "only used with store.backend = \"postgres\"");
    }
  }
  if (auto value = r.read_string("url")) {
    bool url = value->starts_with("postgresql://") || value->starts_with("postgres://");
    if (!url && value->find('=') == std::string::npos) {
      r.invalid("url", "expected a postgresql:// URL or key=value connection string, got " +
                           quote(*value));
    } else {
      out.url = *value;
    }
  } else if (postgres && !r.has("url")) {
    r.missing("url");
  }
  r.read_uint("pool_size", out.pool_size, 1, kMaxStorePool);
  if (auto value = r.read_string("blob_dir")) {
    if (value->empty()) {
      r.invalid("blob_dir", "expected a path, got \"\"");
    } else {
      out.blob_dir = resolve_path(data_dir, *value);
    }
  }
  if (auto value = r.read_string("schema")) {
    // An SQL identifier tern quotes itself: letters, digits and "_" only, so it
    // never needs escaping and matches PostgreSQL's unquoted, lower-case form.
    bool plain = !value->empty() && value->size() <= 63 &&
                 std::all_of(value->begin(), value->end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                 });
    if (!plain || ((*value)[0] >= '0' && (*value)[0] <= '9')) {
      r.invalid("schema",
                "expected a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63), got " +
                    quote(*value));
    } else {
      out.schema = *value;
    }
  }
}

void read_store(Problems& problems, const toml::table* table, std::string_view data_dir,
                StoreSettings& out) {
  TableReader r(problems, table, "store", 1);
  r.read_enum<StoreBackend>("backend", out.backend,
                            {{"sqlite", StoreBackend::kSqlite},
                             {"memory", StoreBackend::kMemory},
                             {"postgres", StoreBackend::kPostgres}});
  std::string path = "store";
  if (auto value = r.read_string("path")) {
    if (value->empty()) {
      r.invalid("path", "expected a path, got \"\"");
    } else {
      path = *value;
    }
  }
  out.path = resolve_path(data_dir, path);
  r.read_bool("group_commit", out.group_commit);
  read_postgres_keys(r, data_dir, out);
  r.finish();
}

void read_auth(Problems& problems, const toml::table* table, AuthSettings& out) {
  TableReader r(problems, table, "auth", 1);
  // Bounds follow libargon2's own (ARGON2_MIN_MEMORY is 8 KiB per lane).
  r.read_uint("argon2_memory_kib", out.argon2_memory_kib, 8, kMaxArgon2MemoryKib);
  r.read_uint("argon2_iterations", out.argon2_iterations, 1, kMaxArgon2Iterations);
  r.read_uint("argon2_parallelism", out.argon2_parallelism, 1, kMaxArgon2Parallelism);
  if (static_cast<std::uint64_t>(out.argon2_memory_kib) <
      8 * static_cast<std::uint64_t>(out.argon2_parallelism)) {
    r.invalid("argon2_memory_kib",
              "must be at least 8 * auth.argon2_parallelism (" +
                  std::to_string(8 * static_cast<std::uint64_t>(out.argon2_parallelism)) +
                  "), got " + std::to_string(out.argon2_memory_kib));
  }
  r.read_bool("allow_plaintext_on_loopback", out.allow_plaintext_on_loopback);
  r.read_uint("scram_iterations", out.scram_iterations, kMinScramIterations, kMaxScramIterations);
  r.read_uint("failures_before_delay", out.failures_before_delay, 1, kMaxAuthFailures);
  r.read_uint("failures_before_block", out.failures_before_block, 1, kMaxAuthFailures);
  r.read_uint("user_failures_before_block", out.user_failures_before_block, 1, kMaxAuthFailures);
  if (out.failures_before_block < out.failures_before_delay) {
    r.invalid("failures_before_block", "must be at least auth.failures_before_delay (" +
                                           std::to_string(out.failures_before_delay) + "), got " +
                                           std::to_string(out.failures_before_block));
  }
  if (out.user_failures_before_block < out.failures_before_block) {
    r.invalid("user_failures_before_block", "must be at least auth.failures_before_block (" +
                                                std::to_string(out.failures_before_block) +
                                                "), got " +
                                                std::to_string(out.user_failures_before_block));
  }
  std::uint32_t seconds = static_cast<std::uint32_t>(out.failure_window.count());
  r.read_uint("failure_window_seconds", seconds, 1, kMaxAuthSeconds);
  out.failure_window = std::chrono::seconds(seconds);
  seconds = static_cast<std::uint32_t>(out.block_time.count());
  r.read_uint("block_seconds", seconds, 0, kMaxAuthSeconds);
  out.block_time = std::chrono::seconds(seconds);
  seconds = static_cast<std::uint32_t>(out.max_delay.count());
  // A delay holds a connection open: keep it well under the pre-auth timeouts.
  r.read_uint("max_delay_seconds", seconds, 0, kMaxAuthDelaySeconds);
  out.max_delay = std::chrono::seconds(seconds);
  r.finish();
}

void read_addressing(Problems& problems, const toml::table* table, AddressingSettings& out) {
  TableReader r(problems, table, "addressing", 1);
  if (auto value = r.read_string("subaddress_separator")) {
    // A separator must be a character that can appear in an unquoted local part
    // (RFC 5322 §3.2.3 atext) and not be a letter or digit, or ordinary
    // addresses would be split.
    constexpr std::string_view kAllowed = "+-_=#%&!$*/?^`{|}~";
    bool ok = value->size() <= 8;
    for (char c : *value) {
      ok = ok && kAllowed.find(c) != std::string_view::npos;
    }
    if (ok) {
      out.subaddress_separator = *value;
    } else {
      r.invalid("subaddress_separator", "expected \"\" or up to 8 of the characters " +
                                            std::string(kAllowed) + ", got " + quote(*value));
    }
  }
  r.finish();
}

// Splits "host:port" or "[v6]:port". Returns false when the shape is wrong.
bool parse_address(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    if (host.empty() || host.find(':') == std::string::npos) {
      return false;  // brackets are only for IPv6 literals
    }
    for (char c : host) {
      bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':' && c != '.') {
        return false;
      }
    }
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.empty()) {
      return false;
    }
    for (char c : host) {
      // A ':' here means an IPv6 address without brackets: ambiguous with the port.
      if (!is_alnum(c) && c != '.' && c != '-' && c != '_') {
        return false;
      }
    }
  }
  if (port_text.empty() || port_text.size() > 5) {
    return false;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool is_listener_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// Where a listener's tls key is, for the "needs tls.cert" check done after [tls].
struct ListenerLines {
  std::uint32_t tls_line = 1;
  std::string tls_key;  // "listener[2].tls"
};

// The longest path a sockaddr_un holds (108 bytes with the terminating NUL).
constexpr std::size_t kMaxSocketPath = 107;

// A user or group name as useradd(8) accepts it.
bool is_account_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 && name.front() != '-' &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// An octal string of 3 or 4 digits ("660", "0660"), at most 0777.
bool parse_socket_mode(std::string_view text, std::uint32_t& mode) {
  if (text.size() < 3 || text.size() > 4) {
    return false;
  }
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '7') {
      return false;
    }
    value = value * 8 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 0777) {
    return false;  // no setuid, setgid or sticky bits on a socket
  }
  mode = value;
  return true;
}

// A "unix:<path>" listener address. The path is resolved against data_dir.
void read_unix_address(TableReader& r, std::string_view text, std::string_view data_dir,
                       ListenerSettings& listener, bool& ok) {
  std::string_view path = text.substr(5);
  if (path.empty()) {
    r.invalid("address", "expected \"unix:<path>\", got " + quote(text));
    ok = false;
    return;
  }
  listener.unix_path = resolve_path(data_dir, path);
  if (listener.unix_path.size() > kMaxSocketPath) {
    r.invalid("address", "the socket path " + quote(listener.unix_path) + " is longer than " +
                             std::to_string(kMaxSocketPath) + " bytes");
    ok = false;
  }
}

// socket_mode, socket_owner and socket_group: only beside a "unix:" address.
void read_socket_keys(TableReader& r, ListenerSettings& listener, bool& ok) {
  for (std::string_view key : {"socket_mode", "socket_owner", "socket_group"}) {
    if (listener.unix_path.empty() && r.has(key)) {
      (void)r.read_string(key);
      r.invalid(key, "only a listener with a \"unix:\" address has a socket file");
      ok = false;
    }
  }
  if (listener.unix_path.empty()) {
    return;
  }
  if (auto mode = r.read_string("socket_mode")) {
    if (!parse_socket_mode(*mode, listener.socket_mode)) {
      r.invalid(
          "socket_mode",
          "expected an octal mode from \"000\" to \"0777\" such as \"0660\", got " + quote(*mode));
      ok = false;
    }
  }
  for (auto [key, out] : {std::pair{"socket_owner", &listener.socket_owner},
                          std::pair{"socket_group", &listener.socket_group}}) {
    if (auto name = r.read_string(key)) {
      if (!is_account_name(*name)) {
        r.invalid(key, "expected a user or group name, got " + quote(*name));
        ok = false;
      } else {
        *out = *name;
      }
    }
  }
}

void read_listeners(Problems& problems, const toml::node* node, std::string_view data_dir,
                    std::vector<ListenerSettings>& out, std::vector<ListenerLines>& lines) {
  if (node == nullptr) {
    return;
  }
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems.add(line_of(*node), "listener: expected an array of tables ([[listener]]), got " +
                                     std::string(type_phrase(*node)));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string prefix = "listener[" + std::to_string(i) + "]";
    if (!element.is_table()) {
      problems.add(line_of(element),
                   prefix + ": expected a table, got " + std::string(type_phrase(element)));
      continue;
    }
    TableReader r(problems, element.as_table(), prefix, line_of(*node));
    ListenerSettings listener;
    bool ok = true;
    if (auto name = r.read_string("name")) {
      if (!is_listener_name(*name)) {
        r.invalid("name", "expected 1 to 64 letters, digits, '-', '_' or '.', got " + quote(*name));
        ok = false;
      } else {
        for (std::size_t j = 0; j < out.size(); ++j) {
          if (out[j].name == *name) {
            r.invalid("name", quote(*name) + " is already the name of an earlier listener");
            ok = false;
          }
        }
        listener.name = *name;
      }
    } else {
      if (!r.has("name")) {
        r.missing("name");
      }
      ok = false;
    }
    bool has_role = r.read_enum<ListenerRole>("role", listener.role,
                                              {{"smtp", ListenerRole::kSmtp},
                                               {"submission", ListenerRole::kSubmission},
                                               {"lmtp", ListenerRole::kLmtp},
                                               {"imap", ListenerRole::kImap},
                                               {"pop3", ListenerRole::kPop3},
                                               {"managesieve", ListenerRole::kManageSieve},
                                               {"http", ListenerRole::kHttp}});
    if (!has_role && !r.has("role")) {
      r.missing("role");
    }
    ok = ok && has_role;
    if (auto address = r.read_string("address"); address && address->starts_with("unix:")) {
      read_unix_address(r, *address, data_dir, listener, ok);
      if (has_role && listener.role != ListenerRole::kLmtp) {
        r.invalid("address", "a \"unix:\" address is only for role lmtp, got role " +
                                 std::string(role_name(listener.role)));
        ok = false;
      }
      for (const auto& earlier : out) {
        if (!listener.unix_path.empty() && earlier.unix_path == listener.unix_path) {
          r.invalid("address",
                    quote(*address) + " is already used by listener " + quote(earlier.name));
          ok = false;
        }
      }
    } else if (address) {
      if (!parse_address(*address, listener.host, listener.port)) {
        r.invalid("address",
                  "expected \"host:port\" (IPv6 as \"[::1]:port\", port 0 to 65535), got " +
                      quote(*address));
        ok = false;
      } else {
        for (const auto& earlier : out) {
          // Port 0 asks the kernel for a fresh port each time, so it never collides.
          if (listener.port != 0 && earlier.host == listener.host &&
              earlier.port == listener.port) {
            r.invalid("address",
                      quote(*address) + " is already used by listener " + quote(earlier.name));
            ok = false;
          }
        }
      }
    } else {
      if (!r.has("address")) {
        r.missing("address");
      }
      ok = false;
    }
    bool has_tls = true;
    if (r.has("tls")) {
      has_tls = r.read_enum<TlsMode>("tls", listener.tls,
                                     {{"none", TlsMode::kNone},
                                      {"implicit", TlsMode::kImplicit},
                                      {"starttls", TlsMode::kStartTls}});
    }
    if (has_tls && has_role && !is_allowed_tls_mode(listener.role, listener.tls)) {
      std::string accepted;
      for (TlsMode mode : {TlsMode::kNone, TlsMode::kImplicit, TlsMode::kStartTls}) {
        if (is_allowed_tls_mode(listener.role, mode)) {
          accepted += accepted.empty() ? "" : ", ";
          accepted += tls_mode_name(mode);
        }
      }
      r.invalid("tls", "role " + std::string(role_name(listener.role)) + " accepts " + accepted +
                           ", got " + quote(tls_mode_name(listener.tls)));
      ok = false;
    } else if (has_tls && !listener.unix_path.empty() && listener.tls != TlsMode::kNone) {
      // A local socket is as private as its file mode; TLS would add nothing.
      r.invalid("tls",
                "a \"unix:\" listener accepts none, got " + quote(tls_mode_name(listener.tls)));
      ok = false;
    }
    read_socket_keys(r, listener, ok);
    r.finish();
    if (ok && has_tls) {
      out.push_back(std::move(listener));
      lines.push_back(ListenerLines{r.line("tls"), r.path("tls")});
    }
  }
}

void read_smtp(Problems& problems, const toml::table* table, SmtpSettings& out) {
  TableReader r(problems, table, "smtp", 1);
  r.read_uint("max_message_bytes", out.max_message_bytes, 1024, 1024 * 1024 * 1024);
  // RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients.
  r.read_uint("max_recipients", out.max_recipients, 100, 100000);
  // §4.5.3.1.4: 512 octets with CRLF is the floor every client may rely on.
  r.read_uint("max_line_bytes", out.max_line_bytes, 510, 65536);
  r.read_uint("max_errors", out.max_errors, 1, 10000);
  r.read_uint("max_junk_commands", out.max_junk_commands, 1, 100000);
  std::uint32_t seconds = static_cast<std::uint32_t>(out.command_timeout.count());
  // §4.5.3.2.7 asks for at least 5 minutes; shorter is allowed for tests and
  // for sites under attack, but not below 10 s.
  r.read_uint("command_timeout_seconds", seconds, 10, 3600);
  out.command_timeout = std::chrono::seconds(seconds);
  r.read_uint("connections_per_ip_per_minute", out.connections_per_ip_per_minute, 0, 1000000);
  r.read_uint("messages_per_ip_per_minute", out.messages_per_ip_per_minute, 0, 1000000);
  r.read_enum<UnknownUserPolicy>(
      "unknown_user", out.unknown_user,
      {{"reject", UnknownUserPolicy::kReject}, {"defer", UnknownUserPolicy::kDefer}});
  if (auto networks = r.read_string_list("trusted_networks")) {
    for (const auto& text : *networks) {
      auto network = dns::IpNetwork::parse(text);
      if (!network) {
        r.invalid(
            "trusted_networks",
            "expected address blocks (\"192.0.2.0/24\", \"2001:db8::/32\"), got " + quote(text));
        continue;
      }
      out.trusted_networks.push_back(*network);
    }
  }
  r.finish();
}

void read_pop3(Problems& problems, const toml::table* table, Pop3Settings& out) {
  TableReader r(problems, table, "pop3", 1);
  std::uint32_t seconds = static_cast<std::uint32_t>(out.login_delay.count());
  r.read_uint("login_delay_seconds", seconds, 0, 24 * 3600);
  out.login_delay = std::chrono::seconds(seconds);
  r.finish();
}

// "60, 300, 900" → {60s, 300s, 900s}; each 1 .. 7 days.
bool parse_schedule(std::string_view text, std::vector<std::chrono::seconds>& out) {
  out.clear();
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') {
      item.remove_prefix(1);
    }
    while (!item.empty() && item.back() == ' ') {
      item.remove_suffix(1);
    }
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || value == 0 ||
        value > 7 * 24 * 3600) {
      return false;
    }
    out.emplace_back(value);
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  return true;
}

void read_seconds(TableReader& r, std::string_view key, std::chrono::seconds& out, std::int64_t min,
                  std::int64_t max) {
  auto value = static_cast<std::uint32_t>(out.count());
  r.read_uint(key, value, min, max);
  out = std::chrono::seconds(value);
}

void read_imap(Problems& problems, const toml::table* table, const SmtpSettings& smtp,
               ImapSettings& out) {
  TableReader r(problems, table, "imap", 1);
  read_seconds(r, "preauth_timeout_seconds", out.preauth_timeout, 10, 3600);
  // RFC 9051 §5.4: an autologout timer of at least 30 minutes.
  read_seconds(r, "idle_timeout_seconds", out.idle_timeout, 30 * 60, 24 * 3600);
  r.read_uint("max_line_bytes", out.max_line_bytes, 1024, 16 * 1024 * 1024);
  r.read_uint("max_literal_bytes", out.max_literal_bytes, 1024, 16 * 1024 * 1024);
  r.read_uint("max_append_bytes", out.max_append_bytes, 0, 1024 * 1024 * 1024);
  bool multiappend_given = r.has("max_multiappend_bytes");
  r.read_uint("max_multiappend_bytes", out.max_multiappend_bytes, 1024 * 1024,
              2048LL * 1024 * 1024);
  r.read_uint("max_connections_per_user", out.max_connections_per_user, 1, 10000);
  r.read_uint("max_connections_per_ip", out.max_connections_per_ip, 0, 100000);
  auto poll = static_cast<std::uint32_t>(out.idle_poll_interval.count());
  r.read_uint("idle_poll_ms", poll, 100, 60000);
  out.idle_poll_interval = std::chrono::milliseconds(poll);
  if (out.max_append_bytes == 0) {
    out.max_append_bytes = smtp.max_message_bytes;
  }
  if (!multiappend_given) {
    out.max_multiappend_bytes = std::max(out.max_multiappend_bytes, out.max_append_bytes);
  } else if (out.max_multiappend_bytes < out.max_append_bytes) {
    r.invalid("max_multiappend_bytes",
              "must be at least max_append_bytes (" + std::to_string(out.max_append_bytes) + ")");
  }
  r.finish();
}

void read_queue(Problems& problems, const toml::table* table, QueueSettings& out) {
  TableReader r(problems, table, "queue", 1);
  constexpr std::int64_t kDay = 24 * 3600;
  read_seconds(r, "min_backoff_seconds", out.min_backoff, 1, kDay);
  read_seconds(r, "max_backoff_seconds", out.max_backoff, 1, 7 * kDay);
  if (out.max_backoff < out.min_backoff) {
    r.invalid("max_backoff_seconds", "must not be below min_backoff_seconds");
  }
  if (auto schedule = r.read_string("retry_schedule_seconds")) {
    if (!parse_schedule(*schedule, out.retry_schedule)) {
      r.invalid("retry_schedule_seconds",
                "expected comma-separated seconds from 1 to 604800, got " + quote(*schedule));
    }
  }
  read_seconds(r, "lifetime_seconds", out.lifetime, 1, 100 * kDay);
  read_seconds(r, "delay_warning_seconds", out.delay_warning, 0, 100 * kDay);
  r.read_uint("active_limit", out.active_limit, 1, 1000000);
  r.read_uint("destination_concurrency", out.destination_concurrency, 1, 10000);
  r.read_uint("destination_rate", out.destination_rate, 0, 1000000);
  read_seconds(r, "lease_seconds", out.lease, 2, kDay);
  auto poll = static_cast<std::uint32_t>(out.poll_interval.count());
  r.read_uint("poll_interval_ms", poll, 10, 600000);
  out.poll_interval = std::chrono::milliseconds(poll);
  r.read_uint("hop_limit", out.hop_limit, 1, 1000);
  if (auto secret = r.read_string("srs_secret")) {
    out.srs_secret = *secret;
  }
  if (auto domain = r.read_string("srs_domain")) {
    out.srs_domain = *domain;
  }
  r.read_uint("srs_max_age_days", out.srs_max_age_days, 1, 1023);
  r.finish();
}

// [dns]
void read_dns(Problems& problems, const toml::table* table, std::string_view base_dir,
              DnsSettings& out) {
  TableReader r(problems, table, "dns", 1);
  if (auto servers = r.read_string_list("servers")) {
    for (const auto& server : *servers) {
      std::string host;
      std::uint16_t port = 0;
      const bool literal =
          server.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
      if (!(literal || (parse_address(server, host, port) && port != 0 &&
                        host.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos))) {
        r.invalid("servers",
                  "expected IP addresses with an optional port (\"127.0.0.1:5353\"), got " +
                      quote(server));
      }
    }
    out.servers = *servers;
  }
  if (auto dnssec = r.read_string("dnssec")) {
    out.trust_anchor_file = *dnssec == "off" ? std::string() : resolve_path(base_dir, *dnssec);
  }
  auto timeout = static_cast<std::uint32_t>(out.timeout.count());
  r.read_uint("timeout_ms", timeout, 100, 300000);
  out.timeout = std::chrono::milliseconds(timeout);
  r.finish();
}

// [spam] (domain/spam_filter.hpp)
void read_spam(Problems& problems, const toml::table* table, SpamSettings& out) {
  TableReader r(problems, table, "spam", 1);
  r.read_bool("classify", out.classify);
  r.read_bool("learn_from_moves", out.learn_from_moves);
  r.read_uint("spam_threshold", out.spam_percent, 50, 100);
  r.read_uint("ham_threshold", out.ham_percent, 0, 100);
  if (out.ham_percent > out.spam_percent) {
    r.invalid("ham_threshold", "expected at most spam_threshold (" +
                                   std::to_string(out.spam_percent) + "), got " +
                                   std::to_string(out.ham_percent));
  }
  r.read_uint("min_messages", out.min_messages, 1, 1000000);
  r.read_uint("max_learn_per_command", out.max_learn_per_command, 0, 1000000);
  r.finish();
}

// A filter's socket: "unix:<path>" (relative to the config file's folder) or an
// IP literal and port; with `inet_prefix`, also Postfix's "inet:<ip>:<port>".
void read_socket_address(TableReader& r, std::string_view key, std::string_view base_dir,
                         bool inet_prefix, std::string_view example, std::string& unix_path,
                         std::string& host, std::uint16_t& port) {
  auto text = r.read_string(key);
  if (!text) {
    return;
  }
  if (text->starts_with("unix:")) {
    std::string_view path = std::string_view(*text).substr(5);
    if (path.empty()) {
      r.invalid(key, "expected \"unix:<path>\", got " + quote(*text));
    } else if (unix_path = resolve_path(base_dir, path); unix_path.size() > kMaxSocketPath) {
      r.invalid(key, "the socket path " + quote(unix_path) + " is longer than " +
                         std::to_string(kMaxSocketPath) + " bytes");
    }
    return;
  }
  if (text->empty()) {
    return;
  }
  std::string_view address = *text;
  if (inet_prefix && address.starts_with("inet:")) {
    address.remove_prefix(5);
  }
  std::string parsed_host;
  std::uint16_t parsed_port = 0;
  if (!parse_address(std::string(address), parsed_host, parsed_port) || parsed_port == 0 ||
      parsed_host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
    r.invalid(key, "expected \"unix:<path>\" or an IP address and port (" + std::string(example) +
                       "), got " + quote(*text));
    return;
  }
  host = parsed_host;
  port = parsed_port;
}

// `roles`: which listener roles a filter applies to.
void read_roles(TableReader& r, bool& smtp, bool& submission, bool& lmtp) {
  auto roles = r.read_string_list("roles");
  if (!roles) {
    return;
  }
  smtp = submission = lmtp = false;
  for (const auto& role : *roles) {
    if (role == "smtp") {
      smtp = true;
    } else if (role == "submission") {
      submission = true;
    } else if (role == "lmtp") {
      lmtp = true;
    } else {
      r.invalid("roles", "expected roles among smtp, submission, lmtp, got " + quote(role));
    }
  }
}

// [antivirus] (services/smtp/antivirus.hpp)
void read_antivirus(Problems& problems, const toml::table* table, std::string_view base_dir,
                    AntivirusSettings& out) {
  TableReader r(problems, table, "antivirus", 1);
  read_socket_address(r, "clamd", base_dir, false, "\"127.0.0.1:3310\"", out.clamd_unix_path,
                      out.clamd_host, out.clamd_port);
  read_roles(r, out.scan_smtp, out.scan_submission, out.scan_lmtp);
  r.read_enum<AntivirusFailure>(
      "on_failure", out.on_failure,
      {{"defer", AntivirusFailure::kDefer}, {"accept", AntivirusFailure::kAccept}});
  r.read_uint("max_message_bytes", out.max_message_bytes, 1024, 1024 * 1024 * 1024);
  read_seconds(r, "timeout_seconds", out.timeout, 1, 600);
  r.finish();
}

// [[milter]] (services/smtp/milter.hpp)
void read_milters(Problems& problems, const toml::node* node, std::string_view base_dir,
                  std::vector<MilterSettings>& out) {
  if (node == nullptr) {
    return;
  }
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems.add(line_of(*node), "milter: expected an array of tables ([[milter]]), got " +
                                     std::string(type_phrase(*node)));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string prefix = "milter[" + std::to_string(i) + "]";
    if (!element.is_table()) {
      problems.add(line_of(element),
                   prefix + ": expected a table, got " + std::string(type_phrase(element)));
      continue;
    }
    TableReader r(problems, element.as_table(), prefix, line_of(*node));
    MilterSettings entry;
    entry.name = "milter" + std::to_string(i + 1);
    if (auto name = r.read_string("name")) {
      if (name->empty()) {
        r.invalid("name", "expected a name, got \"\"");
      } else {
        entry.name = *name;
      }
    }
    if (!r.has("address")) {
      r.missing("address");
    }
    read_socket_address(r, "address", base_dir, true, "\"inet:127.0.0.1:8891\"", entry.unix_path,
                        entry.host, entry.port);
    read_roles(r, entry.smtp, entry.submission, entry.lmtp);
    r.read_enum<MilterFailure>("on_failure", entry.on_failure,
                               {{"tempfail", MilterFailure::kTempfail},
                                {"accept", MilterFailure::kAccept},
                                {"reject", MilterFailure::kReject}});
    read_seconds(r, "timeout_seconds", entry.timeout, 1, 600);
    for (const auto& earlier : out) {
      if (earlier.name == entry.name) {
        r.invalid("name", quote(entry.name) + " names an earlier [[milter]] too");
      }
    }
    r.finish();
    out.push_back(std::move(entry));
  }
}

// [dnsbl] (dnsbl/dnsbl.hpp)
void read_dnsbl(Problems& problems, const toml::table* table, DnsblSettings& out) {
  TableReader r(problems, table, "dnsbl", 1);
  if (auto sites = r.read_string_list("sites")) {
    for (const auto& text : *sites) {
      auto site = dnsbl::parse_site(text);
      if (!site) {
        r.invalid("sites", site.error().message);
        continue;
      }
      out.sites.push_back(std::move(*site));
    }
  }
  std::uint32_t threshold = static_cast<std::uint32_t>(out.threshold);
  r.read_uint("threshold", threshold, 1, 1000);
  out.threshold = static_cast<std::int32_t>(threshold);
  r.finish();
}

// [greylist] (domain/greylist.hpp)
void read_greylist(Problems& problems, const toml::table* table, GreylistSettings& out) {
  TableReader r(problems, table, "greylist", 1);
  r.read_bool("enabled", out.enabled);
  read_seconds(r, "delay_seconds", out.delay, 1, 86400);
  auto hours = static_cast<std::uint32_t>(out.retry_window.count() / 3600);
  r.read_uint("retry_window_hours", hours, 1, 720);
  out.retry_window = std::chrono::hours(hours);
  auto days = static_cast<std::uint32_t>(out.max_age.count() / 86400);
  r.read_uint("max_age_days", days, 1, 365);
  out.max_age = std::chrono::hours(24 * days);
  r.read_uint("auto_allow_clients", out.auto_allow_clients, 0, 1000);
  r.finish();
}

// [reports] (domain/reports/README.md)
void read_reports(Problems& problems, const toml::table* table, const ServerSettings& server,
                  ReportsSettings& out) {
  TableReader r(problems, table, "reports", 1);
  r.read_bool("enabled", out.enabled);
  r.read_bool("dmarc", out.dmarc);
  r.read_bool("tls", out.tls);
  std::uint32_t interval = static_cast<std::uint32_t>(out.interval.count());
  r.read_uint("interval_seconds", interval, 3600, 86400);
  if (interval % 3600 != 0 || 86400 % interval != 0) {
    r.invalid("interval_seconds", "expected whole hours dividing a day (3600, 7200, ..., 86400)");
  } else {
    out.interval = std::chrono::seconds(interval);
  }
  out.org_name = r.read_string("org_name").value_or(server.hostname);
  if (auto value = r.read_string("submitter")) {
    if (!is_hostname(*value)) {
      r.invalid("submitter", "expected a domain name, got " + quote(*value));
    }
    out.submitter = *value;
  } else {
    const auto dot = server.hostname.find('.');
    out.submitter =
        dot != std::string::npos && server.hostname.find('.', dot + 1) != std::string::npos
            ? server.hostname.substr(dot + 1)
            : server.hostname;
  }
  if (auto value = r.read_string("email")) {
    if (value->find('@') == std::string::npos ||
        value->find_first_of(" <>\r\n") != std::string::npos) {
      r.invalid("email", "expected an address, got " + quote(*value));
    }
    out.email = *value;
  } else {
    out.email = "postmaster@" + out.submitter;
  }
  out.extra_contact = r.read_string("extra_contact").value_or("");
  r.read_uint("retention_days", out.retention_days, 1, 3650);
  if (auto value = r.read_string("inbox")) {
    if (value->find('@') == std::string::npos) {
      r.invalid("inbox", "expected the address of a local account, got " + quote(*value));
    }
    out.inbox = *value;
  }
  std::uint32_t ingest = static_cast<std::uint32_t>(out.ingest_interval.count());
  r.read_uint("ingest_interval_seconds", ingest, 60, 86400);
  out.ingest_interval = std::chrono::seconds(ingest);
  r.finish();
}

// [mta_sts]
void read_mta_sts(Problems& problems, const toml::table* table, MtaStsSettings& out) {
  TableReader r(problems, table, "mta_sts", 1);
  r.read_enum<MtaStsMode>("mode", out.mode,
                          {{"testing", MtaStsMode::kTesting},
                           {"enforce", MtaStsMode::kEnforce},
                           {"none", MtaStsMode::kNone}});
  if (auto mx = r.read_string_list("mx")) {
    for (auto& name : *mx) {
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      // RFC 8461 §3.2: a host name, or "*." and a name (one leftmost label).
      std::string_view host = name;
      if (host.starts_with("*.")) {
        host.remove_prefix(2);
      }
      if (!is_hostname(host)) {
        r.invalid("mx", "expected host names or \"*.domain\" patterns, got " + quote(name));
      }
    }
    out.mx = *mx;
  }
  // RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year).
  read_seconds(r, "max_age_seconds", out.max_age, 1, 31557600);
  r.finish();
}

// Reads a `tls` key with the OutboundTls names.
bool read_outbound_tls(TableReader& r, OutboundTls& out) {
  return r.read_enum<OutboundTls>("tls", out,
                                  {{"none", OutboundTls::kNone},
                                   {"may", OutboundTls::kMay},
                                   {"encrypt", OutboundTls::kEncrypt},
                                   {"verify", OutboundTls::kVerify}});
}

// [outbound]
void read_outbound(Problems& problems, const toml::table* table, std::string_view base_dir,
                   OutboundSettings& out) {
  TableReader r(problems, table, "outbound", 1);
  if (auto helo = r.read_string("helo_name")) {
    if (!is_hostname(*helo)) {
      r.invalid("helo_name", "expected a host name, got " + quote(*helo));
    }
    out.helo_name = *helo;
  }
  constexpr std::int64_t kHour = 3600;
  read_seconds(r, "connect_timeout_seconds", out.connect_timeout, 1, kHour);
  read_seconds(r, "greeting_timeout_seconds", out.greeting_timeout, 1, kHour);
  read_seconds(r, "command_timeout_seconds", out.command_timeout, 1, kHour);
  read_seconds(r, "data_init_timeout_seconds", out.data_init_timeout, 1, kHour);
  read_seconds(r, "data_block_timeout_seconds", out.data_block_timeout, 1, kHour);
  read_seconds(r, "data_term_timeout_seconds", out.data_term_timeout, 1, kHour);
  (void)read_outbound_tls(r, out.tls);
  if (auto ca = r.read_string("ca_file")) {
    out.ca_file = resolve_path(base_dir, *ca);
  }
  std::uint32_t port = out.mx_port;
  r.read_uint("mx_port", port, 1, 65535);
  out.mx_port = static_cast<std::uint16_t>(port);
  read_seconds(r, "connection_idle_seconds", out.connection_idle, 0, kHour);
  r.read_uint("messages_per_connection", out.messages_per_connection, 1, 100000);
  r.read_bool("mta_sts", out.mta_sts);
  std::uint32_t sts_port = out.mta_sts_port;
  r.read_uint("mta_sts_port", sts_port, 1, 65535);
  out.mta_sts_port = static_cast<std::uint16_t>(sts_port);
  // RFC 8461 §3.2: max_age is at most 31557600 s; a longer period would be useless.
  read_seconds(r, "mta_sts_refresh_seconds", out.mta_sts_refresh, 1, 31557600);
  r.read_bool("dane", out.dane);
  r.finish();
}

// Parses a [[transport]] route (see TransportSettings). Returns "" or the problem.
std::string parse_route(std::string_view route, std::string_view base_dir, TransportSettings& out) {
  const auto colon = route.find(':');
  const std::string_view protocol = route.substr(0, colon);
  std::string_view rest = colon == std::string_view::npos ? "" : route.substr(colon + 1);
  if (protocol == "smtp") {
    out.protocol = TransportSettings::Protocol::kSmtp;
  } else if (protocol == "lmtp") {
    out.protocol = TransportSettings::Protocol::kLmtp;
    if (rest.starts_with("unix:")) {
      out.unix_path = resolve_path(base_dir, rest.substr(5));
      return rest.size() > 5 ? "" : "expected lmtp:unix:<path>";
    }
  } else {
    return "expected \"smtp:\" or \"lmtp:\" followed by a destination";
  }
  if (rest.empty()) {
    return "missing the host after " + std::string(protocol) + ":";
  }
  // "[name-or-ip]" or "[name-or-ip]:port": that host without MX lookup (Postfix).
  if (rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) {
      return "unbalanced [ in the host";
    }
    out.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
  } else {
    const auto port_colon =
        rest.find(':') != rest.rfind(':') ? std::string_view::npos : rest.find(':');
    out.host = std::string(rest.substr(0, port_colon));
    rest = port_colon == std::string_view::npos ? "" : rest.substr(port_colon);
    // LMTP never looks up MX records; plain SMTP names do (Postfix semantics).
    out.mx_lookup = out.protocol == TransportSettings::Protocol::kSmtp &&
                    out.host.find_first_not_of("0123456789.") != std::string::npos &&
                    out.host.find(':') == std::string::npos;
  }
  if (!rest.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), value);
    if (rest.front() != ':' || ec != std::errc() || end != rest.data() + rest.size() ||
        value == 0 || value > 65535) {
      return "expected :port (1-65535) after the host";
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  for (char& c : out.host) {
    c = ascii_lower(c);
  }
  if (out.host.find(':') == std::string::npos && !is_hostname(out.host)) {
    return "expected a host name or IP address, got " + quote(out.host);
  }
  return "";
}

// [[transport]]
void read_transports(Problems& problems, const toml::node* node, std::string_view base_dir,
                     std::vector<TransportSettings>& out) {
  if (node == nullptr) {
    return;
  }
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems.add(line_of(*node), "transport: expected an array of tables ([[transport]]), got " +
                                     std::string(type_phrase(*node)));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string prefix = "transport[" + std::to_string(i) + "]";
    if (!element.is_table()) {
      problems.add(line_of(element),
                   prefix + ": expected a table, got " + std::string(type_phrase(element)));
      continue;
    }
    TableReader r(problems, element.as_table(), prefix, line_of(*node));
    TransportSettings transport;
    if (auto domain = r.read_string("domain")) {
      for (char& c : *domain) {
        c = ascii_lower(c);
      }
      if (!is_hostname(*domain)) {
        r.invalid("domain", "expected a domain name, got " + quote(*domain));
      }
      for (const auto& earlier : out) {
        if (earlier.domain == *domain) {
          r.invalid("domain", quote(*domain) + " already has a transport");
        }
      }
      transport.domain = *domain;
    } else if (!r.has("domain")) {
      r.missing("domain");
    }
    if (auto route = r.read_string("route")) {
      transport.route = *route;
      if (std::string problem = parse_route(*route, base_dir, transport); !problem.empty()) {
        r.invalid("route", problem + " (route " + quote(*route) + ")");
      }
    } else if (!r.has("route")) {
      r.missing("route");
    }
    if (auto user = r.read_string("auth_user")) {
      transport.auth_user = *user;
    }
    if (auto file = r.read_string("auth_password_file")) {
      transport.auth_password_file = resolve_path(base_dir, *file);
    }
    if (transport.auth_user.empty() != transport.auth_password_file.empty()) {
      r.invalid("auth_user", "auth_user and auth_password_file go together");
    }
    transport.has_tls = read_outbound_tls(r, transport.tls);
    r.finish();
    out.push_back(std::move(transport));
  }
}

// [mailauth]
void read_mailauth(Problems& problems, const toml::table* table, MailauthSettings& out) {
  TableReader r(problems, table, "mailauth", 1);
  if (auto id = r.read_string("authserv_id")) {
    for (char& c : *id) {
      c = ascii_lower(c);
    }
    // RFC 8601 §2.2: authserv-id is a value (token or quoted-string); we only ever
    // emit host-name-like ids so the field needs no quoting.
    if (!is_hostname(*id)) {
      r.invalid("authserv_id", "expected a host name, got " + quote(*id));
    }
    out.authserv_id = *id;
  }
  (void)r.read_enum<DmarcRejectAction>("dmarc_reject", out.dmarc_reject,
                                       {{"reject", DmarcRejectAction::kReject},
                                        {"quarantine", DmarcRejectAction::kQuarantine},
                                        {"ignore", DmarcRejectAction::kIgnore}});
  (void)r.read_enum<DkimLengthPolicy>("dkim_length_policy", out.dkim_length_policy,
                                      {{"accept", DkimLengthPolicy::kAccept},
                                       {"appended", DkimLengthPolicy::kPolicyIfAppended},
                                       {"always", DkimLengthPolicy::kPolicyAlways}});
  r.read_bool("verify_inbound", out.verify_inbound);
  read_seconds(r, "dns_timeout_seconds", out.dns_timeout, 1, 300);
  if (auto sealers = r.read_string_list("trusted_arc_sealers")) {
    out.trusted_arc_sealers.clear();
    for (std::string sealer : *sealers) {
      for (char& c : sealer) {
        c = ascii_lower(c);
      }
      if (!is_hostname(sealer)) {
        r.invalid("trusted_arc_sealers", "expected host names, got " + quote(sealer));
        continue;
      }
      out.trusted_arc_sealers.push_back(std::move(sealer));
    }
  }
  r.finish();
}

// [[dkim]]
void read_dkim(Problems& problems, const toml::node* node, std::string_view base_dir,
               std::vector<DkimKeySettings>& out) {
  if (node == nullptr) {
    return;
  }
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems.add(line_of(*node), "dkim: expected an array of tables ([[dkim]]), got " +
                                     std::string(type_phrase(*node)));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string prefix = "dkim[" + std::to_string(i) + "]";
    if (!element.is_table()) {
      problems.add(line_of(element),
                   prefix + ": expected a table, got " + std::string(type_phrase(element)));
      continue;
    }
    TableReader r(problems, element.as_table(), prefix, line_of(*node));
    DkimKeySettings entry;
    entry.line = r.table_line();
    for (std::string_view key : {std::string_view("domain"), std::string_view("selector")}) {
      auto value = r.read_string(key);
      if (!value) {
        if (!r.has(key)) {
          r.missing(key);
        }
        continue;
      }
      for (char& c : *value) {
        c = ascii_lower(c);
      }
      // RFC 6376 §3.1: the selector is a sub-domain (dot-separated labels).
      if (!is_hostname(*value)) {
        r.invalid(key, std::string("expected a ") + (key == "domain" ? "domain name" : "selector") +
                           " (DNS labels), got " + quote(*value));
      }
      (key == "domain" ? entry.domain : entry.selector) = *value;
    }
    if (auto key = r.read_string("key")) {
      if (key->empty()) {
        r.invalid("key", "expected the path of a PEM private key, got \"\"");
      }
      entry.key = resolve_path(base_dir, *key);
    } else if (!r.has("key")) {
      r.missing("key");
    }
    r.read_bool("sign", entry.sign);
    for (const auto& earlier : out) {
      if (!entry.domain.empty() && earlier.domain == entry.domain &&
          earlier.selector == entry.selector) {
        r.invalid("selector",
                  quote(entry.selector) + " is already a key of " + quote(entry.domain));
      }
    }
    r.finish();
    out.push_back(std::move(entry));
  }
}

Result<Settings> parse_table(const toml::table& root, std::string_view file_name,
                             std::string_view base_dir) {
  Problems problems;
  Settings settings;
  read_server(problems, section(problems, root, "server"), base_dir, settings.server);
  read_log(problems, section(problems, root, "log"), settings.log);
  read_tls(problems, section(problems, root, "tls"), base_dir, settings.tls);
  read_limits(problems, section(problems, root, "limits"), settings.limits);
  read_store(problems, section(problems, root, "store"), settings.server.data_dir, settings.store);
  read_auth(problems, section(problems, root, "auth"), settings.auth);
  read_addressing(problems, section(problems, root, "addressing"), settings.addressing);
  read_smtp(problems, section(problems, root, "smtp"), settings.smtp);
  read_pop3(problems, section(problems, root, "pop3"), settings.pop3);
  read_imap(problems, section(problems, root, "imap"), settings.smtp, settings.imap);
  read_queue(problems, section(problems, root, "queue"), settings.queue);
  read_dns(problems, section(problems, root, "dns"), base_dir, settings.dns);
  read_outbound(problems, section(problems, root, "outbound"), base_dir, settings.outbound);
  read_mta_sts(problems, section(problems, root, "mta_sts"), settings.mta_sts);
  read_transports(problems, root.get("transport"), base_dir, settings.transports);
  read_mailauth(problems, section(problems, root, "mailauth"), settings.mailauth);
  read_dkim(problems, root.get("dkim"), base_dir, settings.dkim);
  read_reports(problems, section(problems, root, "reports"), settings.server, settings.reports);
  read_spam(problems, section(problems, root, "spam"), settings.spam);
  read_antivirus(problems, section(problems, root, "antivirus"), base_dir, settings.antivirus);
  read_milters(problems, root.get("milter"), base_dir, settings.milters);
  read_dnsbl(problems, section(problems, root, "dnsbl"), settings.dnsbl);
  read_greylist(problems, section(problems, root, "greylist"), settings.greylist);
  std::vector<ListenerLines> lines;
  read_listeners(problems, root.get("listener"), settings.server.data_dir, settings.listeners,
                 lines);

  bool have_tls = !settings.tls.cert.empty() && !settings.tls.key.empty();
  for (std::size_t i = 0; i < settings.listeners.size(); ++i) {
    const auto& listener = settings.listeners[i];
    if (listener.tls != TlsMode::kNone && !have_tls) {
      problems.add(lines[i].tls_line, lines[i].tls_key + ": " + quote(tls_mode_name(listener.tls)) +
                                          " needs tls.cert and tls.key in [tls]");
    }
  }

  // Unknown top-level tables and keys.
  constexpr std::string_view kSections[] = {
      "server", "log",     "tls",     "limits",   "store",     "auth",     "addressing", "smtp",
      "pop3",   "imap",    "queue",   "listener", "dns",       "outbound", "transport",  "mailauth",
      "dkim",   "mta_sts", "reports", "spam",     "antivirus", "dnsbl",    "greylist",   "milter"};
  for (auto&& [key, node] : root) {
    if (std::find(std::begin(kSections), std::end(kSections), key.str()) != std::end(kSections)) {
      continue;
    }
    std::uint32_t at = key.source().begin.line != 0 ? key.source().begin.line : line_of(node);
    std::string what = node.is_table() ? "unknown table " : "unknown key ";
    problems.add(at, what + quote(key.str()));
  }

  if (!problems.empty()) {
    return fail(ErrorCode::kInvalidInput, problems.render(file_name));
  }
  return settings;
}

}  // namespace

Result<Settings> parse_config(std::string_view text, std::string_view file_name,
                              std::string_view base_dir) {
  // The parser boundary: toml++ reports syntax errors by throwing, and nothing may
  // escape an L1 API (model-codebases.md B7).
  try {
    toml::table root = toml::parse(text, file_name);
    return parse_table(root, file_name, base_dir);
  } catch (const toml::parse_error& e) {
    std::string description(e.description());
    std::replace(description.begin(), description.end(), '\n', ' ');
    std::string message = std::string(file_name) + ":" + std::to_string(e.source().begin.line) +
                          ":" + std::to_string(e.source().begin.column) +
                          ": syntax error: " + description;
    return fail(ErrorCode::kInvalidInput, std::move(message));
  } catch (const std::bad_alloc&) {
    return fail(ErrorCode::kInternal, std::string(file_name) + ": out of memory while parsing");
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal,
                std::string(file_name) + ": unexpected error while parsing: " + e.what());
  } catch (...) {
    return fail(ErrorCode::kInternal, std::string(file_name) + ": unexpected error while parsing");
  }
}

}  // namespace tern::config
