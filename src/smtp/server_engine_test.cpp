// SPDX-License-Identifier: Apache-2.0
#include "smtp/server_engine.hpp"

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "sasl/base64.hpp"

namespace tern::smtp {
namespace {

// A scripted caller: accepts every sender, rejects recipients whose local part
// is "unknown", accepts messages, and knows one PLAIN user alice/secret.
struct Driver {
  explicit Driver(Options options) : engine(std::move(options)) {}

  // Feeds `input` in pieces of `piece` bytes (0: all at once) and runs the
  // engine until it needs more input or closes; returns all output so far.
  std::string feed(std::string_view input, std::size_t piece = 0) {
    if (piece == 0) {
      piece = input.size() + 1;
    }
    for (std::size_t at = 0; at < input.size() || at == 0; at += piece) {
      if (!input.empty()) {
        engine.receive(input.substr(at, piece));
      }
      run();
      if (input.empty() || closed) {
        break;
      }
    }
    return transcript;
  }

  void run() {
    for (;;) {
      Event event = engine.next();
      transcript += engine.output();
      engine.consume_output(engine.output().size());
      if (std::holds_alternative<NeedInput>(event)) {
        return;
      }
      if (std::holds_alternative<Close>(event)) {
        closed = true;
        return;
      }
      if (std::holds_alternative<MailFrom>(event)) {
        engine.answer(Reply::of(250, "2.1.0", "Ok"));
      } else if (auto* rcpt = std::get_if<RcptTo>(&event)) {
        if (rcpt->recipient.path.mailbox.local_part == "unknown") {
          engine.answer(Reply::of(550, "5.1.1", "unknown user"));
        } else {
          engine.answer(Reply::of(250, "2.1.5", "Ok"));
        }
      } else if (auto* message = std::get_if<Message>(&event)) {
        messages.push_back(*message);
        std::vector<Reply> replies;
        for (const auto& r : message->recipients) {
          replies.push_back(
              Reply::of(250, "2.0.0", "delivered to " + address::render_mailbox(r.path.mailbox)));
        }
        engine.answer_message(replies);
      } else if (auto* start = std::get_if<AuthStart>(&event)) {
        if (!start->initial_response) {
          engine.auth_challenge("");
        } else {
          finish_plain(*start->initial_response);
        }
      } else if (auto* response = std::get_if<AuthResponse>(&event)) {
        finish_plain(response->response);
      } else if (std::holds_alternative<AuthAborted>(event)) {
        ++aborted;
      } else if (std::holds_alternative<StartTls>(event)) {
        ++handshakes;
        engine.tls_started();
      }
    }
  }

  void finish_plain(const std::string& response) {
    if (response == std::string("\0alice\0secret", 13)) {
      engine.auth_finish(Reply::of(235, "2.7.0", "Authentication successful"));
    } else {
      engine.auth_finish(Reply::of(535, "5.7.8", "Authentication credentials invalid"));
    }
  }

  ServerEngine engine;
  std::string transcript;
  std::vector<Message> messages;
  int aborted = 0;
  int handshakes = 0;
  bool closed = false;
};

Options smtp_options() {
  Options options;
  options.hostname = "mx.example.org";
  return options;
}

// Runs `input` whole, split at every offset, and byte by byte; every run must
// give the same transcript and the same messages. Returns the whole-input run.
Driver run_everywhere(const Options& options, const std::string& input) {
  Driver whole(options);
  whole.feed(input);
  for (std::size_t split = 1; split < input.size(); ++split) {
    Driver d(options);
    d.feed(input.substr(0, split));
    d.feed(input.substr(split));
    EXPECT_EQ(d.transcript, whole.transcript) << "split at " << split;
    EXPECT_EQ(d.messages.size(), whole.messages.size()) << "split at " << split;
    if (d.messages.size() == whole.messages.size()) {
      for (std::size_t i = 0; i < d.messages.size(); ++i) {
        EXPECT_EQ(d.messages[i].content, whole.messages[i].content) << "split at " << split;
      }
    }
  }
  Driver bytes(options);
  bytes.feed(input, 1);
  EXPECT_EQ(bytes.transcript, whole.transcript) << "byte by byte";
  return whole;
}

constexpr const char* kGreeting = "220 mx.example.org ESMTP tern\r\n";

TEST(SmtpServerEngine, GreetsAndAdvertisesOnlyWhatIsImplemented) {
  Options options = smtp_options();
  options.limits.max_message_bytes = 1000;
  Driver d(options);
  EXPECT_EQ(d.feed("EHLO client.example\r\n"),
            std::string(kGreeting) +
                "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
                "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n"
                "250 DSN\r\n");
  EXPECT_EQ(d.engine.helo_name(), "client.example");
  EXPECT_TRUE(d.engine.is_esmtp());
}

TEST(SmtpServerEngine, StartTlsAndAuthAreOfferedByContext) {
  Options options = smtp_options();
  options.starttls = true;
  options.auth_mechanisms = {"PLAIN", "SCRAM-SHA-256-PLUS"};
  options.requiretls = true;
  ServerEngine plain(options);
  auto caps = plain.capabilities();
  EXPECT_NE(std::find(caps.begin(), caps.end(), "STARTTLS"), caps.end());
  for (const auto& c : caps) {
    EXPECT_FALSE(c.starts_with("AUTH")) << c;
    EXPECT_NE(c, "REQUIRETLS");
  }
  options.tls_active = true;
  ServerEngine tls(options);
  caps = tls.capabilities();
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "STARTTLS"), caps.end());
  EXPECT_NE(std::find(caps.begin(), caps.end(), "AUTH PLAIN SCRAM-SHA-256-PLUS"), caps.end());
  EXPECT_NE(std::find(caps.begin(), caps.end(), "REQUIRETLS"), caps.end());
  options.tls_active = false;
  options.auth_requires_tls = false;
  ServerEngine loopback(options);
  caps = loopback.capabilities();
  // Channel binding needs TLS, so -PLUS is never offered in the clear.
  EXPECT_NE(std::find(caps.begin(), caps.end(), "AUTH PLAIN"), caps.end());
}

TEST(SmtpServerEngine, PipelinedTransactionWithDotStuffing) {
  std::string input =
      "EHLO c.example\r\n"
      "MAIL FROM:<a@example.org> SIZE=40 BODY=8BITMIME\r\n"
      "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.org\r\n"
      "RCPT TO:<unknown@example.org>\r\n"
      "DATA\r\n"
      "Subject: t\r\n\r\n..leading dot\r\n.x\r\nend\r\n.\r\n"
      "QUIT\r\n";
  Driver d = run_everywhere(smtp_options(), input);
  ASSERT_EQ(d.messages.size(), 1u);
  const Message& m = d.messages[0];
  EXPECT_EQ(m.content, "Subject: t\r\n\r\n.leading dot\r\nx\r\nend\r\n");
  EXPECT_EQ(address::render_path(m.reverse_path), "<a@example.org>");
  EXPECT_EQ(m.params.size, 40u);
  EXPECT_EQ(m.params.body, Body::k8BitMime);
  ASSERT_EQ(m.recipients.size(), 1u);
  EXPECT_EQ(m.recipients[0].params.notify, "SUCCESS,FAILURE");
  EXPECT_EQ(m.recipients[0].params.orcpt, "RFC822;b+x@example.org");
  EXPECT_NE(d.transcript.find("550 5.1.1 unknown user\r\n354 "), std::string::npos);
  EXPECT_TRUE(d.transcript.ends_with("250 2.0.0 delivered to b@example.org\r\n221 2.0.0 Bye\r\n"));
  EXPECT_TRUE(d.closed);
}

TEST(SmtpServerEngine, BareLineFeedNeverEndsData) {
  // The classic smuggling payload: "<LF>.<LF>" followed by a second transaction.
  std::string input =
      "EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n"
      "one\r\n\n.\nMAIL FROM:<evil@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\nsmuggled\r\n.\r\n"
      "NOOP\r\n";
  Driver d = run_everywhere(smtp_options(), input);
  EXPECT_TRUE(d.messages.empty());
  EXPECT_NE(d.transcript.find("550 5.6.0 message contains bare <CR> or <LF>"), std::string::npos);
  EXPECT_TRUE(d.transcript.ends_with("250 2.0.0 Ok\r\n"));
}

TEST(SmtpServerEngine, BareCarriageReturnNeverEndsData) {
  for (std::string payload : {"x\r.\rQUIT\r\n.\r\n", "x\r\n.\n\r\n.\r\n", "x\n.\r\n.\r\n"}) {
    Driver d = run_everywhere(
        smtp_options(), "EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n" + payload);
    EXPECT_TRUE(d.messages.empty()) << payload;
    EXPECT_TRUE(d.transcript.ends_with("(RFC 5321 §2.3.8)\r\n")) << d.transcript;
    EXPECT_FALSE(d.closed);
  }
}

TEST(SmtpServerEngine, BareNewlineInCommandCloses) {
  Driver d(smtp_options());
  d.feed("EHLO c\nMAIL FROM:<a@x.org>\r\n");
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.transcript.ends_with("521 5.5.2 mx.example.org bare <CR> or <LF> received\r\n"));
}

TEST(SmtpServerEngine, StartTlsDiscardsPipelinedCommands) {
  Options options = smtp_options();
  options.starttls = true;
  Driver d(options);
  d.feed("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<inject@x.org>\r\n");
  EXPECT_EQ(d.handshakes, 1);
  EXPECT_TRUE(d.transcript.ends_with("220 2.0.0 Ready to start TLS\r\n"));
  // After the handshake the session starts over: MAIL without EHLO is refused.
  d.feed("MAIL FROM:<a@x.org>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 send HELO/EHLO first\r\n"));
  EXPECT_TRUE(d.engine.is_tls());
  d.feed("EHLO c\r\nSTARTTLS\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 TLS already active\r\n"));
}

TEST(SmtpServerEngine, BdatChunksAndLast) {
  std::string input =
      "EHLO c\r\nMAIL FROM:<a@x.org> BODY=BINARYMIME\r\nRCPT TO:<b@x.org>\r\n"
      "BDAT 7\r\nab\r\n.\r\nBDAT 3 LAST\r\nxyzQUIT\r\n";
  Driver d = run_everywhere(smtp_options(), input);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].content, "ab\r\n.\r\nxyz");
  EXPECT_TRUE(d.messages[0].chunked);
  EXPECT_NE(d.transcript.find("250 2.0.0 7 octets received\r\n"), std::string::npos);
}

TEST(SmtpServerEngine, BdatWithoutTransactionStillConsumesTheChunk) {
  Driver d = run_everywhere(smtp_options(), "EHLO c\r\nBDAT 6\r\nQUIT\r\nNOOP\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 need MAIL command\r\n250 2.0.0 Ok\r\n"));
}

TEST(SmtpServerEngine, BinaryMimeRefusesData) {
  Driver d(smtp_options());
  d.feed("EHLO c\r\nMAIL FROM:<a@x.org> BODY=BINARYMIME\r\nRCPT TO:<b@x.org>\r\nDATA\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 BODY=BINARYMIME requires BDAT (RFC 3030 §3)\r\n"));
}

TEST(SmtpServerEngine, SizeLimits) {
  Options options = smtp_options();
  options.limits.max_message_bytes = 10;
  Driver d(options);
  d.feed("EHLO c\r\nMAIL FROM:<a@x.org> SIZE=11\r\n");
  EXPECT_TRUE(
      d.transcript.ends_with("552 5.3.4 message size exceeds fixed maximum message size\r\n"));
  d.feed("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n0123456789ab\r\n.\r\n");
  EXPECT_TRUE(
      d.transcript.ends_with("552 5.3.4 message size exceeds fixed maximum message size\r\n"));
  EXPECT_TRUE(d.messages.empty());
  d.feed("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nBDAT 11 LAST\r\n0123456789aNOOP\r\n");
  EXPECT_TRUE(d.transcript.ends_with(
      "552 5.3.4 message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n"));
}

TEST(SmtpServerEngine, TextLineLimit) {
  Options options = smtp_options();
  Driver d(options);
  d.feed("EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n" + std::string(998, 'a') +
         "\r\n.\r\n");
  ASSERT_EQ(d.messages.size(), 1u);
  d.feed("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n" + std::string(999, 'a') +
         "\r\n.\r\n");
  EXPECT_EQ(d.messages.size(), 1u);
  EXPECT_TRUE(d.transcript.ends_with("(RFC 5321 §4.5.3.1.6)\r\n"));
}

TEST(SmtpServerEngine, CommandLineLimit) {
  Options options = smtp_options();
  options.limits.max_command_line_bytes = 100;
  Driver d = run_everywhere(options, "NOOP " + std::string(200, 'x') + "\r\nNOOP\r\n");
  EXPECT_TRUE(
      d.transcript.ends_with("500 5.5.2 line too long (RFC 5321 §4.5.3.1.4)\r\n250 2.0.0 Ok\r\n"));
  // Far beyond every limit: bounded memory, one error, in sync afterwards.
  Driver huge(options);
  huge.feed("NOOP " + std::string(100000, 'x') + "\r\nNOOP\r\n", 4096);
  EXPECT_TRUE(huge.transcript.ends_with(
      "500 5.5.2 line too long (RFC 5321 §4.5.3.1.4)\r\n250 2.0.0 Ok\r\n"));
}

TEST(SmtpServerEngine, RecipientLimitGives452) {
  Options options = smtp_options();
  options.limits.max_recipients = 2;
  Driver d(options);
  d.feed(
      "EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\n"
      "RCPT TO:<d@x.org>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("452 4.5.3 too many recipients\r\n"));
}

TEST(SmtpServerEngine, ErrorLimitCloses) {
  Options options = smtp_options();
  options.limits.max_errors = 3;
  Driver d(options);
  d.feed("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(
      d.transcript.ends_with("421 4.7.0 mx.example.org too many errors, closing connection\r\n"));
}

TEST(SmtpServerEngine, JunkCommandLimitCloses) {
  Options options = smtp_options();
  options.limits.max_junk_commands = 5;
  Driver d(options);
  std::string input;
  for (int i = 0; i < 10; ++i) {
    input += "NOOP\r\n";
  }
  d.feed(input);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.transcript.ends_with("too many commands, closing connection\r\n"));
}

TEST(SmtpServerEngine, ManyPipelinedCommandsDoNotRecurse) {
  Options options = smtp_options();
  options.limits.max_junk_commands = 1000000;
  Driver d(options);
  std::string input;
  for (int i = 0; i < 200000; ++i) {
    input += "NOOP\r\n";
  }
  d.feed(input);
  EXPECT_FALSE(d.closed);
}

TEST(SmtpServerEngine, SequenceErrors) {
  Driver d(smtp_options());
  d.feed("MAIL FROM:<a@x.org>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 send HELO/EHLO first\r\n"));
  d.feed("HELO c\r\nRCPT TO:<a@x.org>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 need MAIL command\r\n"));
  d.feed("DATA\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 need MAIL command\r\n"));
  d.feed("MAIL FROM:<a@x.org> SIZE=1\r\n");
  EXPECT_TRUE(d.transcript.ends_with("555 5.5.4 MAIL parameters need EHLO\r\n"));
  d.feed("MAIL FROM:<a@x.org>\r\nMAIL FROM:<a@x.org>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 nested MAIL command\r\n"));
  d.feed("RCPT TO:<unknown@x.org>\r\nDATA\r\n");
  EXPECT_TRUE(d.transcript.ends_with("554 5.5.1 no valid recipients\r\n"));
  d.feed("RSET\r\nVRFY bob\r\nEXPN list\r\nHELP\r\nLHLO x\r\n");
  EXPECT_TRUE(d.transcript.ends_with(
      "250 2.0.0 Ok\r\n252 2.5.2 Cannot VRFY user, but will accept message and attempt "
      "delivery\r\n502 5.5.1 EXPN not available\r\n214 2.0.0 See RFC 5321\r\n"
      "500 5.5.1 command unrecognized\r\n"));
}

TEST(SmtpServerEngine, ParameterErrors) {
  Driver d(smtp_options());
  d.feed("EHLO c\r\nMAIL FROM:<a@x.org> FOO=1\r\n");
  EXPECT_TRUE(d.transcript.ends_with("555 5.5.4 unsupported parameter FOO\r\n"));
  d.feed("MAIL FROM:<a@x.org> RET=ALL\r\n");
  EXPECT_TRUE(d.transcript.ends_with("501 5.5.4 RET must be FULL or HDRS\r\n"));
  d.feed("MAIL FROM:<a@x.org> SIZE=1 SIZE=2\r\n");
  EXPECT_TRUE(d.transcript.ends_with("501 5.5.4 bad MAIL parameter syntax\r\n"));
  d.feed("MAIL FROM:<a@x.org> REQUIRETLS\r\n");
  EXPECT_TRUE(d.transcript.ends_with("555 5.5.4 unsupported parameter REQUIRETLS\r\n"));
  d.feed("MAIL FROM:<ü@x.org>\r\n");
  EXPECT_NE(d.transcript.rfind("550 5.6.7"), std::string::npos);
  d.feed("MAIL FROM:<ü@x.org> SMTPUTF8 ENVID=a+2Bb RET=hdrs\r\n");
  EXPECT_TRUE(d.transcript.ends_with("250 2.1.0 Ok\r\n"));
  d.feed("RCPT TO:<b@x.org> NOTIFY=NEVER,SUCCESS\r\n");
  EXPECT_TRUE(d.transcript.ends_with("501 5.5.4 bad NOTIFY value\r\n"));
  d.feed("RCPT TO:<b@x.org> ORCPT=rfc822;a+zz\r\n");
  EXPECT_TRUE(d.transcript.ends_with("501 5.5.4 bad ORCPT value\r\n"));
  d.feed("RCPT TO:<bad address>\r\n");
  EXPECT_NE(d.transcript.rfind("501 5.1.3"), std::string::npos);
  d.feed("RCPT TO:<b@x.org> NOTIFY=never\r\nDATA\r\nx\r\n.\r\n");
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].params.envid, "a+b");
  EXPECT_EQ(d.messages[0].params.ret, "HDRS");
  EXPECT_TRUE(d.messages[0].params.smtputf8);
  EXPECT_EQ(d.messages[0].recipients[0].params.notify, "NEVER");
}

TEST(SmtpServerEngine, AuthPlainWithInitialResponseAndChallenge) {
  Options options = smtp_options();
  options.auth_mechanisms = {"PLAIN"};
  options.auth_requires_tls = false;
  options.require_auth = true;
  Driver d(options);
  d.feed("EHLO c\r\nMAIL FROM:<a@x.org>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("530 5.7.0 authentication required\r\n"));
  d.feed("AUTH PLAIN " + sasl::base64_encode(std::string("\0alice\0wrong", 12)) + "\r\n");
  EXPECT_TRUE(d.transcript.ends_with("535 5.7.8 Authentication credentials invalid\r\n"));
  d.feed("AUTH PLAIN\r\n");
  EXPECT_TRUE(d.transcript.ends_with("334 \r\n"));
  d.feed("*\r\n");
  EXPECT_TRUE(d.transcript.ends_with("501 5.0.0 authentication cancelled\r\n"));
  EXPECT_EQ(d.aborted, 1);
  d.feed("AUTH PLAIN\r\n!!!!\r\n");
  EXPECT_TRUE(d.transcript.ends_with("501 5.5.2 cannot decode response\r\n"));
  d.feed("AUTH CRAM-MD5\r\n");
  EXPECT_TRUE(d.transcript.ends_with("504 5.5.4 unrecognized authentication type\r\n"));
  d.feed("AUTH PLAIN\r\n" + sasl::base64_encode(std::string("\0alice\0secret", 13)) + "\r\n");
  EXPECT_TRUE(d.transcript.ends_with("235 2.7.0 Authentication successful\r\n"));
  EXPECT_TRUE(d.engine.is_authenticated());
  d.feed("AUTH PLAIN\r\n");
  EXPECT_TRUE(d.transcript.ends_with("503 5.5.1 already authenticated\r\n"));
  d.feed("MAIL FROM:<a@x.org> AUTH=<>\r\n");
  EXPECT_TRUE(d.transcript.ends_with("250 2.1.0 Ok\r\n"));
}

TEST(SmtpServerEngine, AuthNeedsTlsUnlessAllowed) {
  Options options = smtp_options();
  options.auth_mechanisms = {"PLAIN"};
  Driver d(options);
  d.feed("EHLO c\r\nAUTH PLAIN\r\n");
  EXPECT_TRUE(d.transcript.ends_with("538 5.7.11 encryption required for authentication\r\n"));
}

TEST(SmtpServerEngine, AuthLineLimit) {
  Options options = smtp_options();
  options.auth_mechanisms = {"PLAIN"};
  options.auth_requires_tls = false;
  options.limits.max_auth_line_bytes = 100;
  Driver d(options);
  d.feed("EHLO c\r\nAUTH PLAIN\r\n" + std::string(400, 'A') + "\r\nNOOP\r\n");
  EXPECT_EQ(d.aborted, 1);
  EXPECT_TRUE(d.transcript.ends_with(
      "500 5.5.6 authentication exchange line too long\r\n250 2.0.0 Ok\r\n"));
}

TEST(SmtpServerEngine, LmtpRepliesPerRecipient) {
  Options options = smtp_options();
  options.mode = Mode::kLmtp;
  std::string input =
      "LHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<unknown@x.org>\r\n"
      "RCPT TO:<c@x.org>\r\nDATA\r\nhi\r\n.\r\n";
  Driver d = run_everywhere(options, input);
  EXPECT_TRUE(d.transcript.starts_with("220 mx.example.org LMTP tern\r\n"));
  EXPECT_TRUE(d.transcript.ends_with(
      "250 2.0.0 delivered to b@x.org\r\n250 2.0.0 delivered to c@x.org\r\n"));
  Driver helo(options);
  helo.feed("EHLO c\r\n");
  EXPECT_TRUE(helo.transcript.ends_with("500 5.5.1 use LHLO (RFC 2033)\r\n"));
  // A failed message gets one reply per recipient too.
  Driver bad(options);
  bad.feed(
      "LHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\n"
      "DATA\r\nx\n\r\n.\r\n");
  EXPECT_NE(bad.transcript.find("(RFC 5321 §2.3.8)\r\n550 5.6.0"), std::string::npos);
}

TEST(SmtpServerEngine, ShutDownSends421) {
  Driver d(smtp_options());
  d.engine.shut_down(Reply::of(421, "4.4.2", "mx.example.org timeout"));
  d.feed("");
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(d.transcript.ends_with("421 4.4.2 mx.example.org timeout\r\n"));
}

TEST(SmtpReply, RendersMultiLineAndSanitizes) {
  Reply reply{250, "2.0.0", {"one", "two\r\n250 injected"}};
  EXPECT_EQ(render(reply), "250-2.0.0 one\r\n250 2.0.0 two  250 injected\r\n");
  EXPECT_EQ(render(Reply{354, "", {"go"}}), "354 go\r\n");
}

TEST(SmtpReply, ReplyForErrors) {
  EXPECT_EQ(reply_for(Error{ErrorCode::kLimitExceeded, "quota"}), Reply::of(452, "4.2.2", "quota"));
  EXPECT_EQ(reply_for(Error{ErrorCode::kIo, "disk"}), Reply::of(451, "4.3.0", "disk"));
  EXPECT_EQ(reply_for(Error{ErrorCode::kNotFound, "who"}).code, 550);
}

TEST(SmtpReplyParser, MultiLineSplitEverywhere) {
  std::string input =
      "250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 10\r\n550-5.1.1 no\r\n550 5.1.1 user\n";
  for (std::size_t split = 0; split <= input.size(); ++split) {
    ReplyParser parser;
    std::vector<Reply> replies;
    for (auto piece : {input.substr(0, split), input.substr(split)}) {
      parser.receive(piece);
      for (;;) {
        auto r = parser.next();
        ASSERT_TRUE(r.has_value());
        if (!*r) {
          break;
        }
        replies.push_back(**r);
      }
    }
    ASSERT_EQ(replies.size(), 2u) << split;
    EXPECT_EQ(replies[0], (Reply{250, "", {"mx.example.org", "PIPELINING", "SIZE 10"}}));
    EXPECT_EQ(replies[1], (Reply{550, "5.1.1", {"no", "user"}}));
  }
}

TEST(SmtpReplyParser, Errors) {
  ReplyParser mismatch;
  mismatch.receive("250-a\r\n251 b\r\n");
  EXPECT_FALSE(mismatch.next().has_value());
  ReplyParser junk;
  junk.receive("hello\r\n");
  EXPECT_FALSE(junk.next().has_value());
  ReplyParser range;
  range.receive("199 x\r\n");
  EXPECT_FALSE(range.next().has_value());
  ReplyParser longline(ReplyLimits{10, 5});
  longline.receive(std::string(20, '2'));
  auto r = longline.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kLimitExceeded);
}

TEST(SmtpCodecs, Xtext) {
  EXPECT_EQ(*decode_xtext("a+2Bb+3D"), "a+b=");
  EXPECT_FALSE(decode_xtext("a+2").has_value());
  EXPECT_FALSE(decode_xtext("a+2b").has_value());
  EXPECT_EQ(encode_xtext("a+b= c"), "a+2Bb+3D+20c");
}

}  // namespace
}  // namespace tern::smtp
