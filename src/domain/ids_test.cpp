// SPDX-License-Identifier: Apache-2.0
#include "domain/ids.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

// FIPS 180-2 appendix B test vectors and the empty string.
TEST(Sha256Hex, MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Hex, HashesEveryByteIncludingNul) {
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(sha256_hex(with_nul), sha256_hex("a"));
  EXPECT_TRUE(is_sha256_hex(sha256_hex(with_nul)));
}

TEST(IsSha256Hex, AcceptsOnlySixtyFourLowerCaseHexDigits) {
  const std::string good(64, 'a');
  EXPECT_TRUE(is_sha256_hex(good));
  EXPECT_TRUE(is_sha256_hex(std::string(64, '0')));
  EXPECT_FALSE(is_sha256_hex(""));
  EXPECT_FALSE(is_sha256_hex(good.substr(1)));
  EXPECT_FALSE(is_sha256_hex(good + "a"));
  for (char bad : {'A', 'F', 'g', '/', '.', ' ', '\0'}) {
    std::string text = good;
    text[17] = bad;
    EXPECT_FALSE(is_sha256_hex(text)) << static_cast<int>(bad);
  }
  EXPECT_FALSE(is_sha256_hex("../" + good.substr(3)));  // never a path
}

}  // namespace
}  // namespace tern::domain
