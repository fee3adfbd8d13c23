// SPDX-License-Identifier: Apache-2.0
#include "runtime/log_sink.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace tern::runtime {
namespace {

class FixedClock final : public Clock {
 public:
  SystemTime now() const override {
    return from_unix_seconds(1700000000) + std::chrono::milliseconds(5);
  }

  Instant monotonic() const override { return Instant(); }
};

TEST(TextLogFormat, QuotesValuesThatWouldSplitTheLine) {
  std::vector<log::Field> fields{
      {"conn", "abc"}, {"error", "read timed out"}, {"empty", ""}, {"q", "a\"b\\c\nd"}};
  EXPECT_EQ(format_text_record(from_unix_seconds(1700000000), log::Level::kInfo,
                               "connection closed", fields),
            "2023-11-14T22:13:20.000Z info connection closed conn=abc error=\"read timed out\" "
            "empty=\"\" q=\"a\\\"b\\\\c\\nd\"\n");
}

TEST(TextLogFormat, KeepsAMessageWithNewlinesOnOneLine) {
  EXPECT_EQ(format_text_record(from_unix_seconds(0), log::Level::kWarn, "two\nlines", {}),
            "1970-01-01T00:00:00.000Z warn two\\nlines\n");
}

TEST(JsonLogFormat, WritesOneObjectPerLine) {
  std::vector<log::Field> fields{{"peer", "192.0.2.1"}, {"x", "tab\there\x01"}};
  EXPECT_EQ(
      format_json_record(from_unix_seconds(1700000000), log::Level::kError, "say \"hi\"", fields),
      "{\"time\":\"2023-11-14T22:13:20.000Z\",\"level\":\"error\",\"msg\":\"say "
      "\\\"hi\\\"\",\"peer\":\"192.0.2.1\",\"x\":\"tab\\there\\u0001\"}\n");
}

std::string drain_pipe(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

TEST(FdSink, FiltersByALevelThatCanChangeAtRuntime) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  FixedClock clock;
  {
    FdSink sink(fds[1], LogFormat::kText, log::Level::kInfo, &clock);
    log::Logger logger = log::Logger(&sink).with("conn", "c1");
    logger.debug("hidden");
    logger.info("shown", {{"k", "v"}});
    sink.set_min_level(log::Level::kDebug);
    EXPECT_EQ(sink.min_level(), log::Level::kDebug);
    logger.debug("now shown");
  }
  ::close(fds[1]);
  EXPECT_EQ(drain_pipe(fds[0]),
            "2023-11-14T22:13:20.005Z info shown conn=c1 k=v\n"
            "2023-11-14T22:13:20.005Z debug now shown conn=c1\n");
  ::close(fds[0]);
}

TEST(FdSink, WritesJsonWhenAsked) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  FixedClock clock;
  {
    FdSink sink(fds[1], LogFormat::kJson, log::Level::kDebug, &clock);
    log::Logger(&sink).info("hello");
  }
  ::close(fds[1]);
  EXPECT_EQ(drain_pipe(fds[0]),
            "{\"time\":\"2023-11-14T22:13:20.005Z\",\"level\":\"info\",\"msg\":\"hello\"}\n");
  ::close(fds[0]);
}

}  // namespace
}  // namespace tern::runtime
