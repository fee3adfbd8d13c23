// SPDX-License-Identifier: Apache-2.0
// The milter client against a scripted filter. The packet forms are those of
// libmilter (Sendmail's mfdef.h); tests/integration/test_milter.py runs the
// client against real filters (clamav-milter, OpenDKIM).
#include "milter/milter.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tern::milter {
namespace {

struct Packet {
  char letter;
  std::string data;
};

std::vector<Packet> packets_of(std::string bytes) {
  std::vector<Packet> out;
  while (bytes.size() >= 5) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[0]) << 24) |
                      (static_cast<unsigned char>(bytes[1]) << 16) |
                      (static_cast<unsigned char>(bytes[2]) << 8) |
                      static_cast<unsigned char>(bytes[3]);
    out.push_back({bytes[4], bytes.substr(5, n - 1)});
    bytes.erase(0, 4 + n);
  }
  EXPECT_TRUE(bytes.empty());
  return out;
}

std::string letters(const std::vector<Packet>& packets) {
  std::string out;
  for (const auto& p : packets) {
    out.push_back(p.letter);
  }
  return out;
}

std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string negotiated(std::uint32_t actions, std::uint32_t protocol) {
  return encode('O', u32(6) + u32(actions) + u32(protocol));
}

std::string with_nul(std::string_view s) {
  return std::string(s) + '\0';
}

const std::string kMessage =
    "From: a@example.org\r\n"
    "Subject: hello\r\n"
    " world\r\n"
    "X-Tight:no-space\r\n"
    "\r\n"
    "line one\r\n"
    "line two\r\n";

Envelope envelope() {
  Envelope e;
  e.client_name = "[192.0.2.1]";
  e.client_address = "192.0.2.1";
  e.client_port = 4321;
  e.helo = "client.example.org";
  e.sender = "a@example.org";
  e.mail_parameters = {"SIZE=100"};
  e.recipients = {"b@example.com", "c@example.com"};
  e.connect_macros = {{"j", "mx.example.com"}};
  e.data_macros = {{"i", "ABC.1"}};
  return e;
}

// Answers every step with "continue" until the end of the body, then with
// `at_end_of_body`; returns every packet the client sent.
std::vector<Packet> drive(Client& client, const std::string& at_end_of_body) {
  std::vector<Packet> sent;
  while (client.state() == Client::State::kNeedInput) {
    auto more = packets_of(client.take_output());
    EXPECT_FALSE(more.empty());
    if (more.empty()) {
      break;
    }
    sent.insert(sent.end(), more.begin(), more.end());
    client.receive(more.back().letter == 'E' ? at_end_of_body : encode('c', ""));
  }
  auto last = packets_of(client.take_output());
  sent.insert(sent.end(), last.begin(), last.end());
  return sent;
}

// The same after the filter's negotiation reply.
std::vector<Packet> run(Client& client, std::uint32_t actions, std::uint32_t protocol,
                        const std::string& at_end_of_body) {
  std::vector<Packet> sent = packets_of(client.take_output());
  client.receive(negotiated(actions, protocol));
  auto rest = drive(client, at_end_of_body);
  sent.insert(sent.end(), rest.begin(), rest.end());
  return sent;
}

TEST(Milter, NegotiatesVersionSixWithWhatItPermits) {
  Client client(envelope(), kMessage);
  auto sent = packets_of(client.take_output());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].letter, 'O');
  EXPECT_EQ(sent[0].data, u32(6) + u32(kPermittedActions) + u32(kOfferedProtocol));
  EXPECT_EQ(client.state(), Client::State::kNeedInput);
}

TEST(Milter, ReportsEveryStepInSendmailsForm) {
  Client client(envelope(), kMessage);
  auto sent = run(client, kAddHeaders, 0, encode('c', ""));
  ASSERT_EQ(client.state(), Client::State::kDone);
  // Negotiation, connect (macros first), HELO, MAIL, two RCPTs with their
  // macros, DATA, three headers, end of headers, one body chunk, end of body
  // (with the data macros); no QUIT: the connection can take the next message.
  EXPECT_EQ(letters(sent), "ODCHMDRDRDTLLLNBDE");
  EXPECT_TRUE(client.reusable());
  EXPECT_EQ(sent[1].data, std::string("C") + with_nul("j") + with_nul("mx.example.com"));
  EXPECT_EQ(sent[2].data, with_nul("[192.0.2.1]") + "4" + "\x10\xe1" + with_nul("192.0.2.1"));
  EXPECT_EQ(sent[3].data, with_nul("client.example.org"));
  EXPECT_EQ(sent[4].data, with_nul("<a@example.org>") + with_nul("SIZE=100"));
  EXPECT_EQ(sent[5].data, std::string("R") + with_nul("{rcpt_addr}") + with_nul("b@example.com"));
  EXPECT_EQ(sent[6].data, with_nul("<b@example.com>"));
  EXPECT_EQ(sent[8].data, with_nul("<c@example.com>"));
  EXPECT_EQ(sent[9].data, std::string("T") + with_nul("i") + with_nul("ABC.1"));
  // One space after the colon goes, folding is "\n", no final line end.
  EXPECT_EQ(sent[11].data, with_nul("From") + with_nul("a@example.org"));
  EXPECT_EQ(sent[12].data, with_nul("Subject") + with_nul("hello\n world"));
  EXPECT_EQ(sent[13].data, with_nul("X-Tight") + with_nul("no-space"));
  EXPECT_EQ(sent[15].data, "line one\r\nline two\r\n");
  EXPECT_EQ(client.outcome().verdict, Outcome::Verdict::kContinue);
  EXPECT_TRUE(client.outcome().header_changes.empty());
}

TEST(Milter, TheNextMessageOfTheSessionReusesTheConnection) {
  Client first(envelope(), kMessage);
  run(first, kAddHeaders, kNoHelo, encode('c', ""));
  ASSERT_TRUE(first.reusable());
  Negotiated negotiated = first.negotiated();
  EXPECT_EQ(negotiated.actions, kAddHeaders);
  EXPECT_EQ(negotiated.protocol, kNoHelo);

  // ABORT (unanswered) resets the filter's message state; MAIL follows at once,
  // without the negotiation, CONNECT or HELO.
  Client next(envelope(), kMessage, 1024, negotiated);
  auto sent = drive(next, encode('y', with_nul("550 5.7.1 no")));
  EXPECT_EQ(letters(sent), "AMDRDRDTLLLNBDE");
  ASSERT_EQ(next.state(), Client::State::kDone) << next.error();
  EXPECT_EQ(next.outcome().verdict, Outcome::Verdict::kReject);
  EXPECT_TRUE(next.reusable());  // a refusal at the end of the body leaves it ready too
}

TEST(Milter, SkipsStepsAndRepliesTheFilterDoesNotWant) {
  Client client(envelope(), kMessage);
  (void)client.take_output();
  client.receive(negotiated(0, kNoConnect | kNoHelo | kNoMail | kNoRecipient | kNoData |
                                   kNoReplyHeader | kNoReplyEndOfHeaders | kNoReplyBody |
                                   kHeaderLeadingSpace));
  // Nothing to wait for until the end of the body: all of it goes at once.
  auto sent = packets_of(client.take_output());
  EXPECT_EQ(letters(sent), "LLLNBDE");
  // With kHeaderLeadingSpace the value is as received.
  EXPECT_EQ(sent[0].data, with_nul("From") + with_nul(" a@example.org"));
  client.receive(encode('a', ""));
  EXPECT_EQ(client.state(), Client::State::kDone);
  EXPECT_TRUE(client.outcome().leading_space);
}

TEST(Milter, LargeBodiesGoInChunksAndSkipEndsThem) {
  std::string message = "Subject: big\r\n\r\n" + std::string(200000, 'x');
  Client client(envelope(), message);
  (void)client.take_output();
  client.receive(negotiated(
      0, kNoConnect | kNoHelo | kNoMail | kNoRecipient | kNoData | kNoHeaders | kNoEndOfHeaders));
  auto first = packets_of(client.take_output());
  ASSERT_EQ(letters(first), "B");
  EXPECT_EQ(first[0].data.size(), kBodyChunkBytes);
  client.receive(encode('c', ""));
  EXPECT_EQ(letters(packets_of(client.take_output())), "B");
  client.receive(encode('s', ""));  // the filter has seen enough
  EXPECT_EQ(letters(packets_of(client.take_output())), "DE");
  client.receive(encode('c', ""));
  EXPECT_EQ(client.state(), Client::State::kDone);
}

TEST(Milter, CollectsModificationsAtTheEndOfTheBody) {
  Client client(envelope(), kMessage);
  std::string end = encode('h', with_nul("X-Scanned") + with_nul("yes")) +
                    encode('i', u32(0) + with_nul("DKIM-Signature") + with_nul("v=1;\n\tb=x")) +
                    encode('m', u32(1) + with_nul("subject") + with_nul("")) + encode('b', "new ") +
                    encode('b', "body\n") + encode('q', with_nul("held for review")) +
                    encode('c', "");
  run(client, kAddHeaders | kChangeHeaders | kChangeBody | kQuarantine, 0, end);
  ASSERT_EQ(client.state(), Client::State::kDone) << client.error();
  const Outcome& o = client.outcome();
  ASSERT_EQ(o.header_changes.size(), 3u);
  EXPECT_EQ(o.header_changes[1],
            (HeaderChange{HeaderChange::Kind::kInsert, 0, "DKIM-Signature", "v=1;\n\tb=x"}));
  EXPECT_EQ(o.new_body, "new body\n");
  EXPECT_EQ(o.quarantine_reason, "held for review");
  EXPECT_EQ(apply_changes(kMessage, o),
            "DKIM-Signature: v=1;\r\n\tb=x\r\n"
            "From: a@example.org\r\n"
            "X-Tight:no-space\r\n"
            "X-Scanned: yes\r\n"
            "\r\n"
            "new body\r\n");
}

TEST(Milter, CollectsEnvelopeChanges) {
  Client client(envelope(), kMessage);
  std::string end = encode('+', with_nul("<archive@example.com>")) +
                    encode('2', with_nul("<audit@example.net>") + with_nul("NOTIFY=NEVER")) +
                    encode('-', with_nul("<c@example.com>")) +
                    encode('e', with_nul("<>") + with_nul("SIZE=10")) + encode('a', "");
  run(client, kAddRecipient | kAddRecipientWithArguments | kDeleteRecipient | kChangeSender, 0,
      end);
  ASSERT_EQ(client.state(), Client::State::kDone) << client.error();
  EXPECT_EQ(client.outcome().added_recipients,
            (std::vector<std::string>{"archive@example.com", "audit@example.net"}));
  EXPECT_EQ(client.outcome().removed_recipients, (std::vector<std::string>{"c@example.com"}));
  EXPECT_EQ(client.outcome().new_sender, "");
}

TEST(Milter, RefusesOneRecipientAndGoesOnWithTheOthers) {
  Client client(envelope(), kMessage);
  (void)client.take_output();
  client.receive(negotiated(0, kNoConnect | kNoHelo | kNoMail));
  EXPECT_EQ(letters(packets_of(client.take_output())), "DR");
  client.receive(encode('y', with_nul("550 5.1.1 no such user")));
  EXPECT_EQ(letters(packets_of(client.take_output())), "DR");
  client.receive(encode('c', ""));
  EXPECT_EQ(letters(packets_of(client.take_output())), "DT");
  client.receive(encode('c', ""));
  ASSERT_EQ(client.outcome().refused_recipients.size(), 1u);
  EXPECT_EQ(client.outcome().refused_recipients[0],
            (Outcome::RecipientRefusal{0, Outcome::Verdict::kReject, "550 5.1.1 no such user"}));
}

TEST(Milter, StopsWhenEveryRecipientIsRefused) {
  Client client(envelope(), kMessage);
  (void)client.take_output();
  client.receive(negotiated(0, kNoConnect | kNoHelo | kNoMail));
  (void)client.take_output();
  client.receive(encode('t', ""));
  (void)client.take_output();
  client.receive(encode('r', ""));
  EXPECT_EQ(client.state(), Client::State::kDone);
  EXPECT_EQ(letters(packets_of(client.take_output())), "Q");  // no DATA
  ASSERT_EQ(client.outcome().refused_recipients.size(), 2u);
  EXPECT_EQ(client.outcome().refused_recipients[0].verdict, Outcome::Verdict::kTempfail);
  EXPECT_EQ(client.outcome().refused_recipients[1].verdict, Outcome::Verdict::kReject);
}

TEST(Milter, VerdictsAtTheEndOfTheBody) {
  struct Case {
    std::string reply;
    Outcome::Verdict verdict;
    std::string text;
  };

  for (const auto& c : std::vector<Case>{
           {encode('r', ""), Outcome::Verdict::kReject, ""},
           {encode('t', ""), Outcome::Verdict::kTempfail, ""},
           {encode('d', ""), Outcome::Verdict::kDiscard, ""},
           {encode('a', ""), Outcome::Verdict::kContinue, ""},
           {encode('y', with_nul("554 5.7.1 virus found")), Outcome::Verdict::kReject,
            "554 5.7.1 virus found"},
           {encode('y', with_nul("451 4.7.1 later")), Outcome::Verdict::kTempfail,
            "451 4.7.1 later"},
       }) {
    SCOPED_TRACE(c.reply);
    Client client(envelope(), kMessage);
    run(client, 0, 0, encode('p', "") + c.reply);  // progress first: still waiting
    ASSERT_EQ(client.state(), Client::State::kDone) << client.error();
    EXPECT_EQ(client.outcome().verdict, c.verdict);
    EXPECT_EQ(client.outcome().reply, c.text);
  }
}

TEST(Milter, AcceptEndsFilteringEarly) {
  Client client(envelope(), kMessage);
  (void)client.take_output();
  client.receive(negotiated(0, 0));
  EXPECT_EQ(letters(packets_of(client.take_output())), "DC");
  client.receive(encode('a', ""));
  EXPECT_EQ(client.state(), Client::State::kDone);
  EXPECT_EQ(letters(packets_of(client.take_output())), "Q");
}

TEST(Milter, ReadsPacketsSplitAnywhere) {
  Client client(envelope(), kMessage);
  std::string replies = negotiated(kAddHeaders, kNoConnect | kNoHelo | kNoMail | kNoRecipient |
                                                    kNoData | kNoHeaders | kNoEndOfHeaders) +
                        encode('c', "") + encode('h', with_nul("X-A") + with_nul("1")) +
                        encode('c', "");
  for (char c : replies) {
    client.receive(std::string_view(&c, 1));
  }
  ASSERT_EQ(client.state(), Client::State::kDone) << client.error();
  EXPECT_EQ(client.outcome().header_changes.size(), 1u);
}

TEST(Milter, ProtocolErrorsFail) {
  auto error_of = [](std::uint32_t actions, const std::string& after) {
    Client client(envelope(), kMessage, 16);
    (void)client.take_output();
    client.receive(negotiated(actions, kNoConnect | kNoHelo | kNoMail | kNoRecipient | kNoData |
                                           kNoHeaders | kNoEndOfHeaders));
    client.receive(encode('c', ""));  // to the body chunk: now at the end of the body
    client.receive(after);
    EXPECT_EQ(client.state(), Client::State::kFailed);
    return client.error();
  };
  EXPECT_EQ(error_of(0x200, ""), "filter asks for actions tern does not know (512)");
  EXPECT_EQ(error_of(0, encode('h', with_nul("X") + with_nul("1"))),
            "filter sent 'h' without negotiating it");
  EXPECT_EQ(error_of(kAddHeaders, encode('h', with_nul("Bad Name") + with_nul("1"))),
            "filter sent a malformed header change");
  EXPECT_EQ(error_of(kChangeBody, encode('b', std::string(17, 'x'))),
            "filter's replacement body is too large");
  EXPECT_EQ(error_of(0, encode('+', with_nul("<x@y>"))),
            "filter sent a malformed or unnegotiated '+'");
  EXPECT_EQ(error_of(kAddRecipient, encode('+', with_nul("<>"))),
            "filter sent '+' without an address");
  EXPECT_EQ(error_of(0, encode('f', "")), "filter sent 'f', which tern does not take");
  EXPECT_EQ(error_of(0, encode('y', with_nul("250 ok"))), "filter sent a malformed reply code");
  EXPECT_EQ(error_of(0, u32(kMaxPacketBytes + 1)), "filter sent a packet of 1048577 bytes");
  EXPECT_EQ(error_of(0, u32(0)), "filter sent a packet of 0 bytes");

  Client early(envelope(), kMessage);
  (void)early.take_output();
  early.receive(negotiated(kAddHeaders, 0));
  early.receive(encode('h', with_nul("X") + with_nul("1")));
  EXPECT_EQ(early.error(), "filter sent 'h' before the end of the body");

  Client skip(envelope(), kMessage);
  (void)skip.take_output();
  skip.receive(negotiated(0, 0));
  skip.receive(encode('s', ""));
  EXPECT_EQ(skip.error(), "filter sent 'skip' outside the body");

  Client wrong(envelope(), kMessage);
  wrong.receive(encode('c', ""));
  EXPECT_EQ(wrong.error(), "filter answered the negotiation with 'c'");
}

TEST(Milter, LocalPeersAreReportedAsUnknownFamily) {
  Envelope e = envelope();
  e.client_name = "localhost";
  e.client_address.clear();
  e.connect_macros.clear();
  Client client(e, kMessage);
  (void)client.take_output();
  client.receive(negotiated(0, 0));
  auto sent = packets_of(client.take_output());
  ASSERT_EQ(letters(sent), "C");
  EXPECT_EQ(sent[0].data, with_nul("localhost") + "U");
}

TEST(MilterApply, ChangesCountFieldsOfTheSameName) {
  const std::string message = "Received: a\r\nReceived: b\r\nTo: x\r\n\r\nbody\r\n";
  Outcome o;
  o.header_changes = {{HeaderChange::Kind::kChange, 2, "received", "B"},
                      {HeaderChange::Kind::kChange, 5, "X-New", "added"},
                      {HeaderChange::Kind::kChange, 3, "X-Gone", ""},
                      {HeaderChange::Kind::kInsert, 99, "X-Last", "z"}};
  EXPECT_EQ(apply_changes(message, o),
            "Received: a\r\nreceived: B\r\nTo: x\r\nX-New: added\r\nX-Last: z\r\n\r\nbody\r\n");
  o.header_changes = {{HeaderChange::Kind::kChange, 0, "To", "y"}};  // 0: the first
  EXPECT_EQ(apply_changes(message, o), "Received: a\r\nReceived: b\r\nTo: y\r\n\r\nbody\r\n");
  o.leading_space = true;
  o.header_changes = {{HeaderChange::Kind::kAdd, 0, "X-Raw", "\tv"}};
  EXPECT_EQ(apply_changes(message, o),
            "Received: a\r\nReceived: b\r\nTo: x\r\nX-Raw:\tv\r\n\r\nbody\r\n");
}

TEST(MilterApply, SplitsLikePostfix) {
  auto split = split_message("A: 1\r\n 2\r\nnot a field\r\nrest\r\n");
  ASSERT_EQ(split.fields.size(), 1u);
  EXPECT_EQ(split.fields[0], "A: 1\r\n 2\r\n");
  EXPECT_EQ(split.separator, "");
  EXPECT_EQ(split.body, "not a field\r\nrest\r\n");
  auto headers_only = split_message("A: 1\r\nB: 2");
  EXPECT_EQ(headers_only.fields.size(), 2u);
  EXPECT_EQ(headers_only.body, "");
  Outcome none;
  EXPECT_EQ(apply_changes("A: 1\r\nB: 2", none), "A: 1\r\nB: 2\r\n");
  EXPECT_EQ(apply_changes("A: 1\r\n\r\nbody", none), "A: 1\r\n\r\nbody");
}

}  // namespace
}  // namespace tern::milter
