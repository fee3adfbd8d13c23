// SPDX-License-Identifier: Apache-2.0
#include "imap/mailbox_name.hpp"

#include <gtest/gtest.h>

namespace tern::imap {
namespace {

TEST(ImapMailboxName, DecodesTheRfcExamples) {
  // RFC 3501 §5.1.3.
  EXPECT_EQ(*decode_mutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
  EXPECT_EQ(*decode_mutf7("Entw&APw-rfe"), "Entw\xc3\xbcrfe");
  EXPECT_EQ(*decode_mutf7("Tom &- Jerry"), "Tom & Jerry");
}

TEST(ImapMailboxName, RoundTripsThroughEncoding) {
  for (const char* name :
       {"INBOX", "Entw\xc3\xbcrfe", "Tom & Jerry", "\xf0\x9f\x93\xa7 mail", "a&b&&c",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xc3\xa9t\xc3\xa9", ""}) {
    auto encoded = encode_mutf7(name);
    ASSERT_TRUE(encoded) << name;
    auto decoded = decode_mutf7(*encoded);
    ASSERT_TRUE(decoded) << *encoded;
    EXPECT_EQ(*decoded, name);
  }
  EXPECT_EQ(*encode_mutf7("Entw\xc3\xbcrfe"), "Entw&APw-rfe");
}

TEST(ImapMailboxName, RejectsNonCanonicalOrBrokenForms) {
  for (const char* bad : {"&", "&AGE-",    // encoded printable ASCII "a"
                          "&APw", "&A-",   // unterminated, too few bits
                          "&APx-",         // non-zero padding bits
                          "&2D0-",         // lone high surrogate
                          "&AP*-",         // not in the alphabet
                          "&APw-&APw-",    // adjacent runs
                          "caf\xc3\xa9",   // raw 8-bit
                          "tab\there"}) {  // raw control character
    EXPECT_FALSE(decode_mutf7(bad)) << bad;
  }
  EXPECT_FALSE(encode_mutf7("\xc3"));
  EXPECT_FALSE(encode_mutf7("\xed\xa0\x80"));  // UTF-8 encoded surrogate
}

TEST(ImapMailboxName, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x93\xa7"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace
}  // namespace tern::imap
