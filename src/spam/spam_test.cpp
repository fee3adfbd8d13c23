// SPDX-License-Identifier: Apache-2.0
#include "spam/spam.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tern::spam {
namespace {

using ::testing::Contains;
using ::testing::Not;

std::vector<std::string> texts(const std::vector<Token>& tokens) {
  std::vector<std::string> out;
  for (const Token& t : tokens) {
    out.push_back(t.text);
  }
  return out;
}

std::vector<std::string> tokens_of(std::string_view raw, const TokenizeLimits& limits = {}) {
  return texts(tokenize(raw, limits));
}

// --- token_hash ----------------------------------------------------------------

TEST(SpamTokenHash, IsSipHash24WithTheReferenceKey) {
  // The SipHash paper's test vectors (key 00..0f, message 00..len-1), read as the
  // little-endian integers the reference implementation writes out.
  std::string message;
  EXPECT_EQ(token_hash(message), 0x726fdb47dd0e0e31ULL);
  message.push_back('\0');
  EXPECT_EQ(token_hash(message), 0x74f839c593dc67fdULL);
  for (char c = 1; c < 8; ++c) {
    message.push_back(c);
  }
  EXPECT_EQ(token_hash(message), 0x93f5f5799a932462ULL);  // one whole block
  for (char c = 8; c < 15; ++c) {
    message.push_back(c);
  }
  EXPECT_EQ(token_hash(message), 0xa129ca6149be45e5ULL);  // a block and 7 bytes
}

TEST(SpamTokenHash, PinnedValuesNeverChange) {
  // Every SpamStore holds these hashes: a different value here means every
  // user's learned counts would be lost.
  EXPECT_EQ(token_hash("viagra"), 0xa9108f8493473af1ULL);
  EXPECT_EQ(token_hash("subject:free"), 0xc97f5522786dc44cULL);
  EXPECT_EQ(token_hash("url:example.com"), 0x641cee7b044daff5ULL);
}

// --- tokenize ------------------------------------------------------------------

TEST(SpamTokenize, SortedByHashDistinctAndHashesMatchTexts) {
  const auto tokens = tokenize(
      "From: A <a@example.org>\r\nSubject: hello hello world\r\n\r\n"
      "hello world hello again world\r\n");
  ASSERT_FALSE(tokens.empty());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(tokens[i].hash, token_hash(tokens[i].text)) << tokens[i].text;
    if (i > 0) {
      EXPECT_LT(tokens[i - 1].hash, tokens[i].hash);
    }
  }
  std::set<std::string> unique;
  for (const auto& text : texts(tokens)) {
    EXPECT_TRUE(unique.insert(text).second) << text;
  }
}

TEST(SpamTokenize, HeaderTokensArePrefixed) {
  const auto tokens = tokens_of(
      "From: =?UTF-8?Q?J=C3=BCrgen_Sales?= <offers@Deals.Example.COM>\r\n"
      "Reply-To: <collect@other.example.net>\r\n"
      "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= FREE money\r\n"
      "Message-ID: <abc.123@mailer.example.com>\r\n"
      "X-Mailer: Microsoft Outlook Express 6.00\r\n"
      "List-Id: <users.lists.example.org>\r\n"
      "In-Reply-To: <x@y>\r\n"
      "\r\n"
      "body\r\n");
  EXPECT_THAT(tokens, Contains("subject:free"));
  EXPECT_THAT(tokens, Contains("subject:money"));
  EXPECT_THAT(tokens, Contains("subject:grüße"));  // RFC 2047 decoded, charset converted
  EXPECT_THAT(tokens, Contains("from-name:jürgen"));
  EXPECT_THAT(tokens, Contains("from-name:sales"));
  EXPECT_THAT(tokens, Contains("from:deals.example.com"));
  EXPECT_THAT(tokens, Contains("reply-to:other.example.net"));
  EXPECT_THAT(tokens, Contains("mid:mailer.example.com"));
  EXPECT_THAT(tokens, Contains("x-mailer:microsoft"));
  EXPECT_THAT(tokens, Contains("has:list-id"));
  EXPECT_THAT(tokens, Contains("has:in-reply-to"));
  EXPECT_THAT(tokens, Contains("ct:none"));
  EXPECT_THAT(tokens, Not(Contains("free")));  // subject words only with their prefix
  EXPECT_THAT(tokens, Not(Contains("has:references")));
}

TEST(SpamTokenize, ReplyToOfTheSenderDomainAndOldStyleFrom) {
  const auto tokens =
      tokens_of("From: bob@example.org (Bob Builder)\r\nReply-To: b@example.org\r\n\r\nhi\r\n");
  EXPECT_THAT(tokens, Contains("from:example.org"));
  EXPECT_THAT(tokens, Contains("from-name:bob"));
  EXPECT_THAT(tokens, Contains("from-name:builder"));
  EXPECT_THAT(tokens, Not(Contains("reply-to:example.org")));
  EXPECT_THAT(tokens, Contains("mid:absent"));
}

TEST(SpamTokenize, HtmlIsStrippedButLinkHostsAndTagsAreTokens) {
  const auto tokens = tokens_of(
      "Content-Type: text/html; charset=utf-8\r\n\r\n"
      "<html><head><style>.hidden { color: white }</style>"
      "<script>var tracking = 1;</script></head><body>"
      "<!-- invisible comment -->"
      "<p>Cheap V<b></b>iagra &amp; more&nbsp;pills</p>"
      "<a href=\"http://user@click.track.Spammer.example/x?y=1\">here</a>"
      "<img src='https://images.cdn.example:8080/a.gif'>"
      "<form action=http://10.1.2.3/submit><input type=text></form>"
      "caf&#233; &#x263A;smile</body></html>\r\n");
  EXPECT_THAT(tokens, Contains("cheap"));
  EXPECT_THAT(tokens, Contains("viagra"));  // inline tags do not split words
  EXPECT_THAT(tokens, Contains("more"));
  EXPECT_THAT(tokens, Contains("pills"));
  EXPECT_THAT(tokens, Contains("café"));
  EXPECT_THAT(tokens, Contains("smile"));
  EXPECT_THAT(tokens, Contains("url:click.track.spammer.example"));
  EXPECT_THAT(tokens, Contains("url:spammer.example"));
  EXPECT_THAT(tokens, Contains("url:images.cdn.example"));
  EXPECT_THAT(tokens, Contains("url:10.1.2.3"));
  EXPECT_THAT(tokens, Contains("url:ip"));
  EXPECT_THAT(tokens, Contains("html:img"));
  EXPECT_THAT(tokens, Contains("html:form"));
  EXPECT_THAT(tokens, Contains("html:input"));
  EXPECT_THAT(tokens, Contains("ct:text/html"));
  EXPECT_THAT(tokens, Contains("charset:utf-8"));
  for (const char* markup : {"html", "body", "href", "src", "hidden", "color", "white", "var",
                             "tracking", "invisible", "comment", "amp", "nbsp"}) {
    EXPECT_THAT(tokens, Not(Contains(markup)));
  }
}

TEST(SpamTokenize, UrlsInPlainText) {
  const auto tokens = tokens_of(
      "Subject: x\r\n\r\nVisit www.Shop.example.net/deal or https://a.b.c.example.org:443/p.\r\n");
  EXPECT_THAT(tokens, Contains("url:www.shop.example.net"));
  EXPECT_THAT(tokens, Contains("url:example.net"));
  EXPECT_THAT(tokens, Contains("url:a.b.c.example.org"));
  EXPECT_THAT(tokens, Contains("url:example.org"));
  EXPECT_THAT(tokens, Contains("visit"));
}

TEST(SpamTokenize, Base64AndQuotedPrintableBodiesAreDecoded) {
  // "Unbelievable mortgage rates" in base64; "très spécial" in QP ISO-8859-1.
  const auto tokens = tokens_of(
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "VW5iZWxpZXZhYmxlIG1vcnRnYWdlIHJhdGVz\r\n"
      "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "tr=E8s sp=E9cial off=\r\ner\r\n"
      "--b--\r\n");
  EXPECT_THAT(tokens, Contains("unbelievable"));
  EXPECT_THAT(tokens, Contains("mortgage"));
  EXPECT_THAT(tokens, Contains("rates"));
  EXPECT_THAT(tokens, Contains("très"));
  EXPECT_THAT(tokens, Contains("spécial"));
  EXPECT_THAT(tokens, Contains("offer"));  // soft line break joined
  EXPECT_THAT(tokens, Contains("charset:iso-8859-1"));
  EXPECT_THAT(tokens, Contains("ct:multipart/alternative"));
  EXPECT_THAT(tokens, Not(Contains("vw5izwxpzxzhymxlig1vcnrnywdlihjhdgvz")));
}

TEST(SpamTokenize, CharsetConversionToUtf8) {
  // "Привет друзья" in KOI8-R.
  const auto tokens = tokens_of(
      "Content-Type: text/plain; charset=koi8-r\r\n\r\n"
      "\xf0\xd2\xc9\xd7\xc5\xd4 \xc4\xd2\xd5\xda\xd8\xd1\r\n");
  EXPECT_THAT(tokens, Contains("Привет"));  // only ASCII is lower-cased
  EXPECT_THAT(tokens, Contains("друзья"));
  EXPECT_THAT(tokens, Contains("charset:koi8-r"));
}

TEST(SpamTokenize, CjkTextGivesCharacterBigrams) {
  // 免费发票 ("free invoice"): three bigrams, no single long word.
  const auto tokens = tokens_of(
      "Content-Type: text/plain; charset=utf-8\r\n\r\n\xe5\x85\x8d\xe8\xb4\xb9"
      "\xe5\x8f\x91\xe7\xa5\xa8 \xe5\xa5\xbd\r\n");
  EXPECT_THAT(tokens, Contains("免费"));
  EXPECT_THAT(tokens, Contains("费发"));
  EXPECT_THAT(tokens, Contains("发票"));
  EXPECT_THAT(tokens, Contains("好"));  // a character on its own
  EXPECT_THAT(tokens, Not(Contains("免费发票")));
}

TEST(SpamTokenize, AttachmentsGiveExtensionAndType) {
  const auto tokens = tokens_of(
      "Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
      "--zz\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
      "--zz\r\nContent-Type: application/octet-stream; name=\"invoice.PDF.exe\"\r\n"
      "Content-Disposition: attachment\r\nContent-Transfer-Encoding: "
      "base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n"
      "--zz\r\nContent-Type: image/gif\r\n"
      "Content-Disposition: inline; filename*=utf-8''%C3%A9t%C3%A9.gif\r\n\r\nGIF89a\r\n"
      "--zz--\r\n");
  EXPECT_THAT(tokens, Contains("attach:exe"));
  EXPECT_THAT(tokens, Contains("attach:gif"));
  EXPECT_THAT(tokens, Contains("attach-type:application/octet-stream"));
  EXPECT_THAT(tokens, Contains("attach-type:image/gif"));
  EXPECT_THAT(tokens, Contains("attached"));
  EXPECT_THAT(tokens, Not(Contains("gif89a")));  // non-text bodies are not read
  EXPECT_THAT(tokens, Not(Contains("attach-type:text/plain")));
}

TEST(SpamTokenize, ShortWordsDroppedLongWordsBucketed) {
  const auto tokens = tokens_of(
      "Subject: x\r\n\r\nan ox ate supercalifragilisticexpialidocious "
      "abcdefghijklmnopqrst 12345\r\n");
  EXPECT_THAT(tokens, Not(Contains("an")));
  EXPECT_THAT(tokens, Not(Contains("ox")));
  EXPECT_THAT(tokens, Contains("ate"));
  EXPECT_THAT(tokens, Contains("abcdefghijklmnopqrst"));  // 20 bytes: still a word
  EXPECT_THAT(tokens, Contains("skip:s 30"));             // 34 bytes
  EXPECT_THAT(tokens, Contains("12345"));
}

TEST(SpamTokenize, MaxTokensKeepsTheFirstSeen) {
  std::string raw = "Subject: first\r\n\r\n";
  for (int i = 0; i < 5000; ++i) {
    raw += "word" + std::to_string(i) + " ";
  }
  TokenizeLimits limits;
  limits.max_tokens = 100;
  const auto tokens = tokens_of(raw, limits);
  EXPECT_EQ(tokens.size(), 100u);
  EXPECT_THAT(tokens, Contains("subject:first"));  // headers come first
  EXPECT_THAT(tokens, Contains("word0"));
  EXPECT_THAT(tokens, Not(Contains("word4999")));
  EXPECT_EQ(tokens, tokens_of(raw, limits));  // deterministic
}

TEST(SpamTokenize, MaxBytesBoundsWhatIsRead) {
  std::string raw = "Subject: hi\r\n\r\nbeginning ";
  raw += std::string(10000, ' ');
  raw += "ending\r\n";
  TokenizeLimits limits;
  limits.max_bytes = 1000;
  EXPECT_THAT(tokens_of(raw, limits), Contains("beginning"));
  EXPECT_THAT(tokens_of(raw, limits), Not(Contains("ending")));
  EXPECT_THAT(tokens_of(raw), Contains("ending"));
}

TEST(SpamTokenize, MalformedInputNeverFails) {
  for (std::string_view raw :
       {std::string_view(""), std::string_view("\r\n\r\n"), std::string_view("no header at all"),
        std::string_view("Content-Type: text/html\r\n\r\n<a href=\"http://x<<<&#99999999;&#x;<!--"),
        std::string_view("Content-Type: text/html\r\n\r\n<script>never closed"),
        std::string_view("From: <@>\r\nReply-To: (\r\nMessage-ID: @\r\n\r\n\xff\xfe\x80")}) {
    const auto tokens = tokenize(raw);
    for (const Token& t : tokens) {
      EXPECT_FALSE(t.text.empty());
    }
  }
}

// --- chi2q -----------------------------------------------------------------------

TEST(SpamChi2Q, KnownValues) {
  EXPECT_DOUBLE_EQ(chi2q(0, 4), 1.0);
  EXPECT_NEAR(chi2q(3, 2), std::exp(-1.5), 1e-15);
  EXPECT_NEAR(chi2q(2, 4), 0.73575888234288467, 1e-15);  // 2/e
  EXPECT_NEAR(chi2q(10, 10), 0.4404932850652124, 1e-15);
  EXPECT_NEAR(chi2q(300, 300), 0.48914177025064032, 1e-12);
  // e^-50 alone is tiny; the sum must keep its relative precision.
  EXPECT_NEAR(chi2q(100, 10) / 5.4497019829205295e-17, 1.0, 1e-12);
  // e^-1000 underflows a double, yet the sum does not.
  EXPECT_NEAR(chi2q(2000, 300) / 1.5656593867276731e-248, 1.0, 1e-9);
  EXPECT_EQ(chi2q(1e6, 2), 0.0);
  EXPECT_EQ(chi2q(INFINITY, 2), 0.0);
  EXPECT_EQ(chi2q(NAN, 2), 1.0);
}

// --- classify --------------------------------------------------------------------

std::vector<Token> make_tokens(const std::vector<std::string>& names) {
  std::vector<Token> tokens;
  for (const auto& name : names) {
    tokens.push_back(Token{token_hash(name), name});
  }
  return tokens;
}

Model trained_model() {
  Model model;
  model.spam_messages = 100;
  model.ham_messages = 200;
  model.tokens[token_hash("viagra")] = {90, 1};
  model.tokens[token_hash("lottery")] = {60, 2};
  model.tokens[token_hash("url:pills.example")] = {40, 0};
  model.tokens[token_hash("meeting")] = {2, 150};
  model.tokens[token_hash("patch")] = {0, 80};
  model.tokens[token_hash("has:in-reply-to")] = {3, 120};
  model.tokens[token_hash("the")] = {95, 190};  // common to both: ignored
  return model;
}

TEST(SpamClassify, UntrainedUntilBothClassesHaveEnoughMessages) {
  Model model = trained_model();
  model.ham_messages = 9;
  Verdict v = classify(make_tokens({"viagra"}), model);
  EXPECT_EQ(v.verdict, Class::kUntrained);
  EXPECT_EQ(v.score, 0.5);
  model.ham_messages = 200;
  model.spam_messages = 0;
  EXPECT_EQ(classify(make_tokens({"viagra"}), model).verdict, Class::kUntrained);
  ClassifyOptions options;
  options.min_messages = 0;
  EXPECT_NE(classify(make_tokens({"viagra"}), model, options).verdict, Class::kUntrained);
}

TEST(SpamClassify, SpammyTokensScoreNearOne) {
  const Verdict v =
      classify(make_tokens({"viagra", "lottery", "url:pills.example", "the"}), trained_model());
  EXPECT_EQ(v.verdict, Class::kSpam);
  EXPECT_GT(v.score, 0.95);
}

TEST(SpamClassify, HammyTokensScoreNearZero) {
  const Verdict v =
      classify(make_tokens({"meeting", "patch", "has:in-reply-to", "the"}), trained_model());
  EXPECT_EQ(v.verdict, Class::kHam);
  EXPECT_LT(v.score, 0.05);
}

TEST(SpamClassify, UnknownOrMixedTokensAreUnsure) {
  const Verdict unknown = classify(make_tokens({"never", "seen", "the"}), trained_model());
  EXPECT_EQ(unknown.verdict, Class::kUnsure);
  EXPECT_DOUBLE_EQ(unknown.score, 0.5);
  EXPECT_TRUE(unknown.clues.empty());
  const Verdict mixed = classify(make_tokens({"viagra", "meeting"}), trained_model());
  EXPECT_EQ(mixed.verdict, Class::kUnsure);
  EXPECT_NEAR(mixed.score, 0.5, 0.1);
}

TEST(SpamClassify, RobinsonProbabilityOfOneToken) {
  // s=40 of 100 spam, h=0: p = 1; f = (0.45*0.5 + 40*1) / (0.45 + 40).
  const Verdict v = classify(make_tokens({"url:pills.example"}), trained_model());
  ASSERT_EQ(v.clues.size(), 1u);
  EXPECT_NEAR(v.clues[0].probability, (0.45 * 0.5 + 40) / 40.45, 1e-12);
  // One token: Q(-2 ln f, 2) = f and Q(-2 ln(1 - f), 2) = 1 - f, so the score is f.
  EXPECT_NEAR(v.score, v.clues[0].probability, 1e-12);
}

TEST(SpamClassify, CutOffs) {
  const auto tokens = make_tokens({"url:pills.example"});
  const double score = classify(tokens, trained_model()).score;
  ClassifyOptions options;
  options.spam_cutoff = score;
  EXPECT_EQ(classify(tokens, trained_model(), options).verdict, Class::kSpam);  // at: spam
  options.spam_cutoff = std::nextafter(score, 1.0);
  EXPECT_EQ(classify(tokens, trained_model(), options).verdict, Class::kUnsure);
  options.ham_cutoff = std::nextafter(score, 1.0);
  EXPECT_EQ(classify(tokens, trained_model(), options).verdict, Class::kHam);  // below: ham
}

TEST(SpamClassify, CluesMostTellingFirstTiesByHash) {
  Model model = trained_model();
  model.tokens[token_hash("alpha")] = {0, 80};  // the same counts as "patch"
  ClassifyOptions options;
  options.explain = 3;
  const auto tokens = make_tokens({"the", "meeting", "alpha", "viagra", "patch"});
  const Verdict v = classify(tokens, model, options);
  ASSERT_EQ(v.clues.size(), 3u);
  // patch and alpha (h=80, s=0) are the most telling, in hash order.
  const bool patch_first = token_hash("patch") < token_hash("alpha");
  EXPECT_EQ(v.clues[0].text, patch_first ? "patch" : "alpha");
  EXPECT_EQ(v.clues[1].text, patch_first ? "alpha" : "patch");
  EXPECT_NEAR(v.clues[0].probability, v.clues[1].probability, 0);
  for (std::size_t i = 1; i < v.clues.size(); ++i) {
    EXPECT_GE(std::fabs(v.clues[i - 1].probability - 0.5), std::fabs(v.clues[i].probability - 0.5));
  }
  // The input's order does not matter.
  auto reversed = tokens;
  std::reverse(reversed.begin(), reversed.end());
  const Verdict again = classify(reversed, model, options);
  EXPECT_EQ(again.score, v.score);
  for (std::size_t i = 0; i < v.clues.size(); ++i) {
    EXPECT_EQ(again.clues[i].text, v.clues[i].text);
  }
}

TEST(SpamClassify, MaxDiscriminatorsAndMinimumDeviation) {
  ClassifyOptions options;
  options.max_discriminators = 1;
  const Verdict one =
      classify(make_tokens({"viagra", "meeting", "patch"}), trained_model(), options);
  EXPECT_EQ(one.clues.size(), 1u);
  options = {};
  options.minimum_deviation = 0.49999;
  const Verdict none = classify(make_tokens({"lottery"}), trained_model(), options);
  EXPECT_TRUE(none.clues.empty());
  EXPECT_EQ(none.verdict, Class::kUnsure);
}

TEST(SpamClassify, ManyExtremeTokensStayFinite) {
  Model model;
  model.spam_messages = 1000;
  model.ham_messages = 1000;
  std::vector<std::string> names;
  for (int i = 0; i < 400; ++i) {
    names.push_back("t" + std::to_string(i));
    model.tokens[token_hash(names.back())] = {1000, 0};
  }
  ClassifyOptions options;
  options.max_discriminators = 400;
  options.unknown_strength = 0;  // f = 1 exactly without the clamp
  const Verdict v = classify(make_tokens(names), model, options);
  EXPECT_TRUE(std::isfinite(v.score));
  EXPECT_EQ(v.verdict, Class::kSpam);
}

TEST(SpamClassify, ClassNames) {
  EXPECT_EQ(class_name(Class::kUntrained), "untrained");
  EXPECT_EQ(class_name(Class::kHam), "ham");
  EXPECT_EQ(class_name(Class::kUnsure), "unsure");
  EXPECT_EQ(class_name(Class::kSpam), "spam");
}

}  // namespace
}  // namespace tern::spam
