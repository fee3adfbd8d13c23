// SPDX-License-Identifier: Apache-2.0
// UnboundResolver against real servers. The tests that need an authoritative
// server run when TERN_TEST_DNS_SERVER names one serving the zones of
// tests/integration/test_outbound_transport_dns.py (which starts Knot and runs
// this binary); otherwise they skip. The timeout test needs no server.
#include "runtime/dns_resolver.hpp"

#include <algorithm>
#include <cstdlib>

#include <gtest/gtest.h>

namespace tern::runtime {
namespace {

using dns::LookupStatus;
using dns::RecordType;

TEST(UnboundForwarder, ConvertsServerSpellings) {
  EXPECT_EQ(*unbound_forwarder("127.0.0.1:5353"), "127.0.0.1@5353");
  EXPECT_EQ(*unbound_forwarder("192.0.2.1"), "192.0.2.1@53");
  EXPECT_EQ(*unbound_forwarder("::1"), "::1@53");
  EXPECT_EQ(*unbound_forwarder("[2001:db8::1]:5300"), "2001:db8::1@5300");
  for (const char* bad : {"", "dns.example:53", "127.0.0.1:0", "127.0.0.1:70000", "[::1", "[::1]x",
                          "127.0.0.1:", "127.0.0.1:5x"}) {
    EXPECT_FALSE(unbound_forwarder(bad)) << bad;
  }
}

TEST(UnboundResolver, RefusesAMalformedServer) {
  auto resolver = UnboundResolver::create(DnsResolverOptions{{"not-an-ip"}, "", {}});
  ASSERT_FALSE(resolver);
  EXPECT_EQ(resolver.error().code, ErrorCode::kInvalidInput);
}

TEST(UnboundResolver, TimesOutAgainstASilentServer) {
  // 127.0.0.1:9 (discard) is closed on the test machines: UDP queries vanish
  // or are refused, and the deadline turns either into kTemporary.
  DnsResolverOptions options;
  options.servers = {"127.0.0.1:9"};
  options.query_timeout = std::chrono::milliseconds(300);
  auto resolver = UnboundResolver::create(options);
  ASSERT_TRUE(resolver) << resolver.error().message;
  const auto start = std::chrono::steady_clock::now();
  dns::Answer answer = (*resolver)->lookup("example.test", RecordType::kMx).get();
  EXPECT_EQ(answer.status, LookupStatus::kTemporary);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ((*resolver)->lookup("bad..name", RecordType::kA).get().status,
            LookupStatus::kMalformed);
}

TEST(UnboundResolver, ShutsDownWithQueriesInFlight) {
  DnsResolverOptions options;
  options.servers = {"127.0.0.1:9"};
  options.query_timeout = std::chrono::seconds(30);
  auto resolver = UnboundResolver::create(options);
  ASSERT_TRUE(resolver);
  auto future = (*resolver)->lookup("example.test", RecordType::kA);
  resolver->reset();
  EXPECT_EQ(future.get().status, LookupStatus::kTemporary);
}

class LiveUnbound : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* server = std::getenv("TERN_TEST_DNS_SERVER");
    if (server == nullptr || *server == '\0') {
      GTEST_SKIP() << "TERN_TEST_DNS_SERVER not set (run by "
                      "tests/integration/test_outbound_transport_dns.py)";
    }
    DnsResolverOptions options;
    options.servers = {server};
    options.query_timeout = std::chrono::seconds(5);
    auto created = UnboundResolver::create(options);
    ASSERT_TRUE(created) << created.error().message;
    resolver_ = std::move(*created);
  }

  dns::Answer lookup(const char* name, RecordType type) {
    return resolver_->lookup(name, type).get();
  }

  std::unique_ptr<UnboundResolver> resolver_;
};

TEST_F(LiveUnbound, ResolvesMxAndAddresses) {
  dns::Answer mx = lookup("Example.TEST.", RecordType::kMx);
  ASSERT_EQ(mx.status, LookupStatus::kOk) << mx.error;
  std::sort(mx.mx.begin(), mx.mx.end(),
            [](const auto& a, const auto& b) { return a.preference < b.preference; });
  ASSERT_EQ(mx.mx.size(), 2U);
  EXPECT_EQ(mx.mx[0], (dns::MxRecord{10, "mx1.example.test"}));
  EXPECT_EQ(mx.mx[1], (dns::MxRecord{20, "mx2.example.test"}));
  EXPECT_GT(mx.ttl, 0U);
  EXPECT_EQ(mx.dnssec, dns::DnssecState::kInsecure);

  dns::Answer a = lookup("mx1.example.test", RecordType::kA);
  ASSERT_EQ(a.status, LookupStatus::kOk);
  EXPECT_EQ(a.addresses.at(0).format(), "127.0.0.2");
  dns::Answer aaaa = lookup("mx1.example.test", RecordType::kAaaa);
  ASSERT_EQ(aaaa.status, LookupStatus::kOk);
  EXPECT_EQ(aaaa.addresses.at(0).format(), "::1");
}

TEST_F(LiveUnbound, KeepsNxDomainAndNoDataApart) {
  EXPECT_EQ(lookup("nope.example.test", RecordType::kA).status, LookupStatus::kNxDomain);
  EXPECT_EQ(lookup("mx2.example.test", RecordType::kAaaa).status, LookupStatus::kNoData);
}

TEST_F(LiveUnbound, FollowsCnamesAndReadsTxtTlsaAndNullMx) {
  dns::Answer cname = lookup("www.example.test", RecordType::kA);
  ASSERT_EQ(cname.status, LookupStatus::kOk);
  EXPECT_EQ(cname.canonical_name, "mx1.example.test");
  EXPECT_EQ(cname.addresses.at(0).format(), "127.0.0.2");

  dns::Answer txt = lookup("example.test", RecordType::kTxt);
  ASSERT_EQ(txt.status, LookupStatus::kOk);
  ASSERT_EQ(txt.txt.size(), 1U);
  EXPECT_EQ(txt.txt[0].strings, (std::vector<std::string>{"v=spf1 ", "-all"}));

  dns::Answer tlsa = lookup("_25._tcp.mx1.example.test", RecordType::kTlsa);
  ASSERT_EQ(tlsa.status, LookupStatus::kOk);
  EXPECT_EQ(tlsa.tlsa.at(0), (dns::TlsaRecord{3, 1, 1, std::string("\xab\xcd\xef\x01", 4)}));

  dns::Answer null_mx = lookup("null.test", RecordType::kMx);
  ASSERT_EQ(null_mx.status, LookupStatus::kOk);
  EXPECT_EQ(null_mx.mx.at(0), (dns::MxRecord{0, ""}));
}

TEST_F(LiveUnbound, AnswersConcurrentLookups) {
  std::vector<Future<dns::Answer>> futures;
  for (int i = 0; i < 50; ++i) {
    futures.push_back(
        resolver_->lookup(i % 2 == 0 ? "mx1.example.test" : "mx2.example.test", RecordType::kA));
  }
  for (auto& f : futures) {
    EXPECT_EQ(f.get().status, LookupStatus::kOk);
  }
}

}  // namespace
}  // namespace tern::runtime
