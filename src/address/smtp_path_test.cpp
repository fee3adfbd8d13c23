// SPDX-License-Identifier: Apache-2.0
#include "address/smtp_path.hpp"

#include <string>

#include <gtest/gtest.h>

#include "address/detail/syntax.hpp"

namespace tern::address {
namespace {

constexpr ErrorCode kOk = ErrorCode::kInternal;

PathOptions utf8() {
  PathOptions options;
  options.smtputf8 = true;
  return options;
}

PathOptions strict() {
  PathOptions options;
  options.strict = true;
  return options;
}

struct PathCase {
  const char* argument;
  PathOptions options;
  ErrorCode error;       // kOk: expected to parse
  const char* rendered;  // render_path() of the result
  std::size_t end;
};

// RFC 5321 §4.1.1.2, §4.1.2, §4.1.3, §4.5.3.1; RFC 6531 §3.3.
const PathCase kReverse[] = {
    {"<>", {}, kOk, "<>", 2},
    {"<> SIZE=100", {}, kOk, "<>", 2},
    {"<jdoe@example.org>", {}, kOk, "<jdoe@example.org>", 18},
    {"<jdoe@example.org> SIZE=1000 BODY=8BITMIME", {}, kOk, "<jdoe@example.org>", 18},
    {"<JDoe@Example.ORG>", {}, kOk, "<JDoe@example.org>", 18},
    {"<@a.test,@b.test:jdoe@example.org>", {}, kOk, "<jdoe@example.org>", 34},
    {"<\"john doe\"@example.org>", {}, kOk, "<\"john doe\"@example.org>", 24},
    {"<\"john\"@example.org>", {}, kOk, "<john@example.org>", 20},
    {"<\"a\\\"b\\\\c\"@example.org>", {}, kOk, "<\"a\\\"b\\\\c\"@example.org>", 23},
    {"<\"\"@example.org>", {}, kOk, "<\"\"@example.org>", 16},
    {"<user+tag!#$%&'*/=?^_`{|}~-@example.org>",
     {},
     kOk,
     "<user+tag!#$%&'*/=?^_`{|}~-@example.org>",
     40},
    {"<user@[192.0.2.1]>", {}, kOk, "<user@[192.0.2.1]>", 18},
    {"<user@[IPv6:2001:DB8::1]>", {}, kOk, "<user@[IPv6:2001:db8::1]>", 25},
    {" <a@b.test>", {}, kOk, "<a@b.test>", 11},
    {"a@b.test", {}, kOk, "<a@b.test>", 8},
    {"a@b.test SIZE=1", {}, kOk, "<a@b.test>", 8},
    {"<a@b.test> ", {}, kOk, "<a@b.test>", 10},
    {"<jdoe@xn--bcher-kva.example>", {}, kOk, "<jdoe@xn--bcher-kva.example>", 28},
    {"<jörg@example.org>", utf8(), kOk, "<jörg@example.org>", 19},
    {"<\"jörg r\"@example.org>", utf8(), kOk, "<\"jörg r\"@example.org>", 23},
    {"<jdoe@bücher.example>", utf8(), kOk, "<jdoe@xn--bcher-kva.example>", 22},
    // Errors.
    {"", {}, ErrorCode::kInvalidInput, "", 0},
    {"   ", {}, ErrorCode::kInvalidInput, "", 0},
    {" <a@b.test>", strict(), ErrorCode::kInvalidInput, "", 0},
    {"a@b.test", strict(), ErrorCode::kInvalidInput, "", 0},
    {"<a@b.test", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@b.test SIZE=1", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@b.test>x", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@b.test>,", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a..b@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<.a@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a.@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a b@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a(comment)@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<@x.test,a@b.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@x_y.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@-x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@x.test.>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@[192.0.2.300]>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@[192.0.2.1>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<Postmaster>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<\"unterminated@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<\"ctl\x01\"@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<\"bad pair\\\x01\"@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a\x7f@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<a@@x.test>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<<a@x.test>>", {}, ErrorCode::kInvalidInput, "", 0},
    {"<j\xc3rg@example.org>", utf8(), ErrorCode::kInvalidInput, "", 0},           // cut sequence
    {"<j\xc0\xafrg@example.org>", utf8(), ErrorCode::kInvalidInput, "", 0},       // overlong
    {"<\"\xed\xa0\x80\"@example.org>", utf8(), ErrorCode::kInvalidInput, "", 0},  // surrogate
    {"<jdoe@b\xfc"
     "cher.example>",
     utf8(), ErrorCode::kInvalidInput, "", 0},  // Latin-1
    {"<jörg@example.org>", {}, ErrorCode::kPermissionDenied, "", 0},
    {"<\"jörg\"@example.org>", {}, ErrorCode::kPermissionDenied, "", 0},
    {"<jdoe@bücher.example>", {}, ErrorCode::kPermissionDenied, "", 0},
    {"<@bücher.example:jdoe@example.org>", {}, ErrorCode::kPermissionDenied, "", 0},
};

TEST(SmtpPath, ParsesReversePaths) {
  for (const auto& c : kReverse) {
    SCOPED_TRACE(c.argument);
    auto path = parse_reverse_path(c.argument, c.options);
    if (c.error != kOk) {
      ASSERT_FALSE(path) << render_path(*path);
      EXPECT_EQ(path.error().code, c.error) << path.error().message;
      EXPECT_FALSE(path.error().message.empty());
      continue;
    }
    ASSERT_TRUE(path) << path.error().message;
    EXPECT_EQ(render_path(*path), c.rendered);
    EXPECT_EQ(path->end, c.end);
    // Rendering then parsing gives the same mailbox back.
    auto again = parse_reverse_path(render_path(*path), c.options);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->mailbox, path->mailbox);
  }
}

TEST(SmtpPath, ParsesForwardPathsWithThePostmasterRule) {
  auto bare = parse_forward_path("<Postmaster>");
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->is_bare_postmaster);
  EXPECT_EQ(bare->mailbox.local_part, "Postmaster");
  EXPECT_TRUE(bare->mailbox.domain.empty());
  EXPECT_EQ(render_path(*bare), "<Postmaster>");

  auto lower = parse_forward_path("<postMASTER> NOTIFY=NEVER");
  ASSERT_TRUE(lower);
  EXPECT_TRUE(lower->is_bare_postmaster);
  EXPECT_EQ(lower->end, 12U);

  auto unbracketed = parse_forward_path("Postmaster");
  ASSERT_TRUE(unbracketed);
  EXPECT_TRUE(unbracketed->is_bare_postmaster);

  auto with_domain = parse_forward_path("<Postmaster@Example.org>");
  ASSERT_TRUE(with_domain);
  EXPECT_FALSE(with_domain->is_bare_postmaster);
  EXPECT_EQ(with_domain->mailbox.domain.ascii(), "example.org");

  auto routed = parse_forward_path("<@a.test:Postmaster>");
  ASSERT_FALSE(routed);
  EXPECT_EQ(routed.error().code, ErrorCode::kInvalidInput);

  auto null_path = parse_forward_path("<>");
  ASSERT_FALSE(null_path);
  EXPECT_EQ(null_path.error().code, ErrorCode::kInvalidInput);

  auto other = parse_forward_path("<postmasters>");
  ASSERT_FALSE(other);

  auto normal = parse_forward_path("<@relay.test:bob@example.org> ORCPT=rfc822;bob@example.org");
  ASSERT_TRUE(normal);
  EXPECT_EQ(render_path(*normal), "<bob@example.org>");
  EXPECT_EQ(normal->end, 29U);
}

TEST(SmtpPath, EnforcesLengthLimits) {
  std::string local64(64, 'l');
  EXPECT_TRUE(parse_reverse_path("<" + local64 + "@example.org>"));
  auto long_local = parse_reverse_path("<" + local64 + "l@example.org>");
  ASSERT_FALSE(long_local);
  EXPECT_EQ(long_local.error().code, ErrorCode::kLimitExceeded);
  // The limit counts octets as written, quotes included.
  auto quoted = parse_reverse_path("<\"" + std::string(63, 'q') + "\"@example.org>");
  ASSERT_FALSE(quoted);
  EXPECT_EQ(quoted.error().code, ErrorCode::kLimitExceeded);

  std::string label(63, 'd');
  std::string domain189 = label + "." + label + "." + std::string(61, 'd');
  ASSERT_EQ(domain189.size(), 189U);
  auto max_path = parse_forward_path("<" + local64 + "@" + domain189 + ">");  // 256
  ASSERT_TRUE(max_path) << max_path.error().message;
  auto long_path = parse_forward_path("<" + local64 + "@" + domain189 + "d>");
  ASSERT_FALSE(long_path);
  EXPECT_EQ(long_path.error().code, ErrorCode::kLimitExceeded);

  std::string domain256 = label + "." + label + "." + label + "." + std::string(63, 'd') + "d";
  auto long_domain = parse_forward_path("<a@" + domain256 + ">");
  ASSERT_FALSE(long_domain);
  EXPECT_EQ(long_domain.error().code, ErrorCode::kLimitExceeded);

  auto long_label = parse_forward_path("<a@" + std::string(64, 'x') + ".test>");
  ASSERT_FALSE(long_label);
  EXPECT_EQ(long_label.error().code, ErrorCode::kLimitExceeded);

  PathOptions generous;
  generous.limits.max_local_part_bytes = 128;
  EXPECT_TRUE(parse_reverse_path("<" + local64 + "l@example.org>", generous));
}

TEST(SmtpPath, ParsesBareAddresses) {
  auto address = parse_email_address("\"john doe\"@Bücher.example", utf8());
  ASSERT_TRUE(address) << address.error().message;
  EXPECT_EQ(address->local_part, "john doe");
  EXPECT_EQ(address->domain.ascii(), "xn--bcher-kva.example");
  EXPECT_EQ(render_mailbox(*address), "\"john doe\"@xn--bcher-kva.example");
  EXPECT_EQ(render_mailbox(*address, true), "\"john doe\"@bücher.example");
  EXPECT_FALSE(parse_email_address("a@b.test "));
  EXPECT_FALSE(parse_email_address("<a@b.test>"));
  EXPECT_FALSE(parse_email_address("a"));
}

TEST(SmtpPath, QuotesLocalPartsOnlyWhenNeeded) {
  EXPECT_EQ(render_local_part("john.doe"), "john.doe");
  EXPECT_EQ(render_local_part("jörg"), "jörg");
  EXPECT_EQ(render_local_part("john doe"), "\"john doe\"");
  EXPECT_EQ(render_local_part("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(render_local_part(""), "\"\"");
  EXPECT_EQ(render_local_part(".a"), "\".a\"");
  EXPECT_EQ(render_local_part("a..b"), "\"a..b\"");
  EXPECT_EQ(render_local_part("a@b"), "\"a@b\"");
}

TEST(SmtpPath, RendersNullAndUnicodePaths) {
  EXPECT_EQ(render_path(ReversePath{}), "<>");
  auto path = parse_reverse_path("<jörg@bücher.example>", utf8());
  ASSERT_TRUE(path);
  EXPECT_EQ(render_path(*path), "<jörg@xn--bcher-kva.example>");
  EXPECT_EQ(render_path(*path, true), "<jörg@bücher.example>");
}

TEST(SmtpPath, ChecksUtf8WellFormedness) {
  EXPECT_TRUE(detail::is_utf8("plain ascii"));
  EXPECT_TRUE(detail::is_utf8("jörg 例え \xf0\x9f\x93\xa7"));  // 2, 3 and 4 bytes
  EXPECT_FALSE(detail::is_utf8("\xc3"));                       // cut off
  EXPECT_FALSE(detail::is_utf8("\xc0\xaf"));                   // overlong "/"
  EXPECT_FALSE(detail::is_utf8("\xe0\x80\xaf"));               // overlong, 3 bytes
  EXPECT_FALSE(detail::is_utf8("\xed\xa0\x80"));               // surrogate
  EXPECT_FALSE(detail::is_utf8("\xf4\x90\x80\x80"));           // above U+10FFFF
  EXPECT_FALSE(detail::is_utf8("\x80"));                       // stray continuation
}

// Every prefix of every accepted path either parses or fails with an error;
// none crashes or reads past the end (ASan).
TEST(SmtpPath, SurvivesEveryPrefix) {
  for (const auto& c : kReverse) {
    std::string argument = c.argument;
    for (std::size_t cut = 0; cut <= argument.size(); ++cut) {
      std::string prefix = argument.substr(0, cut);
      auto reverse = parse_reverse_path(prefix, c.options);
      auto forward = parse_forward_path(prefix, c.options);
      if (reverse) {
        EXPECT_LE(reverse->end, prefix.size());
      }
      if (forward) {
        EXPECT_LE(forward->end, prefix.size());
      }
    }
  }
}

}  // namespace
}  // namespace tern::address
