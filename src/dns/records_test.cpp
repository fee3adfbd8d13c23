// SPDX-License-Identifier: Apache-2.0
#include "dns/records.hpp"

#include <vector>

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"

namespace tern::dns {
namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int b : list) {
    out.push_back(static_cast<std::uint8_t>(b));
  }
  return out;
}

std::vector<std::uint8_t> wire_name(std::string_view dotted) {
  std::vector<std::uint8_t> out;
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) {
      dot = dotted.size();
    }
    out.push_back(static_cast<std::uint8_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i) {
      out.push_back(static_cast<std::uint8_t>(dotted[i]));
    }
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

TEST(DnsNames, HostNamesAreLdhLabels) {
  EXPECT_TRUE(is_host_name("mail.example.org"));
  EXPECT_TRUE(is_host_name("MX-1.Example.ORG"));
  EXPECT_TRUE(is_host_name("localhost"));
  EXPECT_TRUE(is_host_name(std::string(63, 'a') + ".example"));
  EXPECT_FALSE(is_host_name(std::string(64, 'a') + ".example"));
  EXPECT_FALSE(is_host_name(""));
  EXPECT_FALSE(is_host_name("example.org."));
  EXPECT_FALSE(is_host_name("a..b"));
  EXPECT_FALSE(is_host_name("-a.example"));
  EXPECT_FALSE(is_host_name("a-.example"));
  EXPECT_FALSE(is_host_name("_25._tcp.example"));
  EXPECT_FALSE(is_host_name("*.example"));
  EXPECT_FALSE(is_host_name("a b.example"));
}

TEST(DnsNames, NormalizesCaseAndTrailingDot) {
  EXPECT_EQ(*normalize_name("Mx.Example.ORG."), "mx.example.org");
  EXPECT_EQ(*normalize_name("mx.example.org"), "mx.example.org");
  EXPECT_EQ(*normalize_name("_25._tcp.MX.example"), "_25._tcp.mx.example");
  EXPECT_EQ(*normalize_name("."), "");
  EXPECT_EQ(absolute_name("example.org"), "example.org.");
}

TEST(DnsNames, RejectsMalformedNames) {
  EXPECT_FALSE(normalize_name("a..b"));
  EXPECT_FALSE(normalize_name(".a"));
  EXPECT_FALSE(normalize_name("a\tb.example"));
  EXPECT_TRUE(normalize_name("a b.example"));  // SPF "%_" (RFC 7208 §7.3)
  EXPECT_FALSE(normalize_name(std::string(64, 'a') + ".example"));
  EXPECT_TRUE(normalize_name(std::string(63, 'a') + ".example"));
  std::string long_name;
  for (int i = 0; i < 64; ++i) {
    long_name += "abc.";
  }
  EXPECT_FALSE(normalize_name(long_name));  // 256 octets
  EXPECT_FALSE(normalize_name("caf\xc3\xa9.example"));
}

TEST(DnsRecordType, NamesRoundTrip) {
  EXPECT_EQ(record_type_name(RecordType::kTlsa), "TLSA");
  EXPECT_EQ(parse_record_type("aaaa"), RecordType::kAaaa);
  EXPECT_EQ(parse_record_type("SOA"), std::nullopt);
}

TEST(IpAddress, ParsesAndFormatsIpv4) {
  auto ip = IpAddress::parse("192.0.2.10");
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->is_v4());
  EXPECT_EQ(ip->format(), "192.0.2.10");
  EXPECT_EQ(ip->reverse_name(), "10.2.0.192.in-addr.arpa");
  for (const char* bad : {"192.0.2", "192.0.2.256", "192.0.2.01", "1.2.3.4.", "1.2.3.4.5", "",
                          "a.b.c.d", "1..2.3", "1.2.3.-4"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
}

TEST(IpAddress, ParsesAndFormatsIpv6Canonically) {
  struct Case {
    const char* in;
    const char* out;
  };

  // RFC 5952 §4 examples and edge cases.
  for (const Case& c : std::vector<Case>{
           {"2001:DB8:0:0:0:0:2:1", "2001:db8::2:1"},
           {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
           {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
           {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
           {"::", "::"},
           {"::1", "::1"},
           {"1::", "1::"},
           {"::ffff:192.0.2.1", "::ffff:c000:201"},
           {"fe80:0000:0000:0000:0204:61ff:fe9d:f156", "fe80::204:61ff:fe9d:f156"},
       }) {
    auto ip = IpAddress::parse(c.in);
    ASSERT_TRUE(ip) << c.in;
    EXPECT_TRUE(ip->is_v6());
    EXPECT_EQ(ip->format(), c.out) << c.in;
    EXPECT_EQ(IpAddress::parse(ip->format()), ip);
  }
  for (const char* bad : {":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "1:2:3:4:5:6:7",
                          "::g", "1:", ":1", "1:2:3:4:5:6:7:8::", "::1.2.3", "fe80::1%eth0"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
}

TEST(IpAddress, ReverseNameAndMappedV4) {
  auto ip = IpAddress::parse("2001:db8::567:89ab");
  EXPECT_EQ(ip->reverse_name(),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_EQ(IpAddress::parse("::ffff:192.0.2.1")->mapped_v4(), IpAddress::parse("192.0.2.1"));
  EXPECT_EQ(IpAddress::parse("::1")->mapped_v4(), std::nullopt);
  EXPECT_LT(*IpAddress::parse("10.0.0.1"), *IpAddress::parse("::1"));
}

TEST(DnsRdata, ParsesEachType) {
  Answer answer;
  auto a = bytes({192, 0, 2, 1});
  ASSERT_TRUE(parse_rdata(RecordType::kA, a, answer));
  EXPECT_EQ(answer.addresses.at(0).format(), "192.0.2.1");

  auto mx = bytes({0, 10});
  auto name = wire_name("MX1.example.org");
  mx.insert(mx.end(), name.begin(), name.end());
  ASSERT_TRUE(parse_rdata(RecordType::kMx, mx, answer));
  EXPECT_EQ(answer.mx.at(0), (MxRecord{10, "mx1.example.org"}));

  auto null_mx = bytes({0, 0, 0});  // RFC 7505: preference 0, root
  ASSERT_TRUE(parse_rdata(RecordType::kMx, null_mx, answer));
  EXPECT_EQ(answer.mx.at(1), (MxRecord{0, ""}));

  auto txt = bytes({5, 'v', '=', 's', 'p', 'f', 0, 3, ' ', '-', 'x'});
  ASSERT_TRUE(parse_rdata(RecordType::kTxt, txt, answer));
  EXPECT_EQ(answer.txt.at(0).strings, (std::vector<std::string>{"v=spf", "", " -x"}));
  EXPECT_EQ(answer.txt.at(0).joined(), "v=spf -x");

  auto tlsa = bytes({3, 1, 1, 0xde, 0xad});
  ASSERT_TRUE(parse_rdata(RecordType::kTlsa, tlsa, answer));
  EXPECT_EQ(answer.tlsa.at(0), (TlsaRecord{3, 1, 1, "\xde\xad"}));

  auto srv = bytes({0, 1, 0, 2, 0x01, 0xbb});
  auto target = wire_name("imap.example.org");
  srv.insert(srv.end(), target.begin(), target.end());
  ASSERT_TRUE(parse_rdata(RecordType::kSrv, srv, answer));
  EXPECT_EQ(answer.srv.at(0), (SrvRecord{1, 2, 443, "imap.example.org"}));

  auto ptr = wire_name("host.example.");
  ASSERT_TRUE(parse_rdata(RecordType::kPtr, ptr, answer));
  EXPECT_EQ(answer.names.at(0), "host.example");
}

TEST(DnsRdata, RejectsTruncatedAndCompressedData) {
  Answer answer;
  EXPECT_FALSE(parse_rdata(RecordType::kA, bytes({1, 2, 3}), answer));
  EXPECT_FALSE(parse_rdata(RecordType::kAaaa, bytes({1, 2, 3, 4}), answer));
  EXPECT_FALSE(parse_rdata(RecordType::kMx, bytes({0, 10, 0xc0, 0x0c}), answer));  // pointer
  EXPECT_FALSE(parse_rdata(RecordType::kMx, bytes({0, 10, 3, 'a', 'b'}), answer));
  EXPECT_FALSE(parse_rdata(RecordType::kMx, bytes({0, 10, 0, 7}), answer));  // trailing
  EXPECT_FALSE(parse_rdata(RecordType::kTxt, bytes({4, 'a'}), answer));
  EXPECT_FALSE(parse_rdata(RecordType::kTxt, bytes({}), answer));
  EXPECT_FALSE(parse_rdata(RecordType::kTlsa, bytes({3, 1}), answer));
  EXPECT_FALSE(parse_rdata(RecordType::kSrv, bytes({0, 1, 0}), answer));
  EXPECT_TRUE(answer.addresses.empty());
  EXPECT_TRUE(answer.mx.empty());
  EXPECT_TRUE(answer.txt.empty());
}

TEST(FakeResolver, AnswersLikeAResolver) {
  FakeResolver resolver;
  resolver.add_mx("example.org", 10, "mx.example.org");
  resolver.add_a("mx.example.org", "192.0.2.1");
  resolver.add_a("mx.example.org", "2001:db8::1");
  resolver.add_cname("www.example.org", "mx.example.org");
  resolver.set("broken.example", RecordType::kMx,
               Answer::failure(LookupStatus::kTemporary, "servfail"));

  Answer mx = resolver.lookup("EXAMPLE.org.", RecordType::kMx).get();
  EXPECT_EQ(mx.status, LookupStatus::kOk);
  EXPECT_EQ(mx.mx.at(0).exchange, "mx.example.org");

  Answer aaaa = resolver.lookup("www.example.org", RecordType::kAaaa).get();
  EXPECT_EQ(aaaa.status, LookupStatus::kOk);
  EXPECT_EQ(aaaa.canonical_name, "mx.example.org");
  EXPECT_EQ(aaaa.addresses.at(0).format(), "2001:db8::1");

  EXPECT_EQ(resolver.lookup("example.org", RecordType::kA).get().status, LookupStatus::kNoData);
  EXPECT_EQ(resolver.lookup("nope.example", RecordType::kA).get().status, LookupStatus::kNxDomain);
  EXPECT_EQ(resolver.lookup("broken.example", RecordType::kMx).get().status,
            LookupStatus::kTemporary);
  EXPECT_EQ(resolver.lookup("bad..name", RecordType::kA).get().status, LookupStatus::kMalformed);
  EXPECT_EQ(resolver.lookups_for_test("example.org", RecordType::kMx), 1U);
}

TEST(FakeResolver, StopsCnameLoopsAndReportsDnssec) {
  FakeResolver resolver;
  resolver.add_cname("a.example", "b.example");
  resolver.add_cname("b.example", "a.example");
  EXPECT_EQ(resolver.lookup("a.example", RecordType::kA).get().status, LookupStatus::kTemporary);

  resolver.add_tlsa("_25._tcp.mx.example", TlsaRecord{3, 1, 1, "x"});
  resolver.set_dnssec("_25._tcp.mx.example", DnssecState::kSecure);
  Answer tlsa = resolver.lookup("_25._tcp.mx.example", RecordType::kTlsa).get();
  EXPECT_EQ(tlsa.dnssec, DnssecState::kSecure);
  EXPECT_EQ(tlsa.tlsa.size(), 1U);
}

// A CNAME chain is secure only when every link is (RFC 4035 §5), as unbound says.
TEST(FakeResolver, ChainSecurityIsTheWeakestLink) {
  FakeResolver resolver;
  resolver.add_cname("alias.example", "mx.example");
  resolver.add_a("mx.example", "192.0.2.1");
  resolver.set_dnssec("mx.example", DnssecState::kSecure);
  EXPECT_EQ(resolver.lookup("alias.example", RecordType::kA).get().dnssec, DnssecState::kInsecure);
  resolver.set_dnssec("alias.example", DnssecState::kSecure);
  EXPECT_EQ(resolver.lookup("alias.example", RecordType::kA).get().dnssec, DnssecState::kSecure);
  EXPECT_EQ(resolver.lookup("alias.example", RecordType::kCname).get().dnssec,
            DnssecState::kSecure);
  resolver.set_dnssec("mx.example", DnssecState::kInsecure);
  EXPECT_EQ(resolver.lookup("alias.example", RecordType::kA).get().dnssec, DnssecState::kInsecure);
  resolver.set_dnssec("alias.example", DnssecState::kBogus);
  EXPECT_EQ(resolver.lookup("alias.example", RecordType::kA).get().dnssec, DnssecState::kBogus);
}

TEST(IpNetwork, ParsesBlocksAndBareAddresses) {
  auto v4 = IpNetwork::parse("192.0.2.0/24");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->prefix, 24);
  EXPECT_TRUE(v4->contains(*IpAddress::parse("192.0.2.200")));
  EXPECT_FALSE(v4->contains(*IpAddress::parse("192.0.3.1")));
  EXPECT_TRUE(v4->contains(*IpAddress::parse("::ffff:192.0.2.9")));  // mapped
  EXPECT_FALSE(v4->contains(*IpAddress::parse("2001:db8::1")));
  auto v6 = IpNetwork::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db9::1")));
  auto host = IpNetwork::parse("198.51.100.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32);
  EXPECT_TRUE(host->contains(*IpAddress::parse("198.51.100.7")));
  EXPECT_FALSE(host->contains(*IpAddress::parse("198.51.100.8")));
  EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains(*IpAddress::parse("203.0.113.1")));
  for (const char* bad : {"", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2.0/x",
                          "192.0.2/24", "example.org/24", "192.0.2.0/-1"}) {
    EXPECT_FALSE(IpNetwork::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace tern::dns
