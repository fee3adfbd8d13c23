// SPDX-License-Identifier: Apache-2.0
// InboundVerifier: SPF (MAIL FROM and HELO), DKIM, ARC, iprev and DMARC on one
// message from a FakeResolver; the questions asked side by side and shared; the
// deadline turning open lookups into temperror; DMARC dispositions with p=, sp=,
// pct= and the trusted-ARC-sealer override; the l= policy.
#include "mailauth/inbound.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "mailauth/arc_sealer.hpp"
#include "mailauth/dkim_signer.hpp"

namespace tern::mailauth {
namespace {

// RFC 8463 Appendix A.1: an Ed25519 seed (dkimpy's key file form).
constexpr const char* kSeed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr const char* kKeyRecord =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr std::uint64_t kNow = 1'800'000'000;

const DkimPrivateKey& key() {
  static const DkimPrivateKey k = *DkimPrivateKey::load(kSeed);
  return k;
}

std::string message(std::string_view from = "Alice <alice@example.com>",
                    std::string_view body = "Hello.\r\n") {
  return "From: " + std::string(from) +
         "\r\nTo: bob@example.net\r\nSubject: hi\r\n"
         "Date: Fri, 27 Nov 2026 18:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n" +
         std::string(body);
}

std::string signed_message(std::string msg, std::string domain = "example.com",
                           bool length = false) {
  DkimSignOptions o;
  o.domain = std::move(domain);
  o.selector = "sel";
  o.timestamp = kNow - 10;
  o.include_body_length = length;
  return *dkim_sign(msg, key(), o) + msg;
}

// The ARC Set a forwarder at `domain` adds to `msg` (which carries its
// Authentication-Results), sealed with key(); "" if sealing failed.
std::string arc_set(const std::string& msg, std::string domain, std::string selector,
                    std::string authserv_id) {
  ArcSealOptions seal;
  seal.domain = std::move(domain);
  seal.selector = std::move(selector);
  seal.authserv_id = std::move(authserv_id);
  seal.timestamp = kNow - 5;
  auto set = arc_seal(msg, key(), seal);
  EXPECT_TRUE(set && *set);
  return set && *set ? (*set)->seal + (*set)->message_signature + (*set)->results : std::string();
}

// A zone where 192.0.2.1 (mx.example.com) may send for example.com.
void fill_zone(dns::FakeResolver& z, std::string dmarc = "v=DMARC1; p=reject") {
  z.add_txt("example.com", {"v=spf1 ip4:192.0.2.1 -all"});
  z.add_txt("mx.example.com", {"v=spf1 a -all"});
  z.add_a("mx.example.com", "192.0.2.1");
  z.add_ptr("1.2.0.192.in-addr.arpa", "mx.example.com");
  z.add_txt("sel._domainkey.example.com", {kKeyRecord});
  z.add_txt("_dmarc.example.com", {std::move(dmarc)});
}

InboundInput input(const std::string& msg, std::string ip = "192.0.2.1",
                   std::string mail_from = "bounce@example.com") {
  InboundInput in;
  in.client_ip = *dns::IpAddress::parse(ip);
  in.helo = "mx.example.com";
  in.mail_from = std::move(mail_from);
  in.message = msg;
  return in;
}

InboundOptions options() {
  InboundOptions o;
  o.authserv_id = "mx.example.net";
  o.receiver = "mx.example.net";
  o.now = kNow;
  return o;
}

// Answers every question from `z`, a round at a time (all open questions of a
// round are asked before any is answered, as the MX does in parallel).
InboundVerdict run(dns::FakeResolver& z, const InboundInput& in, InboundOptions o = options()) {
  InboundVerifier v(in, std::move(o));
  for (int round = 0; !v.done(); ++round) {
    EXPECT_LT(round, 100) << "the verifier does not progress";
    if (round >= 100) {
      v.expire();
      break;
    }
    auto queries = v.take_queries();
    EXPECT_FALSE(queries.empty()) << "not done, yet nothing to ask";
    for (const auto& q : queries) {
      v.provide(q, z.lookup(q.name, q.type).get());
    }
  }
  return v.verdict();
}

TEST(InboundVerifier, EverythingPassesAndOneFieldSaysSo) {
  dns::FakeResolver z;
  fill_zone(z);
  std::string msg = signed_message(message());
  InboundVerdict v = run(z, input(msg));
  EXPECT_EQ(v.spf_mail_from.result, AuthResult::kPass);
  ASSERT_TRUE(v.spf_helo);
  EXPECT_EQ(v.spf_helo->result, AuthResult::kPass);
  ASSERT_EQ(v.dkim.size(), 1u);
  EXPECT_EQ(v.dkim[0].result, AuthResult::kPass);
  EXPECT_EQ(v.dmarc.result, AuthResult::kPass);
  EXPECT_EQ(v.arc.result, AuthResult::kNone);
  EXPECT_EQ(v.iprev.result, AuthResult::kPass);
  EXPECT_EQ(v.disposition, DmarcDisposition::kNone);
  EXPECT_FALSE(v.deadline_passed);
  const std::string& ar = v.authentication_results;
  EXPECT_EQ(ar.rfind("Authentication-Results: mx.example.net;\r\n", 0), 0u) << ar;
  for (const char* part :
       {"\tspf=pass smtp.mailfrom=example.com;", "\tspf=pass smtp.helo=mx.example.com;",
        "\tdkim=pass header.d=example.com header.s=sel header.a=ed25519-sha256 header.b=",
        "\tdmarc=pass header.from=example.com policy.dmarc=reject;",
        "\tarc=none smtp.remote-ip=192.0.2.1;", "\tiprev=pass policy.iprev=192.0.2.1\r\n"}) {
    EXPECT_NE(ar.find(part), std::string::npos) << part << " in\n" << ar;
  }
  EXPECT_EQ(ar.find("Authentication-Results", 1), std::string::npos);
}

TEST(InboundVerifier, IndependentQuestionsAreAskedTogetherAndShared) {
  dns::FakeResolver z;
  fill_zone(z);
  // The same key signs as DKIM and seals the ARC set: one TXT question serves both.
  std::string msg = "Authentication-Results: relay.example.com; spf=pass\r\n" + message();
  msg = arc_set(msg, "example.com", "sel", "relay.example.com") + signed_message(msg);
  InboundVerifier v(input(msg), options());
  auto first = v.take_queries();
  auto has = [&](std::string_view name, dns::RecordType type) {
    return std::count(first.begin(), first.end(), DnsQuery{std::string(name), type});
  };
  EXPECT_EQ(has("example.com", dns::RecordType::kTxt), 1);                 // SPF MAIL FROM
  EXPECT_EQ(has("mx.example.com", dns::RecordType::kTxt), 1);              // SPF HELO
  EXPECT_EQ(has("sel._domainkey.example.com", dns::RecordType::kTxt), 1);  // DKIM and ARC
  EXPECT_EQ(has("1.2.0.192.in-addr.arpa", dns::RecordType::kPtr), 1);      // iprev
  EXPECT_EQ(first.size(), 4u);
  EXPECT_TRUE(v.take_queries().empty());  // nothing is handed out twice
  // DMARC waits for SPF and DKIM.
  for (const auto& q : first) {
    v.provide(q, z.lookup(q.name, q.type).get());
  }
  auto second = v.take_queries();
  EXPECT_NE(std::find(second.begin(), second.end(),
                      DnsQuery{"_dmarc.example.com", dns::RecordType::kTxt}),
            second.end());
  for (const auto& q : second) {
    v.provide(q, z.lookup(q.name, q.type).get());
  }
  for (int round = 0; !v.done() && round < 20; ++round) {
    for (const auto& q : v.take_queries()) {
      v.provide(q, z.lookup(q.name, q.type).get());
    }
  }
  EXPECT_EQ(v.verdict().arc.result, AuthResult::kPass) << v.verdict().arc.problem;
  EXPECT_EQ(v.verdict().arc.sealer, "example.com");
  EXPECT_EQ(v.verdict().dkim[0].result, AuthResult::kPass);
  EXPECT_EQ(z.lookups_for_test("sel._domainkey.example.com", dns::RecordType::kTxt), 1u);
  EXPECT_NE(v.verdict().authentication_results.find("arc=pass arc.chain=1"), std::string::npos);
}

TEST(InboundVerifier, EverySignaturesKeyIsAskedAtOnce) {
  dns::FakeResolver z;
  fill_zone(z);
  z.add_txt("sel._domainkey.example.net", {kKeyRecord});
  std::string msg = signed_message(message());
  DkimSignOptions o;
  o.domain = "example.net";
  o.selector = "sel";
  o.timestamp = kNow - 10;
  msg = *dkim_sign(msg, key(), o) + msg;
  InboundVerifier v(input(msg), options());
  auto first = v.take_queries();
  for (const char* name : {"sel._domainkey.example.com", "sel._domainkey.example.net"}) {
    EXPECT_NE(std::find(first.begin(), first.end(), DnsQuery{name, dns::RecordType::kTxt}),
              first.end())
        << name;
  }
  // Answered in reverse order, both pass.
  for (auto q = first.rbegin(); q != first.rend(); ++q) {
    v.provide(*q, z.lookup(q->name, q->type).get());
  }
  while (!v.done()) {
    for (const auto& q : v.take_queries()) {
      v.provide(q, z.lookup(q.name, q.type).get());
    }
  }
  ASSERT_EQ(v.verdict().dkim.size(), 2u);
  EXPECT_EQ(v.verdict().dkim[0].result, AuthResult::kPass);
  EXPECT_EQ(v.verdict().dkim[1].result, AuthResult::kPass);
}

TEST(InboundVerifier, DeadlineTurnsOpenLookupsIntoTemperror) {
  dns::FakeResolver z;
  fill_zone(z);
  std::string msg = signed_message(message());
  {
    // Nothing ever answers.
    InboundVerifier v(input(msg), options());
    EXPECT_FALSE(v.take_queries().empty());
    EXPECT_FALSE(v.done());
    v.expire();
    ASSERT_TRUE(v.done());
    const InboundVerdict& r = v.verdict();
    EXPECT_TRUE(r.deadline_passed);
    EXPECT_EQ(r.spf_mail_from.result, AuthResult::kTempError);
    EXPECT_EQ(r.dkim[0].result, AuthResult::kTempError);
    EXPECT_EQ(r.iprev.result, AuthResult::kTempError);
    EXPECT_EQ(r.dmarc.result, AuthResult::kTempError);
    EXPECT_EQ(r.disposition, DmarcDisposition::kNone);  // never reject on a timeout
    EXPECT_NE(r.authentication_results.find("dmarc=temperror"), std::string::npos);
  }
  {
    // SPF's answer came in time, the DKIM key and the PTR did not.
    InboundVerifier v(input(msg), options());
    for (const auto& q : v.take_queries()) {
      if (q.name == "example.com" || q.name == "mx.example.com") {
        v.provide(q, z.lookup(q.name, q.type).get());
      }
    }
    EXPECT_FALSE(v.done());
    v.expire();
    ASSERT_TRUE(v.done());
    EXPECT_EQ(v.verdict().spf_mail_from.result, AuthResult::kPass);
    EXPECT_EQ(v.verdict().dkim[0].result, AuthResult::kTempError);
    // SPF alone aligns: DMARC still asks, and its question also times out.
    EXPECT_EQ(v.verdict().dmarc.result, AuthResult::kTempError);
  }
  {
    // A late answer after expire() changes nothing.
    InboundVerifier v(input(msg), options());
    auto queries = v.take_queries();
    v.expire();
    std::string before = v.verdict().authentication_results;
    v.provide(queries[0], z.lookup(queries[0].name, queries[0].type).get());
    EXPECT_EQ(v.verdict().authentication_results, before);
  }
}

TEST(InboundVerifier, DmarcDispositionFollowsPolicySubdomainPolicyAndPct) {
  // Sent from an address SPF does not allow, unsigned: DMARC fails.
  dns::FakeResolver reject;
  fill_zone(reject, "v=DMARC1; p=reject");
  InboundVerdict v = run(reject, input(message(), "198.51.100.7"));
  EXPECT_EQ(v.spf_mail_from.result, AuthResult::kFail);
  EXPECT_EQ(v.dmarc.result, AuthResult::kFail);
  EXPECT_EQ(v.disposition, DmarcDisposition::kReject);
  EXPECT_NE(v.authentication_results.find("dkim=none"), std::string::npos);
  EXPECT_NE(v.authentication_results.find("iprev=permerror"), std::string::npos);

  dns::FakeResolver quarantine;
  fill_zone(quarantine, "v=DMARC1; p=quarantine");
  EXPECT_EQ(run(quarantine, input(message(), "198.51.100.7")).disposition,
            DmarcDisposition::kQuarantine);

  // pct=50: a sample of 70 falls outside, the policy is lowered one step.
  dns::FakeResolver half;
  fill_zone(half, "v=DMARC1; p=reject; pct=50");
  InboundOptions o = options();
  o.dmarc_sample = 70;
  EXPECT_EQ(run(half, input(message(), "198.51.100.7"), o).disposition,
            DmarcDisposition::kQuarantine);
  o.dmarc_sample = 10;
  EXPECT_EQ(run(half, input(message(), "198.51.100.7"), o).disposition, DmarcDisposition::kReject);

  // sp= governs a subdomain found through the organizational domain's record.
  dns::FakeResolver sub;
  fill_zone(sub, "v=DMARC1; p=reject; sp=quarantine");
  InboundVerdict s = run(sub, input(message("news@news.example.com"), "198.51.100.7"));
  EXPECT_EQ(s.from_domain, "news.example.com");
  EXPECT_EQ(s.dmarc.policy_domain, "example.com");
  EXPECT_EQ(s.disposition, DmarcDisposition::kQuarantine);

  // Aligned DKIM alone passes, even from a foreign address.
  dns::FakeResolver signed_zone;
  fill_zone(signed_zone, "v=DMARC1; p=reject");
  InboundVerdict d = run(signed_zone, input(signed_message(message()), "198.51.100.7"));
  EXPECT_EQ(d.dmarc.result, AuthResult::kPass);
  EXPECT_EQ(d.disposition, DmarcDisposition::kNone);

  // No policy record at all: dmarc=none.
  dns::FakeResolver empty;
  InboundVerdict n = run(empty, input(message(), "198.51.100.7"));
  EXPECT_EQ(n.dmarc.result, AuthResult::kNone);
  EXPECT_EQ(n.spf_mail_from.result, AuthResult::kNone);
}

TEST(InboundVerifier, DmarcTreeWalkThroughTheDriver) {
  // RFC 9989 §4.10: From news.example.com (no record of its own) signed by
  // d=example.com, MAIL FROM bounce@example.com: the walk finds example.com's
  // policy, and the relaxed checks reuse the answers (example.com's TXT for SPF,
  // _dmarc.example.com for the walks) — nothing is asked twice.
  dns::FakeResolver z;
  fill_zone(z, "v=DMARC1; p=reject; np=quarantine");
  InboundVerifier v(input(signed_message(message("Ann <ann@news.example.com>"))), options());
  std::vector<DnsQuery> all;
  while (!v.done()) {
    auto queries = v.take_queries();
    ASSERT_FALSE(queries.empty());
    for (const auto& q : queries) {
      all.push_back(q);
      v.provide(q, z.lookup(q.name, q.type).get());
    }
  }
  const InboundVerdict& verdict = v.verdict();
  EXPECT_EQ(verdict.dmarc.result, AuthResult::kPass);
  EXPECT_EQ(verdict.dmarc.policy_domain, "example.com");
  EXPECT_EQ(verdict.dmarc.organizational_domain, "example.com");
  EXPECT_TRUE(verdict.dmarc.dkim_aligned);
  EXPECT_TRUE(verdict.dmarc.spf_aligned);
  EXPECT_NE(verdict.authentication_results.find(
                "dmarc=pass header.from=news.example.com policy.dmarc=reject"),
            std::string::npos)
      << verdict.authentication_results;
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (std::size_t j = i + 1; j < all.size(); ++j) {
      EXPECT_FALSE(all[i] == all[j]) << all[i].name << " asked twice";
    }
  }
  auto asked = [&](std::string_view name) {
    return std::count_if(all.begin(), all.end(), [&](const DnsQuery& q) { return q.name == name; });
  };
  EXPECT_EQ(asked("_dmarc.news.example.com"), 1);
  EXPECT_EQ(asked("_dmarc.com"), 1);

  // Unsigned from a name that does not exist (NXDOMAIN): np= decides.
  dns::FakeResolver ghost;
  fill_zone(ghost, "v=DMARC1; p=reject; np=quarantine");
  InboundVerdict g = run(ghost, input(message("Ann <ann@ghost.example.com>"), "198.51.100.7"));
  EXPECT_EQ(g.dmarc.result, AuthResult::kFail);
  EXPECT_FALSE(g.dmarc.author_domain_exists);
  EXPECT_EQ(g.disposition, DmarcDisposition::kQuarantine);
  EXPECT_NE(g.authentication_results.find("policy.dmarc=quarantine"), std::string::npos);

  // t=y: the failing message's reject becomes quarantine.
  dns::FakeResolver testing;
  fill_zone(testing, "v=DMARC1; p=reject; t=y");
  InboundVerdict t = run(testing, input(message(), "198.51.100.7"));
  EXPECT_TRUE(t.dmarc.testing);
  EXPECT_EQ(t.disposition, DmarcDisposition::kQuarantine);
}

TEST(InboundVerifier, TrustedArcSealerLiftsTheDisposition) {
  // relay.example.org forwarded it: SPF fails for example.com, the body was
  // changed (a list footer), so DKIM fails too; the relay's chain says it passed.
  dns::FakeResolver z;
  fill_zone(z, "v=DMARC1; p=reject");
  z.add_txt("arc._domainkey.relay.example.org", {kKeyRecord});
  std::string original = signed_message(message());
  std::string msg =
      "Authentication-Results: relay.example.org; dkim=pass header.d=example.com\r\n" + original +
      "-- \r\nlist footer\r\n";
  msg = arc_set(msg, "relay.example.org", "arc", "relay.example.org") + msg;

  InboundVerdict untrusted = run(z, input(msg, "198.51.100.7", "list@relay.example.org"));
  EXPECT_EQ(untrusted.dkim[0].result, AuthResult::kFail);
  EXPECT_EQ(untrusted.arc.result, AuthResult::kPass);
  EXPECT_EQ(untrusted.dmarc.result, AuthResult::kFail);
  EXPECT_EQ(untrusted.disposition, DmarcDisposition::kReject);  // off by default
  EXPECT_FALSE(untrusted.arc_override);

  InboundOptions o = options();
  o.trusted_arc_sealers = {"Relay.Example.org"};
  InboundVerdict trusted = run(z, input(msg, "198.51.100.7", "list@relay.example.org"), o);
  EXPECT_EQ(trusted.dmarc.result, AuthResult::kFail);
  EXPECT_EQ(trusted.disposition, DmarcDisposition::kNone);
  EXPECT_TRUE(trusted.arc_override);
  EXPECT_NE(trusted.authentication_results.find("trusted sealer relay.example.org"),
            std::string::npos);

  // A sealer not on the list changes nothing.
  o.trusted_arc_sealers = {"other.example"};
  EXPECT_EQ(run(z, input(msg, "198.51.100.7", "list@relay.example.org"), o).disposition,
            DmarcDisposition::kReject);
}

TEST(InboundVerifier, BodyLengthPolicyJudgesAppendedContent) {
  dns::FakeResolver z;
  fill_zone(z, "v=DMARC1; p=reject");
  std::string msg = signed_message(message(), "example.com", true) + "Appended by someone.\r\n";
  InboundVerdict appended = run(z, input(msg, "198.51.100.7"));
  EXPECT_EQ(appended.dkim[0].result, AuthResult::kPolicy);
  EXPECT_EQ(appended.dmarc.result, AuthResult::kFail);  // a policy result is no pass
  InboundOptions o = options();
  o.body_length = BodyLengthPolicy::kAccept;
  InboundVerdict accepted = run(z, input(msg, "198.51.100.7"), o);
  EXPECT_EQ(accepted.dkim[0].result, AuthResult::kPass);
  EXPECT_EQ(accepted.dmarc.result, AuthResult::kPass);
}

TEST(InboundVerifier, NullSenderAndOddHelo) {
  dns::FakeResolver z;
  fill_zone(z);
  std::string msg = message();
  InboundInput in = input(msg, "192.0.2.1", "");
  InboundVerdict v = run(z, in);
  // RFC 7208 §2.4: <> checks postmaster@<HELO>; no separate HELO result.
  EXPECT_TRUE(v.spf_mail_from_is_helo);
  EXPECT_EQ(v.spf_mail_from.result, AuthResult::kPass);
  EXPECT_FALSE(v.spf_helo);
  EXPECT_NE(v.authentication_results.find("spf=pass smtp.helo=mx.example.com"), std::string::npos);
  // An address literal is no HELO identity to check.
  in = input(msg);
  in.helo = "[192.0.2.1]";
  EXPECT_FALSE(run(z, in).spf_helo);
}

TEST(InboundVerifier, FromDomainNeedsOneAuthorDomain) {
  EXPECT_EQ(rfc5322_from_domain(message("A <a@Example.COM>, b@example.com")), "example.com");
  EXPECT_FALSE(rfc5322_from_domain(message("a@example.com, b@example.org")));
  EXPECT_FALSE(rfc5322_from_domain("To: x@example.com\r\n\r\nbody"));
  EXPECT_FALSE(rfc5322_from_domain("From: a@example.com\r\nFrom: b@example.com\r\n\r\n"));
  EXPECT_FALSE(rfc5322_from_domain("From: undisclosed\r\n\r\n"));
  EXPECT_EQ(rfc5322_from_domain("From: a@example.com (folded\r\n comment)\r\n\r\nx"),
            "example.com");
  dns::FakeResolver z;
  fill_zone(z);
  InboundVerdict v = run(z, input(message("a@example.com, b@example.org")));
  EXPECT_EQ(v.dmarc.result, AuthResult::kPermError);
  EXPECT_EQ(v.disposition, DmarcDisposition::kNone);
}

TEST(InboundVerifier, GarbageNeverStallsIt) {
  dns::FakeResolver z;
  fill_zone(z);
  for (std::string msg : {std::string(), std::string("\r\n\r\n"),
                          std::string("DKIM-Signature: v=1; a=\r\nARC-Seal: i=1\r\n\r\n"),
                          std::string("From: <>\r\n\r\n"), std::string(100000, 'x')}) {
    InboundVerdict v = run(z, input(msg));
    EXPECT_FALSE(v.authentication_results.empty());
  }
}

}  // namespace
}  // namespace tern::mailauth
