// SPDX-License-Identifier: Apache-2.0
#include "mime/facts/facts.hpp"

#include <string>

#include <gtest/gtest.h>

#include "mime/facts/imap_string.hpp"
#include "mime/facts/section.hpp"
#include "mime/facts/text.hpp"

namespace tern::mime::facts {
namespace {

std::string str(std::string_view v) {
  std::string out;
  append_string(out, v);
  return out;
}

std::string section(std::string_view raw, const Facts& f, std::string_view spec) {
  auto s = parse_section(spec);
  EXPECT_TRUE(s) << spec;
  auto r = body_section(raw, f, *s);
  return r ? *r : "<error:" + r.error().message + ">";
}

const std::string kSimple =
    "Date: Mon, 22 Mar 1993 09:41:09 -0800\r\n"
    "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
    "To: Mary Smith <mary@x.test>, jdoe@example.org (John Doe)\r\n"
    "Subject: Hello\r\n"
    " folded\r\n"
    "Message-ID: <1234@local.machine.example>\r\n"
    "\r\n"
    "Hi there.\r\n"
    "Bye.\r\n";

TEST(ImapString, QuotesPrintableAsciiAndEscapes) {
  EXPECT_EQ(str("plain"), "\"plain\"");
  EXPECT_EQ(str("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(str(""), "\"\"");
}

TEST(ImapString, UsesLiteralsForLineEndsEightBitAndLongValues) {
  EXPECT_EQ(str("a\r\nb"), "{4}\r\na\r\nb");
  EXPECT_EQ(str("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
  EXPECT_EQ(str(std::string(1025, 'x')).substr(0, 8), "{1025}\r\n");
  EXPECT_EQ(str(std::string_view("a\0b", 3)), "{3}\r\na?b");
}

TEST(Envelope, RendersRawFieldsAndDefaultsSenderAndReplyToToFrom) {
  const Facts f = compute_facts(kSimple);
  EXPECT_EQ(f.envelope,
            "(\"Mon, 22 Mar 1993 09:41:09 -0800\" \"Hello folded\" "
            "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
            "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
            "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
            "((\"Mary Smith\" NIL \"mary\" \"x.test\")(\"John Doe\" NIL \"jdoe\" "
            "\"example.org\")) NIL NIL NIL \"<1234@local.machine.example>\")");
}

TEST(Envelope, AbsentFieldsAreNilAndEncodedWordsStayRaw) {
  const Facts f = compute_facts("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n");
  EXPECT_EQ(f.envelope, "(NIL \"=?utf-8?q?caf=C3=A9?=\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(Envelope, GroupsHaveStartAndEndMarkers) {
  const Facts f = compute_facts("From: a@b.test\r\nTo: team: x@y.test;\r\n\r\n");
  EXPECT_NE(f.envelope.find("((NIL NIL \"team\" NIL)(NIL NIL \"x\" \"y.test\")(NIL NIL NIL NIL))"),
            std::string::npos)
      << f.envelope;
}

TEST(Envelope, ReadsBackWhatItRenders) {
  const Facts f = compute_facts(kSimple);
  auto e = read_envelope(f.envelope);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->date, "Mon, 22 Mar 1993 09:41:09 -0800");
  EXPECT_EQ(e->subject, "Hello folded");
  ASSERT_EQ(e->to.size(), 2u);
  EXPECT_EQ(e->to[1].name, "John Doe");
  EXPECT_EQ(e->to[1].mailbox, "jdoe");
  EXPECT_EQ(e->to[1].host, "example.org");
  EXPECT_FALSE(e->to[1].adl.has_value());
  EXPECT_TRUE(e->cc.empty());
  EXPECT_FALSE(e->in_reply_to.has_value());
  EXPECT_EQ(e->message_id, "<1234@local.machine.example>");

  // Literals (8-bit values), escapes in quoted strings and group markers.
  const Facts g = compute_facts(
      "From: \"Q \\\"quoted\\\"\" <q@x.test>\r\nTo: team: x@y.test;\r\n"
      "Subject: caf\xC3\xA9\r\n\r\n");
  auto h = read_envelope(g.envelope);
  ASSERT_TRUE(h) << g.envelope;
  EXPECT_EQ(h->subject, "caf\xC3\xA9");
  EXPECT_EQ(h->from[0].name, "Q \"quoted\"");
  ASSERT_EQ(h->to.size(), 3u);
  EXPECT_EQ(h->to[0].mailbox, "team");
  EXPECT_FALSE(h->to[0].host.has_value());
  EXPECT_FALSE(h->to[2].mailbox.has_value());
}

TEST(Envelope, ReadingRefusesWhatIsNotAnEnvelope) {
  for (std::string_view bad :
       {"", "(", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ",
        "(\"a NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        "({5}\r\nab NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        "(NIL NIL () NIL NIL NIL NIL NIL NIL NIL)",
        "(NIL NIL ((NIL NIL \"a\")) NIL NIL NIL NIL NIL NIL NIL)"}) {
    EXPECT_FALSE(read_envelope(bad)) << bad;
  }
  EXPECT_TRUE(read_envelope("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"));
}

// RFC 5051 §2: titlecase, then NFKD; keys compare as octets.
TEST(UnicodeCasemap, TitlecasesAndDecomposes) {
  EXPECT_EQ(unicode_casemap("Hello world_1"), "HELLO WORLD_1");
  EXPECT_EQ(unicode_casemap("\xC3\xA4pfel"), unicode_casemap("\xC3\x84PFEL"));  // äpfel, ÄPFEL
  EXPECT_EQ(unicode_casemap("\xC3\x84"), "A\xCC\x88");  // Ä: A + combining diaeresis
  // The ligature "fi" has no simple titlecase, so NFKD decomposes it after the
  // titlecase step: lower-case "fi", as RFC 5051's order of steps gives.
  EXPECT_EQ(unicode_casemap("\xEF\xAC\x81"), "fi");
  // Titlecase, not lower case: "_" (0x5F) sorts after "A" (0x41).
  EXPECT_LT(unicode_casemap("apple"), unicode_casemap("_under"));
  EXPECT_EQ(unicode_casemap("\xFF"), "\xEF\xBF\xBD");  // ill-formed: U+FFFD
}

TEST(BodyStructure, SinglePartTextHasDefaultCharsetLinesAndExtensionData) {
  const Facts f = compute_facts(kSimple);
  EXPECT_EQ(f.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 2)");
  EXPECT_EQ(f.bodystructure,
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 2 NIL NIL NIL "
            "NIL)");
  EXPECT_EQ(f.size, kSimple.size());
}

const std::string kNested =
    "From: a@b.test\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Language: en, fr\r\n"
    "Content-Location: http://x.test/a\r\n"
    "\r\n"
    "PHA+SGk8L3A+\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Disposition: attachment; filename=\"m.eml\"\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "From: c@d.test\r\n"
    "\r\n"
    "inner body\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: x-custom\r\n"
    "\r\n"
    "zzz\r\n"
    "--XX--\r\n";

TEST(BodyStructure, MultipartWithNestedMessageAndExtensionData) {
  const Facts f = compute_facts(kNested);
  EXPECT_EQ(f.bodystructure,
            "((\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 12 0 NIL NIL "
            "(\"en\" \"fr\") \"http://x.test/a\")"
            "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 44 "
            "(NIL \"inner\" ((NIL NIL \"c\" \"d.test\")) ((NIL NIL \"c\" \"d.test\")) "
            "((NIL NIL \"c\" \"d.test\")) NIL NIL NIL NIL NIL) "
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL "
            "NIL) 3 NIL (\"attachment\" (\"filename\" \"m.eml\")) NIL NIL)"
            "(\"application\" \"octet-stream\" NIL NIL NIL \"x-custom\" 3 NIL NIL NIL NIL) "
            "\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)");
  EXPECT_EQ(f.body.substr(0, 68),
            "((\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 12 0)(\"message\"");
}

TEST(BodyStructure, EmptyMultipartShowsOneEmptyTextPart) {
  const Facts f = compute_facts("Content-Type: multipart/mixed; boundary=b\r\n\r\nnothing\r\n");
  EXPECT_EQ(f.body.substr(0, 68),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")");
}

TEST(Section, ResolvesPartsHeadersTextAndMimeOfNestedMessages) {
  const Facts f = compute_facts(kNested);
  EXPECT_EQ(section(kNested, f, "1"), "PHA+SGk8L3A+");
  EXPECT_EQ(section(kNested, f, "1.MIME"),
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Language: en, fr\r\nContent-Location: http://x.test/a\r\n\r\n");
  EXPECT_EQ(section(kNested, f, "2.HEADER"), "Subject: inner\r\nFrom: c@d.test\r\n\r\n");
  EXPECT_EQ(section(kNested, f, "2.TEXT"), "inner body");
  EXPECT_EQ(section(kNested, f, "2.1"), "inner body");
  EXPECT_EQ(section(kNested, f, "2.HEADER.FIELDS (FROM)"), "From: c@d.test\r\n\r\n");
  EXPECT_EQ(section(kNested, f, "HEADER.FIELDS.NOT (CONTENT-TYPE)"), "From: a@b.test\r\n\r\n");
  EXPECT_EQ(section(kNested, f, "header.fields (\"From\" Content-Type)"),
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n");
  EXPECT_EQ(section(kNested, f, ""), kNested);
  EXPECT_EQ(section(kNested, f, "4"), "<error:no such part>");
  EXPECT_EQ(section(kNested, f, "1.2"), "<error:no such part>");
}

TEST(Section, KeepsFoldingOfSelectedFields) {
  const Facts f = compute_facts(kSimple);
  EXPECT_EQ(section(kSimple, f, "HEADER.FIELDS (SUBJECT)"), "Subject: Hello\r\n folded\r\n\r\n");
  EXPECT_EQ(section(kSimple, f, "1"), "Hi there.\r\nBye.\r\n");
  EXPECT_EQ(section(kSimple, f, "TEXT"), "Hi there.\r\nBye.\r\n");
}

TEST(Section, RejectsMalformedSpecifiers) {
  for (std::string_view bad : {"0", "1.", ".1", "1..2", "MIME", "HEADER.FIELDS", "HEADER.FIELDS ()",
                               "HEADER.FIELDS (A", "TEXTX", "1.BOGUS", "HEADER.FIELDS (A )"}) {
    EXPECT_FALSE(parse_section(bad)) << bad;
  }
  EXPECT_EQ(parse_section("1.2.mime")->text, SectionText::kMime);
  EXPECT_EQ(parse_section("3.HEADER.FIELDS.NOT (a b)")->fields,
            (std::vector<std::string>{"A", "B"}));
}

TEST(Section, PartialClipsToTheOctetsPresent) {
  EXPECT_EQ(partial("0123456789", 2, 3), "234");
  EXPECT_EQ(partial("0123456789", 8, 30), "89");
  EXPECT_EQ(partial("0123456789", 10, 1), "");
  EXPECT_EQ(partial("0123456789", 3, std::nullopt), "3456789");
}

TEST(Binary, DecodesTransferEncodingAndRefusesUnknownEncodings) {
  const Facts f = compute_facts(kNested);
  EXPECT_EQ(*binary_section(kNested, f, {1}), "<p>Hi</p>");
  EXPECT_EQ(*binary_size(f, {1}), 9u);
  EXPECT_EQ(binary_section(kNested, f, {3}).error().message, "unknown-cte");
  EXPECT_EQ(binary_size(f, {3}).error().code, ErrorCode::kPermanent);
  EXPECT_EQ(*binary_size(f, {}), kNested.size());
}

TEST(Preview, TakesTheFirstTextPartConvertsHtmlAndCollapsesWhitespace) {
  EXPECT_EQ(compute_facts(kNested).preview, "Hi");
  EXPECT_EQ(compute_facts(kSimple).preview, "Hi there. Bye.");
  const std::string html =
      "Content-Type: text/html\r\n\r\n<html><head><title>T</title><style>p{}</style></head>"
      "<body><p>Caf&eacute; &amp; &#x263A;</p><script>x()</script>&bogus; end</body>\r\n";
  EXPECT_EQ(compute_facts(html).preview, "Caf\xc3\xa9 & \xe2\x98\xba &bogus; end");
}

TEST(Preview, HoldsAtMost200Characters) {
  std::string body;
  for (int i = 0; i < 200; ++i) {
    body += "\xc3\xa9 ";  // two characters each: é and a space
  }
  const Facts f = compute_facts("Content-Type: text/plain; charset=utf-8\r\n\r\n" + body);
  std::size_t chars = 0;
  for (char c : f.preview) {
    chars += (static_cast<unsigned char>(c) & 0xc0u) != 0x80 ? 1 : 0;
  }
  EXPECT_EQ(chars, 199u);  // 100 é and 99 spaces: the 200th would be a trailing space
  EXPECT_EQ(f.preview.substr(0, 5), "\xc3\xa9 \xc3\xa9");
}

// As Dovecot's previews: quoted lines are older text; an attached message is
// someone else's; any text/* subtype is text.
TEST(Preview, LeavesOutQuotedLinesAndAttachedMessages) {
  EXPECT_EQ(compute_facts("Subject: re\r\n\r\nAnna wrote:\r\n> old\r\n>> older\r\n"
                          "new text\r\n > not a quote\r\n")
                .preview,
            "Anna wrote: new text > not a quote");
  EXPECT_EQ(
      compute_facts("Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n").preview,
      "");
  EXPECT_EQ(compute_facts("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                          "Content-Type: text/x-log\r\n\r\nlog line\r\n--b--\r\n")
                .preview,
            "log line");
}

TEST(SearchText, IncludesEveryTextPartAndAttachmentNames) {
  const std::string text = extract_search_text(parse_message(kNested));
  EXPECT_NE(text.find("Hi"), std::string::npos);
  EXPECT_NE(text.find("inner body"), std::string::npos);
  EXPECT_NE(text.find("m.eml"), std::string::npos) << text;
}

TEST(HtmlToText, EndsLinesAtBlocksAndSurvivesBrokenMarkup) {
  EXPECT_EQ(html_to_text("<div>a</div><div>b<br>c</div>"), "a\nb\nc");
  EXPECT_EQ(html_to_text("x <!-- hidden --> y"), "x y");
  EXPECT_EQ(html_to_text("a <b"), "a");
  EXPECT_EQ(html_to_text("&#1114112;&#;&"), "\xef\xbf\xbd&#;&");
}

TEST(Codec, RoundTripsExactly) {
  for (const std::string* m : {&kSimple, &kNested}) {
    const Facts f = compute_facts(*m);
    auto back = decode_facts(encode_facts(f));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, f);
  }
}

TEST(Codec, EveryTruncationAndBitFlipIsCorrupt) {
  const std::string enc = encode_facts(compute_facts(kNested));
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto r = decode_facts(enc.substr(0, n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  }
  for (std::size_t i = 0; i < enc.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = enc;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(decode_facts(bad)) << i << ":" << bit;
    }
  }
}

TEST(Codec, ReadsVersionOneRecordsWithoutSearchFields) {
  // A version-1 record is a version-3 one without the two search strings and the
  // order keys.
  Facts f = compute_facts(kNested);
  f.search_headers.clear();
  f.search_text.clear();
  f.order.clear();
  std::string v3 = encode_facts(f);
  std::string body = v3.substr(0, v3.size() - 4 - 3);  // CRC, three empty strings
  body[2] = 1;
  auto v1 = decode_facts(seal_facts_record_for_test(body));
  ASSERT_TRUE(v1) << v1.error().message;
  EXPECT_FALSE(v1->has_search);
  EXPECT_FALSE(v1->has_order);
  f.has_search = false;
  f.has_order = false;
  EXPECT_EQ(*v1, f);
  // The current version carries them.
  auto current = decode_facts(encode_facts(compute_facts(kNested)));
  ASSERT_TRUE(current);
  EXPECT_TRUE(current->has_search);
  EXPECT_EQ(*current, compute_facts(kNested));
  // Without the search fields: the rest is the same, the strings are not copied.
  auto lean = decode_facts(encode_facts(compute_facts(kNested)), false);
  ASSERT_TRUE(lean);
  Facts expected = compute_facts(kNested);
  expected.search_headers.clear();
  expected.search_text.clear();
  EXPECT_EQ(*lean, expected);
  std::string truncated = encode_facts(compute_facts(kNested));
  truncated = seal_facts_record_for_test(truncated.substr(0, truncated.size() - 6));
  EXPECT_FALSE(decode_facts(truncated, false));
}

TEST(Codec, ReadsVersionTwoRecordsWithoutOrderKeys) {
  // A version-2 record is a version-3 one without the order keys.
  Facts f = compute_facts(kNested);
  ASSERT_TRUE(f.has_order);
  EXPECT_FALSE(f.order.empty());
  f.order.clear();
  std::string v3 = encode_facts(f);
  std::string body = v3.substr(0, v3.size() - 4 - 1);  // CRC, an empty string
  body[2] = 2;
  auto v2 = decode_facts(seal_facts_record_for_test(body));
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_TRUE(v2->has_search);
  EXPECT_FALSE(v2->has_order);
  f.has_order = false;
  EXPECT_EQ(*v2, f);
  auto split = split_facts(seal_facts_record_for_test(body));
  ASSERT_TRUE(split);
  EXPECT_TRUE(split->has_search);
  EXPECT_FALSE(split->has_order);
  EXPECT_TRUE(split->order.empty());
}

TEST(Codec, SplitKeepsTheRecordWithoutSearchFieldsAndThePartsApart) {
  const Facts f = compute_facts(kNested);
  auto split = split_facts(encode_facts(f));
  ASSERT_TRUE(split) << split.error().message;
  EXPECT_TRUE(split->has_search);
  EXPECT_EQ(split->envelope, f.envelope);
  EXPECT_EQ(split->search_headers, f.search_headers);
  EXPECT_EQ(split->search_text, f.search_text);
  EXPECT_FALSE(split->search_text.empty());
  EXPECT_TRUE(split->has_order);
  EXPECT_EQ(split->order, f.order);
  // The remaining record is version 1: everything else, byte for byte.
  EXPECT_EQ(split->record[2], 1);
  auto rest = decode_facts(split->record);
  ASSERT_TRUE(rest) << rest.error().message;
  Facts expected = f;
  expected.search_headers.clear();
  expected.search_text.clear();
  expected.has_search = false;
  expected.order.clear();
  expected.has_order = false;
  EXPECT_EQ(*rest, expected);
  // A version 1 record splits into itself and an envelope; corrupt bytes refuse.
  auto again = split_facts(split->record);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_search);
  EXPECT_EQ(again->record, split->record);
  EXPECT_EQ(again->envelope, f.envelope);
  EXPECT_TRUE(again->search_text.empty());
  EXPECT_FALSE(again->has_order);
  auto bad = split_facts("facts:opaque");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kCorrupt);
}

TEST(SearchFields, DecodedHeadersAndTextPartsCaseFolded) {
  const std::string raw =
      "From: =?ISO-8859-1?Q?J=F6rg?= <j@example.org>\r\n"
      "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n =?UTF-8?Q?_aus_K=C3=B6ln?=\r\n"
      "X-Tag: MiXeD\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\nSCH=D6NE Stra=DFe\r\n"
      "--b\r\nContent-Type: text/html; charset=utf-8\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nPHA+SMOkbGxvPC9wPg==\r\n--b--\r\n";
  Facts f = compute_facts(raw);
  EXPECT_TRUE(f.has_search);
  EXPECT_NE(f.search_headers.find("from:j\xc3\xb6rg <j@example.org>\n"), std::string::npos)
      << f.search_headers;
  EXPECT_NE(f.search_headers.find("subject:gr\xc3\xbcsse aus k\xc3\xb6ln\n"), std::string::npos)
      << f.search_headers;
  EXPECT_NE(f.search_headers.find("x-tag:mixed\n"), std::string::npos);
  // QP in ISO-8859-1 and base64 HTML, converted, tags dropped, folded.
  EXPECT_NE(f.search_text.find("sch\xc3\xb6ne strasse"), std::string::npos) << f.search_text;
  EXPECT_NE(f.search_text.find("h\xc3\xa4llo"), std::string::npos) << f.search_text;
  EXPECT_EQ(fold_case("STRASSE"), fold_case("Stra\xc3\x9f"
                                            "e"));
  EXPECT_EQ(fold_case("ABC def"), "abc def");
}

TEST(Codec, RefusesOtherVersionsAndInconsistentTreesEvenWithAValidChecksum) {
  std::string enc = encode_facts(compute_facts(kSimple));
  enc[2] = 4;
  EXPECT_EQ(decode_facts(enc).error().message, "facts record: unknown version 4");
  enc[2] = 0;
  EXPECT_EQ(decode_facts(enc).error().message, "facts record: unknown version 0");
  // A part that lies outside the message, re-encoded with a correct checksum.
  Facts f = compute_facts(kSimple);
  f.parts[0].body_end = f.size + 1;
  EXPECT_EQ(decode_facts(encode_facts(f)).error().code, ErrorCode::kCorrupt);
  Facts orphan = compute_facts(kNested);
  orphan.parts[1].parent = 3;
  EXPECT_FALSE(decode_facts(encode_facts(orphan)));
}

}  // namespace
}  // namespace tern::mime::facts

namespace tern::mime::facts {
namespace {

TEST(Section, TopLevelMessageRfc822NumbersContinueInsideTheEncapsulatedMessage) {
  const std::string raw =
      "Content-Type: message/rfc822\r\n\r\n"
      "Subject: inner\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
  const Facts f = compute_facts(raw);
  EXPECT_EQ(section(raw, f, "1").substr(0, 15), "Subject: inner\r");
  EXPECT_EQ(section(raw, f, "1.2"), "two");
  EXPECT_EQ(section(raw, f, "1.1.MIME"), "\r\n");
  EXPECT_EQ(section(raw, f, "2"), "<error:no such part>");
}

TEST(Envelope, EncodedMessageRfc822KeepsTheMessageGrammarAndMissingPartsArePlaceholders) {
  const Facts f = compute_facts(
      "From: postmaster\r\nContent-Type: message/rfc822\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n");
  EXPECT_EQ(f.body,
            "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL NIL NIL "
            "NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1)");
  EXPECT_NE(f.envelope.find("((NIL NIL \"postmaster\" \"MISSING_DOMAIN\"))"), std::string::npos)
      << f.envelope;
}

}  // namespace
}  // namespace tern::mime::facts
