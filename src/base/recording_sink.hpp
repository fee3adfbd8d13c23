// SPDX-License-Identifier: Apache-2.0
// A log::Sink for tests: keeps every record (message and fields, the logger's
// context included) so a test can check what was logged. Thread-safe, as sinks
// must be. Never for production: it grows without bound.
#pragma once

#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"

namespace tern::log {

class RecordingSink : public Sink {
 public:
  using Record = std::map<std::string, std::string>;  // "message" plus the fields

  bool enabled(Level /*level*/) const override { return true; }

  void write(Level /*level*/, std::string_view message, std::span<const Field> fields) override {
    std::lock_guard lock(mutex_);
    Record record{{"message", std::string(message)}};
    for (const auto& field : fields) {
      record[field.key] = field.value;
    }
    records_.push_back(std::move(record));
  }

  // The records logged with `message`, oldest first.
  std::vector<Record> with_message(std::string_view message) {
    std::lock_guard lock(mutex_);
    std::vector<Record> out;
    for (const auto& record : records_) {
      if (record.at("message") == message) {
        out.push_back(record);
      }
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<Record> records_;
};

}  // namespace tern::log
