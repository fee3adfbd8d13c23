// SPDX-License-Identifier: Apache-2.0
#include "base/metrics.hpp"

#include "base/assert.hpp"

namespace tern::metrics {
namespace {

bool is_valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

// The exposition format escapes backslash and newline in HELP text, and in label
// values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) {
    return {};
  }
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : labels) {
    TERN_ASSERT(is_valid_name(key, false), "metric label names match [a-zA-Z_][a-zA-Z0-9_]*");
    if (!first) {
      out += ',';
    }
    first = false;
    out += key;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

Registry::Series& Registry::find_or_add(std::string_view name, std::string_view help, Type type,
                                        const Labels& labels) {
  TERN_ASSERT(is_valid_name(name, true), "metric names match [a-zA-Z_:][a-zA-Z0-9_:]*");
  std::string key = render_labels(labels);
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    Family family;
    family.type = type;
    family.help = std::string(help);
    it = families_.emplace(std::string(name), std::move(family)).first;
  }
  Family& family = it->second;
  TERN_ASSERT(family.type == type, "a metric name is either a counter or a gauge");
  for (Series& series : family.series) {
    if (series.labels == key) {
      return series;
    }
  }
  Series series;
  series.labels = std::move(key);
  if (type == Type::kCounter) {
    series.counter = std::make_unique<Counter>();
  } else {
    series.gauge = std::make_unique<Gauge>();
  }
  family.series.push_back(std::move(series));
  return family.series.back();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return *find_or_add(name, help, Type::kCounter, labels).counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *find_or_add(name, help, Type::kGauge, labels).gauge;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    out += family.type == Type::kCounter ? " counter\n" : " gauge\n";
    for (const Series& series : family.series) {
      out += name;
      out += series.labels;
      out += ' ';
      out += series.counter ? std::to_string(series.counter->value())
                            : std::to_string(series.gauge->value());
      out += '\n';
    }
  }
  return out;
}

}  // namespace tern::metrics
