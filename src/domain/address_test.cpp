// SPDX-License-Identifier: Apache-2.0
#include "domain/address.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

TEST(NormalizeAddress, TrimsAndLowerCases) {
  EXPECT_EQ(*normalize_address("  Alice.Smith@Example.ORG\r\n"), "alice.smith@example.org");
  EXPECT_EQ(*normalize_address("bob+Tag@example.org"), "bob+tag@example.org");
}

TEST(NormalizeAddress, KeepsUtf8Bytes) {
  EXPECT_EQ(*normalize_address("J\xc3\xb6rg@Example.org"), "j\xc3\xb6rg@example.org");
}

TEST(NormalizeAddress, RejectsMalformedAddresses) {
  for (std::string_view bad :
       {"", "   ", "alice", "@example.org", "alice@", "a@b@c.org", "al ice@example.org",
        "alice@exa\tmple.org", "a\x01@b.org", "a\x7f@b.org", "alice@.example.org",
        "alice@example..org", "alice@example.org."}) {
    auto result = normalize_address(bad);
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidInput) << bad;
  }
}

TEST(NormalizeAddress, LimitsLengthTo254Bytes) {
  std::string domain = "@example.org";
  std::string ok = std::string(254 - domain.size(), 'a') + domain;
  EXPECT_TRUE(normalize_address(ok));
  EXPECT_FALSE(normalize_address("a" + ok));
  // Surrounding whitespace does not count.
  EXPECT_TRUE(normalize_address("  " + ok + "  "));
}

TEST(SplitAddress, SplitsAtTheAt) {
  auto parts = split_address("user+tag@example.org");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->local, "user+tag");
  EXPECT_EQ(parts->domain, "example.org");
  EXPECT_FALSE(split_address("nope"));
  EXPECT_FALSE(split_address("@x"));
  EXPECT_FALSE(split_address("x@"));
  EXPECT_FALSE(split_address("a@b@c"));
}

TEST(DomainOf, IsWhatFollowsTheLastAt) {
  EXPECT_EQ(domain_of("alice@example.org"), "example.org");
  EXPECT_EQ(domain_of("\"a@b\"@example.org"), "example.org");
  EXPECT_EQ(domain_of("@example.org"), "example.org");  // a catch-all alias source
  EXPECT_EQ(domain_of("alice@"), "");
  EXPECT_EQ(domain_of("alice"), "");
  EXPECT_EQ(domain_of(""), "");
}

}  // namespace
}  // namespace tern::domain
