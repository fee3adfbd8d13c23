// SPDX-License-Identifier: Apache-2.0
#include "base/log.hpp"

namespace tern::log {

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool parse_level(std::string_view name, Level& out) {
  for (Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (level_name(level) == name) {
      out = level;
      return true;
    }
  }
  return false;
}

void Logger::write(Level level, std::string_view message, std::vector<Field> fields) const {
  if (!enabled(level)) {
    return;
  }
  if (context_.empty()) {
    sink_->write(level, message, fields);
    return;
  }
  std::vector<Field> all = context_;
  all.insert(all.end(), std::make_move_iterator(fields.begin()),
             std::make_move_iterator(fields.end()));
  sink_->write(level, message, all);
}

}  // namespace tern::log
