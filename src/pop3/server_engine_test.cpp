// SPDX-License-Identifier: Apache-2.0
// POP3 engine unit tests: the multi-line encoder, a pipelined session split at
// every offset, STLS injection, SASL SCRAM through the engine, limits.
#include "pop3/server_engine.hpp"

#include <gtest/gtest.h>

#include "pop3/testing_driver.hpp"
#include "sasl/base64.hpp"

namespace tern::pop3 {
namespace {

using testing::Driver;

Options plaintext_options() {
  Options o;
  o.plaintext_allowed = true;
  o.sasl.mock_secret = "test";
  return o;
}

std::string multiline(std::string_view raw, std::optional<std::uint64_t> lines = std::nullopt) {
  std::string out;
  append_multiline_message(out, raw, lines);
  return out;
}

TEST(Multiline, NormalisesLineEndsAndDotStuffs) {
  EXPECT_EQ(multiline("a\r\nb\r\n"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(multiline("a\nb\n"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(multiline("a\rb\r"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(multiline("a\r\n.\r\n..x\r\n"), "a\r\n..\r\n...x\r\n.\r\n");
  EXPECT_EQ(multiline("no end"), "no end\r\n.\r\n");
  EXPECT_EQ(multiline(""), ".\r\n");
  EXPECT_EQ(multiline(".\n"), "..\r\n.\r\n");
  // "\n.\n" inside a message can never end the response early.
  EXPECT_EQ(multiline("x\n.\ny"), "x\r\n..\r\ny\r\n.\r\n");
}

TEST(Multiline, TopSendsHeaderAndNBodyLines) {
  std::string_view m = "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n";
  EXPECT_EQ(multiline(m, 0), "H: 1\r\nH: 2\r\n\r\n.\r\n");
  EXPECT_EQ(multiline(m, 2), "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n.\r\n");
  EXPECT_EQ(multiline(m, 99), multiline(m));
  EXPECT_EQ(multiline("H: only header", 5), "H: only header\r\n.\r\n");
}

TEST(WireSize, CountsEveryLineEndAsCrlf) {
  EXPECT_EQ(wire_size("a\r\nb\r\n"), 6u);
  EXPECT_EQ(wire_size("a\nb\n"), 6u);
  EXPECT_EQ(wire_size("a\rb"), 6u);
  EXPECT_EQ(wire_size(""), 0u);
  for (const auto& m : testing::sample_messages()) {
    std::string sent = multiline(m);
    sent.resize(sent.size() - 3);  // without ".\r\n"
    std::size_t stuffed = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
      if (sent[i] == '.' && (i == 0 || sent[i - 1] == '\n')) {
        ++stuffed;
      }
    }
    EXPECT_EQ(wire_size(m), sent.size() - stuffed) << m;
  }
}

// One pipelined session (RFC 2449 §6.6), all commands in one write.
constexpr std::string_view kSession =
    "CAPA\r\nUSER alice@example.org\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 2\r\n"
    "TOP 1 1\r\nDELE 2\r\nNOOP\r\nQUIT\r\n";

TEST(Engine, PipelinedSessionGivesTheSameOutputSplitAtEveryOffset) {
  Driver whole(plaintext_options());
  whole.drive();
  whole.feed(kSession);
  std::string expected = whole.take_output();
  EXPECT_TRUE(whole.closed());
  EXPECT_EQ(whole.removed(), std::vector<std::size_t>{1});
  EXPECT_NE(expected.find("+OK 3 142\r\n"), std::string::npos);
  for (std::size_t split = 0; split <= kSession.size(); ++split) {
    Driver d(plaintext_options());
    d.drive();
    d.feed(kSession.substr(0, split));
    d.feed(kSession.substr(split));
    ASSERT_EQ(d.take_output(), expected) << "split at " << split;
  }
  Driver bytes(plaintext_options());
  bytes.drive();
  bytes.feed(kSession, 1);
  EXPECT_EQ(bytes.take_output(), expected);
}

TEST(Engine, StlsDiscardsPipelinedCommands) {
  Options o;
  o.stls_available = true;
  o.sasl.mock_secret = "test";
  Driver d(o);
  d.drive();
  d.take_output();
  // An attacker appends a command after STLS in the same packet (RFC 2595 §4;
  // the POP3 twin of CVE-2011-0411): it must not run after the handshake.
  d.feed("STLS\r\nUSER alice@example.org\r\n");
  EXPECT_EQ(d.take_output(), "+OK Begin TLS negotiation\r\n");
  d.feed("PASS secret\r\n");
  EXPECT_EQ(d.take_output(), "-ERR USER first\r\n");
}

TEST(Engine, LongLinesAreRefusedWithoutBuffering) {
  Driver d(plaintext_options());
  d.drive();
  d.take_output();
  std::string huge(100000, 'A');
  d.feed(huge);  // no line end yet: must not be kept
  d.feed("\r\nNOOP\r\n");
  EXPECT_EQ(d.take_output(), "-ERR line too long\r\n-ERR not logged in\r\n");
  d.feed("USER " + std::string(600, 'u') + "\r\n");
  EXPECT_EQ(d.take_output(), "-ERR line too long\r\n");
}

TEST(Engine, UnansweredEventClosesTheSession) {
  FixedRandom random;
  ServerEngine engine(plaintext_options(), random);
  engine.receive(std::string_view("USER a@example.org\r\nPASS x\r\n"));
  EXPECT_TRUE(std::holds_alternative<NeedInput>(engine.next()) == false);
  EXPECT_TRUE(std::holds_alternative<Close>(engine.next()));
}

TEST(Engine, NulInCommandIsAnError) {
  Driver d(plaintext_options());
  d.drive();
  d.take_output();
  d.feed(std::string("USER a\0b\r\n", 10));
  EXPECT_EQ(d.take_output(), "-ERR invalid command\r\n");
}

// Drives a SCRAM exchange through the engine with sasl::ScramClient.
std::string scram_session(const std::string& password, bool plus, std::string binding_data) {
  Options o;
  o.sasl.mock_secret = "test";
  o.stls_available = true;
  Driver d(o);
  d.drive();
  if (plus) {
    d.feed("STLS\r\n");
  }
  d.take_output();
  FixedRandom random;
  sasl::ScramClient client("alice@example.org", password, "",
                           plus ? sasl::ClientBinding::kUsed : sasl::ClientBinding::kNone,
                           "tls-exporter", std::move(binding_data), random);
  std::string mech = plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
  d.feed("AUTH " + mech + " " + sasl::base64_encode(client.first()) + "\r\n");
  std::string challenge = d.take_output();
  if (!challenge.starts_with("+ ")) {
    return challenge;
  }
  auto server_first = sasl::base64_decode(challenge.substr(2, challenge.size() - 4));
  auto final_message = client.final(*server_first);
  d.feed(sasl::base64_encode(*final_message) + "\r\n");
  std::string server_final = d.take_output();
  if (!server_final.starts_with("+ ")) {
    return server_final;
  }
  auto decoded = sasl::base64_decode(server_final.substr(2, server_final.size() - 4));
  if (!client.verify(*decoded)) {
    return "client rejected the server signature";
  }
  d.feed("\r\n");
  return d.take_output();
}

TEST(Engine, ScramThroughTheEngine) {
  EXPECT_EQ(scram_session("secret", false, ""), "+OK Logged in\r\n");
  EXPECT_EQ(scram_session("wrong", false, ""), "-ERR [AUTH] authentication failed\r\n");
  EXPECT_EQ(scram_session("secret", true, std::string(32, 'x')), "+OK Logged in\r\n");
  EXPECT_EQ(scram_session("secret", true, std::string(32, 'y')),
            "-ERR [AUTH] authentication failed\r\n");
}

TEST(Engine, ScramForUnknownUserFailsAtTheProof) {
  Options o;
  o.sasl.mock_secret = "test";
  Driver d(o);
  d.drive();
  d.take_output();
  d.feed("AUTH SCRAM-SHA-256 " + sasl::base64_encode("n,,n=nobody@example.org,r=abc") + "\r\n");
  std::string challenge = d.take_output();
  EXPECT_TRUE(challenge.starts_with("+ ")) << challenge;
  d.feed("*\r\n");
  EXPECT_EQ(d.take_output(), "-ERR [AUTH] authentication failed\r\n");
}

TEST(Engine, AnswersOutsideTheirEventAreIgnored) {
  FixedRandom random;
  ServerEngine engine(plaintext_options(), random);
  std::string greeting(engine.output());
  engine.login_succeeded({});
  engine.send_message("x");
  engine.update_done(true);
  engine.tls_started(true, {});
  EXPECT_EQ(engine.output(), greeting);
  EXPECT_EQ(engine.state(), State::kAuthorization);
}

}  // namespace
}  // namespace tern::pop3
