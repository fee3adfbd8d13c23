// SPDX-License-Identifier: Apache-2.0
#include "imap/arguments.hpp"

#include <gtest/gtest.h>

namespace tern::imap {
namespace {

// Frames `input` with the real reader so literal spans are what a session sees.
RawCommand frame(const std::string& input) {
  CommandReader reader;
  reader.receive(std::string_view(input));
  while (true) {
    auto event = reader.next();
    if (auto* command = std::get_if<RawCommand>(&event)) {
      return *command;
    }
    if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Rejected>(event)) {
      ADD_FAILURE() << "not a command: " << input;
      return {};
    }
  }
}

TEST(ImapArguments, ReadsAstringsQuotedAndLiteral) {
  auto command = frame("a1 LOGIN {5}\r\nalice \"se\\\"cr\\\\et\"\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.astring(), "alice");
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.astring(), "se\"cr\\et");
  EXPECT_TRUE(args.end());
}

TEST(ImapArguments, MailboxNormalisesInboxOnly) {
  auto command = frame("a1 RENAME inbox \"Old Mail\"\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.mailbox(), "INBOX");
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.mailbox(), "Old Mail");
}

TEST(ImapArguments, ListPatternsKeepWildcards) {
  auto command = frame("a1 LIST \"\" %/*\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.list_mailbox(), "");
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.list_mailbox(), "%/*");
}

TEST(ImapArguments, FlagListsAndDates) {
  auto command =
      frame("a1 APPEND INBOX (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" {2}\r\nhi\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.mailbox(), "INBOX");
  ASSERT_TRUE(args.space());
  auto flags = args.flag_list();
  ASSERT_TRUE(flags);
  EXPECT_EQ(*flags, (std::vector<std::string>{"\\Seen", "$Junk"}));
  ASSERT_TRUE(args.space());
  auto when = args.date_time();
  ASSERT_TRUE(when) << when.error().message;
  EXPECT_EQ(*when, 760686745);  // 1994-02-08T05:52:25Z
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.string(), "hi");
  EXPECT_TRUE(args.at_end());
  EXPECT_EQ(format_date_time(760686745), "08-Feb-1994 05:52:25 +0000");
}

TEST(ImapArguments, SearchDatesAndNumbers) {
  auto command = frame("a1 SEARCH SINCE 1-Feb-1994 UID 4294967295 0 \"29-Feb-2024\"\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.atom(), "SINCE");
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.date(), 760060800);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.atom(), "UID");
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.number(), 4294967295u);
  ASSERT_TRUE(args.space());
  EXPECT_FALSE(args.nz_number());
  EXPECT_EQ(*args.number(), 0u);
  ASSERT_TRUE(args.space());
  EXPECT_TRUE(args.date());
}

TEST(ImapArguments, NilAndNstring) {
  auto command = frame("a1 X NIL nil \"NIL\" NILE\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_FALSE(args.nstring()->has_value());
  ASSERT_TRUE(args.space());
  EXPECT_FALSE(args.nstring()->has_value());
  ASSERT_TRUE(args.space());
  EXPECT_EQ(args.nstring()->value(), "NIL");
  ASSERT_TRUE(args.space());
  EXPECT_FALSE(args.nstring());  // NILE is an atom, not a string
}

TEST(ImapArguments, ErrorsLeaveTheCursorInPlace) {
  auto command = frame("a1 X \"unterminated 32-Jan-2020 (\\Seen\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_FALSE(args.string());
  EXPECT_EQ(args.peek(), '"');
  for (const char* bad : {"a1 X 32-Jan-2020\r\n", "a1 X 29-Feb-2023\r\n", "a1 X 1-Foo-2020\r\n"}) {
    auto c = frame(bad);
    Arguments a(c);
    ASSERT_TRUE(a.space());
    EXPECT_FALSE(a.date()) << bad;
  }
  auto flags = frame("a1 X (\\Seen foo\r\n");
  Arguments f(flags);
  ASSERT_TRUE(f.space());
  EXPECT_FALSE(f.flag_list());
  EXPECT_EQ(f.peek(), '(');
}

TEST(ImapArguments, BracesInTextAreNotLiterals) {
  // "{3}" inside a quoted string is text; only reader-framed literals count.
  auto command = frame("a1 X \"{3}\" abc\r\n");
  Arguments args(command);
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.astring(), "{3}");
  ASSERT_TRUE(args.space());
  EXPECT_EQ(*args.astring(), "abc");
}

}  // namespace
}  // namespace tern::imap
