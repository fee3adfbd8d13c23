// SPDX-License-Identifier: Apache-2.0
// A small metrics registry: counters and gauges with optional labels, rendered in the
// Prometheus text exposition format (version 0.0.4). No I/O and no globals: the
// daemon owns one Registry and hands references to whatever counts things.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::metrics {

// Label pairs in the order they were given, e.g. {{"listener", "smtp"}}. The order
// is part of a series' identity; callers use one order per family.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count (Prometheus "counter"). Thread-safe; lock-free.
class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }

  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (Prometheus "gauge"), such as open connections.
// Thread-safe; lock-free.
class Gauge {
 public:
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }

  void add(std::int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }

  void sub(std::int64_t n = 1) { value_.fetch_sub(n, std::memory_order_relaxed); }

  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Owns every metric of a process. Registration takes a lock; updating a metric
// through the returned reference does not.
//
// Thread-safety: all member functions may be called from any thread.
// Lifetime: returned references stay valid as long as the Registry lives.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the counter `name{labels}`, creating it (and its family, with `help`)
  // on first use. Asking again with the same name and labels returns the same
  // counter; the help text of the first registration wins.
  // Requires: `name` and label names match [a-zA-Z_:][a-zA-Z0-9_:]* (label names
  // without ':'); `name` was not registered as a gauge. These are programmer
  // errors and abort.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});

  // The same for gauges.
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});

  // Renders every family in the Prometheus text format, families sorted by name,
  // series in registration order, with "# HELP" and "# TYPE" lines. Label values
  // and help text are escaped as the format requires.
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge };

  struct Series {
    std::string labels;  // rendered "{a=\"b\"}" or empty; the series key
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
  };

  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<Series> series;
  };

  Series& find_or_add(std::string_view name, std::string_view help, Type type,
                      const Labels& labels);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;  // guarded by mutex_
};

}  // namespace tern::metrics
