// SPDX-License-Identifier: Apache-2.0
#include "runtime/log_sink.hpp"

#include <cerrno>
#include <ctime>

#include <fmt/format.h>
#include <unistd.h>

#include "base/escape.hpp"

namespace tern::runtime {
namespace {

// RFC 3339 UTC with milliseconds: sortable and unambiguous across time zones.
std::string format_time(SystemTime time) {
  auto since_epoch = time.time_since_epoch();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis.count());
}

bool needs_quoting(std::string_view value) {
  if (value.empty()) {
    return true;
  }
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '=' || c == '"' || c == '\\' || u < 0x20 || u == 0x7f) {
      return true;
    }
  }
  return false;
}

void append_text_value(std::string& out, std::string_view value) {
  if (!needs_quoting(value)) {
    out += value;
    return;
  }
  out += '"';
  append_escaped(out, value, ControlEscape::kHex);
  out += '"';
}

}  // namespace

std::string format_text_record(SystemTime time, log::Level level, std::string_view message,
                               std::span<const log::Field> fields) {
  std::string line = format_time(time);
  line += ' ';
  line += log::level_name(level);
  line += ' ';
  // The message is free text; only control characters are escaped so a record
  // stays on one line.
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      append_escaped(line, std::string_view(&c, 1), ControlEscape::kHex);
    } else {
      line += c;
    }
  }
  for (const auto& field : fields) {
    line += ' ';
    line += field.key;
    line += '=';
    append_text_value(line, field.value);
  }
  line += '\n';
  return line;
}

std::string format_json_record(SystemTime time, log::Level level, std::string_view message,
                               std::span<const log::Field> fields) {
  std::string line = "{\"time\":";
  append_json_string(line, format_time(time));
  line += ",\"level\":";
  append_json_string(line, log::level_name(level));
  line += ",\"msg\":";
  append_json_string(line, message);
  for (const auto& field : fields) {
    line += ',';
    append_json_string(line, field.key);
    line += ':';
    append_json_string(line, field.value);
  }
  line += "}\n";
  return line;
}

FdSink::FdSink(int fd, LogFormat format, log::Level min_level, const Clock* clock)
    : fd_(fd),
      format_(format),
      min_level_(static_cast<int>(min_level)),
      clock_(clock != nullptr ? clock : &system_clock_) {}

bool FdSink::enabled(log::Level level) const {
  return static_cast<int>(level) >= min_level_.load(std::memory_order_relaxed);
}

void FdSink::write(log::Level level, std::string_view message, std::span<const log::Field> fields) {
  if (!enabled(level)) {
    return;
  }
  std::string line = format_ == LogFormat::kText
                         ? format_text_record(clock_->now(), level, message, fields)
                         : format_json_record(clock_->now(), level, message, fields);
  std::lock_guard lock(write_mutex_);
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

void FdSink::set_min_level(log::Level level) {
  min_level_.store(static_cast<int>(level), std::memory_order_relaxed);
}

log::Level FdSink::min_level() const {
  return static_cast<log::Level>(min_level_.load(std::memory_order_relaxed));
}

}  // namespace tern::runtime
