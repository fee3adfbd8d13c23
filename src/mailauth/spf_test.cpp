// SPDX-License-Identifier: Apache-2.0
// SPF: record syntax, macro expansion (RFC 7208 §7.4 examples), the Appendix A
// zone and its examples, lookup limits counted against a FakeResolver, and the
// sans-IO contract (one pending question at a time).
#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "mailauth/spf_evaluator.hpp"
#include "mailauth/spf_record.hpp"

namespace tern::mailauth {
namespace {

dns::IpAddress ip(std::string_view text) {
  auto parsed = dns::IpAddress::parse(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(dns::IpAddress());
}

SpfResult check(dns::FakeResolver& zone, std::string_view client, std::string_view mail_from,
                std::string_view helo = "mx.example.net") {
  auto spf = SpfEvaluator::for_mail_from(ip(client), mail_from, helo);
  while (auto q = spf.pending_query()) {
    spf.provide(zone.lookup(q->name, q->type).get());
  }
  return spf.result();
}

// RFC 7208 Appendix A.
void load_appendix_a(dns::FakeResolver& zone) {
  zone.add_mx("example.com", 10, "mail-a.example.com");
  zone.add_mx("example.com", 20, "mail-b.example.com");
  zone.add_a("example.com", "192.0.2.10");
  zone.add_a("example.com", "192.0.2.11");
  zone.add_a("amy.example.com", "192.0.2.65");
  zone.add_a("bob.example.com", "192.0.2.66");
  zone.add_a("mail-a.example.com", "192.0.2.129");
  zone.add_a("mail-b.example.com", "192.0.2.130");
  zone.add_cname("www.example.com", "example.com");
  zone.add_mx("mail-c.example.org", 10, "mail-c.example.org");
  zone.add_a("mail-c.example.org", "192.0.2.140");
  zone.add_ptr("10.2.0.192.in-addr.arpa", "example.com");
  zone.add_ptr("11.2.0.192.in-addr.arpa", "example.com");
  zone.add_ptr("65.2.0.192.in-addr.arpa", "amy.example.com");
  zone.add_ptr("66.2.0.192.in-addr.arpa", "bob.example.com");
  zone.add_ptr("129.2.0.192.in-addr.arpa", "mail-a.example.com");
  zone.add_ptr("130.2.0.192.in-addr.arpa", "mail-b.example.com");
  zone.add_ptr("140.2.0.192.in-addr.arpa", "mail-c.example.org");
  zone.add_ptr("10.0.0.10.in-addr.arpa", "bob.example.com");
}

struct AppendixCase {
  const char* record;
  std::vector<const char*> passing;
};

TEST(SpfAppendixA, SimpleExamplesPassExactlyTheListedHosts) {
  // RFC 7208 Appendix A.1, each record published at example.com.
  const std::vector<AppendixCase> cases = {
      {"v=spf1 +all",
       {"192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.128", "192.0.2.129",
        "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.142", "192.0.2.143", "192.0.2.144",
        "10.0.0.10"}},
      {"v=spf1 a -all", {"192.0.2.10", "192.0.2.11"}},
      {"v=spf1 a:example.org -all", {}},
      {"v=spf1 mx -all", {"192.0.2.129", "192.0.2.130"}},
      {"v=spf1 mx:example.org -all", {}},
      {"v=spf1 mx:mail-c.example.org -all", {"192.0.2.140"}},
      {"v=spf1 mx mx:mail-c.example.org -all", {"192.0.2.129", "192.0.2.130", "192.0.2.140"}},
      {"v=spf1 mx/30 mx:mail-c.example.org/30 -all",
       {"192.0.2.128", "192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.142",
        "192.0.2.143"}},
      {"v=spf1 ptr -all",
       {"192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.129", "192.0.2.130"}},
      {"v=spf1 ip4:192.0.2.128/28 -all",
       {"192.0.2.128", "192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.142",
        "192.0.2.143"}},
  };
  const std::vector<const char*> clients = {
      "192.0.2.10",  "192.0.2.11",  "192.0.2.65",  "192.0.2.66",  "192.0.2.128",
      "192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.142",
      "192.0.2.143", "192.0.2.144", "10.0.0.10"};
  for (const AppendixCase& c : cases) {
    dns::FakeResolver zone;
    load_appendix_a(zone);
    zone.add_txt("example.com", {c.record});
    for (const char* client : clients) {
      bool listed = std::find_if(c.passing.begin(), c.passing.end(), [&](const char* p) {
                      return std::string_view(p) == client;
                    }) != c.passing.end();
      SpfResult r = check(zone, client, "user@example.com");
      EXPECT_EQ(r.result, listed ? AuthResult::kPass : AuthResult::kFail)
          << c.record << " for " << client << " [" << r.problem << "]";
    }
  }
}

TEST(SpfAppendixA, MultipleDomainsViaInclude) {
  // RFC 7208 Appendix A.2, shaped for la.example.org / ny.example.org.
  dns::FakeResolver zone;
  load_appendix_a(zone);
  zone.add_txt("la.example.org", {"v=spf1 redirect=example.org"});
  zone.add_txt("ny.example.org", {"v=spf1 redirect=example.org"});
  zone.add_txt("example.org", {"v=spf1 include:example.com include:mail-c.example.org -all"});
  zone.add_txt("example.com", {"v=spf1 a -all"});
  zone.add_txt("mail-c.example.org", {"v=spf1 mx -all"});
  EXPECT_EQ(check(zone, "192.0.2.10", "x@la.example.org").result, AuthResult::kPass);
  EXPECT_EQ(check(zone, "192.0.2.140", "x@ny.example.org").result, AuthResult::kPass);
  SpfResult r = check(zone, "192.0.2.66", "x@ny.example.org");
  EXPECT_EQ(r.result, AuthResult::kFail);
  EXPECT_EQ(r.mechanism, "-all");
}

TEST(SpfMacros, Rfc7208Section7_4Examples) {
  SpfMacroValues v;
  v.sender = "strong-bad@email.example.com";
  v.local_part = "strong-bad";
  v.sender_domain = "email.example.com";
  v.domain = "email.example.com";
  v.ip = ip("192.0.2.3");
  auto x = [&](std::string_view macro) {
    EXPECT_TRUE(validate_macro_string(macro, SpfMacroContextKind::kDomainSpec)) << macro;
    return expand_macro_string(macro, v, SpfMacroContextKind::kDomainSpec);
  };
  EXPECT_EQ(x("%{s}"), "strong-bad@email.example.com");
  EXPECT_EQ(x("%{o}"), "email.example.com");
  EXPECT_EQ(x("%{d}"), "email.example.com");
  EXPECT_EQ(x("%{d4}"), "email.example.com");
  EXPECT_EQ(x("%{d3}"), "email.example.com");
  EXPECT_EQ(x("%{d2}"), "example.com");
  EXPECT_EQ(x("%{d1}"), "com");
  EXPECT_EQ(x("%{dr}"), "com.example.email");
  EXPECT_EQ(x("%{d2r}"), "example.email");
  EXPECT_EQ(x("%{l}"), "strong-bad");
  EXPECT_EQ(x("%{l-}"), "strong.bad");
  EXPECT_EQ(x("%{lr}"), "strong-bad");
  EXPECT_EQ(x("%{lr-}"), "bad.strong");
  EXPECT_EQ(x("%{l1r-}"), "strong");
  EXPECT_EQ(x("%{ir}.%{v}._spf.%{d2}"), "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(x("%{lr-}.lp._spf.%{d2}"), "bad.strong.lp._spf.example.com");
  EXPECT_EQ(x("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}"),
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(x("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}"), "3.2.0.192.in-addr.strong.lp._spf.example.com");
  EXPECT_EQ(x("%{d2}.trusted-domains.example.net"), "example.com.trusted-domains.example.net");
  v.ip = ip("2001:db8::cb01");
  EXPECT_EQ(x("%{ir}.%{v}._spf.%{d2}"),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
  EXPECT_EQ(x("%{S}"), "strong-bad%40email.example.com");
  EXPECT_EQ(x("a%%b%_c%-d"), "a%b c%20d");
}

TEST(SpfMacros, RefusesMalformedMacros) {
  for (std::string_view bad : {"%", "%x", "%{", "%{x}", "%{d0}", "%{d", "%{c}", "a b", "%{dr+x}"}) {
    EXPECT_FALSE(validate_macro_string(bad, SpfMacroContextKind::kDomainSpec)) << bad;
  }
  EXPECT_TRUE(validate_macro_string("%{c} %{r} %{t}", SpfMacroContextKind::kExplanation));
}

TEST(SpfRecord, ParsesEveryMechanismAndModifier) {
  auto r = parse_spf_record(
      "v=spf1 +all -include:a.example ~a ?a:b.example/24//64 mx mx:c.example//48 ptr "
      "ptr:d.example ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.e.example "
      "redirect=f.example exp=explain.%{d} unknown-mod=%{s}");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->mechanisms.size(), 11u);
  EXPECT_EQ(r->mechanisms[1].qualifier, SpfQualifier::kFail);
  EXPECT_EQ(r->mechanisms[3].cidr4, 24);
  EXPECT_EQ(r->mechanisms[3].cidr6, 64);
  EXPECT_EQ(r->mechanisms[3].domain_spec, "b.example");
  EXPECT_EQ(r->mechanisms[5].cidr6, 48);
  EXPECT_EQ(r->mechanisms[8].cidr4, 24);
  EXPECT_EQ(r->mechanisms[9].cidr6, 32);
  EXPECT_EQ(r->redirect, "f.example");
  EXPECT_EQ(r->explanation, "explain.%{d}");
}

TEST(SpfRecord, RefusesSyntaxErrors) {
  for (std::string_view bad :
       {"v=spf1 foo", "v=spf1 ip4:192.0.2.0/33", "v=spf1 ip4:192.0.2.0/024", "v=spf1 ip6:::1/129",
        "v=spf1 ip4:2001:db8::1", "v=spf1 a:example.com/", "v=spf1 a:1.2.3.4", "v=spf1 include",
        "v=spf1 redirect=a.example redirect=b.example", "v=spf1 exp=a.example exp=b.example",
        "v=spf1 -all\x01", "v=spf1 mx:%{x}.example", "v=spf1 all:foo", "v=spf1 =x"}) {
    EXPECT_FALSE(parse_spf_record(bad)) << bad;
  }
  EXPECT_FALSE(is_spf_record("v=spf10"));
  EXPECT_TRUE(is_spf_record("V=SPF1"));
}

TEST(SpfEvaluator, TenLookupLimitAndVoidLookupLimit) {
  dns::FakeResolver zone;
  std::string record = "v=spf1";
  for (int i = 0; i < 11; ++i) {
    record += " a:h" + std::to_string(i) + ".example.com";
    zone.add_a("h" + std::to_string(i) + ".example.com", "198.51.100.1");
  }
  zone.add_txt("limit.example.com", {record + " -all"});
  SpfResult r = check(zone, "192.0.2.1", "a@limit.example.com");
  EXPECT_EQ(r.result, AuthResult::kPermError);
  EXPECT_EQ(r.problem, "more than 10 DNS lookups");
  // The eleventh name was never asked.
  EXPECT_EQ(zone.lookups_for_test("h10.example.com", dns::RecordType::kA), 0u);
  EXPECT_EQ(zone.lookups_for_test("h9.example.com", dns::RecordType::kA), 1u);

  zone.add_txt("void.example.com",
               {"v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com -all"});
  r = check(zone, "192.0.2.1", "a@void.example.com");
  EXPECT_EQ(r.result, AuthResult::kPermError);
  EXPECT_EQ(r.problem, "more than 2 void lookups");
  zone.add_txt("twovoid.example.com", {"v=spf1 a:n1.example.com a:n2.example.com -all"});
  EXPECT_EQ(check(zone, "192.0.2.1", "a@twovoid.example.com").result, AuthResult::kFail);
}

TEST(SpfEvaluator, MxWithMoreThanTenNamesIsPermerror) {
  dns::FakeResolver zone;
  for (int i = 0; i < 11; ++i) {
    zone.add_mx("many.example.com", static_cast<std::uint16_t>(i),
                "mx" + std::to_string(i) + ".example.com");
  }
  zone.add_txt("many.example.com", {"v=spf1 mx -all"});
  EXPECT_EQ(check(zone, "192.0.2.1", "a@many.example.com").result, AuthResult::kPermError);
}

TEST(SpfEvaluator, HeloIdentityAndExplanation) {
  dns::FakeResolver zone;
  zone.add_txt("mx.example.net", {"v=spf1 ip6:2001:db8::/32 -all exp=why.example.net"});
  zone.add_txt("why.example.net", {"%{c} may not send for %{d} as %{s} (", "%{h})"});
  auto spf = SpfEvaluator::for_helo(ip("192.0.2.7"), "mx.example.net");
  while (auto q = spf.pending_query()) {
    spf.provide(zone.lookup(q->name, q->type).get());
  }
  EXPECT_EQ(spf.identity(), SpfIdentity::kHelo);
  EXPECT_EQ(spf.result().result, AuthResult::kFail);
  EXPECT_EQ(spf.result().explanation,
            "192.0.2.7 may not send for mx.example.net as postmaster@mx.example.net "
            "(mx.example.net)");
  // An IPv4-mapped IPv6 client is checked as IPv4.
  zone.add_txt("v4.example.net", {"v=spf1 ip4:192.0.2.0/24 -all"});
  EXPECT_EQ(check(zone, "::ffff:192.0.2.9", "a@v4.example.net").result, AuthResult::kPass);
}

TEST(SpfEvaluator, AsksOneQuestionAtATimeAndStopsOnTemporaryFailure) {
  dns::FakeResolver zone;
  zone.set("slow.example.com", dns::RecordType::kTxt,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  auto spf = SpfEvaluator::for_mail_from(ip("192.0.2.1"), "a@slow.example.com", "h.example");
  auto q = spf.pending_query();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->name, "slow.example.com");
  EXPECT_EQ(q->type, dns::RecordType::kTxt);
  spf.provide(zone.lookup(q->name, q->type).get());
  EXPECT_FALSE(spf.pending_query());
  EXPECT_EQ(spf.result().result, AuthResult::kTempError);
  EXPECT_EQ(check(zone, "192.0.2.1", "a@nothing.example.com").result, AuthResult::kNone);
  EXPECT_EQ(check(zone, "192.0.2.1", "a@[192.0.2.1]").result, AuthResult::kNone);
}

}  // namespace
}  // namespace tern::mailauth
