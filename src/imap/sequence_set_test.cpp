// SPDX-License-Identifier: Apache-2.0
#include "imap/sequence_set.hpp"

#include <gtest/gtest.h>

namespace tern::imap {
namespace {

std::string resolved(std::string_view text, std::uint32_t largest) {
  auto set = SequenceSet::parse(text);
  EXPECT_TRUE(set) << text;
  return set ? SequenceSet::format(set->resolve(largest)) : "";
}

TEST(ImapSequenceSet, ResolvesRangesAndStar) {
  EXPECT_EQ(resolved("1", 10), "1");
  EXPECT_EQ(resolved("2:4,7", 10), "2:4,7");
  EXPECT_EQ(resolved("4:2", 10), "2:4");  // RFC 9051 §9: order does not matter
  EXPECT_EQ(resolved("*", 10), "10");
  EXPECT_EQ(resolved("5:*", 3), "3:5");  // "*" spans to the largest, either side
  EXPECT_EQ(resolved("1:3,2:6,8,9", 10), "1:6,8:9");
  EXPECT_EQ(resolved("*", 0), "");
  EXPECT_EQ(resolved("1:*", 0), "1");
}

TEST(ImapSequenceSet, RejectsMalformedSets) {
  for (const char* bad :
       {"", "0", "1,", ",1", "1:", ":2", "1::2", "a", "4294967296", "01", "1 2", "-1", "$1"}) {
    EXPECT_FALSE(SequenceSet::parse(bad)) << bad;
  }
  EXPECT_TRUE(SequenceSet::parse("4294967295"));
}

TEST(ImapSequenceSet, SavedResultIsSymbolic) {
  auto set = SequenceSet::parse("$");
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->is_saved_result());
  EXPECT_FALSE(SequenceSet::parse("$", false));
}

TEST(ImapSequenceSet, Contains) {
  auto set = SequenceSet::parse("1:3,7:*");
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->contains(2, 9));
  EXPECT_FALSE(set->contains(5, 9));
  EXPECT_TRUE(set->contains(8, 9));
  EXPECT_FALSE(set->contains(10, 9));
}

}  // namespace
}  // namespace tern::imap
