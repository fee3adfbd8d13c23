// SPDX-License-Identifier: Apache-2.0
#include "base/metrics.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tern::metrics {
namespace {

TEST(MetricsRegistry, RendersCountersAndGaugesWithHelpAndType) {
  Registry registry;
  registry.counter("tern_accepted_total", "Connections accepted.").inc(3);
  registry.gauge("tern_open", "Open connections.").set(2);
  EXPECT_EQ(registry.render(),
            "# HELP tern_accepted_total Connections accepted.\n"
            "# TYPE tern_accepted_total counter\n"
            "tern_accepted_total 3\n"
            "# HELP tern_open Open connections.\n"
            "# TYPE tern_open gauge\n"
            "tern_open 2\n");
}

TEST(MetricsRegistry, SameNameAndLabelsGiveTheSameSeries) {
  Registry registry;
  Counter& a = registry.counter("c_total", "help", {{"listener", "smtp"}});
  Counter& b = registry.counter("c_total", "other help", {{"listener", "smtp"}});
  Counter& c = registry.counter("c_total", "help", {{"listener", "imap"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.inc();
  c.inc(5);
  EXPECT_EQ(registry.render(),
            "# HELP c_total help\n"
            "# TYPE c_total counter\n"
            "c_total{listener=\"smtp\"} 1\n"
            "c_total{listener=\"imap\"} 5\n");
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.gauge("g", "line\\one\ntwo", {{"path", "a\"b\\c\nd"}, {"x", "y"}}).sub(1);
  EXPECT_EQ(registry.render(),
            "# HELP g line\\\\one\\ntwo\n"
            "# TYPE g gauge\n"
            "g{path=\"a\\\"b\\\\c\\nd\",x=\"y\"} -1\n");
}

TEST(MetricsRegistry, CountsFromManyThreads) {
  Registry registry;
  Counter& counter = registry.counter("n_total", "n");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        counter.inc();
        registry.gauge("g", "g").add();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(counter.value(), 4000u);
  EXPECT_EQ(registry.gauge("g", "g").value(), 4000);
}

TEST(MetricsRegistryDeathTest, RejectsInvalidNames) {
  Registry registry;
  EXPECT_DEATH(registry.counter("1bad", "h"), "metric names");
  EXPECT_DEATH(registry.counter("ok", "h", {{"bad-label", "v"}}), "label names");
}

}  // namespace
}  // namespace tern::metrics
