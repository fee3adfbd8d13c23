// SPDX-License-Identifier: Apache-2.0
// DMARC: RFC 7489 record examples (appendix B.2), organizational domains from the
// public suffix list, alignment (§3.1), policy discovery with fallback to the
// organizational domain (§6.6.3), sp=, pct= sampling (§6.6.4).
#include "mailauth/dmarc.hpp"

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"

namespace tern::mailauth {
namespace {

DkimResult dkim(AuthResult result, std::string domain) {
  DkimResult r;
  r.result = result;
  r.domain = std::move(domain);
  return r;
}

DmarcResult evaluate(dns::FakeResolver& zone, DmarcInput input) {
  DmarcEvaluator evaluator(std::move(input));
  while (auto q = evaluator.pending_query()) {
    evaluator.provide(zone.lookup(q->name, q->type).get());
  }
  return evaluator.result();
}

DmarcInput input(std::string from, std::vector<DkimResult> dkim_results, AuthResult spf,
                 std::string spf_domain, std::uint32_t sample = 0) {
  DmarcInput in;
  in.from_domain = std::move(from);
  in.dkim = std::move(dkim_results);
  in.spf = spf;
  in.spf_domain = std::move(spf_domain);
  in.sample = sample;
  return in;
}

TEST(DmarcRecord, Rfc7489AppendixB2Examples) {
  auto a = parse_dmarc_record("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->policy, DmarcPolicy::kNone);
  EXPECT_EQ(a->aggregate_uris, std::vector<std::string>{"mailto:dmarc-feedback@example.com"});
  auto b = parse_dmarc_record(
      "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
      "ruf=mailto:auth-reports@thirdparty.example.net");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->failure_uris,
            std::vector<std::string>{"mailto:auth-reports@thirdparty.example.net"});
  auto c = parse_dmarc_record(
      "v=DMARC1; p=quarantine;\r\n rua=mailto:dmarc-feedback@example.com,\r\n "
      "mailto:tld-test@thirdparty.example.net!10m;\r\n pct=25");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->policy, DmarcPolicy::kQuarantine);
  EXPECT_EQ(c->percent, 25);
  ASSERT_EQ(c->aggregate_uris.size(), 2u);
  EXPECT_EQ(c->aggregate_uris[1], "mailto:tld-test@thirdparty.example.net!10m");
}

TEST(DmarcRecord, EveryTagAndTheErrors) {
  auto r = parse_dmarc_record(
      "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; fo=1:d; ri=3600; rf=afrf; x=y");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->subdomain_policy, DmarcPolicy::kQuarantine);
  EXPECT_EQ(r->dkim_alignment, DmarcAlignment::kStrict);
  EXPECT_EQ(r->spf_alignment, DmarcAlignment::kStrict);
  EXPECT_EQ(r->failure_options, "1:d");
  EXPECT_EQ(r->report_interval, 3600u);
  EXPECT_FALSE(parse_dmarc_record("v=DMARC2; p=none"));
  EXPECT_FALSE(parse_dmarc_record("p=none; v=DMARC1"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=bogus"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=none; pct=101"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=none; pct=x"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=none; p=reject"));
  // §6.6.3: an invalid p= with a usable rua= acts as p=none.
  auto lenient = parse_dmarc_record("v=DMARC1; p=bogus; rua=mailto:r@example.com");
  ASSERT_TRUE(lenient);
  EXPECT_EQ(lenient->policy, DmarcPolicy::kNone);
  EXPECT_TRUE(is_dmarc_record("v=DMARC1; p=none"));
  EXPECT_TRUE(is_dmarc_record("v=DMARC1"));
  EXPECT_FALSE(is_dmarc_record("v=DMARC10; p=none"));
  EXPECT_FALSE(is_dmarc_record("v=spf1 -all"));
}

TEST(DmarcAlignment, OrganizationalDomainsAndRfc7489Section3Examples) {
  EXPECT_EQ(organizational_domain("mail.example.co.uk"), "example.co.uk");
  EXPECT_EQ(organizational_domain("A.B.Example.COM."), "example.com");
  EXPECT_EQ(organizational_domain("example.com"), "example.com");
  EXPECT_EQ(organizational_domain("com"), "com");
  // §3.1.1: relaxed mode aligns a subdomain with its parent, strict does not.
  EXPECT_TRUE(is_aligned("news.example.com", "example.com", DmarcAlignment::kRelaxed));
  EXPECT_FALSE(is_aligned("news.example.com", "example.com", DmarcAlignment::kStrict));
  EXPECT_TRUE(is_aligned("Example.com", "example.com.", DmarcAlignment::kStrict));
  EXPECT_FALSE(is_aligned("example.co.uk", "other.co.uk", DmarcAlignment::kRelaxed));
  EXPECT_FALSE(is_aligned("", "example.com", DmarcAlignment::kRelaxed));
}

TEST(DmarcEvaluator, PassesOnAnAlignedDkimOrSpfPass) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  auto r = evaluate(zone, input("example.com", {dkim(AuthResult::kPass, "mail.example.com")},
                                AuthResult::kFail, "bounce.other.net"));
  EXPECT_EQ(r.result, AuthResult::kPass);
  EXPECT_TRUE(r.dkim_aligned);
  EXPECT_FALSE(r.spf_aligned);
  EXPECT_EQ(r.disposition, DmarcDisposition::kNone);
  r = evaluate(zone, input("example.com", {dkim(AuthResult::kFail, "example.com")},
                           AuthResult::kPass, "bounces.example.com"));
  EXPECT_EQ(r.result, AuthResult::kPass);
  EXPECT_TRUE(r.spf_aligned);
  // An unaligned pass does not count.
  r = evaluate(zone, input("example.com", {dkim(AuthResult::kPass, "example.net")},
                           AuthResult::kPass, "example.net"));
  EXPECT_EQ(r.result, AuthResult::kFail);
  EXPECT_EQ(r.disposition, DmarcDisposition::kReject);
}

TEST(DmarcEvaluator, StrictAlignmentAndSubdomainPolicyAtTheOrganizationalDomain) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=none; sp=reject; adkim=s"});
  DmarcEvaluator evaluator(
      input("news.example.com", {dkim(AuthResult::kPass, "example.com")}, AuthResult::kNone, ""));
  ASSERT_EQ(evaluator.pending_query()->name, "_dmarc.news.example.com");
  evaluator.provide(zone.lookup("_dmarc.news.example.com", dns::RecordType::kTxt).get());
  ASSERT_EQ(evaluator.pending_query()->name, "_dmarc.example.com");
  evaluator.provide(zone.lookup("_dmarc.example.com", dns::RecordType::kTxt).get());
  ASSERT_FALSE(evaluator.pending_query());
  const DmarcResult& r = evaluator.result();
  EXPECT_EQ(r.result, AuthResult::kFail);
  EXPECT_EQ(r.policy_domain, "example.com");
  EXPECT_EQ(r.policy, DmarcPolicy::kReject);
  EXPECT_EQ(r.disposition, DmarcDisposition::kReject);
}

TEST(DmarcEvaluator, PctSamplesThePolicyDownOneStep) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject; pct=25"});
  auto failing = [&](std::uint32_t sample) {
    return evaluate(zone, input("example.org", {}, AuthResult::kFail, "example.org", sample))
        .disposition;
  };
  EXPECT_EQ(failing(0), DmarcDisposition::kReject);
  EXPECT_EQ(failing(24), DmarcDisposition::kReject);
  EXPECT_EQ(failing(25), DmarcDisposition::kQuarantine);
  EXPECT_EQ(failing(99), DmarcDisposition::kQuarantine);
}

TEST(DmarcEvaluator, NoneTemperrorAndConflictingRecords) {
  dns::FakeResolver zone;
  EXPECT_EQ(
      evaluate(zone, input("nothing.example", {}, AuthResult::kPass, "nothing.example")).result,
      AuthResult::kNone);
  zone.set("_dmarc.slow.example", dns::RecordType::kTxt,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  EXPECT_EQ(evaluate(zone, input("slow.example", {}, AuthResult::kPass, "slow.example")).result,
            AuthResult::kTempError);
  zone.add_txt("_dmarc.two.example", {"v=DMARC1; p=reject"});
  zone.add_txt("_dmarc.two.example", {"v=DMARC1; p=none"});
  zone.add_txt("_dmarc.two.example", {"not dmarc"});
  EXPECT_EQ(evaluate(zone, input("two.example", {}, AuthResult::kFail, "x.example")).result,
            AuthResult::kNone);
  EXPECT_EQ(evaluate(zone, input("localhost", {}, AuthResult::kPass, "x")).result,
            AuthResult::kNone);
}

}  // namespace
}  // namespace tern::mailauth
