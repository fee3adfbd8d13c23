// SPDX-License-Identifier: Apache-2.0
#include "domain/srs.hpp"

#include <gtest/gtest.h>

#include "base/ascii.hpp"

namespace tern::domain {
namespace {

const SystemTime kNow = from_unix_seconds(1'790'000'000);
constexpr auto kDay = std::chrono::hours(24);

Srs make(std::string domain = "fwd.example") {
  return Srs(SrsConfig{"s3cret", domain});
}

TEST(Srs, Srs0RoundTrip) {
  auto srs = make();
  auto rewritten = srs.forward("User.Name@Origin.example", kNow);
  ASSERT_TRUE(rewritten) << rewritten.error().message;
  EXPECT_TRUE(rewritten->starts_with("SRS0=")) << *rewritten;
  EXPECT_TRUE(rewritten->ends_with("=Origin.example=User.Name@fwd.example")) << *rewritten;
  EXPECT_TRUE(Srs::is_srs(*rewritten));
  auto back = srs.reverse(*rewritten, kNow + 3 * kDay);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, "User.Name@Origin.example");
  // A hop that lower-cases the local part does not break the return path.
  auto lowered = srs.reverse(ascii::lower(*rewritten), kNow);
  ASSERT_TRUE(lowered) << lowered.error().message;
  EXPECT_EQ(*lowered, "user.name@origin.example");
}

TEST(Srs, ForgedOrExpiredAddressesAreRefused) {
  auto srs = make();
  auto rewritten = *srs.forward("a@origin.example", kNow);
  auto forged = rewritten;
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(srs.reverse(forged, kNow).error().code, ErrorCode::kPermissionDenied);
  auto other_key = Srs(SrsConfig{"other", "fwd.example"});
  EXPECT_EQ(other_key.reverse(rewritten, kNow).error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(srs.reverse(rewritten, kNow + 21 * kDay));
  EXPECT_EQ(srs.reverse(rewritten, kNow + 22 * kDay).error().code, ErrorCode::kLimitExceeded);
  // Changing the original address inside breaks the hash.
  auto tampered = rewritten;
  tampered.replace(tampered.find("=a@"), 3, "=b@");
  EXPECT_EQ(srs.reverse(tampered, kNow).error().code, ErrorCode::kPermissionDenied);
}

TEST(Srs, MalformedInputIsInvalid) {
  auto srs = make();
  for (std::string_view bad :
       {"", "plain@x.example", "SRS0@x", "SRS0=@x", "SRS0=abcd@x", "SRS0=abcd=AA@x",
        "SRS0=abcd=AA=host@x", "SRS1=abcd@x", "SRS1=abcd=host@x", "SRS0=abcd=!!=h=u@x"}) {
    auto r = srs.reverse(bad, kNow);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_EQ(srs.forward("no-at-sign", kNow).error().code, ErrorCode::kInvalidInput);
}

TEST(Srs, SecondForwarderMakesSrs1AndItReversesOneHop) {
  auto first = make("first.example");
  auto second = make("second.example");
  auto third = make("third.example");
  auto srs0 = *first.forward("u@origin.example", kNow);
  auto srs1 = second.forward(srs0, kNow);
  ASSERT_TRUE(srs1);
  EXPECT_TRUE(srs1->starts_with("SRS1=")) << *srs1;
  EXPECT_NE(srs1->find("=first.example=="), std::string::npos) << *srs1;
  // A third forwarder keeps the first host and re-hashes.
  auto again = third.forward(*srs1, kNow);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->starts_with("SRS1=")) << *again;
  EXPECT_NE(again->find("=first.example=="), std::string::npos) << *again;
  auto back_to_first = third.reverse(*again, kNow);
  ASSERT_TRUE(back_to_first) << back_to_first.error().message;
  EXPECT_EQ(*back_to_first, srs0);
  auto hop = second.reverse(*srs1, kNow);
  ASSERT_TRUE(hop);
  EXPECT_EQ(*hop, srs0);
  EXPECT_EQ(*first.reverse(*hop, kNow), "u@origin.example");
}

TEST(Srs, OurOwnDomainIsNotRewritten) {
  auto srs = make();
  EXPECT_EQ(*srs.forward("x@FWD.example", kNow), "x@FWD.example");
}

}  // namespace
}  // namespace tern::domain
