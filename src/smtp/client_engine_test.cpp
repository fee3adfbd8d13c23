// SPDX-License-Identifier: Apache-2.0
#include "smtp/client_engine.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/server_engine.hpp"

namespace tern::smtp {
namespace {

// A scripted server: every reply it will send, fed in the given chunks, while
// the engine's output is collected. Events are recorded as text so runs with
// different splits can be compared.
struct Transcript {
  std::string client;
  std::vector<std::string> events;
  bool operator==(const Transcript&) const = default;
};

void PrintTo(const Transcript& t, std::ostream* os) {
  *os << "client: " << ::testing::PrintToString(t.client) << "\nevents:";
  for (const auto& e : t.events) {
    *os << "\n  " << e;
  }
}

std::string describe(const RecipientResult& r) {
  const char* status = r.status == RecipientResult::Status::kAccepted    ? "accepted"
                       : r.status == RecipientResult::Status::kTemporary ? "temporary"
                                                                         : "permanent";
  return std::to_string(r.index) + " " + status + " " + r.enhanced + " [" + r.text + "]";
}

// `chunks` are fed until the engine asks for TLS; then `after_tls` (the server's
// bytes over TLS; the engine drops anything that came before the handshake).
Transcript run_chunks(ClientOptions options, std::vector<OutgoingMessage> messages,
                      std::vector<std::string> chunks, const std::string& after_tls = "") {
  ClientEngine engine(std::move(options));
  Transcript t;
  std::size_t next_chunk = 0;
  std::size_t next_message = 0;
  for (int steps = 0; steps < 100000; ++steps) {
    ClientEvent event = engine.next();
    t.client += engine.output();
    engine.consume_output(engine.output().size());
    if (std::holds_alternative<NeedInput>(event)) {
      if (next_chunk < chunks.size()) {
        engine.receive(chunks[next_chunk++]);
      } else {
        t.events.push_back("eof");
        engine.abort("4.4.2", "connection lost");
      }
    } else if (std::holds_alternative<StartTls>(event)) {
      t.events.push_back("starttls");
      engine.tls_started();
      chunks = {after_tls};
      next_chunk = 0;
    } else if (std::holds_alternative<Ready>(event)) {
      t.events.push_back("ready");
      if (next_message < messages.size()) {
        engine.send(messages[next_message++]);
      } else {
        engine.quit();
      }
    } else if (auto* done = std::get_if<MessageDone>(&event)) {
      for (const auto& r : done->recipients) {
        t.events.push_back(describe(r));
      }
    } else if (auto* closed = std::get_if<Closed>(&event)) {
      t.client += engine.output();
      t.events.push_back(closed->error ? "closed " + closed->error->enhanced + " [" +
                                             closed->error->text + "]"
                                       : "closed");
      return t;
    }
  }
  ADD_FAILURE() << "engine did not finish";
  return t;
}

// Runs the whole script, every two-way split of it and byte by byte, and
// checks that all give the same transcript.
// A "<TLS>" in `server` marks where the TLS handshake happens.
Transcript run(ClientOptions options, std::vector<OutgoingMessage> messages,
               const std::string& script) {
  const auto marker = script.find("<TLS>");
  const std::string server = script.substr(0, marker);
  const std::string after_tls = marker == std::string::npos ? "" : script.substr(marker + 5);
  Transcript whole = run_chunks(options, messages, {server}, after_tls);
  for (std::size_t split = 0; split <= server.size(); ++split) {
    Transcript parts =
        run_chunks(options, messages, {server.substr(0, split), server.substr(split)}, after_tls);
    EXPECT_EQ(parts, whole) << "split at " << split;
    if (parts != whole) {
      break;
    }
  }
  std::vector<std::string> bytes;
  for (char c : server) {
    bytes.emplace_back(1, c);
  }
  EXPECT_EQ(run_chunks(options, messages, bytes, after_tls), whole) << "byte by byte";
  return whole;
}

OutgoingMessage message(std::vector<std::string> recipients,
                        std::string content = "Subject: hi\r\n\r\nbody\r\n") {
  OutgoingMessage m;
  m.sender = "alice@example.org";
  for (auto& r : recipients) {
    m.recipients.push_back({std::move(r), "", ""});
  }
  m.content = std::move(content);
  return m;
}

ClientOptions plain_options() {
  ClientOptions o;
  o.helo_name = "client.example";
  o.tls = TlsWant::kNone;
  return o;
}

const std::string kEhloPipelining =
    "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 DSN\r\n";

TEST(SmtpClientEngine, PipelinesMailRcptAndData) {
  Transcript t = run(plain_options(), {message({"bob@example.net", "nobody@example.net"})},
                     "220 mx.example.net ESMTP\r\n" + kEhloPipelining +
                         "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n"
                         "354 go ahead\r\n250 2.0.0 queued as 1\r\n221 2.0.0 bye\r\n");
  EXPECT_EQ(t.client,
            "EHLO client.example\r\n"
            "MAIL FROM:<alice@example.org> SIZE=21\r\n"
            "RCPT TO:<bob@example.net>\r\nRCPT TO:<nobody@example.net>\r\nDATA\r\n"
            "Subject: hi\r\n\r\nbody\r\n.\r\n"
            "QUIT\r\n");
  EXPECT_EQ(
      t.events,
      (std::vector<std::string>{
          "ready", "0 accepted 2.0.0 [250 2.0.0 queued as 1 (in reply to end of DATA command)]",
          "1 permanent 5.1.1 [550 5.1.1 no such user (in reply to RCPT TO command)]", "ready",
          "closed"}));
}

TEST(SmtpClientEngine, SendsOneCommandAtATimeWithoutPipelining) {
  Transcript t = run(plain_options(), {message({"bob@example.net", "carol@example.net"})},
                     "220 mx\r\n250 mx\r\n250 ok\r\n451 4.3.0 try later\r\n250 ok\r\n354 go\r\n"
                     "250 ok\r\n221 bye\r\n");
  EXPECT_EQ(t.client,
            "EHLO client.example\r\nMAIL FROM:<alice@example.org>\r\n"
            "RCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n"
            "Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(t.events[1], "0 temporary 4.3.0 [451 4.3.0 try later (in reply to RCPT TO command)]");
  EXPECT_EQ(t.events[2], "1 accepted 2.0.0 [250 ok (in reply to end of DATA command)]");
}

TEST(SmtpClientEngine, FallsBackToHeloWhenEhloIsRefused) {
  Transcript t = run(plain_options(), {message({"bob@example.net"})},
                     "220 old\r\n502 command not implemented\r\n250 old\r\n250 ok\r\n250 ok\r\n"
                     "354 go\r\n250 ok\r\n221 bye\r\n");
  EXPECT_EQ(t.client.substr(0, 40), "EHLO client.example\r\nHELO client.example");
  EXPECT_EQ(t.events.back(), "closed");
}

TEST(SmtpClientEngine, ReportsARefusedGreetingAsASessionError) {
  Transcript t = run(plain_options(), {message({"bob@example.net"})}, "554 5.7.1 go away\r\n");
  EXPECT_EQ(t.client, "QUIT\r\n");
  EXPECT_EQ(t.events, (std::vector<std::string>{
                          "closed 5.7.1 [554 5.7.1 go away (in reply to initial greeting)]"}));
}

TEST(SmtpClientEngine, UpgradesWithStartTlsAndGreetsAgain) {
  ClientOptions o = plain_options();
  o.tls = TlsWant::kMay;
  Transcript t = run(o, {},
                     "220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 2.0.0 ready\r\n"
                     "injected\r\n<TLS>250-mx\r\n250 PIPELINING\r\n221 bye\r\n");
  EXPECT_EQ(t.client, "EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\nQUIT\r\n");
  EXPECT_EQ(t.events, (std::vector<std::string>{"starttls", "ready", "closed"}));
}

TEST(SmtpClientEngine, RequiredTlsFailsWhenNotOffered) {
  ClientOptions o = plain_options();
  o.tls = TlsWant::kRequired;
  Transcript t = run(o, {message({"bob@example.net"})}, "220 mx\r\n250-mx\r\n250 SIZE\r\n");
  EXPECT_EQ(t.client, "EHLO client.example\r\nQUIT\r\n");
  EXPECT_EQ(t.events.back(), "closed 4.7.4 [TLS is required, but was not offered by the server]");
}

TEST(SmtpClientEngine, OpportunisticTlsContinuesInPlaintextWhenRefused) {
  ClientOptions o = plain_options();
  o.tls = TlsWant::kMay;
  Transcript t =
      run(o, {}, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n454 4.7.0 no tls now\r\n221 bye\r\n");
  EXPECT_EQ(t.client, "EHLO client.example\r\nSTARTTLS\r\nQUIT\r\n");
  EXPECT_EQ(t.events, (std::vector<std::string>{"ready", "closed"}));
}

TEST(SmtpClientEngine, AuthenticatesWithPlainOverTls) {
  ClientOptions o = plain_options();
  o.tls_active = true;
  o.auth = ClientAuth{"user", "secret", false};
  Transcript t =
      run(o, {}, "220 mx\r\n250-mx\r\n250 AUTH LOGIN PLAIN\r\n235 2.7.0 ok\r\n221 bye\r\n");
  EXPECT_EQ(t.client, "EHLO client.example\r\nAUTH PLAIN " +
                          sasl::base64_encode(std::string("\0user\0secret", 12)) + "\r\nQUIT\r\n");
}

TEST(SmtpClientEngine, DoesNotSendAPasswordInPlaintext) {
  ClientOptions o = plain_options();
  o.auth = ClientAuth{"user", "secret", false};
  Transcript t = run(o, {}, "220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n");
  EXPECT_EQ(t.client, "EHLO client.example\r\nQUIT\r\n");
  EXPECT_NE(t.events.back().find("closed 4.7.0"), std::string::npos);
}

TEST(SmtpClientEngine, ReportsAFailedAuthentication) {
  ClientOptions o = plain_options();
  o.auth = ClientAuth{"user", "wrong", true};
  Transcript t = run(o, {message({"bob@example.net"})},
                     "220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n535 5.7.8 bad credentials\r\n");
  EXPECT_EQ(t.events.back(), "closed 5.7.8 [535 5.7.8 bad credentials (in reply to AUTH command)]");
}

class SeededRandom : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      b = static_cast<std::uint8_t>(next_++ * 37 + 11);
    }
  }

 private:
  unsigned next_ = 0;
};

// SCRAM against tern's own server mechanism, relayed line by line.
TEST(SmtpClientEngine, AuthenticatesWithScramAndVerifiesTheServer) {
  for (const char* server_password : {"secret", "other"}) {
    SeededRandom client_random;
    SeededRandom server_random;
    ClientOptions o = plain_options();
    o.auth = ClientAuth{"user", "secret", false};
    o.random = &client_random;
    ClientEngine engine(o);
    auto credential = sasl::derive_scram_credential(server_password, "salt", 4096);
    ASSERT_TRUE(credential);
    auto mech = sasl::make_server_mechanism("SCRAM-SHA-256", {}, server_random);
    engine.receive("220 mx\r\n250-mx\r\n250 AUTH SCRAM-SHA-256 PLAIN\r\n");
    bool ready = false;
    std::optional<Closed> closed;
    for (int i = 0; i < 20 && !ready && !closed; ++i) {
      ClientEvent event = engine.next();
      std::string line(engine.output());
      engine.consume_output(line.size());
      if (line.starts_with("EHLO")) {
        line.erase(0, line.find("\r\n") + 2);
      }
      if (std::holds_alternative<Ready>(event)) {
        ready = true;
      } else if (auto* c = std::get_if<Closed>(&event)) {
        closed = *c;
      } else if (line.empty()) {
        continue;
      } else if (line.starts_with("AUTH SCRAM-SHA-256 ")) {
        auto first = sasl::base64_decode(line.substr(19, line.size() - 21));
        auto r = mech->start(*first);
        ASSERT_EQ(r.kind, sasl::StepKind::kNeedScramCredential);
        r = mech->supply_scram_credential(*credential);
        ASSERT_EQ(r.kind, sasl::StepKind::kChallenge);
        engine.receive("334 " + sasl::base64_encode(r.data) + "\r\n");
      } else if (line == "\r\n") {
        engine.receive("235 2.7.0 ok\r\n");
      } else {
        auto decoded = sasl::base64_decode(line.substr(0, line.size() - 2));
        ASSERT_TRUE(decoded) << line;
        auto r = mech->step(*decoded);
        if (r.kind == sasl::StepKind::kChallenge) {
          engine.receive("334 " + sasl::base64_encode(r.data) + "\r\n");
        } else {
          engine.receive("535 5.7.8 bad\r\n");
        }
      }
    }
    if (std::string(server_password) == "secret") {
      EXPECT_TRUE(ready);
      EXPECT_TRUE(engine.authenticated());
    } else {
      ASSERT_TRUE(closed.has_value());
      EXPECT_FALSE(engine.authenticated());
    }
  }
}

TEST(SmtpClientEngine, RefusesTooLargeMessagesBeforeSending) {
  std::string big = "Subject: x\r\n\r\n" + std::string(2000, 'a') + "\r\n";
  Transcript t = run(plain_options(), {message({"bob@example.net"}, big)},
                     "220 mx\r\n" + kEhloPipelining + "221 bye\r\n");
  EXPECT_EQ(t.client, "EHLO client.example\r\nQUIT\r\n");
  EXPECT_EQ(t.events[1],
            "0 permanent 5.3.4 [5.3.4 message size 2016 exceeds size limit 1000 of the server]");
}

TEST(SmtpClientEngine, RefusesUtf8EnvelopesToServersWithoutSmtputf8) {
  OutgoingMessage m = message({"j\xc3\xb6rg@example.net"});
  m.smtputf8 = true;
  Transcript t = run(plain_options(), {m}, "220 mx\r\n" + kEhloPipelining + "221 bye\r\n");
  EXPECT_EQ(t.events[1].substr(0, 19), "0 permanent 5.6.7 [");
  // With SMTPUTF8 offered, it is sent with the parameter.
  t = run(plain_options(), {m},
          "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
          "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n");
  EXPECT_NE(t.client.find("MAIL FROM:<alice@example.org> SMTPUTF8\r\n"), std::string::npos);
  EXPECT_EQ(t.events[1].substr(0, 10), "0 accepted");
}

TEST(SmtpClientEngine, Refuses8BitContentToServersWithout8BitMime) {
  OutgoingMessage m = message({"bob@example.net"}, "Subject: x\r\n\r\ncaf\xc3\xa9\r\n");
  m.eight_bit = true;
  Transcript t = run(plain_options(), {m}, "220 mx\r\n250-mx\r\n250 PIPELINING\r\n221 bye\r\n");
  EXPECT_EQ(t.events[1].substr(0, 19), "0 permanent 5.6.3 [");
  t = run(plain_options(), {m},
          "220 mx\r\n" + kEhloPipelining + "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n");
  EXPECT_NE(t.client.find("MAIL FROM:<alice@example.org> SIZE=21 BODY=8BITMIME\r\n"),
            std::string::npos);
}

TEST(SmtpClientEngine, SendsTheDowngradedContentToServersWithout8BitMime) {
  OutgoingMessage m = message({"bob@example.net"}, "Subject: x\r\n\r\ncaf\xc3\xa9\r\n");
  m.eight_bit = true;
  m.seven_bit_content =
      "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "caf=C3=A9\r\n";
  Transcript t = run(plain_options(), {m},
                     "220 mx\r\n250-mx\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n"
                     "250 ok\r\n221 bye\r\n");
  EXPECT_NE(t.client.find("MAIL FROM:<alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(t.client.find("\r\n\r\ncaf=C3=A9\r\n.\r\n"), std::string::npos) << t.client;
  EXPECT_EQ(t.events[1].substr(0, 10), "0 accepted");
}

TEST(SmtpClientEngine, RequireTlsNeedsTlsAndTheExtension) {
  OutgoingMessage m = message({"bob@example.net"});
  m.requiretls = true;
  Transcript t = run(plain_options(), {m}, "220 mx\r\n250-mx\r\n250 REQUIRETLS\r\n221 bye\r\n");
  EXPECT_EQ(t.events[1].substr(0, 20), "0 permanent 5.7.30 [");
  ClientOptions tls = plain_options();
  tls.tls_active = true;
  t = run(tls, {m},
          "220 mx\r\n250-mx\r\n250 REQUIRETLS\r\n250 ok\r\n250 ok\r\n354 go\r\n"
          "250 ok\r\n221 bye\r\n");
  EXPECT_NE(t.client.find("MAIL FROM:<alice@example.org> REQUIRETLS\r\n"), std::string::npos);
  EXPECT_EQ(t.events[1].substr(0, 10), "0 accepted");
}

TEST(SmtpClientEngine, PassesDsnParametersWhenOffered) {
  OutgoingMessage m = message({"bob@example.net"});
  m.ret = "HDRS";
  m.envid = "id+1=2";
  m.recipients[0].notify = "FAILURE,DELAY";
  m.recipients[0].orcpt = "rfc822;bob+x@example.net";
  Transcript t =
      run(plain_options(), {m},
          "220 mx\r\n" + kEhloPipelining + "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n");
  EXPECT_NE(t.client.find("MAIL FROM:<alice@example.org> SIZE=21 RET=HDRS ENVID=id+2B1+3D2\r\n"
                          "RCPT TO:<bob@example.net> NOTIFY=FAILURE,DELAY "
                          "ORCPT=rfc822;bob+2Bx@example.net\r\n"),
            std::string::npos);
  // Without DSN the parameters are left out.
  t = run(plain_options(), {m},
          "220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n");
  EXPECT_NE(t.client.find("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n"),
            std::string::npos);
}

TEST(SmtpClientEngine, SendsBdatWhenChunkingIsOffered) {
  ClientOptions o = plain_options();
  o.max_chunk_bytes = 10;
  Transcript t = run(o, {message({"bob@example.net"}, "Subject: hi\r\n\r\n.body\r\n")},
                     "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n250 ok\r\n250 ok\r\n"
                     "250 2.0.0 10 octets\r\n250 2.0.0 10 octets\r\n250 2.0.0 22 octets\r\n"
                     "221 bye\r\n");
  EXPECT_EQ(t.client,
            "EHLO client.example\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
            "BDAT 10\r\nSubject: h"
            "BDAT 10\r\ni\r\n\r\n.body"
            "BDAT 2 LAST\r\n\r\n"
            "QUIT\r\n");
  EXPECT_EQ(t.events[1], "0 accepted 2.0.0 [250 2.0.0 22 octets (in reply to BDAT command)]");
}

TEST(SmtpClientEngine, LmtpGivesOneReplyPerAcceptedRecipient) {
  ClientOptions o = plain_options();
  o.mode = ClientMode::kLmtp;
  Transcript t = run(o, {message({"a@x", "b@x", "c@x"})},
                     "220 lmtp\r\n250-lmtp\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n"
                     "550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n250 2.0.0 a done\r\n"
                     "452 4.2.2 b over quota\r\n221 bye\r\n");
  EXPECT_EQ(t.client.substr(0, 10), "LHLO clien");
  EXPECT_EQ(t.events,
            (std::vector<std::string>{
                "ready", "0 accepted 2.0.0 [250 2.0.0 a done (in reply to end of DATA command)]",
                "1 permanent 5.1.1 [550 5.1.1 unknown (in reply to RCPT TO command)]",
                "2 temporary 4.2.2 [452 4.2.2 b over quota (in reply to end of DATA command)]",
                "ready", "closed"}));
}

TEST(SmtpClientEngine, LmtpKeepsAnsweredRecipientsWhenTheConnectionDrops) {
  ClientOptions o = plain_options();
  o.mode = ClientMode::kLmtp;
  Transcript t = run(o, {message({"a@x", "b@x"})},
                     "220 lmtp\r\n250-lmtp\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
                     "354 go\r\n250 2.0.0 a done\r\n");
  EXPECT_EQ(
      t.events,
      (std::vector<std::string>{
          "ready", "eof", "0 accepted 2.0.0 [250 2.0.0 a done (in reply to end of DATA command)]",
          "1 temporary 4.4.2 [connection lost]", "closed 4.4.2 [connection lost]"}));
}

TEST(SmtpClientEngine, ReusesTheSessionWithRset) {
  Transcript t = run(plain_options(), {message({"bob@x"}), message({"carol@x"})},
                     "220 mx\r\n" + kEhloPipelining +
                         "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"
                         "250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n");
  EXPECT_NE(
      t.client.find(".\r\nRSET\r\nMAIL FROM:<alice@example.org> SIZE=21\r\nRCPT TO:<carol@x>"),
      std::string::npos);
  EXPECT_EQ(t.events.size(), 6U);
}

TEST(SmtpClientEngine, SendsOnlyTheDotWhenEveryRecipientFailedButDataWasAccepted) {
  // RFC 2920 §3.1.
  Transcript t = run(plain_options(), {message({"bob@x"})},
                     "220 mx\r\n" + kEhloPipelining +
                         "250 ok\r\n550 5.1.1 no\r\n354 go\r\n554 5.5.1 no valid recipients\r\n"
                         "221 bye\r\n");
  EXPECT_NE(t.client.find("DATA\r\n.\r\nQUIT\r\n"), std::string::npos);
  EXPECT_EQ(t.events[1], "0 permanent 5.1.1 [550 5.1.1 no (in reply to RCPT TO command)]");
}

TEST(SmtpClientEngine, RefusedMailFailsEveryRecipient) {
  Transcript t = run(plain_options(), {message({"bob@x", "carol@x"})},
                     "220 mx\r\n" + kEhloPipelining +
                         "451 4.7.1 greylisted\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"
                         "221 bye\r\n");
  EXPECT_EQ(t.events[1],
            "0 temporary 4.7.1 [451 4.7.1 greylisted (in reply to MAIL FROM command)]");
  EXPECT_EQ(t.events[2],
            "1 temporary 4.7.1 [451 4.7.1 greylisted (in reply to MAIL FROM command)]");
}

TEST(SmtpClientEngine, A421EndsTheSessionAndDefersTheMessage) {
  Transcript t = run(plain_options(), {message({"bob@x"})},
                     "220 mx\r\n" + kEhloPipelining + "250 ok\r\n421 4.3.2 shutting down\r\n");
  EXPECT_EQ(t.events[1],
            "0 temporary 4.3.2 [421 4.3.2 shutting down (in reply to RCPT TO command)]");
  EXPECT_EQ(t.events[2], "closed 4.3.2 [421 4.3.2 shutting down (in reply to RCPT TO command)]");
}

TEST(SmtpClientEngine, MalformedRepliesEndTheSession) {
  for (const char* garbage : {"hello\r\n", "220-a\r\n230 b\r\n", "999 x\r\n"}) {
    Transcript t = run(plain_options(), {}, garbage);
    EXPECT_EQ(t.events.back().substr(0, 29), "closed 4.5.0 [protocol error:") << garbage;
  }
}

TEST(SmtpClientEngine, DotStuffsAndTerminatesData) {
  EXPECT_EQ(dot_stuff(".a\r\nb\r\n..c\r\n"), "..a\r\nb\r\n...c\r\n.\r\n");
  EXPECT_EQ(dot_stuff("no newline"), "no newline\r\n.\r\n");
  EXPECT_EQ(dot_stuff(""), ".\r\n");
  EXPECT_EQ(encode_xtext("a+b=c d\xc3"), "a+2Bb+3Dc+20d+C3");
}

TEST(SmtpClientEngine, ParsesCapabilities) {
  Capabilities caps = parse_capabilities({"mx.example greets you", "SIZE 35882577", "AUTH=LOGIN",
                                          "auth plain scram-sha-256", "8bitmime", "CHUNKING",
                                          "BINARYMIME", "SMTPUTF8", "STARTTLS", "REQUIRETLS",
                                          "ENHANCEDSTATUSCODES", "X-UNKNOWN foo"});
  EXPECT_TRUE(caps.esmtp);
  EXPECT_EQ(caps.size, 35882577U);
  EXPECT_EQ(caps.auth, (std::vector<std::string>{"LOGIN", "PLAIN", "SCRAM-SHA-256"}));
  EXPECT_TRUE(caps.eightbitmime && caps.chunking && caps.binarymime && caps.smtputf8 &&
              caps.starttls && caps.requiretls && caps.enhanced_status_codes);
  EXPECT_FALSE(caps.pipelining || caps.dsn);
  EXPECT_EQ(parse_capabilities({"x", "SIZE"}).size, 0U);
}

TEST(SmtpClientEngine, NamesTheTimeoutThatApplies) {
  ClientEngine engine(plain_options());
  EXPECT_EQ(engine.waiting_for(), ClientWait::kGreeting);
  engine.receive("220 mx\r\n");
  (void)engine.next();
  EXPECT_EQ(engine.waiting_for(), ClientWait::kCommand);
}

}  // namespace
}  // namespace tern::smtp
