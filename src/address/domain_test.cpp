// SPDX-License-Identifier: Apache-2.0
#include "address/domain.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern::address {
namespace {

struct DomainCase {
  const char* input;
  ErrorCode error;  // kInternal: expected to parse
  const char* ascii;
  const char* unicode;
  DomainKind kind;
};

constexpr ErrorCode kOk = ErrorCode::kInternal;

// RFC 5321 §4.1.2 / §4.1.3, RFC 1035 §2.3.1, RFC 5890–5892 (IDNA 2008), UTS #46.
const DomainCase kCases[] = {
    {"example.org", kOk, "example.org", "example.org", DomainKind::kName},
    {"Mail.Example.ORG", kOk, "mail.example.org", "mail.example.org", DomainKind::kName},
    {"localhost", kOk, "localhost", "localhost", DomainKind::kName},
    {"a-b.c0.example", kOk, "a-b.c0.example", "a-b.c0.example", DomainKind::kName},
    {"123.example", kOk, "123.example", "123.example", DomainKind::kName},
    {"bücher.example", kOk, "xn--bcher-kva.example", "bücher.example", DomainKind::kName},
    {"BÜCHER.Example", kOk, "xn--bcher-kva.example", "bücher.example", DomainKind::kName},
    {"xn--bcher-kva.example", kOk, "xn--bcher-kva.example", "bücher.example", DomainKind::kName},
    {"XN--BCHER-KVA.example", kOk, "xn--bcher-kva.example", "bücher.example", DomainKind::kName},
    // IDNA 2008 (non-transitional): ß is kept, not mapped to "ss" as IDNA 2003 did.
    {"faß.de", kOk, "xn--fa-hia.de", "faß.de", DomainKind::kName},
    {"例え.テスト", kOk, "xn--r8jz45g.xn--zckzah", "例え.テスト", DomainKind::kName},
    // UTS #46 maps full-width letters and dots to ASCII.
    {"ｅｘａｍｐｌｅ．com", kOk, "example.com", "example.com", DomainKind::kName},
    {"пример.рф", kOk, "xn--e1afmkfd.xn--p1ai", "пример.рф", DomainKind::kName},
    {"[192.0.2.1]", kOk, "[192.0.2.1]", "[192.0.2.1]", DomainKind::kIpv4Literal},
    {"[0.0.0.0]", kOk, "[0.0.0.0]", "[0.0.0.0]", DomainKind::kIpv4Literal},
    {"[IPv6:2001:db8::1]", kOk, "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]",
     DomainKind::kIpv6Literal},
    {"[ipv6:2001:DB8::1]", kOk, "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]",
     DomainKind::kIpv6Literal},
    {"[IPv6:::1]", kOk, "[IPv6:::1]", "[IPv6:::1]", DomainKind::kIpv6Literal},
    {"[IPv6:::]", kOk, "[IPv6:::]", "[IPv6:::]", DomainKind::kIpv6Literal},
    {"[IPv6:1:2:3:4:5:6:7:8]", kOk, "[IPv6:1:2:3:4:5:6:7:8]", "[IPv6:1:2:3:4:5:6:7:8]",
     DomainKind::kIpv6Literal},
    {"[IPv6:1:2:3:4:5:6:192.0.2.1]", kOk, "[IPv6:1:2:3:4:5:6:192.0.2.1]",
     "[IPv6:1:2:3:4:5:6:192.0.2.1]", DomainKind::kIpv6Literal},
    {"[IPv6:::ffff:192.0.2.1]", kOk, "[IPv6:::ffff:192.0.2.1]", "[IPv6:::ffff:192.0.2.1]",
     DomainKind::kIpv6Literal},
    {"[x-tag:some-thing]", kOk, "[x-tag:some-thing]", "[x-tag:some-thing]",
     DomainKind::kGeneralLiteral},
    // Errors.
    {"", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {".example.org", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"example.org.", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"example..org", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"-example.org", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"example-.org", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"ex_ample.org", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"exa mple.org", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"example.org>", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"bü..cher", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"xn--ls8h.example", ErrorCode::kInvalidInput, "", "", DomainKind::kName},  // an emoji
    {"xn--a.example", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"b\xfc"
     "cher.example",
     ErrorCode::kInvalidInput, "", "", DomainKind::kName},  // Latin-1
    {"[192.0.2.256]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[192.0.2]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[192.0.2.1.5]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[1922.0.2.1]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[192.0.2.1", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:1:2:3:4:5:6:7]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:1:2:3:4:5:6:7::]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:1::2::3]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:12345::]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:g::]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:192.0.2.1::]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[IPv6:1:2:3:4:5::192.0.2.1]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[tag:]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[tag-:x]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
    {"[tag:a b]", ErrorCode::kInvalidInput, "", "", DomainKind::kName},
};

TEST(AddressDomain, ParsesTheTable) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.input);
    auto domain = parse_domain(c.input);
    if (c.error != kOk) {
      ASSERT_FALSE(domain);
      EXPECT_EQ(domain.error().code, c.error) << domain.error().message;
      continue;
    }
    ASSERT_TRUE(domain) << domain.error().message;
    EXPECT_EQ(domain->ascii(), c.ascii);
    EXPECT_EQ(domain->unicode(), c.unicode);
    EXPECT_EQ(domain->kind(), c.kind);
    EXPECT_EQ(domain->is_internationalized(), std::string(c.ascii) != c.unicode);
  }
}

TEST(AddressDomain, EnforcesLabelAndNameLimits) {
  std::string label63(63, 'a');
  EXPECT_TRUE(parse_domain(label63 + ".example"));
  auto long_label = parse_domain(std::string(64, 'a') + ".example");
  ASSERT_FALSE(long_label);
  EXPECT_EQ(long_label.error().code, ErrorCode::kLimitExceeded);

  std::string name255 = label63 + "." + label63 + "." + label63 + "." + label63;  // 255
  ASSERT_EQ(name255.size(), 255U);
  EXPECT_TRUE(parse_domain(name255));
  auto too_long = parse_domain(name255 + "a");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kLimitExceeded);

  // The 63-octet limit applies to the A-label: 30 ü encode to far more.
  auto long_u_label = parse_domain(std::string(30 * 2, 'x') + "ü.example");
  ASSERT_FALSE(long_u_label);
  EXPECT_EQ(long_u_label.error().code, ErrorCode::kLimitExceeded);

  DomainOptions small;
  small.max_bytes = 10;
  auto over = parse_domain("example.org", small);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kLimitExceeded);
}

TEST(AddressDomain, RefusesUtf8AndLiteralsWhenNotAllowed) {
  DomainOptions ascii_only;
  ascii_only.allow_utf8 = false;
  auto utf8 = parse_domain("bücher.example", ascii_only);
  ASSERT_FALSE(utf8);
  EXPECT_EQ(utf8.error().code, ErrorCode::kPermissionDenied);
  // A-labels are plain ASCII and stay acceptable.
  auto a_label = parse_domain("xn--bcher-kva.example", ascii_only);
  ASSERT_TRUE(a_label);
  EXPECT_EQ(a_label->unicode(), "bücher.example");

  DomainOptions no_literal;
  no_literal.allow_literal = false;
  auto literal = parse_domain("[192.0.2.1]", no_literal);
  ASSERT_FALSE(literal);
  EXPECT_EQ(literal.error().code, ErrorCode::kPermissionDenied);
}

TEST(AddressDomain, ExposesLiteralValues) {
  EXPECT_EQ(parse_domain("[192.0.2.1]")->literal_value(), "192.0.2.1");
  EXPECT_EQ(parse_domain("[IPv6:2001:DB8::1]")->literal_value(), "2001:db8::1");
  EXPECT_EQ(parse_domain("[x-tag:content]")->literal_value(), "content");
  EXPECT_EQ(parse_domain("example.org")->literal_value(), "");
}

TEST(AddressDomain, ComparesByAsciiForm) {
  EXPECT_EQ(*parse_domain("Bücher.Example"), *parse_domain("xn--bcher-kva.EXAMPLE"));
  EXPECT_FALSE(*parse_domain("a.example") == *parse_domain("b.example"));
  EXPECT_TRUE(Domain().empty());
}

TEST(AddressDomain, ConvertsBothWays) {
  EXPECT_EQ(*domain_to_ascii("Bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(*domain_to_unicode("xn--bcher-kva.Example"), "bücher.example");
  EXPECT_EQ(*domain_to_unicode("Example.ORG"), "example.org");
  auto literal = domain_to_ascii("[192.0.2.1]");
  ASSERT_FALSE(literal);
  EXPECT_EQ(literal.error().code, ErrorCode::kInvalidInput);
  EXPECT_FALSE(domain_to_unicode("xn--ls8h.example"));
}

TEST(AddressDomain, LowerCasesAsciiOnly) {
  EXPECT_EQ(ascii_lower("MiXeD-Ü"), "mixed-Ü");
}

}  // namespace
}  // namespace tern::address
