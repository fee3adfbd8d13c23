// SPDX-License-Identifier: Apache-2.0
// DNSBL sites in postscreen_dnsbl_sites syntax, query names (RFC 5782 §2.1,
// §2.4) and the scoring of answers.
#include "dnsbl/dnsbl.hpp"

#include <gtest/gtest.h>

namespace tern::dnsbl {
namespace {

dns::Answer a(std::initializer_list<const char*> addresses) {
  dns::Answer answer;
  answer.status = dns::LookupStatus::kOk;
  for (const char* text : addresses) {
    answer.addresses.push_back(*dns::IpAddress::parse(text));
  }
  return answer;
}

dns::Answer nxdomain() {
  return dns::Answer::failure(dns::LookupStatus::kNxDomain);
}

TEST(DnsblSite, ParsesPostscreenSyntax) {
  auto plain = parse_site("zen.spamhaus.org");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->zone, "zen.spamhaus.org");
  EXPECT_EQ(plain->weight, 1);
  EXPECT_FALSE(plain->pattern);

  auto full = parse_site("Zen.Spamhaus.org.=127.0.0.[2..11]*3");
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->zone, "zen.spamhaus.org");
  EXPECT_EQ(full->weight, 3);
  ASSERT_TRUE(full->pattern);
  EXPECT_TRUE((*full->pattern)[3].allowed[2]);
  EXPECT_TRUE((*full->pattern)[3].allowed[11]);
  EXPECT_FALSE((*full->pattern)[3].allowed[12]);
  EXPECT_TRUE((*full->pattern)[0].allowed[127]);
  EXPECT_FALSE((*full->pattern)[0].allowed[126]);

  auto allow = parse_site("list.dnswl.org=127.0.[0..255].[1;3]*-5");
  ASSERT_TRUE(allow) << allow.error().message;
  EXPECT_EQ(allow->weight, -5);
  EXPECT_TRUE((*allow->pattern)[3].allowed[3]);
  EXPECT_FALSE((*allow->pattern)[3].allowed[2]);
}

TEST(DnsblSite, RefusesMalformedSites) {
  for (std::string_view bad :
       {"", "localhost", "zen.spamhaus.org*", "zen.spamhaus.org*x", "zen.spamhaus.org*5000",
        "zen.spamhaus.org=", "zen.spamhaus.org=127.0.0", "zen.spamhaus.org=127.0.0.2.1",
        "zen.spamhaus.org=127.0.0.256", "zen.spamhaus.org=127.0.0.[11..2]",
        "zen.spamhaus.org=127.0.0.[2..11", "zen.spamhaus.org=127.0.0.[2;;3]", "bad..zone.org",
        "=127.0.0.2"}) {
    auto site = parse_site(bad);
    EXPECT_FALSE(site) << bad;
    if (!site) {
      EXPECT_EQ(site.error().code, ErrorCode::kInvalidInput);
    }
  }
  EXPECT_EQ(parse_site("zen.spamhaus.org=127.0.0.x").error().message,
            "invalid DNSBL site \"zen.spamhaus.org=127.0.0.x\": bad octet \"x\" (a number "
            "0..255, [a..b] or [a;b;c])");
}

TEST(DnsblQuery, ReversesOctetsAndNibbles) {
  // RFC 5782 §2.1 and §2.4, with the RFC's own examples.
  EXPECT_EQ(query_name(*dns::IpAddress::parse("192.0.2.99"), "bad.example.com"),
            "99.2.0.192.bad.example.com");
  EXPECT_EQ(query_name(*dns::IpAddress::parse("2001:db8:1:2:3:4:567:89ab"), "ugly.example.com"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com");
  EXPECT_EQ(query_name(*dns::IpAddress::parse("::ffff:192.0.2.99"), "bad.example.com"),
            "99.2.0.192.bad.example.com");
}

TEST(DnsblAnswers, ListingsAreLoopbackAnswersOnly) {
  auto any = *parse_site("bl.example");
  EXPECT_TRUE(lists(any, a({"127.0.0.2"})));
  EXPECT_TRUE(lists(any, a({"10.0.0.1", "127.0.0.4"})));
  EXPECT_FALSE(lists(any, a({"10.0.0.1"})));         // not 127/8: a wildcard, not a listing
  EXPECT_FALSE(lists(any, a({"127.255.255.254"})));  // Spamhaus: query via a public resolver
  EXPECT_FALSE(lists(any, nxdomain()));
  EXPECT_FALSE(lists(any, dns::Answer::failure(dns::LookupStatus::kTemporary, "timed out")));

  auto pattern = *parse_site("bl.example=127.0.0.[2..3]");
  EXPECT_TRUE(lists(pattern, a({"127.0.0.3"})));
  EXPECT_FALSE(lists(pattern, a({"127.0.0.4"})));
  EXPECT_TRUE(lists(*parse_site("bl.example=127.255.255.254"), a({"127.255.255.254"})));
}

TEST(DnsblAnswers, ReasonsAreTheFirstTxtRecordMadePrintable) {
  dns::Answer txt;
  txt.status = dns::LookupStatus::kOk;
  txt.txt = {dns::TxtRecord{{"Listed by bl.test, see ", "https://bl.test/q?1.2.3.4\r\n"}},
             dns::TxtRecord{{"second"}}};
  EXPECT_EQ(reason(txt), "Listed by bl.test, see https://bl.test/q?1.2.3.4  ");
  txt.txt = {dns::TxtRecord{{std::string(300, 'x')}}};
  EXPECT_EQ(reason(txt).size(), kMaxReasonBytes);
  EXPECT_EQ(reason(dns::Answer::failure(dns::LookupStatus::kNxDomain)), "");
}

TEST(DnsblAnswers, WeightsAddUpAndAllowlistsSubtract) {
  std::vector<Site> sites{*parse_site("a.example*2"), *parse_site("b.example"),
                          *parse_site("wl.example=127.0.[0..255].[1..3]*-3")};
  auto verdict =
      evaluate(sites, std::vector<dns::Answer>{a({"127.0.0.2"}), a({"127.0.0.2"}), nxdomain()});
  EXPECT_EQ(verdict.score, 3);
  EXPECT_EQ(verdict.listed_by, (std::vector<std::string>{"a.example", "b.example"}));
  verdict =
      evaluate(sites, std::vector<dns::Answer>{a({"127.0.0.2"}), nxdomain(), a({"127.0.10.2"})});
  EXPECT_EQ(verdict.score, -1);
  EXPECT_EQ(verdict.listed_by, (std::vector<std::string>{"a.example"}));
}

}  // namespace
}  // namespace tern::dnsbl
