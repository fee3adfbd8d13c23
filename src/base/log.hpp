// SPDX-License-Identifier: Apache-2.0
// The log facade. Code logs through a Logger value that carries a Sink and context
// fields (such as the connection id); runtime/ provides the text and JSON sinks.
// A Logger without a sink drops everything, so pure code and tests need no setup.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace tern::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Returns "debug", "info", "warn" or "error".
std::string_view level_name(Level level);

// Parses a level name as level_name() prints it; false if unknown.
bool parse_level(std::string_view name, Level& out);

struct Field {
  std::string key;
  std::string value;
};

// Where records go. Implementations must be thread-safe: write() is called from
// any thread.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool enabled(Level level) const = 0;
  // `fields` holds the logger's context first, then the call's own fields.
  virtual void write(Level level, std::string_view message, std::span<const Field> fields) = 0;
};

// A cheap, copyable handle: a sink plus context fields.
class Logger {
 public:
  Logger() = default;

  explicit Logger(Sink* sink) : sink_(sink) {}

  // Returns a logger that adds `key=value` to every record.
  [[nodiscard]] Logger with(std::string key, std::string value) const {
    Logger copy = *this;
    copy.context_.push_back(Field{std::move(key), std::move(value)});
    return copy;
  }

  bool enabled(Level level) const { return sink_ != nullptr && sink_->enabled(level); }

  void write(Level level, std::string_view message, std::vector<Field> fields = {}) const;

  void debug(std::string_view message, std::vector<Field> fields = {}) const {
    write(Level::kDebug, message, std::move(fields));
  }

  void info(std::string_view message, std::vector<Field> fields = {}) const {
    write(Level::kInfo, message, std::move(fields));
  }

  void warn(std::string_view message, std::vector<Field> fields = {}) const {
    write(Level::kWarn, message, std::move(fields));
  }

  void error(std::string_view message, std::vector<Field> fields = {}) const {
    write(Level::kError, message, std::move(fields));
  }

 private:
  Sink* sink_ = nullptr;
  std::vector<Field> context_;
};

}  // namespace tern::log
