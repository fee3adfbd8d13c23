// SPDX-License-Identifier: Apache-2.0
// iprev (RFC 8601 §3): every result of §2.7.3 from a FakeResolver.
#include "mailauth/iprev.hpp"

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"

namespace tern::mailauth {
namespace {

IprevResult run(dns::FakeResolver& zone, std::string_view ip, std::size_t max_names = 10) {
  IprevEvaluator iprev(*dns::IpAddress::parse(ip), max_names);
  while (auto q = iprev.pending_query()) {
    iprev.provide(zone.lookup(q->name, q->type).get());
  }
  return iprev.result();
}

TEST(Iprev, PassFailPermerrorTemperror) {
  dns::FakeResolver zone;
  zone.add_ptr("10.2.0.192.in-addr.arpa", "other.example.com");
  zone.add_ptr("10.2.0.192.in-addr.arpa", "mx.example.com");
  zone.add_a("other.example.com", "198.51.100.1");
  zone.add_a("mx.example.com", "192.0.2.10");
  IprevResult r = run(zone, "192.0.2.10");
  EXPECT_EQ(r.result, AuthResult::kPass);
  EXPECT_EQ(r.name, "mx.example.com");
  // An IPv4-mapped IPv6 client is the IPv4 address.
  EXPECT_EQ(run(zone, "::ffff:192.0.2.10").result, AuthResult::kPass);
  // The limit on names: the matching one is the second.
  EXPECT_EQ(run(zone, "192.0.2.10", 1).result, AuthResult::kFail);

  zone.add_ptr("11.2.0.192.in-addr.arpa", "nowhere.example.com");
  EXPECT_EQ(run(zone, "192.0.2.11").result, AuthResult::kFail);
  EXPECT_EQ(run(zone, "192.0.2.12").result, AuthResult::kPermError);

  zone.set("13.2.0.192.in-addr.arpa", dns::RecordType::kPtr,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  EXPECT_EQ(run(zone, "192.0.2.13").result, AuthResult::kTempError);
  zone.add_ptr("14.2.0.192.in-addr.arpa", "slow.example.com");
  zone.set("slow.example.com", dns::RecordType::kA,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  EXPECT_EQ(run(zone, "192.0.2.14").result, AuthResult::kTempError);
}

TEST(Iprev, Ipv6AsksForAaaaUnderIp6Arpa) {
  dns::FakeResolver zone;
  auto ip = *dns::IpAddress::parse("2001:db8::25");
  zone.add_ptr(ip.reverse_name(), "mx6.example.com");
  zone.add_a("mx6.example.com", "2001:db8::25");
  IprevEvaluator iprev(ip);
  ASSERT_TRUE(iprev.pending_query());
  EXPECT_TRUE(iprev.pending_query()->name.ends_with(".ip6.arpa"));
  iprev.provide(zone.lookup(iprev.pending_query()->name, dns::RecordType::kPtr).get());
  ASSERT_TRUE(iprev.pending_query());
  EXPECT_EQ(iprev.pending_query()->type, dns::RecordType::kAaaa);
  iprev.provide(zone.lookup("mx6.example.com", dns::RecordType::kAaaa).get());
  EXPECT_EQ(iprev.result().result, AuthResult::kPass);
}

}  // namespace
}  // namespace tern::mailauth
