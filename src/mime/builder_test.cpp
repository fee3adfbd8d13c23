// SPDX-License-Identifier: Apache-2.0
// What the builder writes, the parser reads back.
#include "mime/builder.hpp"

#include <string>

#include <gtest/gtest.h>

#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"
#include "mime/tree_check.hpp"

namespace tern::mime {
namespace {

// Every line ends in CRLF, none is longer than `max` characters.
void expect_wire_form(const std::string& text, std::size_t max = 78) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t lf = text.find('\n', start);
    ASSERT_NE(lf, std::string::npos) << "unterminated last line";
    ASSERT_EQ(text[lf - 1], '\r') << "bare LF at " << lf;
    EXPECT_LE(lf - 1 - start, max) << text.substr(start, lf - start);
    start = lf + 1;
  }
}

bool is_ascii_field(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
  }
  return true;
}

std::string field_value(const std::string& raw, const MessageTree& tree, PartIndex part,
                        std::string_view name) {
  const HeaderField* f = tree.part(part).field(raw, name);
  return f == nullptr ? std::string("<absent>") : unfold(f->value.in(raw));
}

TEST(MimeBuilder, FormatsRfc5322Dates) {
  EXPECT_EQ(format_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(format_date(1795788821, 60), "Fri, 27 Nov 2026 15:13:41 +0100");
  EXPECT_EQ(format_date(1795788821, -330), "Fri, 27 Nov 2026 08:43:41 -0530");
}

TEST(MimeBuilder, FoldsAtBlanksAndUnfoldsBackExactly) {
  std::string value;
  for (int i = 0; i < 40; ++i) {
    value += "word" + std::to_string(i) + (i % 7 == 0 ? "  " : " ");
  }
  value += "end";
  std::string field = fold_field("X-Long", value);
  expect_wire_form(field);
  std::string raw = field + "\r\n";
  MessageTree tree = parse_message(raw);
  ASSERT_EQ(tree.root().fields.size(), 1u);
  std::string folded_value(tree.root().fields[0].value.in(raw));
  std::string unfolded;
  for (char c : folded_value) {
    if (c != '\r' && c != '\n') {
      unfolded.push_back(c);
    }
  }
  EXPECT_EQ(unfolded, " " + value);
  // A word longer than a line is kept whole.
  std::string long_word(120, 'x');
  EXPECT_EQ(fold_field("X", long_word), "X: " + long_word + "\r\n");
}

TEST(MimeBuilder, UnstructuredFieldsEncodeNonAsciiAndRoundTrip) {
  std::string subject =
      "R\xc3\xa9sum\xc3\xa9 of the \xe6\x97\xa5\xe6\x9c\xac meeting, with a "
      "fairly long tail so that folding is needed somewhere";
  std::string field = unstructured_field("Subject", subject);
  expect_wire_form(field);
  EXPECT_TRUE(is_ascii_field(field));
  std::string raw = field + "\r\nbody";
  MessageTree tree = parse_message(raw);
  EXPECT_EQ(decode_words(tree.root().fields[0].value.in(raw)), subject);
  EXPECT_EQ(unstructured_field("Subject", "plain"), "Subject: plain\r\n");
}

TEST(MimeBuilder, FormatsMailboxes) {
  EXPECT_EQ(format_mailbox("", "a@example.com"), "a@example.com");
  EXPECT_EQ(format_mailbox("Jane Doe", "j@x"), "Jane Doe <j@x>");
  EXPECT_EQ(format_mailbox("Doe, Jane", "j@x"), "\"Doe, Jane\" <j@x>");
  EXPECT_EQ(format_mailbox("a \"b\"", "j@x"), "\"a \\\"b\\\"\" <j@x>");
  EXPECT_EQ(format_mailbox("Andr\xc3\xa9", "a@x"), "=?UTF-8?Q?Andr=C3=A9?= <a@x>");
  auto parsed = address::parse_email_address("bob@tern.test");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(format_mailbox("Bob", *parsed), "Bob <bob@tern.test>");
}

TEST(MimeBuilder, WritesReceivedFields) {
  ReceivedInfo info;
  info.helo = "mail.example.org";
  info.reverse_dns = "mail.example.org";
  info.client_ip = "192.0.2.7";
  info.by = "mx.tern.test";
  info.with = "ESMTPS";
  info.tls = "TLSv1.3 cipher=TLS_AES_128_GCM_SHA256";
  info.id = "4Qx9Z";
  info.for_path = "<bob@tern.test>";
  info.time = 1795788821;
  std::string field = received_field(info);
  expect_wire_form(field);
  std::string raw = field + "\r\n";
  MessageTree tree = parse_message(raw);
  EXPECT_EQ(field_value(raw, tree, 0, "received"),
            "from mail.example.org (mail.example.org [192.0.2.7]) by mx.tern.test with ESMTPS "
            "(TLSv1.3 cipher=TLS_AES_128_GCM_SHA256) id 4Qx9Z for <bob@tern.test>; "
            "Fri, 27 Nov 2026 14:13:41 +0000");

  info.helo = "bad (helo) \\ x";
  info.reverse_dns.clear();
  info.tls.clear();
  info.id.clear();
  info.for_path.clear();
  info.with = "SMTP";
  std::string bad = received_field(info);
  expect_wire_form(bad);
  std::string bad_raw = bad + "\r\n";
  MessageTree bad_tree = parse_message(bad_raw);
  EXPECT_EQ(field_value(bad_raw, bad_tree, 0, "received"),
            "from unknown ([192.0.2.7]) (HELO bad \\(helo\\) \\\\ x) by mx.tern.test with SMTP; "
            "Fri, 27 Nov 2026 14:13:41 +0000");
}

TEST(MimeBuilder, WritesReceivedWithoutAddressForALocalClient) {
  ReceivedInfo info;
  info.helo = "relay.example.test";
  info.by = "mx.tern.test";
  info.with = "LMTP";
  info.id = "c1.1";
  info.for_path = "<bob@tern.test>";
  info.time = 1795788821;
  std::string field = received_field(info);
  expect_wire_form(field);
  std::string raw = field + "\r\n";
  MessageTree tree = parse_message(raw);
  EXPECT_EQ(field_value(raw, tree, 0, "received"),
            "from relay.example.test by mx.tern.test with LMTP id c1.1 for <bob@tern.test>; "
            "Fri, 27 Nov 2026 14:13:41 +0000");
  info.helo = "not a name";
  std::string bad = received_field(info);
  EXPECT_NE(bad.find("from unknown (HELO not a name) by mx.tern.test"), std::string::npos) << bad;
}

TEST(MimeBuilder, WritesAuthenticationResults) {
  std::vector<AuthResult> results = {
      {"spf", "pass", "", {{"smtp.mailfrom", "alice@example.org"}}},
      {"dkim",
       "fail",
       "signature did not verify",
       {{"header.d", "example.org"}, {"header.s", "sel 1"}}},
      {"dmarc", "pass", "", {{"header.from", "example.org"}}},
  };
  std::string field = authentication_results_field("mx.tern.test", results);
  expect_wire_form(field);
  EXPECT_EQ(field,
            "Authentication-Results: mx.tern.test;\r\n"
            "\tspf=pass smtp.mailfrom=alice@example.org;\r\n"
            "\tdkim=fail reason=\"signature did not verify\" header.d=example.org\r\n"
            " header.s=\"sel 1\";\r\n"
            "\tdmarc=pass header.from=example.org\r\n");
  EXPECT_EQ(authentication_results_field("mx", {}), "Authentication-Results: mx; none\r\n");
  std::string raw = field + "\r\n";
  MessageTree tree = parse_message(raw);
  ASSERT_EQ(tree.root().fields.size(), 1u);
}

constexpr const char* kOriginal =
    "From: Alice <alice@example.org>\n"
    "To: bob@tern.test\n"
    "Subject: lunch?\n"
    "Message-ID: <m1@example.org>\n"
    "\n"
    "Are you free at noon?\n";

DsnInfo sample_dsn() {
  DsnInfo info;
  info.reporting_mta = "mx.tern.test";
  info.from = format_mailbox("Mail Delivery System", "MAILER-DAEMON@mx.tern.test");
  info.to = "alice@example.org";
  info.message_id = "<dsn1@mx.tern.test>";
  info.envelope_id = "ENV42";
  info.explanation = "Your message could not be delivered to one recipient.\n";
  info.arrival_date = 1795788000;
  info.time = 1795788821;
  DsnRecipient r;
  r.final_recipient = "bob@tern.test";
  r.original_recipient = "bob@tern.test";
  r.action = "failed";
  r.status = "5.1.1";
  r.remote_mta = "mx.tern.test";
  r.diagnostic_code = "550 5.1.1 <bob@tern.test>: no such user";
  r.last_attempt = 1795788821;
  info.recipients.push_back(r);
  return info;
}

TEST(MimeBuilder, DsnIsAMultipartReportTheParserReadsBack) {
  DsnInfo info = sample_dsn();
  info.return_full_message = true;
  std::string dsn = build_dsn(info, kOriginal);
  expect_wire_form(dsn);
  MessageTree tree = parse_message(dsn);
  ASSERT_FALSE(find_inconsistency(tree).has_value());
  const Part& root = tree.root();
  ASSERT_EQ(root.kind, PartKind::kMultipart);
  EXPECT_TRUE(root.content_type.is("multipart", "report"));
  EXPECT_EQ(*root.content_type.param("report-type"), "delivery-status");
  EXPECT_TRUE(root.close_delimiter_seen);
  EXPECT_EQ(field_value(dsn, tree, 0, "auto-submitted"), "auto-replied");
  EXPECT_EQ(decode_words(root.field(dsn, "subject")->value.in(dsn)),
            "Undelivered Mail Returned to Sender");
  ASSERT_EQ(root.children.size(), 3u);

  const Part& text = tree.part(root.children[0]);
  EXPECT_TRUE(text.content_type.is("text", "plain"));
  EXPECT_EQ(text.body.in(dsn), "Your message could not be delivered to one recipient.\r\n");

  const Part& status = tree.part(root.children[1]);
  EXPECT_TRUE(status.content_type.is("message", "delivery-status"));
  EXPECT_EQ(status.kind, PartKind::kLeaf);
  std::string_view report = status.body.in(dsn);
  EXPECT_NE(report.find("Reporting-MTA: dns; mx.tern.test\r\nOriginal-Envelope-Id: ENV42\r\n"),
            std::string_view::npos);
  EXPECT_NE(report.find("\r\n\r\nOriginal-Recipient: rfc822; bob@tern.test\r\n"
                        "Final-Recipient: rfc822; bob@tern.test\r\nAction: failed\r\n"
                        "Status: 5.1.1\r\nRemote-MTA: dns; mx.tern.test\r\n"
                        "Diagnostic-Code: smtp; 550 5.1.1 <bob@tern.test>: no such user\r\n"),
            std::string_view::npos)
      << report;

  const Part& returned = tree.part(root.children[2]);
  EXPECT_EQ(returned.kind, PartKind::kMessage);
  const Part& inner = tree.part(returned.children[0]);
  EXPECT_EQ(field_value(dsn, tree, returned.children[0], "subject"), "lunch?");
  EXPECT_EQ(inner.body.in(dsn), "Are you free at noon?\r\n");
}

TEST(MimeBuilder, DsnWithHeadersOnlyAndUtf8UsesGlobalTypes) {
  DsnInfo info = sample_dsn();
  std::string dsn = build_dsn(info, kOriginal);
  MessageTree tree = parse_message(dsn);
  ASSERT_EQ(tree.root().children.size(), 3u);
  const Part& headers = tree.part(tree.root().children[2]);
  EXPECT_TRUE(headers.content_type.is("text", "rfc822-headers"));
  EXPECT_EQ(headers.body.in(dsn).find("Are you free"), std::string_view::npos);

  info.recipients[0].final_recipient = "j\xc3\xb6rg@tern.test";
  std::string original =
      "Subject: gr\xc3\xbc\xc3\x9f"
      "e\r\n\r\nhallo\r\n";
  info.return_full_message = true;
  std::string global = build_dsn(info, original);
  expect_wire_form(global);
  MessageTree g = parse_message(global);
  ASSERT_EQ(g.root().children.size(), 3u);
  EXPECT_TRUE(g.part(g.root().children[1]).content_type.is("message", "global-delivery-status"));
  EXPECT_NE(g.part(g.root().children[1]).body.in(global).find("utf-8; j\xc3\xb6rg@tern.test"),
            std::string_view::npos);
  const Part& returned = g.part(g.root().children[2]);
  EXPECT_TRUE(returned.content_type.is("message", "global"));
  EXPECT_EQ(returned.encoding, TransferEncoding::k8Bit);
  EXPECT_EQ(returned.kind, PartKind::kMessage);
}

TEST(MimeBuilder, DsnBoundaryNeverOccursInTheReturnedMessage) {
  DsnInfo info = sample_dsn();
  info.return_full_message = true;
  std::string first = build_dsn(info, kOriginal);
  MessageTree tree = parse_message(first);
  std::string boundary = tree.root().boundary;
  // A message that contains the boundary that would have been chosen.
  std::string hostile = std::string(kOriginal) + "--" + boundary + "--\n";
  std::string dsn = build_dsn(info, hostile);
  MessageTree t = parse_message(dsn);
  EXPECT_NE(t.root().boundary, boundary);
  ASSERT_EQ(t.root().children.size(), 3u);
  EXPECT_NE(t.part(t.root().children[2]).body.in(dsn).find("--" + boundary + "--"),
            std::string_view::npos);
}

TEST(MimeBuilder, AutoReplyCarriesRfc3834Fields) {
  AutoReply reply;
  reply.from = format_mailbox("Bob", "bob@tern.test");
  reply.to = "alice@example.org";
  reply.original_subject = "lunch?";
  reply.original_message_id = "<m1@example.org>";
  reply.original_references = "<m0@example.org>";
  reply.message_id = "<r1@tern.test>";
  reply.time = 1795788821;
  reply.body =
      "I am away until Monday.\nBis bald, gr\xc3\xbc\xc3\x9f"
      "e.\n";
  std::string msg = build_auto_reply(reply);
  expect_wire_form(msg);
  MessageTree tree = parse_message(msg);
  ASSERT_FALSE(find_inconsistency(tree).has_value());
  EXPECT_EQ(field_value(msg, tree, 0, "auto-submitted"), "auto-replied");
  EXPECT_EQ(field_value(msg, tree, 0, "subject"), "Auto: lunch?");
  EXPECT_EQ(field_value(msg, tree, 0, "in-reply-to"), "<m1@example.org>");
  EXPECT_EQ(field_value(msg, tree, 0, "references"), "<m0@example.org> <m1@example.org>");
  const Part& root = tree.root();
  EXPECT_TRUE(root.content_type.is("text", "plain"));
  EXPECT_EQ(*root.content_type.param("charset"), "utf-8");
  EXPECT_EQ(root.encoding, TransferEncoding::kQuotedPrintable);
  EXPECT_EQ(decode_quoted_printable(root.body.in(msg)),
            "I am away until Monday.\r\nBis bald, gr\xc3\xbc\xc3\x9f"
            "e.\r\n");

  reply.body = "ascii only\n";
  reply.subject = "Away";
  reply.original_message_id.clear();
  std::string plain = build_auto_reply(reply);
  MessageTree p = parse_message(plain);
  EXPECT_EQ(p.root().encoding, TransferEncoding::k7Bit);
  EXPECT_EQ(p.root().body.in(plain), "ascii only\r\n");
  EXPECT_EQ(p.root().field(plain, "in-reply-to"), nullptr);
  EXPECT_EQ(field_value(plain, p, 0, "subject"), "Away");
}

}  // namespace
}  // namespace tern::mime
