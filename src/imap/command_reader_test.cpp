// SPDX-License-Identifier: Apache-2.0
#include "imap/command_reader.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tern::imap {
namespace {

// Renders events as text so whole transcripts compare at once.
std::string describe(const ReaderEvent& event) {
  if (std::holds_alternative<NeedInput>(event)) {
    return "need";
  }
  if (std::holds_alternative<SendContinuation>(event)) {
    return "+";
  }
  if (const auto* line = std::get_if<Line>(&event)) {
    return "line[" + line->text + "]";
  }
  if (const auto* rejected = std::get_if<Rejected>(&event)) {
    return "rejected[" + rejected->tag + "|" + rejected->reason +
           (rejected->too_big ? "|toobig" : "") + (rejected->close ? "|close" : "") + "]";
  }
  const auto& command = std::get<RawCommand>(event);
  std::string out = "cmd[" + command.tag + "|" + command.name + "|" + command.bytes + "|";
  for (const auto& literal : command.literals) {
    out += command.bytes.substr(literal.offset, literal.size) + (literal.binary ? "~" : "") + ";";
  }
  return out + "]";
}

// Feeds `input` in pieces of the given sizes and collects every event but NeedInput.
std::vector<std::string> run(const std::string& input, std::vector<std::size_t> split_points,
                             ReaderLimits limits = {}) {
  CommandReader reader(limits);
  std::vector<std::string> events;
  std::size_t start = 0;
  split_points.push_back(input.size());
  for (std::size_t cut : split_points) {
    reader.receive(std::string_view(input).substr(start, cut - start));
    start = cut;
    while (true) {
      auto event = reader.next();
      if (std::holds_alternative<NeedInput>(event)) {
        break;
      }
      events.push_back(describe(event));
    }
  }
  return events;
}

// Beast's "parsegrind": the same events for every split point and byte by byte.
void expect_same_events_for_every_split(const std::string& input, ReaderLimits limits = {}) {
  auto whole = run(input, {}, limits);
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    EXPECT_EQ(run(input, {cut}, limits), whole) << "split at " << cut;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) {
    every.push_back(i);
  }
  EXPECT_EQ(run(input, every, limits), whole) << "byte by byte";
}

TEST(ImapCommandReader, FramesSimpleCommands) {
  auto events = run("a1 NOOP\r\na2 LOGIN alice secret\r\n", {});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "cmd[a1|NOOP|a1 NOOP\r\n|]");
  EXPECT_EQ(events[1], "cmd[a2|LOGIN|a2 LOGIN alice secret\r\n|]");
}

TEST(ImapCommandReader, SynchronizingLiteralAsksForContinuation) {
  auto events = run("a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n", {});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "+");
  EXPECT_EQ(events[1], "+");
  EXPECT_EQ(events[2], "cmd[a1|LOGIN|a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n|alice;secret;]");
}

TEST(ImapCommandReader, NonSynchronizingAndBinaryLiterals) {
  using namespace std::string_literals;
  auto input = "a1 APPEND INBOX {3+}\r\nabc ~{2}\r\n\0x\r\n"s;
  auto events = run(input, {});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "+");  // only the synchronizing literal8 needs one
  EXPECT_EQ(events[1], "cmd[a1|APPEND|"s + input + "|abc;" + "\0x"s + "~;]");
  expect_same_events_for_every_split(input);
}

TEST(ImapCommandReader, SameEventsForEverySplit) {
  expect_same_events_for_every_split(
      "a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\na2 SELECT INBOX\r\na3 NOOP\n");
  expect_same_events_for_every_split("x BAD\r\n\r\n* x\r\nb1 FETCH 1 (BODY[])\r\n");
}

TEST(ImapCommandReader, RejectsMissingTagsAndCommands) {
  auto events = run("\r\n+ x\r\nlonely\r\n", {});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "rejected[|missing or invalid tag]");
  EXPECT_EQ(events[1], "rejected[|missing or invalid tag]");
  EXPECT_EQ(events[2], "rejected[lonely|missing command]");
}

TEST(ImapCommandReader, RefusesATooLargeSynchronizingLiteralWithoutReadingIt) {
  ReaderLimits limits;
  limits.max_literal_bytes = 10;
  // No continuation: the client must not send the 11 bytes; the next line is a
  // new command.
  auto events = run("a1 LOGIN {11}\r\na2 NOOP\r\n", {}, limits);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "rejected[a1|literal too large|toobig]");
  EXPECT_EQ(events[1], "cmd[a2|NOOP|a2 NOOP\r\n|]");
}

TEST(ImapCommandReader, SkipsATooLargeNonSynchronizingLiteralWithoutStoringIt) {
  ReaderLimits limits;
  limits.max_literal_bytes = 10;
  std::string input = "a1 LOGIN {20+}\r\n" + std::string(20, 'x') + " {2+}\r\nzz\r\na2 NOOP\r\n";
  auto events = run(input, {}, limits);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "rejected[a1|literal too large|toobig]");
  EXPECT_EQ(events[1], "cmd[a2|NOOP|a2 NOOP\r\n|]");
  expect_same_events_for_every_split(input, limits);
}

TEST(ImapCommandReader, AppendHasItsOwnLimit) {
  ReaderLimits limits;
  limits.max_literal_bytes = 10;
  limits.max_append_bytes = 100;
  auto events = run("a1 APPEND INBOX {50+}\r\n" + std::string(50, 'm') + "\r\n", {}, limits);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].substr(0, 11), "cmd[a1|APPE");
}

TEST(ImapCommandReader, MultiAppendHasALimitForAllItsMessages) {
  ReaderLimits limits;
  limits.max_append_bytes = 100;
  limits.max_append_command_bytes = 150;
  // Two messages of 50 fit; a third would pass 150 and is refused before it is read.
  std::string two = "a1 APPEND INBOX {50+}\r\n" + std::string(50, 'm') + " {50+}\r\n" +
                    std::string(50, 'n') + "\r\n";
  auto events = run(two, {}, limits);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].substr(0, 11), "cmd[a1|APPE");
  events = run("a2 APPEND INBOX {50}\r\n", {}, limits);
  EXPECT_EQ(events, (std::vector<std::string>{"+"}));
  events = run("a2 APPEND INBOX {50+}\r\n" + std::string(50, 'm') + " {50+}\r\n" +
                   std::string(50, 'n') + " {50}\r\n",
               {}, limits);
  EXPECT_EQ(events, (std::vector<std::string>{
                        "rejected[a2|APPEND too large (all its messages together)|toobig]"}));
}

TEST(ImapCommandReader, LiteralMinusRefusesLargeNonSynchronizingLiterals) {
  ReaderLimits limits;
  limits.literal_minus = true;
  std::string input = "a1 APPEND INBOX {5000+}\r\n" + std::string(5000, 'm') + "\r\na2 NOOP\r\n";
  auto events = run(input, {}, limits);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0],
            "rejected[a1|non-synchronizing literal larger than 4096 bytes (LITERAL-)|toobig]");
  EXPECT_EQ(events[1], "cmd[a2|NOOP|a2 NOOP\r\n|]");
}

TEST(ImapCommandReader, TooLongLineClosesTheConnection) {
  ReaderLimits limits;
  limits.max_line_bytes = 16;
  CommandReader reader(limits);
  std::string long_line(17, 'a');
  reader.receive(std::string_view(long_line));
  auto event = reader.next();
  ASSERT_TRUE(std::holds_alternative<Rejected>(event));
  EXPECT_TRUE(std::get<Rejected>(event).close);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(ImapCommandReader, CommandsBiggerThanTheLimitAreRefused) {
  ReaderLimits limits;
  limits.max_command_bytes = 64;
  auto events = run("a1 LOGIN {60}\r\na2 NOOP\r\n", {}, limits);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "rejected[a1|command too long|toobig]");
}

TEST(ImapCommandReader, LineModeReturnsRawLines) {
  CommandReader reader;
  reader.set_line_mode(true);
  reader.receive(std::string_view("DONE\r\nabc\n"));
  EXPECT_EQ(describe(reader.next()), "line[DONE]");
  EXPECT_EQ(describe(reader.next()), "line[abc]");
  EXPECT_EQ(describe(reader.next()), "need");
}

TEST(ImapCommandReader, DiscardDropsWhatWasPipelinedBeforeTls) {
  CommandReader reader;
  reader.receive(std::string_view("a1 STARTTLS\r\na2 LOGIN evil pw\r\n"));
  EXPECT_EQ(describe(reader.next()), "cmd[a1|STARTTLS|a1 STARTTLS\r\n|]");
  reader.discard_buffered_input();
  EXPECT_EQ(describe(reader.next()), "need");
}

TEST(ImapLiteralMarker, ParsesEveryForm) {
  LiteralMarker m;
  ASSERT_TRUE(find_literal_marker("a1 LOGIN {5}", m));
  EXPECT_EQ(m.size, 5u);
  EXPECT_FALSE(m.non_synchronizing);
  ASSERT_TRUE(find_literal_marker("x ~{12+}", m));
  EXPECT_TRUE(m.binary);
  EXPECT_TRUE(m.non_synchronizing);
  EXPECT_EQ(m.start, 2u);
  EXPECT_FALSE(find_literal_marker("a {}", m));
  EXPECT_FALSE(find_literal_marker("a {+}", m));
  EXPECT_FALSE(find_literal_marker("a {1x}", m));
  EXPECT_FALSE(find_literal_marker("a {9999999999999999999}", m));
}

}  // namespace
}  // namespace tern::imap
