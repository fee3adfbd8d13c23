// SPDX-License-Identifier: Apache-2.0
#include "base/utf8.hpp"

#include <gtest/gtest.h>

namespace tern::utf8 {
namespace {

TEST(Utf8, EncodesEachLength) {
  std::string out;
  for (char32_t cp : {U'A', U'\u00e9', U'\u20ac', U'\U0001F600', U'\U0010FFFF'}) {
    append(out, cp);
  }
  EXPECT_EQ(out, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
  std::size_t pos = 0;
  std::u32string back;
  while (pos < out.size()) {
    auto cp = next(out, pos);
    ASSERT_TRUE(cp);
    back += *cp;
  }
  EXPECT_EQ(back, U"A\u00e9\u20ac\U0001F600\U0010FFFF");
}

TEST(Utf8, RefusesWhatRfc3629Forbids) {
  for (std::string_view bad : {"\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82", "\xc3("}) {
    std::size_t pos = 0;
    EXPECT_EQ(sequence_length(bad, 0), 0u) << bad;
    EXPECT_FALSE(next(bad, pos)) << bad;
    EXPECT_EQ(pos, 0u);
  }
}

}  // namespace
}  // namespace tern::utf8
