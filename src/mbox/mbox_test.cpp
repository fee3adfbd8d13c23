// SPDX-License-Identifier: Apache-2.0
#include "mbox/mbox.hpp"

#include <gtest/gtest.h>

namespace tern::mbox {
namespace {

TEST(MboxSeparator, TheFormsWritersUse) {
  // mutt / Dovecot: asctime in UTC, one-digit day padded with a space.
  EXPECT_EQ(separator_date("From MAILER-DAEMON Thu Nov  9 10:00:00 2023"), 1699524000);
  // Google Takeout: a zone before the year.
  EXPECT_EQ(separator_date("From 1784529@xxx Wed Mar 13 12:59:19 +0000 2024"), 1710334759);
  // A zone after the year, an empty sender, no seconds, CRLF.
  EXPECT_EQ(separator_date("From user@example.org Thu Nov  9 12:00:00 2023 +0200"), 1699524000);
  EXPECT_EQ(separator_date("From  Thu Nov  9 10:00 2023\r"), 1699524000);
  EXPECT_EQ(separator_date("From - Sat Jan  3 01:05:34 1996"), 820631134);  // Thunderbird
  // Dovecot: two spaces after the sender, a zero-padded day.
  EXPECT_EQ(separator_date("From u@example.test  Mon Nov 06 09:00:00 2023"), 1699261200);
  // Body lines that merely start with "From ".
  for (std::string_view no :
       {"From here we go", "From: a@b", "From a Thu Nov  9 2023", "From a Thu Xyz  9 10:00:00 2023",
        "From a Thu Nov 32 10:00:00 2023", "From a Thu Nov  9 25:00:00 2023",
        "From a Thu Nov  9 10:00:00", ">From a Thu Nov  9 10:00:00 2023",
        "From a Thu Nov  9 1:0:0 2023 x"}) {
    EXPECT_FALSE(separator_date(no)) << no;
  }
}

TEST(MboxUnquote, OneQuoteOffFromLines) {
  EXPECT_EQ(unquote(">From the start"), "From the start");
  EXPECT_EQ(unquote(">>From deeper"), ">From deeper");
  EXPECT_EQ(unquote("> From a quote"), "> From a quote");
  EXPECT_EQ(unquote(">Fromage"), ">Fromage");
  EXPECT_EQ(unquote("From plain"), "From plain");
  EXPECT_EQ(unquote(">>>"), ">>>");
}

TEST(MboxStatus, EveryWritersFields) {
  const auto s = read_status(
      "Subject: x\nStatus: RO\nX-Status: AF\nX-Keywords: $Forwarded work\n\tlater\n\nStatus: "
      "body\n");
  EXPECT_TRUE(s.seen);
  EXPECT_TRUE(s.answered);
  EXPECT_TRUE(s.flagged);
  EXPECT_FALSE(s.deleted);
  EXPECT_FALSE(s.draft);
  EXPECT_EQ(s.keywords, (std::vector<std::string>{"$Forwarded", "work", "later"}));

  const auto moz = read_status("X-Mozilla-Status: 000d\r\nX-Mozilla-Keys: $label1 \\bad\r\n\r\n");
  EXPECT_TRUE(moz.seen);
  EXPECT_FALSE(moz.answered);
  EXPECT_TRUE(moz.flagged);
  EXPECT_TRUE(moz.deleted);
  EXPECT_EQ(moz.keywords, std::vector<std::string>{"$label1"});

  const auto draft = read_status("x-status: T\n\n");
  EXPECT_TRUE(draft.draft);
  EXPECT_FALSE(read_status("Subject: none\n\nStatus: R\n").seen);
}

TEST(MboxStatus, FieldsLeftOutAsDovecotDoes) {
  EXPECT_EQ(without_status("Subject: x\r\nStatus: RO\r\nX-UID: 7\r\nX-Keywords: a\r\n b\r\n"
                           "To: y\r\nContent-Length: 9\r\n\r\nStatus: kept\r\n"),
            "Subject: x\r\nTo: y\r\n\r\nStatus: kept\r\n");
  EXPECT_EQ(without_status("X-IMAPbase: 1 2\nSubject: only\n"), "Subject: only\n");
  EXPECT_TRUE(has_content_length("Subject: x\ncontent-length: 9\n\nbody\n"));
  EXPECT_FALSE(has_content_length("Subject: x\n\nContent-Length: 9\n"));
  EXPECT_EQ(without_status("no header at all"), "no header at all");
}

TEST(MboxWriting, WhatTheReadersReadBack) {
  EXPECT_EQ(separator_line(1699524000), "From MAILER-DAEMON Thu Nov  9 10:00:00 2023");
  EXPECT_EQ(separator_line(0), "From MAILER-DAEMON Thu Jan  1 00:00:00 1970");
  EXPECT_EQ(separator_line(-1), "From MAILER-DAEMON Wed Dec 31 23:59:59 1969");
  for (std::int64_t date : {std::int64_t{0}, std::int64_t{-86401}, std::int64_t{951782400},
                            std::int64_t{1710334759}, std::int64_t{4102444799}}) {
    EXPECT_EQ(separator_date(separator_line(date)), date) << date;
  }
  Status s;
  s.seen = s.flagged = s.draft = true;
  s.keywords = {"$Forwarded", "work"};
  const std::string fields = status_fields(s, 7, 42);
  EXPECT_EQ(fields,
            "Status: RO\nX-Status: FT\nX-Keywords: $Forwarded work\nX-UID: 7\n"
            "Content-Length: 42\n");
  const Status back = read_status(fields + "\nbody\n");
  EXPECT_TRUE(back.seen && back.flagged && back.draft);
  EXPECT_FALSE(back.answered || back.deleted);
  EXPECT_EQ(back.keywords, s.keywords);
  EXPECT_EQ(status_fields(Status{}, 1, 0), "Status: O\nX-UID: 1\nContent-Length: 0\n");
  EXPECT_TRUE(has_content_length(status_fields(Status{}, 1, 0)));
  EXPECT_EQ(base_field(1795969811, 3, {"$Forwarded", "custom1"}),
            "X-IMAPbase: 1795969811 3 $Forwarded custom1\n");
  EXPECT_EQ(without_status(base_field(1, 2, {}) + fields + "Subject: x\n\n"), "Subject: x\n\n");
}

}  // namespace
}  // namespace tern::mbox
