// SPDX-License-Identifier: Apache-2.0
#include "domain/mailbox_name.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

TEST(CanonicalMailboxName, AnyCaseOfInboxIsTheInbox) {
  for (const char* name : {"INBOX", "inbox", "Inbox", "iNbOx"}) {
    EXPECT_EQ(canonical_mailbox_name(name), "INBOX") << name;
  }
}

TEST(CanonicalMailboxName, OtherNamesAreKeptAsTheyAre) {
  EXPECT_EQ(canonical_mailbox_name("Sent"), "Sent");
  EXPECT_EQ(canonical_mailbox_name("sent"), "sent");
  EXPECT_EQ(canonical_mailbox_name("inbox/Child"), "inbox/Child");  // only the whole name
  EXPECT_EQ(canonical_mailbox_name("INBOXES"), "INBOXES");
  EXPECT_EQ(canonical_mailbox_name(" inbox"), " inbox");
  // "ı" (dotless i, U+0131) upper-cases to I in some locales; bytes stay bytes.
  EXPECT_EQ(canonical_mailbox_name("\xc4\xb1nbox"), "\xc4\xb1nbox");
}

TEST(IsValidMailboxName, AcceptsPlainAndNestedNames) {
  for (const char* name : {"INBOX", "Archive", "Archive/2026", "a/b/c", "Entw\xc3\xbcrfe", " x "}) {
    EXPECT_TRUE(is_valid_mailbox_name(name)) << name;
  }
}

TEST(IsValidMailboxName, RefusesEmptyLevelsAndNul) {
  for (const char* name : {"", "/", "/a", "a/", "a//b"}) {
    EXPECT_FALSE(is_valid_mailbox_name(name)) << name;
  }
  EXPECT_FALSE(is_valid_mailbox_name(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace tern::domain
