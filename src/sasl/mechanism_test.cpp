// SPDX-License-Identifier: Apache-2.0
// SASL mechanisms: base64, SCRAM credentials and exchanges (RFC 7677 §3 vector),
// channel-binding rules (RFC 5802 §6), PLAIN and LOGIN, limits.
#include "sasl/mechanism.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/fixed_random.hpp"
#include "sasl/base64.hpp"
#include "sasl/scram.hpp"

namespace tern::sasl {
namespace {

// RFC 7677 §3: user "user", password "pencil". StoredKey and ServerKey computed
// independently with Python's hashlib/hmac.
constexpr std::string_view kSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kStoredKey = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
constexpr std::string_view kServerKey = "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

ScramCredential pencil() {
  auto c = derive_scram_credential("pencil", *base64_decode(kSalt), 4096);
  EXPECT_TRUE(c.has_value());
  return *c;
}

TEST(Base64, RoundTripsAndIsStrict) {
  for (std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(*base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\0\xff", 2)), "AP8=");
  EXPECT_FALSE(base64_decode("Zm9"));        // length
  EXPECT_FALSE(base64_decode("Zm9v YmFy"));  // whitespace
  EXPECT_FALSE(base64_decode("Zg=a"));       // padding in the middle
  EXPECT_FALSE(base64_decode("Zh=="));       // non-zero pad bits (RFC 4648 §3.5)
  EXPECT_FALSE(base64_decode("Z==="));
  EXPECT_FALSE(base64_decode("Zm9v!mFy"));
}

TEST(ScramCredential, MatchesRfc7677Vector) {
  auto c = pencil();
  EXPECT_EQ(base64_encode(c.stored_key), kStoredKey);
  EXPECT_EQ(base64_encode(c.server_key), kServerKey);
  std::string stored = format_scram_credential(c);
  EXPECT_EQ(stored, "SCRAM-SHA-256$4096:" + std::string(kSalt) + "$" + std::string(kStoredKey) +
                        ":" + std::string(kServerKey));
  EXPECT_EQ(parse_scram_credential(stored), c);
  EXPECT_EQ(parse_scram_credential("{SCRAM-SHA-256}" + stored), c);
}

TEST(ScramCredential, RefusesMalformedAndOutOfRange) {
  EXPECT_FALSE(parse_scram_credential(""));
  EXPECT_FALSE(parse_scram_credential("$argon2id$v=19$m=1,t=1,p=1$x$y"));
  EXPECT_FALSE(parse_scram_credential("SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA"));  // short keys
  std::string k = std::string(kStoredKey);
  EXPECT_FALSE(parse_scram_credential("SCRAM-SHA-256$100:c2FsdA==$" + k + ":" + k));
  EXPECT_FALSE(parse_scram_credential("SCRAM-SHA-256$99999999999:c2FsdA==$" + k + ":" + k));
  EXPECT_FALSE(parse_scram_credential("SCRAM-SHA-256$4096:$" + k + ":" + k));
  EXPECT_FALSE(parse_scram_credential("SCRAM-SHA-256$4096:c2FsdA==" + k));
  EXPECT_FALSE(derive_scram_credential("", "salt", 4096));
  EXPECT_FALSE(derive_scram_credential("pw", "salt", 4095));
  FixedRandom random(7);
  auto made = make_scram_credential("pw", 4096, random);
  ASSERT_TRUE(made);
  EXPECT_EQ(made->salt, std::string(kScramSaltBytes, '\7'));
}

TEST(ScramServer, KnownAnswerExchange) {
  // The RFC 7677 client-first, with a server nonce suffix of 18 zero bytes
  // ("AAAA..."); the expected proof and signature were computed with Python.
  FixedRandom random(0);
  ServerOptions options;
  auto mech = make_server_mechanism("scram-sha-256", options, random);
  ASSERT_NE(mech, nullptr);
  EXPECT_EQ(mech->name(), "SCRAM-SHA-256");
  auto r = mech->start("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  ASSERT_EQ(r.kind, StepKind::kNeedScramCredential);
  EXPECT_EQ(r.identity.authcid, "user");
  r = mech->supply_scram_credential(pencil());
  ASSERT_EQ(r.kind, StepKind::kChallenge);
  EXPECT_EQ(r.data,
            "r=rOprNGfwEbeRWgbNEkqOAAAAAAAAAAAAAAAAAAAAAAAA,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  r = mech->step(
      "c=biws,r=rOprNGfwEbeRWgbNEkqOAAAAAAAAAAAAAAAAAAAAAAAA,p=mntKIUEeVuwvGnQqxdBzzYsjAdKe5WlTo6a"
      "yg08QksM=");
  ASSERT_EQ(r.kind, StepKind::kChallenge) << r.reason;
  EXPECT_EQ(r.data, "v=QqRPQK3uxpODfs84WEd7H7b1NyEZnAnZ5gzTU6DCceg=");
  r = mech->step("");
  EXPECT_EQ(r.kind, StepKind::kSuccess);
  EXPECT_EQ(r.identity.authcid, "user");
}

// Runs a full exchange between ScramClient and the server mechanism.
StepResult exchange(ServerMechanism& server, ScramClient& client,
                    std::optional<ScramCredential> credential, bool* client_verified = nullptr) {
  auto r = server.start(client.first());
  if (r.kind != StepKind::kNeedScramCredential) {
    return r;
  }
  r = server.supply_scram_credential(std::move(credential));
  if (r.kind != StepKind::kChallenge) {
    return r;
  }
  auto final_message = client.final(r.data);
  EXPECT_TRUE(final_message.has_value());
  r = server.step(*final_message);
  if (r.kind != StepKind::kChallenge) {
    return r;
  }
  if (client_verified != nullptr) {
    *client_verified = client.verify(r.data).has_value();
  }
  return server.step("");
}

TEST(ScramServer, ClientRoundTripAndWrongPassword) {
  FixedRandom random(3);
  ServerOptions options;
  auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
  ScramClient good("user", "pencil", "", ClientBinding::kNone, "", "", random);
  bool verified = false;
  auto r = exchange(*server, good, pencil(), &verified);
  EXPECT_EQ(r.kind, StepKind::kSuccess) << r.reason;
  EXPECT_TRUE(verified);

  server = make_server_mechanism("SCRAM-SHA-256", options, random);
  ScramClient bad("user", "pencil2", "", ClientBinding::kNone, "", "", random);
  r = exchange(*server, bad, pencil());
  EXPECT_EQ(r.kind, StepKind::kFailure);
  EXPECT_EQ(r.reason, "invalid proof");
}

// RFC 5802 §2.2: Normalize(password) is SASLprep, on the client side too, so a
// password typed with a soft hyphen or as "Ⅸ" derives the stored keys of "IX".
TEST(ScramClient, NormalisesThePasswordWithSaslprep) {
  FixedRandom random(4);
  ServerOptions options;
  auto stored = *derive_scram_credential("pencil", *base64_decode(kSalt), 4096);
  for (const char* typed : {"pen\u00ADcil", "pencil\u200C"}) {
    auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
    ScramClient client("user", typed, "", ClientBinding::kNone, "", "", random);
    bool verified = false;
    auto r = exchange(*server, client, stored, &verified);
    EXPECT_EQ(r.kind, StepKind::kSuccess) << typed << ": " << r.reason;
    EXPECT_TRUE(verified);
  }
  auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
  ScramClient nine("user", "\u2168", "", ClientBinding::kNone, "", "", random);
  auto ix = *derive_scram_credential("IX", *base64_decode(kSalt), 4096);
  EXPECT_EQ(exchange(*server, nine, ix).kind, StepKind::kSuccess);
}

// RFC 5802 §5.1: the fake salt comes from the prepared username, so every
// spelling of an unknown name gets one salt, as every spelling of a known name
// gets its one real salt: respelling reveals nothing. An authzid equal to the
// authcid once both are prepared is the same identity.
TEST(ScramServer, FakeSaltAndAuthzidRuleUseThePreparedName) {
  FixedRandom random(3);
  ServerOptions options;
  options.mock_secret = "secret";
  std::vector<std::string> salts;
  for (const char* name : {"nobody", "no\u00ADbody", "\uFF4Eobody", "nobody\u200B"}) {
    auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
    std::string first = std::string("n,a=") + name + ",n=" + name + ",r=abc";
    auto r = server->start(first);
    ASSERT_EQ(r.kind, StepKind::kNeedScramCredential) << name << ": " << r.reason;
    EXPECT_EQ(r.identity.authcid, name);  // the lookup prepares it
    r = server->supply_scram_credential(std::nullopt);
    ASSERT_EQ(r.kind, StepKind::kChallenge);
    salts.push_back(r.data.substr(r.data.find(",s=")));
  }
  EXPECT_EQ(salts[0], salts[1]);
  EXPECT_EQ(salts[0], salts[2]);
  // A name SASLprep refuses goes on as sent, to fail at the proof.
  auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
  auto r = server->start("n,,n=bell\x07,r=abc");
  ASSERT_EQ(r.kind, StepKind::kNeedScramCredential);
  EXPECT_EQ(r.identity.authcid, "bell\x07");
  server = make_server_mechanism("SCRAM-SHA-256", options, random);
  EXPECT_EQ(server->start("n,a=al\u00ADice,n=alice,r=abc").kind, StepKind::kNeedScramCredential);
  server = make_server_mechanism("SCRAM-SHA-256", options, random);
  EXPECT_EQ(server->start("n,a=bob,n=alice,r=abc").kind, StepKind::kFailure);
}

TEST(ScramServer, UnknownUserLooksLikeWrongPasswordWithStableSalt) {
  FixedRandom random(3);
  ServerOptions options;
  options.mock_secret = "secret";
  std::string salts[2];
  for (auto& salt : salts) {
    auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
    ASSERT_EQ(server->start("n,,n=nobody,r=abc").kind, StepKind::kNeedScramCredential);
    auto r = server->supply_scram_credential(std::nullopt);
    ASSERT_EQ(r.kind, StepKind::kChallenge);
    salt = r.data.substr(r.data.find(",s="));
  }
  EXPECT_EQ(salts[0], salts[1]);
  auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
  ScramClient client("nobody", "pencil", "", ClientBinding::kNone, "", "", random);
  auto r = exchange(*server, client, std::nullopt);
  EXPECT_EQ(r.kind, StepKind::kFailure);
  EXPECT_EQ(r.reason, "invalid proof");
}

TEST(ScramServer, ChannelBindingPlus) {
  FixedRandom random(5);
  ServerOptions options;
  options.plus_advertised = true;
  options.channel_bindings.tls_exporter = std::string(32, 'x');
  options.channel_bindings.tls_unique = std::string(12, 'u');
  for (std::string type : {"tls-exporter", "tls-unique"}) {
    std::string data = type == "tls-exporter" ? std::string(32, 'x') : std::string(12, 'u');
    auto server = make_server_mechanism("SCRAM-SHA-256-PLUS", options, random);
    ScramClient client("user", "pencil", "", ClientBinding::kUsed, type, data, random);
    bool verified = false;
    auto r = exchange(*server, client, pencil(), &verified);
    EXPECT_EQ(r.kind, StepKind::kSuccess) << type << ": " << r.reason;
    EXPECT_TRUE(verified);
  }
  // Different channel (a man in the middle terminating TLS): binding mismatch.
  auto server = make_server_mechanism("SCRAM-SHA-256-PLUS", options, random);
  ScramClient mitm("user", "pencil", "", ClientBinding::kUsed, "tls-exporter", std::string(32, 'y'),
                   random);
  auto r = exchange(*server, mitm, pencil());
  EXPECT_EQ(r.kind, StepKind::kFailure);
  EXPECT_EQ(r.reason, "channel binding mismatch");
}

TEST(ScramServer, Gs2FlagRules) {
  FixedRandom random(5);
  ServerOptions plus;
  plus.plus_advertised = true;
  plus.channel_bindings.tls_exporter = "x";
  ServerOptions plain;

  struct Case {
    const ServerOptions* options;
    std::string_view mechanism;
    std::string_view first;
    bool ok;
  } cases[] = {
      {&plus, "SCRAM-SHA-256", "y,,n=u,r=abc", false},               // downgrade (RFC 5802 §6)
      {&plain, "SCRAM-SHA-256", "y,,n=u,r=abc", true},               // PLUS not advertised
      {&plus, "SCRAM-SHA-256", "n,,n=u,r=abc", true},                // client without binding
      {&plus, "SCRAM-SHA-256", "p=tls-exporter,,n=u,r=abc", false},  // p with non-PLUS
      {&plus, "SCRAM-SHA-256-PLUS", "n,,n=u,r=abc", false},
      {&plus, "SCRAM-SHA-256-PLUS", "y,,n=u,r=abc", false},
      {&plus, "SCRAM-SHA-256-PLUS", "p=tls-unique,,n=u,r=abc", false},  // no data for it
      {&plus, "SCRAM-SHA-256-PLUS", "p=tls-exporter,,n=u,r=abc", true},
      {&plus, "SCRAM-SHA-256-PLUS", "p=tls exporter,,n=u,r=abc", false},
      {&plain, "SCRAM-SHA-256", "n,,m=ext,n=u,r=abc", false},   // mandatory extension
      {&plain, "SCRAM-SHA-256", "n,a=other,n=u,r=abc", false},  // foreign authzid
      {&plain, "SCRAM-SHA-256", "n,a=u,n=u,r=abc", true},
      {&plain, "SCRAM-SHA-256", "n,,n=u=2Cv=3D,r=abc", true},
      {&plain, "SCRAM-SHA-256", "n,,n=u=2D,r=abc", false},  // bad saslname escape
      {&plain, "SCRAM-SHA-256", "n,,n=,r=abc", false},
      {&plain, "SCRAM-SHA-256", "n,,n=u,r=", false},
      {&plain, "SCRAM-SHA-256", "n,,n=u", false},
      {&plain, "SCRAM-SHA-256", "x,,n=u,r=abc", false},
      {&plain, "SCRAM-SHA-256", "n,n=u,r=abc", false},
  };

  for (const auto& c : cases) {
    auto server = make_server_mechanism(c.mechanism, *c.options, random);
    auto r = server->start(c.first);
    EXPECT_EQ(r.kind == StepKind::kNeedScramCredential, c.ok)
        << c.mechanism << " " << c.first << ": " << r.reason;
  }
}

TEST(ScramServer, MalformedFinalMessagesFail) {
  FixedRandom random(0);
  ServerOptions options;
  // Channel binding "y,," where the client's first message said "n,,".
  const std::string wrong_binding =
      std::string("c=eSws,r=rOprNGfwEbeRWgbNEkqOAAAAAAAAAAAAAAAAAAAAAAAA,p=") +
      "mntKIUEeVuwvGnQqxdBzzYsjAdKe5WlTo6ayg08QksM=";
  for (const std::string& final_message :
       {std::string(), std::string("c=biws"), std::string("c=biws,r=x,p=AAAA"),
        std::string("c=biws,p=AAAA"),
        std::string("c=biws,r=rOprNGfwEbeRWgbNEkqOAAAAAAAAAAAAAAAAAAAAAAAA,p=!!!!"),
        wrong_binding}) {
    auto server = make_server_mechanism("SCRAM-SHA-256", options, random);
    ASSERT_EQ(server->start("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").kind,
              StepKind::kNeedScramCredential);
    ASSERT_EQ(server->supply_scram_credential(pencil()).kind, StepKind::kChallenge);
    EXPECT_EQ(server->step(final_message).kind, StepKind::kFailure) << final_message;
    EXPECT_EQ(server->step("").kind, StepKind::kFailure);  // finished stays finished
  }
}

TEST(ScramServer, EmptyInitialResponseAsksForClientFirst) {
  FixedRandom random(0);
  auto server = make_server_mechanism("SCRAM-SHA-256", ServerOptions{}, random);
  auto r = server->start(std::nullopt);
  EXPECT_EQ(r.kind, StepKind::kChallenge);
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(server->step("n,,n=u,r=abc").kind, StepKind::kNeedScramCredential);
}

TEST(Plain, ParsesAndEnforcesAuthzid) {
  FixedRandom random;
  ServerOptions options;
  auto mech = make_server_mechanism("PLAIN", options, random);
  auto r = mech->start(plain_client_response("", "tim", "tanstaaftanstaaf"));
  ASSERT_EQ(r.kind, StepKind::kCheckPassword);
  EXPECT_EQ(r.identity.authcid, "tim");
  EXPECT_EQ(r.identity.password, "tanstaaftanstaaf");
  EXPECT_EQ(r.identity.authzid, "");

  mech = make_server_mechanism("PLAIN", options, random);
  EXPECT_EQ(mech->start(plain_client_response("tim", "tim", "pw")).kind, StepKind::kCheckPassword);
  mech = make_server_mechanism("PLAIN", options, random);
  EXPECT_EQ(mech->start(plain_client_response("Ursel", "Kurt", "xipj3plmq")).kind,
            StepKind::kFailure);
  options.allow_foreign_authzid = true;
  mech = make_server_mechanism("PLAIN", options, random);
  EXPECT_EQ(mech->start(plain_client_response("Ursel", "Kurt", "xipj3plmq")).kind,
            StepKind::kCheckPassword);

  for (std::string bad :
       {std::string(""), std::string("a\0b", 3), std::string("\0\0pw", 4), std::string("\0u\0", 3),
        std::string("\0u\0p\0", 5), std::string("\0u\0", 3) + std::string(256, 'p')}) {
    mech = make_server_mechanism("PLAIN", ServerOptions{}, random);
    EXPECT_EQ(mech->start(bad).kind, StepKind::kFailure);
  }
}

TEST(Plain, WithoutInitialResponseSendsEmptyChallenge) {
  FixedRandom random;
  auto mech = make_server_mechanism("plain", ServerOptions{}, random);
  auto r = mech->start(std::nullopt);
  EXPECT_EQ(r.kind, StepKind::kChallenge);
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(mech->step(plain_client_response("", "u", "p")).kind, StepKind::kCheckPassword);
}

TEST(Login, TwoChallengesOrInitialUser) {
  FixedRandom random;
  auto mech = make_server_mechanism("LOGIN", ServerOptions{}, random);
  auto r = mech->start(std::nullopt);
  ASSERT_EQ(r.kind, StepKind::kChallenge);
  EXPECT_EQ(r.data, "Username:");
  r = mech->step("alice");
  ASSERT_EQ(r.kind, StepKind::kChallenge);
  EXPECT_EQ(r.data, "Password:");
  r = mech->step("secret");
  ASSERT_EQ(r.kind, StepKind::kCheckPassword);
  EXPECT_EQ(r.identity.authcid, "alice");
  EXPECT_EQ(r.identity.password, "secret");

  mech = make_server_mechanism("LOGIN", ServerOptions{}, random);
  r = mech->start("bob");
  EXPECT_EQ(r.data, "Password:");
  EXPECT_EQ(mech->step("").kind, StepKind::kFailure);
}

TEST(Limits, OversizedAndTooManySteps) {
  FixedRandom random;
  ServerOptions options;
  options.max_message_bytes = 16;
  auto mech = make_server_mechanism("LOGIN", options, random);
  EXPECT_EQ(mech->start(std::string(17, 'a')).kind, StepKind::kFailure);
  options = ServerOptions{};
  options.max_steps = 1;
  mech = make_server_mechanism("LOGIN", options, random);
  EXPECT_EQ(mech->start("alice").kind, StepKind::kChallenge);
  EXPECT_EQ(mech->step("pw").kind, StepKind::kFailure);
}

TEST(Advertise, OrderAndPolicy) {
  EXPECT_EQ(advertised_mechanisms(false, false), std::vector<std::string>{"SCRAM-SHA-256"});
  EXPECT_EQ(advertised_mechanisms(true, true),
            (std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  FixedRandom random;
  EXPECT_EQ(make_server_mechanism("CRAM-MD5", ServerOptions{}, random), nullptr);
  auto plain = make_server_mechanism("PLAIN", ServerOptions{}, random);
  EXPECT_EQ(plain->supply_scram_credential(std::nullopt).kind, StepKind::kFailure);
}

TEST(ScramClient, RejectsBadServerMessages) {
  FixedRandom random(1);
  ScramClient client("user", "pencil", "", ClientBinding::kNone, "", "", random);
  std::string first = client.first();
  std::string nonce = first.substr(first.find(",r=") + 3);
  EXPECT_FALSE(client.final("r=other,s=c2FsdA==,i=4096"));
  EXPECT_FALSE(client.final("r=" + nonce + ",s=c2FsdA==,i=4096"));  // no server part
  EXPECT_FALSE(client.final("r=" + nonce + "X,s=,i=4096"));
  EXPECT_FALSE(client.final("r=" + nonce + "X,s=c2FsdA==,i=0"));
  EXPECT_FALSE(client.final("garbage"));
  ASSERT_TRUE(client.final("r=" + nonce + "X,s=c2FsdA==,i=4096"));
  EXPECT_EQ(client.verify("e=invalid-proof").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(client.verify("v=AAAA").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(client.verify("x").error().code, ErrorCode::kInvalidInput);
}

}  // namespace
}  // namespace tern::sasl
