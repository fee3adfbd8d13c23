// SPDX-License-Identifier: Apache-2.0
// Authentication-Results (RFC 8601): a message's results from every evaluator
// in one field, quoting, and the authserv-id test used to drop spoofed fields.
#include "mailauth/authentication_results.hpp"

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "mailauth/dkim_signer.hpp"

namespace tern::mailauth {
namespace {

template <class Evaluator>
void drive(Evaluator& evaluator, dns::FakeResolver& zone) {
  while (auto q = evaluator.pending_query()) {
    evaluator.provide(zone.lookup(q->name, q->type).get());
  }
}

TEST(AuthenticationResults, OneFieldWithEveryMethod) {
  dns::FakeResolver zone;
  auto key = DkimPrivateKey::load("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
  ASSERT_TRUE(key);
  zone.add_txt("s._domainkey.example.org", {key->dns_record()});
  zone.add_txt("example.org", {"v=spf1 ip4:192.0.2.0/24 -all"});
  zone.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject"});
  zone.add_ptr("10.2.0.192.in-addr.arpa", "mx.example.org");
  zone.add_a("mx.example.org", "192.0.2.10");
  const auto ip = *dns::IpAddress::parse("192.0.2.10");
  DkimSignOptions options;
  options.domain = "example.org";
  options.selector = "s";
  std::string message = "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
  message = *dkim_sign(message, *key, options) + message;

  auto spf = SpfEvaluator::for_mail_from(ip, "bounce@example.org", "mx.example.org");
  drive(spf, zone);
  DkimVerifier dkim(message);
  drive(dkim, zone);
  DmarcInput input;
  input.from_domain = "example.org";
  input.dkim = dkim.results();
  input.spf = spf.result().result;
  input.spf_domain = spf.domain();
  DmarcEvaluator dmarc(input);
  drive(dmarc, zone);
  ArcVerifier arc(message);
  drive(arc, zone);
  IprevEvaluator iprev(ip);
  drive(iprev, zone);

  std::vector<MethodResult> results = {spf_method_result(spf)};
  for (MethodResult& r : dkim_method_results(dkim.results())) {
    results.push_back(std::move(r));
  }
  results.push_back(dmarc_method_result(dmarc.result(), "example.org"));
  results.push_back(arc_method_result(arc.result()));
  results.push_back(iprev_method_result(iprev.result(), ip));
  const std::string b = dkim.results()[0].b.substr(0, 8);
  EXPECT_EQ(format_authentication_results("mx.example.net", results),
            "Authentication-Results: mx.example.net;\r\n"
            "\tspf=pass smtp.mailfrom=example.org;\r\n"
            "\tdkim=pass header.d=example.org header.s=s header.a=ed25519-sha256 header.b=" +
                (b.find_first_of("/+=") == std::string::npos ? b : "\"" + b + "\"") +
                ";\r\n"
                "\tdmarc=pass header.from=example.org policy.dmarc=reject;\r\n"
                "\tarc=none;\r\n"
                "\tiprev=pass policy.iprev=192.0.2.10\r\n");
}

TEST(AuthenticationResults, NoneReasonsAndQuoting) {
  EXPECT_EQ(format_authentication_results("mx.example.net", {}),
            "Authentication-Results: mx.example.net; none\r\n");
  MethodResult r;
  r.method = "dkim";
  r.result = AuthResult::kFail;
  r.reason = "body hash did not \"verify\"";
  r.properties = {
      {"header.d", "example.org"}, {"header.i", "user@example.org"}, {"header.b", "ab/c+d=="}};
  EXPECT_EQ(
      format_authentication_results("mx", {r}),
      "Authentication-Results: mx;\r\n\tdkim=fail reason=\"body hash did not \\\"verify\\\"\" "
      "header.d=example.org header.i=user@example.org header.b=\"ab/c+d==\"\r\n");
  EXPECT_EQ(dkim_method_results({})[0].result, AuthResult::kNone);
}

TEST(AuthenticationResults, FindsFieldsClaimingOurAuthservId) {
  // RFC 8601 §5: a field from outside with our authserv-id is removed.
  EXPECT_TRUE(claims_authserv_id(" mx.example.net; spf=pass", "MX.example.net"));
  EXPECT_TRUE(claims_authserv_id(" (forged) mx.example.net 1; dkim=pass", "mx.example.net"));
  EXPECT_TRUE(claims_authserv_id("mx.example.net;none", "mx.example.net"));
  EXPECT_FALSE(claims_authserv_id(" other.example; spf=pass", "mx.example.net"));
  EXPECT_FALSE(claims_authserv_id(" mx.example.net.evil; spf=pass", "mx.example.net"));
  EXPECT_FALSE(claims_authserv_id("", "mx.example.net"));
}

}  // namespace
}  // namespace tern::mailauth
