// SPDX-License-Identifier: Apache-2.0
// ARC field parsers and chain structure (RFC 8617 §4.1, §5.2); the signature
// checks themselves run against the ValiMail suite in arc_suite_test.cpp.
#include "mailauth/arc.hpp"

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "mailauth/arc_sealer.hpp"

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

ArcVerifier verified(dns::FakeResolver& zone, const std::string& message) {
  ArcVerifier arc(message);
  while (auto q = arc.pending_query()) {
    arc.provide(zone.lookup(q->name, q->type).get());
  }
  return arc;
}

TEST(ArcSealer, SealsHopAfterHopAndStopsAtAFailedChain) {
  // RFC 8463 A.1's Ed25519 key: ARC sealing works with either algorithm.
  auto key = DkimPrivateKey::load("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
  ASSERT_TRUE(key);
  dns::FakeResolver zone;
  zone.add_txt("arc._domainkey.lists.example", {key->dns_record()});
  ArcSealOptions options;
  options.domain = "lists.example";
  options.selector = "arc";
  options.authserv_id = "mx.lists.example";
  options.timestamp = 1700000000;
  std::string message =
      "Authentication-Results: mx.lists.example; spf=pass smtp.mailfrom=a@example.org\r\n"
      "From: a@example.org\r\nSubject: hop\r\n\r\nbody\r\n";
  for (int hop = 1; hop <= 3; ++hop) {
    options.chain_status = hop == 1 ? ArcChainStatus::kNone : ArcChainStatus::kPass;
    auto set = arc_seal(message, *key, options);
    ASSERT_TRUE(set) << set.error().message;
    ASSERT_TRUE(*set);
    EXPECT_NE((*set)->seal.find("i=" + std::to_string(hop) + ";"), std::string::npos);
    message = (*set)->seal + (*set)->message_signature + (*set)->results + message;
    ArcVerifier arc = verified(zone, message);
    EXPECT_EQ(arc.result().result, AuthResult::kPass) << arc.result().problem;
    EXPECT_EQ(arc.result().instances, hop);
  }
  // cv=none after a chain adds nothing; cv=fail seals once, then nothing more.
  options.chain_status = ArcChainStatus::kNone;
  EXPECT_FALSE(*arc_seal(message, *key, options));
  options.chain_status = ArcChainStatus::kFail;
  auto failed = arc_seal(message, *key, options);
  ASSERT_TRUE(failed && *failed);
  message = (*failed)->seal + (*failed)->message_signature + (*failed)->results + message;
  EXPECT_EQ(verified(zone, message).result().result, AuthResult::kFail);
  EXPECT_FALSE(*arc_seal(message, *key, options));
  // No Authentication-Results of ours: nothing to copy, nothing added.
  options.chain_status = ArcChainStatus::kNone;
  options.authserv_id = "other.example";
  EXPECT_FALSE(*arc_seal("From: a@example.org\r\n\r\nx\r\n", *key, options));
}

}  // namespace
}  // namespace tern::mailauth
