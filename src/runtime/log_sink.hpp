// SPDX-License-Identifier: Apache-2.0
// Log sinks for the log facade (base/log.hpp): one record per line, as text or as
// JSON, written to a file descriptor (stderr by default).
#pragma once

#include <atomic>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "runtime/system_clock.hpp"

namespace tern::runtime {

enum class LogFormat { kText, kJson };

// Formats one record as a text line:
//   2024-05-01T12:00:00.123Z info connection accepted conn=ab12 peer=192.0.2.1
// Values that are empty or contain a space, '=', '"', '\\' or a control character
// are double-quoted with C-style escapes, so every line splits unambiguously.
// The line ends with '\n'.
std::string format_text_record(SystemTime time, log::Level level, std::string_view message,
                               std::span<const log::Field> fields);

// Formats one record as a JSON object on one line:
//   {"time":"2024-...Z","level":"info","msg":"connection accepted","conn":"ab12"}
// Fields become string members in order; a field named time, level or msg is
// written anyway (duplicates are legal JSON and keep the record lossless).
// Strings are escaped per RFC 8259 §7; bytes that are not valid UTF-8 pass through
// unchanged. The line ends with '\n'.
std::string format_json_record(SystemTime time, log::Level level, std::string_view message,
                               std::span<const log::Field> fields);

// Writes formatted records to a file descriptor with one write(2) per record,
// under a mutex, so lines from different threads never interleave.
//
// The minimum level can be changed at any time from any thread
// (set_min_level(), e.g. on SIGHUP); records below it are dropped cheaply.
// Write errors are ignored: logging must never fail a connection.
// Lifetime: the sink does not own `fd` and never closes it; `clock` (if given)
// must outlive the sink.
class FdSink final : public log::Sink {
 public:
  // `fd` 2 is stderr. A null `clock` means the system clock.
  FdSink(int fd, LogFormat format, log::Level min_level, const Clock* clock = nullptr);

  bool enabled(log::Level level) const override;
  void write(log::Level level, std::string_view message,
             std::span<const log::Field> fields) override;

  void set_min_level(log::Level level);
  log::Level min_level() const;

 private:
  int fd_;
  LogFormat format_;
  std::atomic<int> min_level_;
  SystemClock system_clock_;
  const Clock* clock_;
  std::mutex write_mutex_;
};

}  // namespace tern::runtime
