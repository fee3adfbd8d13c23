// SPDX-License-Identifier: Apache-2.0
// ARC field parsers and chain structure (RFC 8617 §4.1, §5.2); the signature
// checks themselves run against the ValiMail suite in arc_suite_test.cpp.
#include "mailauth/arc.hpp"

#include <gtest/gtest.h>

namespace tern::mailauth {
namespace {

constexpr const char* kAms =
    "i=1; a=rsa-sha256; c=relaxed/simple; d=example.org; s=dummy; t=12345; "
    "h=from:to:subject; bh=AAAA; b=AA AA";
constexpr const char* kAs = "i=2; a=rsa-sha256; cv=pass; d=example.org; s=dummy; t=12345; b=AAAA";

TEST(ArcFields, ParsesSealsAndMessageSignatures) {
  auto ams = parse_arc_signature(kAms, ArcFieldKind::kMessageSignature);
  ASSERT_TRUE(ams) << ams.error().message;
  EXPECT_EQ(ams->instance, 1);
  EXPECT_EQ(ams->header_canon, Canonicalization::kRelaxed);
  EXPECT_EQ(ams->body_canon, Canonicalization::kSimple);
  EXPECT_EQ(ams->signed_headers, (std::vector<std::string>{"from", "to", "subject"}));
  auto as = parse_arc_signature(kAs, ArcFieldKind::kSeal);
  ASSERT_TRUE(as);
  EXPECT_EQ(as->instance, 2);
  EXPECT_EQ(as->chain_status, ArcChainStatus::kPass);
  auto no_c = parse_arc_signature("i=1; a=rsa-sha256; d=e.org; s=s; h=from; bh=AAAA; b=AAAA",
                                  ArcFieldKind::kMessageSignature);
  ASSERT_TRUE(no_c);
  EXPECT_EQ(no_c->body_canon, Canonicalization::kRelaxed);
}

TEST(ArcFields, RefusesWhatRfc8617Refuses) {
  const std::string seal = "a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AAAA; ";
  EXPECT_TRUE(parse_arc_signature(seal + "i=1", ArcFieldKind::kSeal));
  for (std::string bad : {seal + "i=0", seal + "i=51", seal + "i=x", seal + "i=", seal,
                          seal + "i=1; h=from", seal + "i=1; t=", seal + "i=1; i=1"}) {
    EXPECT_FALSE(parse_arc_signature(bad, ArcFieldKind::kSeal)) << bad;
  }
  EXPECT_FALSE(
      parse_arc_signature("i=1; a=rsa-sha1; cv=none; d=e.org; s=s; b=AAAA", ArcFieldKind::kSeal));
  EXPECT_FALSE(parse_arc_signature("i=1; a=rsa-sha256; cv=maybe; d=e.org; s=s; b=AAAA",
                                   ArcFieldKind::kSeal));
  EXPECT_FALSE(
      parse_arc_signature("i=1; a=rsa-sha256; d=e.org; s=s; h=from:arc-seal; bh=AAAA; b=AAAA",
                          ArcFieldKind::kMessageSignature));
  EXPECT_FALSE(parse_arc_signature("i=1; a=rsa-sha256; d=e.org; s=s; h=from; b=AAAA",
                                   ArcFieldKind::kMessageSignature));
}

TEST(ArcFields, ResultsInstance) {
  EXPECT_EQ(parse_arc_results_instance(" i=1; lists.example.org; spf=pass"), 1);
  EXPECT_EQ(parse_arc_results_instance("i = 12 ;x"), 12);
  EXPECT_FALSE(parse_arc_results_instance("lists.example.org; i=1"));
  EXPECT_FALSE(parse_arc_results_instance("i=0; x"));
  EXPECT_FALSE(parse_arc_results_instance("i=1 x"));
}

TEST(ArcVerifier, NoArcFieldsIsNoneAndBrokenStructureFailsWithoutDns) {
  ArcVerifier none("From: a@example.org\r\n\r\nbody\r\n");
  EXPECT_FALSE(none.pending_query());
  EXPECT_EQ(none.result().result, AuthResult::kNone);
  // An AMS without its AAR and AS.
  ArcVerifier partial(std::string("ARC-Message-Signature: ") + kAms +
                      "\r\nFrom: a@example.org\r\n\r\nbody\r\n");
  EXPECT_FALSE(partial.pending_query());
  EXPECT_EQ(partial.result().result, AuthResult::kFail);
  EXPECT_EQ(partial.result().problem, "ARC Set 1 is incomplete");
}

}  // namespace
}  // namespace tern::mailauth
