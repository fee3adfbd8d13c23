// SPDX-License-Identifier: Apache-2.0
// DMARC: RFC 7489 and RFC 9989 record examples (appendix B.2), the RFC 9989 DNS
// Tree Walk (§4.10: its query cap and label-count edges), organizational domains
// (§4.10.2 and its examples), every appendix B.4 example with the exact queries,
// psd=y/n, policy discovery with sp=/np= (a non-existent Author Domain), t=y,
// and RFC 7489's pct= kept for compatibility (appendix A.6).
#include "mailauth/dmarc.hpp"

#include <algorithm>

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

// Runs the evaluator to its result from `zone`; `asked` gets every query name in
// the order the evaluator handed them out.
DmarcResult evaluate(dns::FakeResolver& zone, DmarcInput input,
                     std::vector<std::string>* asked = nullptr) {
  DmarcEvaluator evaluator(std::move(input));
  while (auto q = evaluator.pending_query()) {
    if (asked != nullptr) {
      asked->push_back(q->name);
    }
    evaluator.provide(zone.lookup(q->name, q->type).get());
  }
  return evaluator.result();
}

// The names one tree walk from `start` asks in `zone`, and the walk itself.
DmarcTreeWalk walk(dns::FakeResolver& zone, std::string_view start,
                   std::vector<std::string>* asked = nullptr) {
  DmarcTreeWalk w(start);
  while (auto q = w.pending_query()) {
    if (asked != nullptr) {
      asked->push_back(q->name);
    }
    w.provide(zone.lookup(q->name, q->type).get());
  }
  return w;
}

using Names = std::vector<std::string>;

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
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=none; p=reject"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=none; sp=bogus"));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=none; np=bogus"));
  // RFC 9989 §4.8: other syntax errors fall back to the defaults.
  auto defaults = parse_dmarc_record("v=DMARC1; p=none; pct=101; ri=x; t=maybe; psd=q; adkim=x");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->percent, 100);
  EXPECT_EQ(defaults->report_interval, 86400u);
  EXPECT_FALSE(defaults->testing);
  EXPECT_EQ(defaults->psd, DmarcPsd::kUnknown);
  EXPECT_EQ(defaults->dkim_alignment, DmarcAlignment::kRelaxed);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; pct=x")->percent, 100);
  // §4.10.1: an invalid p=, sp= or np= with a usable rua= acts as p=none.
  auto lenient =
      parse_dmarc_record("v=DMARC1; p=reject; sp=bogus; np=reject; rua=mailto:r@example.com");
  ASSERT_TRUE(lenient);
  EXPECT_EQ(lenient->policy, DmarcPolicy::kNone);
  EXPECT_FALSE(lenient->subdomain_policy);
  EXPECT_FALSE(lenient->nonexistent_policy);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; rua=mailto:r@example.com")->policy, DmarcPolicy::kNone);
  EXPECT_TRUE(is_dmarc_record("v=DMARC1; p=none"));
  EXPECT_TRUE(is_dmarc_record("v=DMARC1"));
  EXPECT_FALSE(is_dmarc_record("v=DMARC10; p=none"));
  EXPECT_FALSE(is_dmarc_record("v=spf1 -all"));
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
  // RFC 9989 §4.10.1: the walk goes on to the top to settle the organizational
  // domain (a record at _dmarc.com would be it); strict alignment then needs no
  // further walk.
  ASSERT_EQ(evaluator.pending_query()->name, "_dmarc.com");
  evaluator.provide(zone.lookup("_dmarc.com", dns::RecordType::kTxt).get());
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

TEST(DmarcRecord, Rfc9989Tags) {
  // Appendix B.2.5: a subdomain in testing with two report URIs.
  auto b25 = parse_dmarc_record(
      "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,"
      "mailto:tld-test@thirdparty.example.net; t=y");
  ASSERT_TRUE(b25) << b25.error().message;
  EXPECT_EQ(b25->policy, DmarcPolicy::kQuarantine);
  EXPECT_EQ(b25->testing, true);
  EXPECT_EQ(b25->aggregate_uris.size(), 2u);
  auto r = parse_dmarc_record("v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y; t=n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->nonexistent_policy, DmarcPolicy::kReject);
  EXPECT_EQ(r->psd, DmarcPsd::kYes);
  EXPECT_EQ(r->testing, false);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; psd=n")->psd, DmarcPsd::kNo);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; psd=u")->psd, DmarcPsd::kUnknown);
}

TEST(DmarcRecord, TestingModeAndTheRfc7489PctCompatibility) {
  auto record = [](std::string_view text) { return *parse_dmarc_record(text); };
  // t= alone.
  EXPECT_TRUE(dmarc_testing(record("v=DMARC1; p=reject; t=y"), 0));
  EXPECT_FALSE(dmarc_testing(record("v=DMARC1; p=reject; t=n"), 99));
  EXPECT_FALSE(dmarc_testing(record("v=DMARC1; p=reject"), 99));
  // Appendix A.6: pct=0 is t=y and pct=100 is t=n; values between keep RFC
  // 7489 §6.6.4's sampling.
  EXPECT_TRUE(dmarc_testing(record("v=DMARC1; p=reject; pct=0"), 0));
  EXPECT_FALSE(dmarc_testing(record("v=DMARC1; p=reject; pct=100"), 99));
  EXPECT_FALSE(dmarc_testing(record("v=DMARC1; p=reject; pct=30"), 29));
  EXPECT_TRUE(dmarc_testing(record("v=DMARC1; p=reject; pct=30"), 30));
  // t= wins over pct=.
  EXPECT_FALSE(dmarc_testing(record("v=DMARC1; p=reject; pct=0; t=n"), 0));
  EXPECT_TRUE(dmarc_testing(record("v=DMARC1; p=reject; pct=100; t=y"), 0));
}

// ----- the DNS Tree Walk (RFC 9989 §4.10)

TEST(DmarcTreeWalk, NamesAndTheEightQueryCap) {
  // §4.10's illustration: 13 labels, eight queries, the skip to 7 labels.
  EXPECT_EQ(dmarc_tree_walk_names("a.b.c.d.e.f.g.h.i.j.mail.example.com"),
            (Names{"a.b.c.d.e.f.g.h.i.j.mail.example.com", "g.h.i.j.mail.example.com",
                   "h.i.j.mail.example.com", "i.j.mail.example.com", "j.mail.example.com",
                   "mail.example.com", "example.com", "com"}));
  // Label-count edges: up to 8 labels every parent is asked (x queries); from 9
  // labels on, the names between the domain and its 7 right-most labels are skipped.
  EXPECT_EQ(dmarc_tree_walk_names("a.b.c.example.com"),
            (Names{"a.b.c.example.com", "b.c.example.com", "c.example.com", "example.com", "com"}));
  EXPECT_EQ(dmarc_tree_walk_names("a.b.c.d.example.com").size(), 6u);
  EXPECT_EQ(dmarc_tree_walk_names("a.b.c.d.e.f.example.com"),
            (Names{"a.b.c.d.e.f.example.com", "b.c.d.e.f.example.com", "c.d.e.f.example.com",
                   "d.e.f.example.com", "e.f.example.com", "f.example.com", "example.com", "com"}));
  EXPECT_EQ(dmarc_tree_walk_names("x.a.b.c.d.e.f.example.com"),
            (Names{"x.a.b.c.d.e.f.example.com", "b.c.d.e.f.example.com", "c.d.e.f.example.com",
                   "d.e.f.example.com", "e.f.example.com", "f.example.com", "example.com", "com"}));
  EXPECT_EQ(dmarc_tree_walk_names("example.com"), (Names{"example.com", "com"}));
  EXPECT_EQ(dmarc_tree_walk_names("com"), (Names{"com"}));
  EXPECT_TRUE(dmarc_tree_walk_names("").empty());
}

TEST(DmarcTreeWalk, DeepNameAsksEightQueriesAtMost) {
  dns::FakeResolver zone;
  std::string deep;
  for (int i = 0; i < 60; ++i) {
    deep += "l" + std::to_string(i) + ".";
  }
  deep += "example.com";
  Names asked;
  DmarcTreeWalk w = walk(zone, deep, &asked);
  ASSERT_EQ(asked.size(), kDmarcMaxWalkQueries);
  EXPECT_EQ(asked[0], "_dmarc." + deep);
  EXPECT_EQ(asked[1], "_dmarc.l55.l56.l57.l58.l59.example.com");
  EXPECT_EQ(asked[7], "_dmarc.com");
  EXPECT_TRUE(w.done());
  EXPECT_EQ(w.organizational_domain(), deep);  // nothing found: the start itself
  // Through the whole evaluator as the Author Domain: still eight queries.
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  asked.clear();
  auto r = evaluate(zone, input(deep, {}, AuthResult::kFail, "example.org"), &asked);
  EXPECT_EQ(asked.size(), 8u);
  EXPECT_EQ(r.result, AuthResult::kFail);
  EXPECT_EQ(r.policy_domain, "example.com");
  // A name too long to ask once prefixed is skipped, not sent.
  std::string huge;
  for (int i = 0; i < 4; ++i) {
    huge += std::string(62, static_cast<char>('a' + i)) + ".";
  }
  huge += "com";  // 4 * 63 + 3 = 255 octets: not a domain name at all
  EXPECT_TRUE(DmarcTreeWalk(huge).done());
  std::string long_name = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                          std::string(60, 'c') + "." + std::string(60, 'd') + ".com";
  asked.clear();
  walk(zone, long_name, &asked);
  ASSERT_FALSE(asked.empty());
  EXPECT_NE(asked.front(), "_dmarc." + long_name);  // 251 + 7 octets cannot be asked
}

TEST(DmarcTreeWalk, Section4_10_2OrganizationalDomainExamples) {
  auto found = [](std::string domain, std::string text) {
    return DmarcFound{std::move(domain), *parse_dmarc_record(text)};
  };
  // Records at mail.example.com and example.com: the fewest labels.
  EXPECT_EQ(select_organizational_domain("a.mail.example.com",
                                         {found("mail.example.com", "v=DMARC1; p=none"),
                                          found("example.com", "v=DMARC1; p=none")}),
            "example.com");
  // psd=n at mail.example.com: that is the organizational domain.
  EXPECT_EQ(select_organizational_domain("a.mail.example.com",
                                         {found("mail.example.com", "v=DMARC1; p=none; psd=n")}),
            "mail.example.com");
  // Only _dmarc.com, with psd=y: one label below it.
  EXPECT_EQ(
      select_organizational_domain("a.mail.example.com", {found("com", "v=DMARC1; p=none; psd=y")}),
      "example.com");
  // psd=y at the start itself does not count (rule 2 excludes it): rule 3.
  EXPECT_EQ(select_organizational_domain("bank.example",
                                         {found("bank.example", "v=DMARC1; p=none; psd=y")}),
            "bank.example");
  // Nothing found: the start.
  EXPECT_EQ(select_organizational_domain("a.mail.example.com", {}), "a.mail.example.com");

  // The same through walks in a zone, with the queries they make.
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.mail.example.com", {"v=DMARC1; p=none; psd=n"});
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  Names asked;
  DmarcTreeWalk w = walk(zone, "a.mail.example.com", &asked);
  EXPECT_EQ(asked, (Names{"_dmarc.a.mail.example.com", "_dmarc.mail.example.com"}));  // psd= stops
  EXPECT_EQ(w.organizational_domain(), "mail.example.com");
}

TEST(DmarcTreeWalk, TemporaryFailureEndsTheWalk) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  zone.set("_dmarc.com", dns::RecordType::kTxt,
           dns::Answer::failure(dns::LookupStatus::kTemporary, "servfail"));
  DmarcTreeWalk w = walk(zone, "mail.example.com");
  EXPECT_TRUE(w.failed());
  EXPECT_NE(w.problem().find("_dmarc.com"), std::string::npos);
  EXPECT_EQ(w.found().size(), 1u);
}

// ----- appendix B.4, every example with the queries it makes

// B.4.1 and B.4.2: "_dmarc.example.com" and "_dmarc.signing.example.com" have
// records, "_dmarc.com" has none.
void add_appendix_b4_records(dns::FakeResolver& zone) {
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  zone.add_txt("_dmarc.signing.example.com", {"v=DMARC1; p=none"});
}

TEST(DmarcEvaluator, AppendixB4_1SimpleOrganizationalAndPolicy) {
  dns::FakeResolver zone;
  add_appendix_b4_records(zone);
  Names asked;
  auto r = evaluate(zone,
                    input("example.com", {dkim(AuthResult::kPass, "signing.example.com")},
                          AuthResult::kPass, "example.com"),
                    &asked);
  EXPECT_EQ(r.result, AuthResult::kPass);
  EXPECT_TRUE(r.spf_aligned);   // identical to the Author Domain: no walk
  EXPECT_TRUE(r.dkim_aligned);  // both walks end at example.com
  EXPECT_EQ(r.policy_domain, "example.com");
  EXPECT_EQ(r.organizational_domain, "example.com");
  // The Author Domain's walk and the DKIM identifier's, sharing their answers.
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (Names{"_dmarc.com", "_dmarc.example.com", "_dmarc.signing.example.com"}));
}

TEST(DmarcEvaluator, AppendixB4_2DeepTreeWalk) {
  dns::FakeResolver zone;
  add_appendix_b4_records(zone);
  Names asked;
  auto r = evaluate(
      zone,
      input("a.b.c.d.e.f.g.h.i.j.k.example.com", {dkim(AuthResult::kPass, "signing.example.com")},
            AuthResult::kPass, "example.com"),
      &asked);
  // Policy discovery: exactly the eight queries the appendix lists, in order.
  ASSERT_GE(asked.size(), 8u);
  EXPECT_EQ(
      Names(asked.begin(), asked.begin() + 8),
      (Names{"_dmarc.a.b.c.d.e.f.g.h.i.j.k.example.com", "_dmarc.g.h.i.j.k.example.com",
             "_dmarc.h.i.j.k.example.com", "_dmarc.i.j.k.example.com", "_dmarc.j.k.example.com",
             "_dmarc.k.example.com", "_dmarc.example.com", "_dmarc.com"}));
  // Then the walks of the identifiers: only _dmarc.signing.example.com is new
  // (the SPF domain's walk, from example.com, reuses the Author Domain's answers).
  EXPECT_EQ(Names(asked.begin() + 8, asked.end()), (Names{"_dmarc.signing.example.com"}));
  EXPECT_EQ(r.result, AuthResult::kPass);
  EXPECT_TRUE(r.spf_aligned);
  EXPECT_TRUE(r.dkim_aligned);
  EXPECT_EQ(r.organizational_domain, "example.com");
  // The Author Domain has no record: the policy domain is example.com, and its
  // p= applies to the subdomain as there is no sp=.
  EXPECT_EQ(r.policy_domain, "example.com");
  EXPECT_EQ(r.policy, DmarcPolicy::kReject);
}

TEST(DmarcEvaluator, AppendixB4_3PsdPolicyRecord) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.bank.example", {"v=DMARC1; p=reject; psd=y"});
  zone.add_txt("_dmarc.giant.bank.example", {"v=DMARC1; p=quarantine"});
  Names asked;
  auto r = evaluate(zone,
                    input("giant.bank.example", {dkim(AuthResult::kPass, "mail.mega.bank.example")},
                          AuthResult::kPass, "mail.giant.bank.example"),
                    &asked);
  EXPECT_EQ(r.result, AuthResult::kPass);
  EXPECT_TRUE(r.spf_aligned);    // mail.giant.bank.example → giant.bank.example
  EXPECT_FALSE(r.dkim_aligned);  // mail.mega.bank.example → mega.bank.example
  EXPECT_EQ(r.organizational_domain, "giant.bank.example");
  EXPECT_EQ(r.policy_domain, "giant.bank.example");
  EXPECT_EQ(r.policy, DmarcPolicy::kQuarantine);
  // psd=y stops every walk: _dmarc.example is never asked.
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "_dmarc.example"), 0);
  // The same without the SPF pass: DKIM alone is not aligned, the message fails
  // under the Author Domain's own p=.
  auto f = evaluate(zone,
                    input("giant.bank.example", {dkim(AuthResult::kPass, "mail.mega.bank.example")},
                          AuthResult::kFail, "mail.giant.bank.example"));
  EXPECT_EQ(f.result, AuthResult::kFail);
  EXPECT_EQ(f.disposition, DmarcDisposition::kQuarantine);
}

// ----- psd=, sp=, np=, t=

TEST(DmarcEvaluator, PsdYesOrNoAtAPublicSuffix) {
  // Two registrants under "example": with psd=y each is its own organizational
  // domain, so they do not align; with psd=n "example" is the organizational
  // domain of both, so they do.
  for (bool psd_yes : {true, false}) {
    dns::FakeResolver zone;
    zone.add_txt("_dmarc.example", {psd_yes ? "v=DMARC1; p=reject; sp=quarantine; psd=y"
                                            : "v=DMARC1; p=reject; psd=n"});
    auto r = evaluate(zone, input("alice.example", {dkim(AuthResult::kPass, "bob.example")},
                                  AuthResult::kNone, ""));
    SCOPED_TRACE(psd_yes ? "psd=y" : "psd=n");
    EXPECT_EQ(r.policy_domain, "example");
    if (psd_yes) {
      EXPECT_EQ(r.organizational_domain, "alice.example");  // one label below the PSD
      EXPECT_EQ(r.result, AuthResult::kFail);
      EXPECT_EQ(r.policy, DmarcPolicy::kQuarantine);  // the PSD's sp= for its subdomain
      EXPECT_EQ(r.disposition, DmarcDisposition::kQuarantine);
    } else {
      EXPECT_EQ(r.organizational_domain, "example");
      EXPECT_EQ(r.result, AuthResult::kPass);
      EXPECT_TRUE(r.dkim_aligned);
    }
  }
}

TEST(DmarcEvaluator, OrganizationalDomainRecordBeatsAnIntermediateOne) {
  // §4.10.1: the Author Domain, its organizational domain, or its PSD — a record
  // at mail.example.com (neither) is not the policy for a.mail.example.com.
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.mail.example.com", {"v=DMARC1; p=none"});
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=none; sp=reject"});
  auto r = evaluate(zone, input("a.mail.example.com", {}, AuthResult::kFail, "a.mail.example.com"));
  EXPECT_EQ(r.policy_domain, "example.com");
  EXPECT_EQ(r.policy, DmarcPolicy::kReject);
  EXPECT_EQ(r.disposition, DmarcDisposition::kReject);
}

TEST(DmarcEvaluator, NpAppliesToANonExistentAuthorDomain) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=none; sp=quarantine; np=reject"});
  zone.add_a("real.example.com", "192.0.2.1");  // exists: TXT is NODATA
  // NXDOMAIN for the Author Domain (RFC 8020, appendix A.4): np=.
  Names asked;
  auto ghost = evaluate(zone, input("ghost.example.com", {}, AuthResult::kNone, ""), &asked);
  EXPECT_EQ(ghost.result, AuthResult::kFail);
  EXPECT_FALSE(ghost.author_domain_exists);
  EXPECT_EQ(ghost.policy, DmarcPolicy::kReject);
  EXPECT_EQ(ghost.disposition, DmarcDisposition::kReject);
  EXPECT_EQ(asked.back(), "ghost.example.com");  // the existence question comes last
  // An existing subdomain gets sp=.
  auto real = evaluate(zone, input("real.example.com", {}, AuthResult::kNone, ""));
  EXPECT_TRUE(real.author_domain_exists);
  EXPECT_EQ(real.policy, DmarcPolicy::kQuarantine);
  // The organizational domain itself gets p=, and nothing asks whether it exists.
  asked.clear();
  auto org = evaluate(zone, input("example.com", {}, AuthResult::kNone, ""), &asked);
  EXPECT_EQ(org.policy, DmarcPolicy::kNone);
  EXPECT_EQ(asked, (Names{"_dmarc.example.com"}));
  // A pass never needs the existence answer.
  asked.clear();
  auto pass = evaluate(
      zone,
      input("ghost.example.com", {dkim(AuthResult::kPass, "example.com")}, AuthResult::kNone, ""),
      &asked);
  EXPECT_EQ(pass.result, AuthResult::kPass);
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "ghost.example.com"), 0);
  // Without np=, sp= applies and existence is not asked either.
  dns::FakeResolver plain;
  plain.add_txt("_dmarc.example.com", {"v=DMARC1; p=none; sp=quarantine"});
  asked.clear();
  auto sp = evaluate(plain, input("ghost.example.com", {}, AuthResult::kNone, ""), &asked);
  EXPECT_EQ(sp.policy, DmarcPolicy::kQuarantine);
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "ghost.example.com"), 0);
  // A DNS failure on the existence question: temperror, not a guess.
  zone.set("slow.example.com", dns::RecordType::kTxt,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  EXPECT_EQ(evaluate(zone, input("slow.example.com", {}, AuthResult::kNone, "")).result,
            AuthResult::kTempError);
}

TEST(DmarcEvaluator, TestingModeLowersThePolicyOneStep) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject; t=y"});
  zone.add_txt("_dmarc.example.net", {"v=DMARC1; p=quarantine; t=y"});
  zone.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject; t=n; pct=0"});
  auto com = evaluate(zone, input("example.com", {}, AuthResult::kFail, "example.com"));
  EXPECT_EQ(com.result, AuthResult::kFail);
  EXPECT_EQ(com.policy, DmarcPolicy::kReject);  // the published policy, for A-R
  EXPECT_TRUE(com.testing);
  EXPECT_EQ(com.disposition, DmarcDisposition::kQuarantine);
  auto net = evaluate(zone, input("example.net", {}, AuthResult::kFail, "example.net"));
  EXPECT_EQ(net.disposition, DmarcDisposition::kNone);
  auto org = evaluate(zone, input("example.org", {}, AuthResult::kFail, "example.org", 50));
  EXPECT_FALSE(org.testing);
  EXPECT_EQ(org.disposition, DmarcDisposition::kReject);
}

TEST(DmarcEvaluator, UnusableRecordAtTheAuthorDomainMeansNoDmarc) {
  // §4.10.1: no valid p= and no rua=: "no DMARC processing", even though the
  // organizational domain publishes a record.
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.mail.example.com", {"v=DMARC1; p=bogus"});
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  auto r = evaluate(zone, input("mail.example.com", {}, AuthResult::kFail, "x.example"));
  EXPECT_EQ(r.result, AuthResult::kNone);
  EXPECT_NE(r.problem.find("p= is missing"), std::string::npos);
  // Above the Author Domain an unusable record is stepped over.
  dns::FakeResolver above;
  above.add_txt("_dmarc.mail.example.com", {"v=DMARC1; p=bogus"});
  above.add_txt("_dmarc.com", {"v=DMARC1; p=reject"});
  auto s = evaluate(above, input("a.mail.example.com", {}, AuthResult::kFail, "x.example"));
  EXPECT_EQ(s.result, AuthResult::kFail);
  EXPECT_EQ(s.policy_domain, "com");
}

TEST(DmarcEvaluator, TemporaryFailureInAnAlignmentWalk) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  zone.set("_dmarc.mail.example.com", dns::RecordType::kTxt,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  // The only identifier needs a walk that fails: neither pass nor fail.
  auto r = evaluate(zone, input("example.com", {dkim(AuthResult::kPass, "mail.example.com")},
                                AuthResult::kFail, "other.example"));
  EXPECT_EQ(r.result, AuthResult::kTempError);
  // Another aligned identifier still makes it a pass.
  auto p = evaluate(zone, input("example.com", {dkim(AuthResult::kPass, "mail.example.com")},
                                AuthResult::kPass, "example.com"));
  EXPECT_EQ(p.result, AuthResult::kPass);
  EXPECT_TRUE(p.spf_aligned);
  EXPECT_FALSE(p.dkim_aligned);
}

TEST(DmarcEvaluator, QuestionsOfIndependentWalksAreHandedOutTogether) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  DmarcEvaluator e(input("example.com", {dkim(AuthResult::kPass, "a.example.com")},
                         AuthResult::kPass, "b.example.com"));
  ASSERT_EQ(e.pending_queries(),
            (std::vector<DnsQuery>{{"_dmarc.example.com", dns::RecordType::kTxt}}));
  e.provide_for("_dmarc.example.com",
                zone.lookup("_dmarc.example.com", dns::RecordType::kTxt).get());
  // The policy is known: the Author Domain's walk goes on, and both identifiers' walks start.
  auto open = e.pending_queries();
  ASSERT_EQ(open.size(), 3u);
  e.provide_for("_dmarc.unknown.example",
                dns::Answer::failure(dns::LookupStatus::kNxDomain));  // ignored
  for (const DnsQuery& q : open) {
    e.provide_for(q.name, zone.lookup(q.name, q.type).get());
  }
  ASSERT_FALSE(e.pending_query());
  EXPECT_EQ(e.result().result, AuthResult::kPass);
  EXPECT_TRUE(e.result().dkim_aligned);
  EXPECT_TRUE(e.result().spf_aligned);
  EXPECT_EQ(e.queries_answered(), 4u);  // _dmarc.{example.com,com,a.example.com,b.example.com}
}

TEST(DmarcEvaluator, UnrelatedIdentifiersNeedNoWalk) {
  dns::FakeResolver zone;
  zone.add_txt("_dmarc.example.com", {"v=DMARC1; p=reject"});
  Names asked;
  auto r = evaluate(zone,
                    input("example.com", {dkim(AuthResult::kPass, "example.net")},
                          AuthResult::kPass, "example.net"),
                    &asked);
  EXPECT_EQ(r.result, AuthResult::kFail);
  EXPECT_EQ(asked,
            (Names{"_dmarc.example.com"}));  // no common label, no shared organizational domain
}

}  // namespace
}  // namespace tern::mailauth
