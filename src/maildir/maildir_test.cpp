// SPDX-License-Identifier: Apache-2.0
#include "maildir/maildir.hpp"

#include <gtest/gtest.h>

namespace tern::maildir {
namespace {

TEST(MaildirFileName, BaseFlagsAndVirtualSize) {
  // Names as Dovecot 2.3 writes them.
  auto seen = parse_file_name("1795968428.M819876P23148.vm,S=17,W=20:2,Sab");
  EXPECT_EQ(seen.base, "1795968428.M819876P23148.vm,S=17,W=20");
  EXPECT_EQ(seen.flags, "Sab");
  EXPECT_EQ(seen.vsize, 20u);
  auto fresh = parse_file_name("1795968428.M826645P23148.vm,S=14,W=17");  // in new/
  EXPECT_EQ(fresh.base, "1795968428.M826645P23148.vm,S=14,W=17");
  EXPECT_EQ(fresh.flags, "");
  EXPECT_EQ(fresh.vsize, 17u);
  // Another writer: no sizes; an experimental ":1," info is no flags.
  auto plain = parse_file_name("1204680122.27542_0.host:2,FRS");
  EXPECT_EQ(plain.base, "1204680122.27542_0.host");
  EXPECT_EQ(plain.flags, "FRS");
  EXPECT_FALSE(plain.vsize);
  EXPECT_EQ(parse_file_name("x:1,abc").flags, "");
  EXPECT_FALSE(parse_file_name("x,W=12z").vsize);
}

TEST(MaildirUidList, VersionThreeAsDovecotWritesIt) {
  auto list = parse_uidlist(
      "3 V1795968430 N3 G21e69130ac4d0c6b6c5a000083ecc375\n"
      "1 :1795968428.M819876P23148.vm,S=17,W=20\n"
      "2 W24 :1795968428.M822205P23148.vm,S=21,W=24\n");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->uid_validity, 1795968430u);
  EXPECT_EQ(list->next_uid, 3u);
  ASSERT_EQ(list->entries.size(), 2u);
  EXPECT_EQ(list->entries[1].uid, 2u);
  EXPECT_EQ(list->entries[1].base, "1795968428.M822205P23148.vm,S=21,W=24");
}

TEST(MaildirUidList, VersionOneAndDamage) {
  auto v1 = parse_uidlist("1 1200000000 9\n4 1204680122.27542_0.host\n7 other\n");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->uid_validity, 1200000000u);
  EXPECT_EQ(v1->next_uid, 9u);
  EXPECT_EQ(v1->entries[0].base, "1204680122.27542_0.host");
  // A UID at or past N raises the next UID past it.
  EXPECT_EQ(parse_uidlist("3 V5 N2\n7 :a\n")->next_uid, 8u);
  EXPECT_FALSE(parse_uidlist(""));
  EXPECT_FALSE(parse_uidlist("2 V1 N1\n"));
  EXPECT_FALSE(parse_uidlist("3 N4\n"));  // no UIDVALIDITY
  EXPECT_FALSE(parse_uidlist("3 V1 N4\n1 no-colon\n"));
  EXPECT_FALSE(parse_uidlist("3 V1 N4\n2 :a\n2 :b\n"));  // not ascending
  EXPECT_FALSE(parse_uidlist("3 V1 N4\n0 :a\n"));
  EXPECT_FALSE(parse_uidlist("1 5 x\n"));
  EXPECT_FALSE(parse_uidlist("1 0 1\n9 0\n"));  // UIDVALIDITY 0 (found by the fuzzer)
}

TEST(MaildirKeywords, ByIndex) {
  EXPECT_EQ(parse_keywords("0 $Forwarded\n1 custom1\n"),
            (std::vector<std::string>{"$Forwarded", "custom1"}));
  EXPECT_EQ(parse_keywords("2 late\nx y\n99 far\n0 first"),
            (std::vector<std::string>{"first", "", "late"}));
}

TEST(MaildirFolders, MaildirPlusPlusNames) {
  EXPECT_EQ(folder_mailbox(".Sent"), "Sent");
  EXPECT_EQ(folder_mailbox(".Lists.tern"), "Lists/tern");
  EXPECT_EQ(folder_mailbox(".Caf&AOk-"), "Caf\xc3\xa9");
  for (std::string_view no : {"cur", ".", "..", ".a..b", ".a.", ".&Jjo", "x.y"}) {
    EXPECT_FALSE(folder_mailbox(no)) << no;
  }
}

TEST(MaildirSubscriptions, BothFormats) {
  EXPECT_EQ(parse_subscriptions("V\t2\n\nLists\ttern\nINBOX\n"),
            (std::vector<std::string>{"Lists/tern", "INBOX"}));
  EXPECT_EQ(parse_subscriptions("Sent\nLists.tern\n"),
            (std::vector<std::string>{"Sent", "Lists/tern"}));
  EXPECT_TRUE(parse_subscriptions("").empty());
}

TEST(MaildirWriting, WhatTheReadersReadBack) {
  EXPECT_EQ(file_name("1.M2P3.tern,S=10,W=12", "bSFaS"), "1.M2P3.tern,S=10,W=12:2,FSab");
  const auto parsed = parse_file_name(file_name("1.M2P3.tern,S=10,W=12", "T"));
  EXPECT_EQ(parsed.base, "1.M2P3.tern,S=10,W=12");
  EXPECT_EQ(parsed.flags, "T");
  EXPECT_EQ(parsed.vsize, 12u);

  UidList list{1795968430, 7, {{1, "a,S=1,W=2"}, {6, "b"}}};
  const std::string text = uidlist_text(list);
  EXPECT_EQ(text, "3 V1795968430 N7\n1 :a,S=1,W=2\n6 :b\n");
  auto back = parse_uidlist(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->uid_validity, 1795968430u);
  EXPECT_EQ(back->next_uid, 7u);
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[1].base, "b");

  const std::vector<std::string> keywords{"$Forwarded", "custom1"};
  EXPECT_EQ(parse_keywords(keywords_text(keywords)), keywords);

  EXPECT_EQ(folder_directory("Lists/Caf\xc3\xa9"), ".Lists.Caf&AOk-");
  EXPECT_EQ(folder_mailbox(*folder_directory("Lists/Caf\xc3\xa9")), "Lists/Caf\xc3\xa9");
  EXPECT_EQ(folder_directory("a&b"), ".a&-b");
  for (std::string_view no : {"INBOX", "v1.2", "a//b", "/a", "a/"}) {
    EXPECT_FALSE(folder_directory(no)) << no;
  }

  const std::vector<std::string> names{"INBOX", "Lists/tern"};
  EXPECT_EQ(subscriptions_text(names), "V\t2\n\nINBOX\nLists\ttern\n");
  EXPECT_EQ(parse_subscriptions(subscriptions_text(names)), names);
}

}  // namespace
}  // namespace tern::maildir
