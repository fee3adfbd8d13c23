// SPDX-License-Identifier: Apache-2.0
#include "mime/message.hpp"

#include <string>

#include <gtest/gtest.h>

#include "mime/tree_check.hpp"

namespace tern::mime {
namespace {

std::string crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

MessageTree parse_checked(const std::string& raw, const ParseLimits& limits = {}) {
  MessageTree tree = parse_message(raw, limits);
  auto problem = find_inconsistency(tree);
  EXPECT_FALSE(problem.has_value()) << *problem;
  return tree;
}

TEST(MimeParse, SimpleMessageHasHeaderFieldsAndBody) {
  std::string raw = "From: a@example.com\r\nSubject: hello\r\n  world\r\n\r\nline1\r\nline2\r\n";
  MessageTree tree = parse_checked(raw);
  ASSERT_EQ(tree.parts().size(), 1u);
  const Part& p = tree.root();
  EXPECT_EQ(p.kind, PartKind::kLeaf);
  EXPECT_EQ(p.header.in(raw), "From: a@example.com\r\nSubject: hello\r\n  world\r\n\r\n");
  EXPECT_EQ(p.body.in(raw), "line1\r\nline2\r\n");
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[1].name.in(raw), "Subject");
  EXPECT_EQ(p.fields[1].value.in(raw), " hello\r\n  world");
  EXPECT_EQ(p.fields[1].whole.in(raw), "Subject: hello\r\n  world\r\n");
  EXPECT_EQ(p.header_lines, 4u);
  EXPECT_EQ(p.body_lines, 2u);
  EXPECT_FALSE(p.content_type.from_header);
  EXPECT_TRUE(p.content_type.is("text", "plain"));
  EXPECT_NE(p.field(raw, "subject"), nullptr);
  EXPECT_EQ(p.field(raw, "cc"), nullptr);
}

TEST(MimeParse, EmptyInputGivesOneEmptyPart) {
  MessageTree tree = parse_checked("");
  ASSERT_EQ(tree.parts().size(), 1u);
  EXPECT_TRUE(tree.root().whole.empty());
}

TEST(MimeParse, MissingBlankLineMeansAllHeader) {
  std::string raw = "Subject: x\nFrom: y";
  MessageTree tree = parse_checked(raw);
  EXPECT_EQ(tree.root().header.in(raw), raw);
  EXPECT_TRUE(tree.root().body.empty());
  EXPECT_EQ(tree.root().fields.size(), 2u);
  EXPECT_EQ(tree.root().header_lines, 2u);
}

TEST(MimeParse, LinesWithoutColonAreNotFields) {
  std::string raw = "From sender@x Mon Jan 1\nSubject: s\nnot a header\nX-A: 1\n\nbody";
  MessageTree tree = parse_checked(raw);
  ASSERT_EQ(tree.root().fields.size(), 2u);
  EXPECT_EQ(tree.root().fields[0].name.in(raw), "Subject");
  EXPECT_EQ(tree.root().fields[1].name.in(raw), "X-A");
  EXPECT_EQ(tree.root().body.in(raw), "body");
}

constexpr const char* kMultipart =
    "Content-Type: multipart/mixed; boundary=\"outer b\"\n"
    "\n"
    "preamble\n"
    "--outer b\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "first=\n"
    "part\n"
    "--outer b\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "\n"
    "plain\n"
    "--inner\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>html</p>\n"
    "--inner--\n"
    "inner epilogue\n"
    "--outer b\n"
    "Content-Type: message/rfc822\n"
    "Content-Disposition: attachment; filename=\"m.eml\"\n"
    "\n"
    "Subject: inner message\n"
    "\n"
    "inner body\n"
    "--outer b--\n"
    "epilogue\n";

void expect_multipart_tree(const std::string& raw, std::string_view nl) {
  MessageTree tree = parse_checked(raw);
  const auto& parts = tree.parts();
  ASSERT_EQ(parts.size(), 7u);
  const Part& root = parts[0];
  EXPECT_EQ(root.kind, PartKind::kMultipart);
  EXPECT_EQ(root.boundary, "outer b");
  EXPECT_EQ(root.preamble.in(raw), "preamble");
  EXPECT_EQ(root.epilogue.in(raw), std::string("epilogue") + std::string(nl));
  EXPECT_TRUE(root.close_delimiter_seen);
  ASSERT_EQ(root.children.size(), 3u);

  const Part& text = parts[root.children[0]];
  EXPECT_TRUE(text.content_type.is("text", "plain"));
  EXPECT_EQ(*text.content_type.param("charset"), "utf-8");
  EXPECT_EQ(text.encoding, TransferEncoding::kQuotedPrintable);
  EXPECT_EQ(text.body.in(raw), std::string("first=") + std::string(nl) + "part");
  EXPECT_EQ(text.body_lines, 2u);
  EXPECT_EQ(text.depth, 1u);

  const Part& alt = parts[root.children[1]];
  EXPECT_EQ(alt.kind, PartKind::kMultipart);
  ASSERT_EQ(alt.children.size(), 2u);
  EXPECT_TRUE(alt.preamble.empty());
  EXPECT_EQ(alt.epilogue.in(raw), "inner epilogue");
  const Part& plain = parts[alt.children[0]];
  EXPECT_TRUE(plain.fields.empty());
  EXPECT_EQ(plain.header.in(raw), nl);
  EXPECT_EQ(plain.body.in(raw), "plain");
  EXPECT_EQ(plain.depth, 2u);
  EXPECT_EQ(parts[alt.children[1]].body.in(raw), "<p>html</p>");

  const Part& msg = parts[root.children[2]];
  EXPECT_EQ(msg.kind, PartKind::kMessage);
  ASSERT_TRUE(msg.disposition.has_value());
  EXPECT_EQ(msg.disposition->type, "attachment");
  EXPECT_EQ(*msg.disposition->param("filename"), "m.eml");
  ASSERT_EQ(msg.children.size(), 1u);
  const Part& inner = parts[msg.children[0]];
  EXPECT_EQ(inner.whole, msg.body);
  EXPECT_EQ(inner.body.in(raw), "inner body");
  EXPECT_EQ(inner.fields.size(), 1u);
  EXPECT_EQ(tree.max_depth(), 2u);
}

TEST(MimeParse, NestedMultipartWithLfLineEnds) {
  expect_multipart_tree(kMultipart, "\n");
}

TEST(MimeParse, NestedMultipartWithCrlfLineEnds) {
  expect_multipart_tree(crlf(kMultipart), "\r\n");
}

TEST(MimeParse, MissingCloseDelimiterRunsLastPartToTheEnd) {
  std::string raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n";
  MessageTree tree = parse_checked(raw);
  const Part& root = tree.root();
  ASSERT_EQ(root.children.size(), 2u);
  EXPECT_FALSE(root.close_delimiter_seen);
  EXPECT_EQ(tree.part(root.children[1]).body.in(raw), "two\n");
  EXPECT_TRUE(root.epilogue.empty());
  EXPECT_EQ(root.epilogue.begin, raw.size());
}

TEST(MimeParse, OuterBoundaryEndsInnerMultipart) {
  std::string raw =
      "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ninner\n"
      "--a\n\nsecond\n--a--\n";
  MessageTree tree = parse_checked(raw);
  const Part& root = tree.root();
  ASSERT_EQ(root.children.size(), 2u);
  const Part& inner = tree.part(root.children[0]);
  EXPECT_FALSE(inner.close_delimiter_seen);
  ASSERT_EQ(inner.children.size(), 1u);
  EXPECT_EQ(tree.part(inner.children[0]).body.in(raw), "inner");
  EXPECT_EQ(tree.part(root.children[1]).body.in(raw), "second");
}

TEST(MimeParse, BoundariesThatArePrefixesOfEachOtherNest) {
  std::string raw =
      "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
      "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\nx\n--ab\n\ny\n--ab--\n"
      "--a--\n";
  MessageTree tree = parse_checked(raw);
  const Part& root = tree.root();
  ASSERT_EQ(root.children.size(), 1u);
  EXPECT_EQ(tree.part(root.children[0]).children.size(), 2u);
  EXPECT_TRUE(root.close_delimiter_seen);
}

TEST(MimeParse, MultipartWithoutBoundaryIsALeaf) {
  std::string raw = "Content-Type: multipart/mixed\n\n--x\n\nbody\n";
  MessageTree tree = parse_checked(raw);
  EXPECT_EQ(tree.root().kind, PartKind::kLeaf);
  EXPECT_TRUE(tree.root().content_type.is("multipart", "mixed"));
}

TEST(MimeParse, DigestChildrenDefaultToMessageRfc822) {
  std::string raw =
      "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody one\n"
      "--d\nContent-Type: text/plain\n\nplain\n--d--\n";
  MessageTree tree = parse_checked(raw);
  const Part& root = tree.root();
  ASSERT_EQ(root.children.size(), 2u);
  const Part& first = tree.part(root.children[0]);
  EXPECT_EQ(first.kind, PartKind::kMessage);
  EXPECT_TRUE(first.content_type.is("message", "rfc822"));
  EXPECT_FALSE(first.content_type.from_header);
  EXPECT_EQ(tree.part(first.children[0]).body.in(raw), "body one");
  EXPECT_EQ(tree.part(root.children[1]).kind, PartKind::kLeaf);
}

TEST(MimeParse, EncodedMessageRfc822IsALeaf) {
  std::string raw =
      "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5\n";
  MessageTree tree = parse_checked(raw);
  EXPECT_EQ(tree.root().kind, PartKind::kLeaf);
  EXPECT_EQ(tree.root().encoding, TransferEncoding::kBase64);
}

TEST(MimeParse, BoundaryLineEndsAHeaderWithoutBlankLine) {
  std::string raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\nX-A: 1\n--b\n\nz\n--b--\n";
  MessageTree tree = parse_checked(raw);
  ASSERT_EQ(tree.root().children.size(), 2u);
  const Part& first = tree.part(tree.root().children[0]);
  EXPECT_EQ(first.fields.size(), 1u);
  EXPECT_TRUE(first.body.empty());
}

// The expectations are what Dovecot 2.3.19 returned for BODY[n] and BODY[n.MIME]
// on the same bytes (docs/mime-differences.md).
TEST(MimeParse, LineEndsAroundDelimitersMatchDovecot) {
  std::string blank =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: 1\r\n\r\n"
      "--b\r\n\r\n--b--\r\n";
  MessageTree t1 = parse_checked(blank);
  ASSERT_EQ(t1.root().children.size(), 2u);
  const Part& first = t1.part(t1.root().children[0]);
  EXPECT_EQ(first.header.in(blank), "X: 1\r\n");  // BODY[1.MIME] {6}
  EXPECT_EQ(first.body.in(blank), "");            // BODY[1] {0}
  EXPECT_EQ(first.header_lines, 1u);
  EXPECT_EQ(t1.part(t1.root().children[1]).whole.in(blank), "");  // BODY[2.MIME] {0}

  std::string close =
      "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n"
      "--b--\r\n--a--\r\n";
  MessageTree t2 = parse_checked(close);
  const Part& inner = t2.part(t2.root().children[0]);
  EXPECT_EQ(inner.body.in(close), "--b\r\n\r\nx\r\n--b--\r\n");  // BODY[1] {17}
  EXPECT_EQ(inner.header.in(close), "Content-Type: multipart/mixed; boundary=b\r\n\r\n");

  std::string mid =
      "Content-Type: multipart/mixed; boundary=1\r\n\r\n--1\r\n\r\nabc--1--\r\n--1--\r\n";
  MessageTree t3 = parse_checked(mid);
  ASSERT_EQ(t3.root().children.size(), 1u);
  EXPECT_EQ(t3.part(t3.root().children[0]).body.in(mid), "abc--1--");  // BODY[1] {8}
  EXPECT_EQ(t3.part(t3.root().children[0]).header.in(mid), "\r\n");    // BODY[1.MIME] {2}
}

TEST(MimeParse, RecordsMimeFields) {
  std::string raw =
      "Content-Type: image/png; name=a.png\nContent-ID: <id@x>\nContent-Description: logo\n"
      "Content-Language: en\nContent-Location: http://x/a.png\nContent-MD5: abc=\n"
      "Content-Transfer-Encoding: BASE64 (comment)\nContent-Type: text/plain\n\nAAAA";
  MessageTree tree = parse_checked(raw);
  const Part& p = tree.root();
  EXPECT_TRUE(p.content_type.is("image", "png"));  // the first Content-Type wins
  EXPECT_EQ(p.encoding, TransferEncoding::kBase64);
  EXPECT_EQ(p.encoding_value.in(raw), " BASE64 (comment)");
  EXPECT_EQ(p.content_id->in(raw), " <id@x>");
  EXPECT_EQ(p.content_description->in(raw), " logo");
  EXPECT_EQ(p.content_language->in(raw), " en");
  EXPECT_EQ(p.content_location->in(raw), " http://x/a.png");
  EXPECT_EQ(p.content_md5->in(raw), " abc=");
}

TEST(MimeParse, EightBitJunkAndBareCrAreTolerated) {
  std::string raw = "Subject: caf\xe9\r\nX-\xff: \x01\r\n\r\n\xff\xfe\r\r\n";
  MessageTree tree = parse_checked(raw);
  EXPECT_EQ(tree.root().fields.size(), 2u);
  EXPECT_EQ(tree.root().body.in(raw), "\xff\xfe\r\r\n");
}

// Mime bombs: ParseLimits degrade the tree but keep every byte.

TEST(MimeLimits, DeepNestingBecomesAnOpaqueLeaf) {
  std::string raw;
  const int levels = 5000;
  for (int i = 0; i < levels; ++i) {
    raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
           std::to_string(i) + "\n";
  }
  raw += "\nleaf\n";
  ParseLimits limits;
  limits.max_depth = 20;
  MessageTree tree = parse_checked(raw, limits);
  EXPECT_TRUE(tree.degraded());
  EXPECT_EQ(tree.max_depth(), 20u);
  const Part& last = tree.parts().back();
  EXPECT_EQ(last.kind, PartKind::kLeaf);
  EXPECT_TRUE(last.degraded.depth);
  EXPECT_TRUE(last.content_type.is("text", "plain"));
  EXPECT_EQ(last.whole.end, raw.size());
}

TEST(MimeLimits, DeepMessageRfc822NestingIsBounded) {
  std::string raw;
  for (int i = 0; i < 100000; ++i) {
    raw += "Content-Type: message/rfc822\n\n";
  }
  MessageTree tree = parse_checked(raw);  // default limits
  EXPECT_TRUE(tree.degraded());
  EXPECT_EQ(tree.parts().size(), ParseLimits{}.max_depth + 1);
}

TEST(MimeLimits, HundredThousandPartsStopAtThePartBudget) {
  std::string raw = "Content-Type: multipart/mixed; boundary=x\n\n";
  for (int i = 0; i < 100000; ++i) {
    raw += "--x\n\np\n";
  }
  raw += "--x--\n";
  MessageTree tree = parse_checked(raw);
  EXPECT_TRUE(tree.degraded());
  EXPECT_EQ(tree.parts().size(), ParseLimits{}.max_parts);
  EXPECT_TRUE(tree.root().degraded.part_count);
  // The last part holds the rest of the body, boundary lines included.
  const Part& last = tree.parts().back();
  EXPECT_GT(last.body.size(), 100000u);
}

TEST(MimeLimits, HugeHeaderStopsIndexingButKeepsTheBody) {
  std::string raw;
  for (int i = 0; i < 200000; ++i) {
    raw += "X-Filler: 0123456789\n";
  }
  raw += "\nbody\n";
  MessageTree tree = parse_checked(raw);
  EXPECT_TRUE(tree.root().degraded.header_size);
  EXPECT_LE(tree.root().fields.size(), ParseLimits{}.max_fields);
  EXPECT_EQ(tree.root().body.in(raw), "body\n");
}

TEST(MimeLimits, OversizedFoldedFieldIsSkipped) {
  std::string raw = "Subject: a\n";
  for (int i = 0; i < 1000; ++i) {
    raw += " continuation line number " + std::to_string(i) + "\n";
  }
  raw += "X-After: 1\n\nbody";
  ParseLimits limits;
  limits.max_field_bytes = 1024;
  MessageTree tree = parse_checked(raw, limits);
  EXPECT_TRUE(tree.root().degraded.field_size);
  ASSERT_EQ(tree.root().fields.size(), 1u);
  EXPECT_EQ(tree.root().fields[0].name.in(raw), "X-After");
}

TEST(MimeLimits, LongLinesCostNothingExtra) {
  std::string raw = "Content-Type: multipart/mixed; boundary=z\n\n--z\n\n" +
                    std::string(8 * 1024 * 1024, 'a') + "\n--z--\n";
  MessageTree tree = parse_checked(raw);
  ASSERT_EQ(tree.root().children.size(), 1u);
  EXPECT_EQ(tree.part(tree.root().children[0]).body.size(), 8u * 1024 * 1024);
}

}  // namespace
}  // namespace tern::mime
