// SPDX-License-Identifier: Apache-2.0
#include "mime/header.hpp"

#include <gtest/gtest.h>

#include "base/civil_date.hpp"
#include "mime/charset.hpp"
#include "mime/transfer.hpp"

namespace tern::mime {
namespace {

TEST(MimeUnfold, RemovesLineEndsBeforeWhitespaceAndTrims) {
  EXPECT_EQ(unfold(" a\r\n b\n\tc "), "a b\tc");
  EXPECT_EQ(unfold(""), "");
}

TEST(MimeWords, DecodesBAndQWords) {
  EXPECT_EQ(decode_words("=?UTF-8?B?w6k=?="), "\xc3\xa9");
  EXPECT_EQ(decode_words("=?iso-8859-1?q?caf=E9_au_lait?="), "caf\xc3\xa9 au lait");
  EXPECT_EQ(decode_words("=?utf-8?Q?a?= b"), "a b");
}

TEST(MimeWords, DropsWhitespaceBetweenAdjacentWordsOnly) {
  // RFC 2047 §8 examples.
  EXPECT_EQ(decode_words("(=?ISO-8859-1?Q?a?= b)"), "(a b)");
  EXPECT_EQ(decode_words("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(decode_words("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(decode_words("=?ISO-8859-1?Q?a_b?="), "a b");
  EXPECT_EQ(decode_words("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
}

TEST(MimeWords, JoinsMultibyteCharactersSplitAcrossWords) {
  // "日本" in UTF-8 is E6 97 A5 E6 9C AC; split inside the first character.
  EXPECT_EQ(decode_words("=?utf-8?B?5pc=?= =?utf-8?B?peacrA==?="), "\xe6\x97\xa5\xe6\x9c\xac");
}

TEST(MimeWords, DecodesBrokenButCommonForms) {
  // Inside a quoted string, glued to text, without spaces between words.
  EXPECT_EQ(decode_words("\"=?iso-8859-1?q?Andr=E9?=\" <a@b>"), "\"Andr\xc3\xa9\" <a@b>");
  EXPECT_EQ(decode_words("x=?utf-8?q?y?=z"), "xyz");
  EXPECT_EQ(decode_words("=?utf-8?q?a?==?utf-8?q?b?="), "ab");
  // Language suffix (RFC 2231 §5), lower-case encoding letter, spaces in Q text.
  EXPECT_EQ(decode_words("=?utf-8*en?q?hi there?="), "hi there");
}

TEST(MimeWords, MalformedWordsStayLiteral) {
  EXPECT_EQ(decode_words("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
  EXPECT_EQ(decode_words("=?utf-8?q?unterminated"), "=?utf-8?q?unterminated");
  EXPECT_EQ(decode_words("a =? b"), "a =? b");
}

TEST(MimeWords, UnknownCharsetAndRawEightBitNeverFail) {
  std::string out = decode_words("=?x-unknown?q?caf=E9?= \xff raw");
  EXPECT_TRUE(is_utf8(out));
  EXPECT_EQ(out, "caf\xc3\xa9 \xc3\xbf raw");  // windows-1252 reading of the bytes
  EXPECT_EQ(decode_words("UTF-8 header \xc3\xa9"), "UTF-8 header \xc3\xa9");  // RFC 6532
  EXPECT_EQ(decode_words("\xe9t\xe9", "iso-8859-1"), "\xc3\xa9t\xc3\xa9");
}

TEST(MimeWords, InputFullOfOpenersDecodesInLinearTime) {
  // Quadratic scanning would take minutes here (and trip the ctest timeout).
  std::string opener;
  for (int i = 0; i < 200000; ++i) {
    opener += "=?a?q?x";
  }
  EXPECT_EQ(decode_words(opener), opener);
  std::string params = "x/y";
  for (int i = 0; i < 100000; ++i) {
    params += "; p" + std::to_string(i) + "*" + std::to_string(i % 7) + "=v";
  }
  StructuredValue v = parse_structured(params);
  EXPECT_LE(v.params.size(), 128u);
}

TEST(MimeWords, EncodesOnlyWhenNeededAndRoundTrips) {
  EXPECT_EQ(encode_words("plain ascii"), "plain ascii");
  std::string encoded = encode_words("Re: caf\xc3\xa9 menu");
  EXPECT_EQ(encoded, "Re: =?UTF-8?Q?caf=C3=A9?= menu");
  EXPECT_EQ(decode_words(encoded), "Re: caf\xc3\xa9 menu");
  std::string two = encode_words("\xc3\xa9  \t \xc3\xa9 x");
  EXPECT_EQ(decode_words(two), "\xc3\xa9  \t \xc3\xa9 x");
  std::string looks_encoded = encode_words("=?utf-8?q?x?=");
  EXPECT_EQ(decode_words(looks_encoded), "=?utf-8?q?x?=");
}

TEST(MimeWords, LongTextBecomesWordsOfAtMost75Characters) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "\xe6\x97\xa5";
  }
  std::string encoded = encode_words(text);
  std::size_t start = 0;
  while (start < encoded.size()) {
    std::size_t sp = encoded.find(' ', start);
    std::size_t end = sp == std::string::npos ? encoded.size() : sp;
    EXPECT_LE(end - start, 75u);
    start = end + 1;
  }
  EXPECT_EQ(decode_words(encoded), text);
  EXPECT_EQ(encoded.substr(0, 10), "=?UTF-8?B?");  // B is much shorter for CJK
}

TEST(MimeParams, ParsesContentTypeWithQuotedAndCommentedParameters) {
  ContentType ct;
  ASSERT_TRUE(parse_content_type(
      " Text/HTML (comment) ; charset = \"UTF-8\" ; name=\"a \\\"b\\\".htm\"; format=flowed", ct));
  EXPECT_EQ(ct.type, "text");
  EXPECT_EQ(ct.subtype, "html");
  EXPECT_EQ(*ct.param("CHARSET"), "UTF-8");
  EXPECT_EQ(*ct.param("name"), "a \"b\".htm");
  EXPECT_EQ(*ct.param("format"), "flowed");
  EXPECT_TRUE(ct.from_header);
}

TEST(MimeParams, UnusableContentTypeKeepsTheDefault) {
  ContentType ct;
  EXPECT_FALSE(parse_content_type("text", ct));
  EXPECT_FALSE(parse_content_type("/plain", ct));
  EXPECT_FALSE(parse_content_type("", ct));
  EXPECT_TRUE(ct.is("text", "plain"));
  EXPECT_FALSE(ct.from_header);
}

TEST(MimeParams, JoinsRfc2231ContinuationsWithCharsets) {
  // RFC 2231 §4.1 example, and segments out of order mixed with plain ones.
  StructuredValue v = parse_structured(
      "attachment; title*2=\"three\"; title*0*=us-ascii'en'This%20is%20even%20more%20; "
      "title*1*=%2A%2A%2Afun%2A%2A%2A%20; size=10");
  EXPECT_EQ(v.value, "attachment");
  ASSERT_EQ(v.params.size(), 2u);
  EXPECT_EQ(v.params[0].name, "title");
  EXPECT_EQ(v.params[0].value, "This is even more ***fun*** three");
  EXPECT_EQ(v.params[0].charset, "us-ascii");
  EXPECT_EQ(v.params[0].language, "en");
  EXPECT_EQ(v.params[1].value, "10");

  StructuredValue euro = parse_structured("inline; filename*=iso-8859-15''%A4uro.txt");
  EXPECT_EQ(euro.params[0].value,
            "\xe2\x82\xac"
            "uro.txt");
}

TEST(MimeParams, ExtendedFormWinsAndEncodedWordsInQuotesAreDecoded) {
  StructuredValue v =
      parse_structured("attachment; filename=\"fallback.txt\"; filename*=utf-8''%C3%A9.txt");
  ASSERT_EQ(v.params.size(), 1u);
  EXPECT_EQ(v.params[0].value, "\xc3\xa9.txt");
  StructuredValue w = parse_structured("attachment; filename=\"=?utf-8?B?w6kudHh0?=\"");
  EXPECT_EQ(w.params[0].value, "\xc3\xa9.txt");
  StructuredValue raw8 = parse_structured("attachment; filename=\"caf\xc3\xa9.txt\"");
  EXPECT_EQ(raw8.params[0].value, "caf\xc3\xa9.txt");  // RFC 6532 UTF-8
}

TEST(MimeParams, LenientWithBrokenSyntax) {
  StructuredValue v = parse_structured("multipart/mixed boundary=\"abc\";; name=a b.pdf ;x");
  EXPECT_EQ(v.value, "multipart/mixed");
  ASSERT_EQ(v.params.size(), 2u);
  EXPECT_EQ(v.params[0].value, "abc");
  EXPECT_EQ(v.params[1].value, "a b.pdf");
  StructuredValue unterminated = parse_structured("text/plain; charset=\"utf-8");
  EXPECT_EQ(unterminated.params[0].value, "utf-8");
}

TEST(MimeParams, UnquotedValuesStopAtFoldsAndAtTheNextParameter) {
  // RFC 2045 §5.1: a token ends at whitespace; a folded line or "name=" after a
  // blank is the next parameter with its ';' missing (seen in message/external-body).
  StructuredValue folded =
      parse_structured("message/external-body; access-type=mail-server\r\n server=a@b.example");
  ASSERT_EQ(folded.params.size(), 2u);
  EXPECT_EQ(folded.params[0].value, "mail-server");
  EXPECT_EQ(folded.params[1].name, "server");
  EXPECT_EQ(folded.params[1].value, "a@b.example");
  StructuredValue same_line = parse_structured("a/b; x=1 y=2; z=a b.pdf");
  ASSERT_EQ(same_line.params.size(), 3u);
  EXPECT_EQ(same_line.params[0].value, "1");
  EXPECT_EQ(same_line.params[1].value, "2");
  EXPECT_EQ(same_line.params[2].value, "a b.pdf");
}

TEST(MimeParams, ParsesTransferEncodings) {
  EXPECT_EQ(parse_transfer_encoding(" Quoted-Printable"), TransferEncoding::kQuotedPrintable);
  EXPECT_EQ(parse_transfer_encoding("base64 "), TransferEncoding::kBase64);
  EXPECT_EQ(parse_transfer_encoding("(c) 8BIT"), TransferEncoding::k8Bit);
  EXPECT_EQ(parse_transfer_encoding(""), TransferEncoding::k7Bit);
  EXPECT_EQ(parse_transfer_encoding("x-uuencode"), TransferEncoding::kUuencode);
  EXPECT_EQ(parse_transfer_encoding("x-gzip64"), TransferEncoding::kUnknown);
}

struct CharsetCase {
  const char* charset;
  std::string bytes;
  std::string utf8;
};

TEST(MimeCharset, ConvertsTheCharsetsDovecotHandles) {
  const CharsetCase cases[] = {
      {"ISO-8859-1", "caf\xe9", "caf\xc3\xa9"},
      {"latin1", "\xe9", "\xc3\xa9"},
      {"iso-8859-2", "\xb1", "\xc4\x85"},
      {"ISO-8859-15", "\xa4", "\xe2\x82\xac"},
      {"windows-1252", "\x80", "\xe2\x82\xac"},
      {"cp1251", "\xc0", "\xd0\x90"},
      {"windows-1250", "\x8a", "\xc5\xa0"},
      {"KOI8-R", "\xe1", "\xd0\x90"},
      {"koi8-u", "\xa4", "\xd1\x94"},
      {"gb2312", "\xc4\xe3", "\xe4\xbd\xa0"},
      {"GBK", "\x81\x40", "\xe4\xb8\x82"},
      {"gb18030", "\x81\x30\x81\x30", "\xc2\x80"},
      {"big5", "\xa4\x40", "\xe4\xb8\x80"},
      {"Shift_JIS", "\x82\xa0", "\xe3\x81\x82"},
      {"sjis", "\x82\xa0", "\xe3\x81\x82"},
      {"EUC-JP", "\xa4\xa2", "\xe3\x81\x82"},
      {"euc-kr", "\xb0\xa1", "\xea\xb0\x80"},
      {"ks_c_5601-1987", "\xb0\xa1", "\xea\xb0\x80"},
      {"ISO-2022-JP", "\x1b$B$\"\x1b(B", "\xe3\x81\x82"},
      {"utf-7", "+AOk-", "\xc3\xa9"},
      {"UTF-16BE", std::string("\x00\xe9", 2), "\xc3\xa9"},
      {"utf-16", std::string("\xff\xfe\xe9\x00", 4), "\xc3\xa9"},
      {"UTF-32LE", std::string("\xe9\x00\x00\x00", 4), "\xc3\xa9"},
      {"\"utf-8\"", "\xc3\xa9", "\xc3\xa9"},
      {"us-ascii", "plain", "plain"},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(charset_known(c.charset)) << c.charset;
    EXPECT_EQ(to_utf8(c.bytes, c.charset), c.utf8) << c.charset;
  }
}

TEST(MimeCharset, InvalidBytesAreReplacedNeverAnError) {
  EXPECT_EQ(to_utf8("a\xff"
                    "b",
                    "utf-8"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(to_utf8("\x82", "shift_jis"), "\xef\xbf\xbd");
  EXPECT_FALSE(charset_known("x-nonexistent"));
  EXPECT_FALSE(charset_known("utf-8,swaplfnl"));  // ICU options never reach ICU
  EXPECT_EQ(to_utf8("caf\xe9", "x-nonexistent"), "caf\xc3\xa9");
  EXPECT_TRUE(is_utf8(to_utf8(std::string("\xd8\x00", 2), "utf-16be")));
}

TEST(MimeDate, ParsesRfc5322DatesAndTheObsoleteForms) {
  auto d = parse_date_time("Mon, 6 Nov 2023 23:30:05 -0800");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->year, 2023);
  EXPECT_EQ(d->month, 11);
  EXPECT_EQ(d->day, 6);
  EXPECT_TRUE(d->has_time);
  EXPECT_EQ(d->zone_minutes, -480);
  // RFC 5256 §2.2: "31 Dec 2000 16:01:33 -0800" is 1 Jan 2001 00:01:33 UTC.
  EXPECT_EQ(parse_date_time("31 Dec 2000 16:01:33 -0800")->unix_seconds(), 978307293);
  EXPECT_EQ(parse_date_time("Wed, 08 Nov 23 12:00 EST")->unix_seconds(),
            parse_date_time("8 Nov 2023 17:00:00 +0000")->unix_seconds());
  EXPECT_EQ(parse_date_time("1 Jan 99 00:00 GMT")->year, 1999);
  EXPECT_EQ(parse_date_time("1 Jan 101 00:00 GMT")->year, 2001);  // RFC 5322 §4.3
  EXPECT_EQ(parse_date_time("(comment) Fri (x) 1 (y) Jan 2021 10:00:00 (z) +0100")->hour, 10);
  EXPECT_EQ(parse_date_time("Fri 1 jan 2021 10:00:00 Z")->zone_minutes, 0);  // no comma
  // A time or zone that cannot be read is left out; the date stays.
  auto no_time = parse_date_time("Thu, 9 Nov 2023 25:00:00 +0200");
  ASSERT_TRUE(no_time);
  EXPECT_FALSE(no_time->has_time);
  EXPECT_EQ(no_time->unix_seconds(), days_from_civil(2023, 11, 9) * 86400);
  EXPECT_EQ(parse_date_time("Thu, 9 Nov 2023 10:00:00 (no zone)")->zone_minutes, 0);
  EXPECT_EQ(parse_date_time("Thu, 9 Nov 2023 10:00:00 +2")->zone_minutes, 0);
  for (std::string_view bad :
       {"", "not a date at all", "32 Jan 2020", "1 Foo 2020", "Mon, 1 Jan", "1 Jan 20201 10:00"}) {
    EXPECT_FALSE(parse_date_time(bad)) << bad;
  }
}

// RFC 5322 §3.6.4, normalized as RFC 5256 §3 asks.
TEST(MimeMessageIds, ReadsEveryIdInOrderAndNormalizesQuoting) {
  EXPECT_EQ(message_ids("<a@x> (comment) <\"01KF.8\"@y.z>\r\n <c@w>"),
            (std::vector<std::string>{"a@x", "01KF.8@y.z", "c@w"}));
  EXPECT_EQ(message_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"),
            message_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>"));
  EXPECT_EQ(message_ids("Your message of Monday <a@x>"), (std::vector<std::string>{"a@x"}));
  EXPECT_EQ(message_ids("<no-at-sign> <two words> <> <unclosed"),
            (std::vector<std::string>{"no-at-sign"}));
  EXPECT_EQ(message_ids("<a\r\n @x>"), (std::vector<std::string>{"a@x"}));
  EXPECT_EQ(message_ids("<1@x><2@x><3@x>", 2), (std::vector<std::string>{"2@x", "3@x"}));
  EXPECT_TRUE(message_ids("").empty());
}

// RFC 5256 §2.1.
TEST(MimeBaseSubject, StripsReplyAndForwardArtifacts) {
  EXPECT_EQ(base_subject("Re: [tern-dev] Fwd: release plan (fwd)"), "release plan");
  EXPECT_EQ(base_subject("[fwd: Re: Release Plan]"), "Release Plan");
  EXPECT_EQ(base_subject("RE:  re:\tRelease   Plan  "), "Release Plan");
  EXPECT_EQ(base_subject("Fw: [list] [tag] budget"), "budget");
  EXPECT_EQ(base_subject("Re [x]: budget"), "budget");    // subj-refwd with a blob
  EXPECT_EQ(base_subject("[only blob]"), "[only blob]");  // a blob that is all there is
  EXPECT_EQ(base_subject("Re: Re: Fwd: [a] [b]"), "[b]");
  EXPECT_EQ(base_subject("[fwd: [fwd: x] (fwd)]"), "x");
  EXPECT_EQ(base_subject("Reply to all"), "Reply to all");  // "re" needs its ":"
  EXPECT_EQ(base_subject("Fwd:"), "");
  EXPECT_EQ(base_subject(""), "");
  EXPECT_EQ(base_subject("[unclosed re: x"), "[unclosed re: x");
  EXPECT_EQ(base_subject("[a] [b] [c]"), "[c]");
  // Many blobs cost one pass, not one pass per blob (quadratic before: 600 KB of
  // "[x]" in one Subject).
  std::string blobs;
  for (int i = 0; i < 200000; ++i) {
    blobs += "[x]";
  }
  EXPECT_EQ(base_subject(blobs + " tail"), "tail");
  EXPECT_EQ(base_subject(blobs), "[x]");
  bool reply = true;
  EXPECT_EQ(base_subject(" [list]  plain", &reply), "plain");
  EXPECT_FALSE(reply);  // blanks and blobs are not reply markers
  for (std::string_view marked : {"Re: x", "x (fwd)", "[fwd: x]", "[a] fw: x"}) {
    reply = false;
    base_subject(marked, &reply);
    EXPECT_TRUE(reply) << marked;
  }
}

TEST(MimeCharset, ValidatesUtf8Strictly) {
  EXPECT_TRUE(is_utf8("\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(sanitize_utf8("a\xe6\x97"), "a\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(MimeTransfer, DecodesBase64Leniently) {
  EXPECT_EQ(decode_base64("aGVs\r\nbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");  // missing padding
  EXPECT_EQ(decode_base64("a G!V*s\tbG8=junk"), "hello");
  EXPECT_EQ(decode_base64(""), "");
}

TEST(MimeTransfer, DecodesQuotedPrintableLeniently) {
  EXPECT_EQ(decode_quoted_printable("a=3Db=3db"), "a=b=b");
  EXPECT_EQ(decode_quoted_printable("soft=\r\nbreak=  \nend"), "softbreakend");
  EXPECT_EQ(decode_quoted_printable("bad =ZZ =4"), "bad =ZZ =4");
  EXPECT_EQ(decode_quoted_printable("trailing  \r\nline\t\n"), "trailing\r\nline\n");
  EXPECT_EQ(decode_quoted_printable("end="), "end");
}

TEST(MimeTransfer, DecodesUuencode) {
  EXPECT_EQ(decode_uuencode("junk\nbegin 644 f.txt\n#86)C\n`\nend\n"), "abc");
}

TEST(MimeTransfer, EncodersRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) {
    bytes.push_back(static_cast<char>(i * 7));
  }
  std::string b64 = encode_base64(bytes);
  EXPECT_EQ(b64.substr(76, 2), "\r\n");
  EXPECT_EQ(decode_base64(b64), bytes);
  EXPECT_EQ(encode_base64("hi"), "aGk=\r\n");

  std::string text = "From here.\r\n.dot line = x \r\n" + std::string(200, 'y') + "\r\ncaf\xc3\xa9";
  std::string qp = encode_quoted_printable(text);
  EXPECT_EQ(qp.substr(0, 8), "=46rom h");
  EXPECT_NE(qp.find("\r\n=2Edot line =3D x=20\r\n"), std::string::npos);
  EXPECT_EQ(decode_quoted_printable(qp), text);
}

}  // namespace
}  // namespace tern::mime
