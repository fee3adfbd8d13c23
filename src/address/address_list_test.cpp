// SPDX-License-Identifier: Apache-2.0
#include "address/address_list.hpp"

#include <string>
#include <variant>

#include <gtest/gtest.h>

namespace tern::address {
namespace {

// "name|route|local|domain" per mailbox ("~" for no display name, "" for empty
// fields), "G(name: member; member)" per group, entries joined by " , ".
std::string describe(const Mailbox& m) {
  return (m.display_name ? *m.display_name : "~") + "|" + m.route + "|" + m.local_part + "|" +
         m.domain;
}

std::string describe(const AddressList& list) {
  std::string out;
  for (const Address& address : list.addresses) {
    if (!out.empty()) {
      out += " , ";
    }
    if (const auto* m = std::get_if<Mailbox>(&address)) {
      out += describe(*m);
      continue;
    }
    const auto& group = std::get<Group>(address);
    out += "G(" + group.display_name + ":";
    for (std::size_t i = 0; i < group.members.size(); ++i) {
      out += (i == 0 ? " " : "; ") + describe(group.members[i]);
    }
    out += ")";
  }
  return out;
}

std::string problems(const AddressList& list) {
  std::string out;
  for (const auto& d : list.diagnostics) {
    if (!out.empty()) {
      out += ",";
    }
    out += problem_name(d.problem);
  }
  return out;
}

struct ListCase {
  const char* input;
  const char* expected;
  const char* problems;
};

const ListCase kCases[] = {
    // RFC 5322 Appendix A.1.1, A.1.2.
    {"John Doe <jdoe@machine.example>", "John Doe||jdoe|machine.example", ""},
    {"\"Joe Q. Public\" <john.q.public@example.com>", "Joe Q. Public||john.q.public|example.com",
     ""},
    {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
     "Mary Smith||mary|x.test , ~||jdoe|example.org , Who?||one|y.test", ""},
    {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
     "~||boss|nil.test , Giant; \"Big\" Box||sysservices|example.net", ""},
    // RFC 5322 Appendix A.1.3: groups.
    {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
     "G(A Group: Ed Jones||c|a.test; ~||joe|where.test; John||jdoe|one.test)", ""},
    {"Undisclosed recipients:;", "G(Undisclosed recipients:)", ""},
    // RFC 5322 Appendix A.5: white space and comments.
    {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", "Pete||pete|silly.test", ""},
    {"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
     "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
     "G(A Group: Chris Jones||c|public.example; ~||joe|example.org; John||jdoe|one.test)", ""},
    {"(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;", "G(Hidden recipients:)",
     ""},
    // RFC 5322 Appendix A.6.1 and A.6.3: obsolete forms.
    {"Joe Q. Public <john.q.public@example.com>", "Joe Q. Public||john.q.public|example.com",
     "obsolete_phrase"},
    {"Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
     "Mary Smith|@node.test|mary|example.net , ~||jdoe|test.example",
     "obsolete_route,empty_list_element,obsolete_domain"},
    {"John Doe <jdoe@machine(comment).  example>", "John Doe||jdoe|machine.example",
     "obsolete_domain"},
    {"Mary Smith\r\n  \r\n          <mary@example.net>", "Mary Smith||mary|example.net", ""},
    {"<@a.test,@b.test:user@c.test>", "~|@a.test,@b.test|user|c.test", "obsolete_route"},
    {"\"john\".doe@example.org", "~||john.doe|example.org", "obsolete_local_part"},
    {"john . doe@example.org", "~||john.doe|example.org", "obsolete_local_part"},
    // Quoted local parts, literals, UTF-8 (RFC 6532), encoded words kept raw.
    {"\"john q\"@example.org", "~||john q|example.org", ""},
    {"\"a\\\"b\"@example.org", "~||a\"b|example.org", ""},
    {"user@[192.0.2.1]", "~||user|[192.0.2.1]", ""},
    {"Jörg Müller <jörg@bücher.example>", "Jörg Müller||jörg|bücher.example", ""},
    {"=?UTF-8?Q?J=C3=B6rg?= <j@x.test>", "=?UTF-8?Q?J=C3=B6rg?=||j|x.test", ""},
    {"=?utf-8?q?a?= =?utf-8?q?b?= <j@x.test>", "=?utf-8?q?a?= =?utf-8?q?b?=||j|x.test", ""},
    {"\"Joe\r\n Q\" <a@b.test>", "Joe Q||a|b.test", ""},
    {"\"\" <a@b.test>", "||a|b.test", ""},
    {"jdoe@x.test (John Doe)", "~||jdoe|x.test", ""},
    {"Mixed \"quoted\" words <m@x.test>", "Mixed quoted words||m|x.test", ""},
    {"Name(comment)Split <m@x.test>", "Name Split||m|x.test", ""},
    {"\"Foo\"Bar <m@x.test>", "Foo Bar||m|x.test", ""},
    {"\"Foo\"\"Bar\" <m@x.test>", "Foo Bar||m|x.test", ""},
    // Breakage seen in the wild.
    {"Doe, John <jdoe@x.test>", "Doe, John||jdoe|x.test", "unquoted_special"},
    {"Doe, John, Jr. <jdoe@x.test>, b@y.test", "Doe, John, Jr.||jdoe|x.test , ~||b|y.test",
     "unquoted_special,obsolete_phrase"},
    {"\"Doe, John\" <jdoe@x.test>", "Doe, John||jdoe|x.test", ""},
    {"=?utf-8?Q?Doe,_John?= <j@x.test>", "=?utf-8?Q?Doe,_John?=||j|x.test", "unquoted_special"},
    {"john@x.test <john@x.test>", "john@x.test||john|x.test", "unquoted_special,obsolete_phrase"},
    {"Joe Public joe@x.test", "Joe Public||joe|x.test", "missing_angle_bracket"},
    {"\"Joe Public\" joe@x.test", "Joe Public||joe|x.test", "missing_angle_bracket"},
    {"Joe <joe@x.test", "Joe||joe|x.test", "missing_angle_bracket"},
    {"<joe@x.test", "~||joe|x.test", "missing_angle_bracket"},
    {"joe@x.test>", "~||joe|x.test", "trailing_garbage"},
    {"<joe@x.test> garbage", "~||joe|x.test", "trailing_garbage"},
    {"joe@x.test garbage", "~||joe|x.test", "trailing_garbage"},
    {"a@b@c.test", "~||a|b", "trailing_garbage"},
    {"undisclosed-recipients", "~||undisclosed-recipients|", "missing_domain"},
    {"Joe Public", "Joe Public|||", "missing_address"},
    {"\"Undisclosed Recipients\"", "Undisclosed Recipients|||", "missing_address"},
    {"<joe>", "~||joe|", "missing_domain"},
    {"<@x.test>", "~|||x.test", "missing_local_part"},
    {"<>", "~|||", "empty_angle_address"},
    {"a@b.test; c@d.test", "~||a|b.test , ~||c|d.test", "unquoted_special"},
    {"a@b.test,,c@d.test,", "~||a|b.test , ~||c|d.test", "empty_list_element,empty_list_element"},
    {",a@b.test", "~||a|b.test", "empty_list_element"},
    {"team: a@b.test, c@d.test", "G(team: ~||a|b.test; ~||c|d.test)", "unterminated_group"},
    {"outer: inner: a@b.test;, c@d.test;", "G(outer: ~||a|b.test; ~||c|d.test)", "nested_group"},
    {"g1:;, g2: x@y.test;", "G(g1:) , G(g2: ~||x|y.test)", ""},
    {"g1:; junk, a@b.test", "G(g1:) , ~||junk| , ~||a|b.test", "missing_comma,missing_domain"},
    {"\"Colleagues\": \"James\" <j@v.test>; Friends: jane@e.test, John <john@e.test>;",
     "G(Colleagues: James||j|v.test) , G(Friends: ~||jane|e.test; John||john|e.test)",
     "missing_comma"},
    {"\"unterminated <a@b.test>", "unterminated <a@b.test>|||",
     "unterminated_quote,missing_address"},
    {"(unterminated comment a@b.test", "", "unterminated_comment"},
    {"user@[192.0.2.1", "~||user|[192.0.2.1", "unterminated_literal"},
    {"a\x01"
     "b@x.test",
     "~||a\x01"
     "b|x.test",
     "invalid_character"},
    {"<john doe@x.test>", "~||johndoe|x.test", "invalid_character"},
    {"", "", ""},
    {"   \r\n ", "", ""},
    {"(just a comment)", "", ""},
};

TEST(AddressList, ParsesTheTable) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.input);
    auto list = parse_address_list(c.input);
    EXPECT_EQ(describe(list), c.expected);
    EXPECT_EQ(problems(list), c.problems);
  }
}

TEST(AddressList, StrictCommaReadingKeepsTwoEntries) {
  AddressListOptions options;
  options.merge_unquoted_comma_names = false;
  auto list = parse_address_list("Doe, John <jdoe@x.test>", options);
  EXPECT_EQ(describe(list), "~||Doe| , John||jdoe|x.test");
  EXPECT_EQ(problems(list), "missing_domain");
}

TEST(AddressList, KeepsRawBytes) {
  std::string input =
      "\"Joe Q. Public\" <\"john q\"@Example(c).COM>, =?utf-8?q?J=C3=B6rg?= <j@x.test>";
  auto list = parse_address_list(input);
  ASSERT_EQ(list.addresses.size(), 2U);
  const auto& joe = std::get<Mailbox>(list.addresses[0]);
  EXPECT_EQ(joe.raw, "\"Joe Q. Public\" <\"john q\"@Example(c).COM>");
  EXPECT_EQ(joe.display_name_raw, "\"Joe Q. Public\"");
  EXPECT_EQ(*joe.display_name, "Joe Q. Public");
  EXPECT_EQ(joe.local_part_raw, "\"john q\"");
  EXPECT_EQ(joe.local_part, "john q");
  EXPECT_EQ(joe.domain_raw, "Example(c).COM");
  EXPECT_EQ(joe.domain, "Example.COM");
  EXPECT_EQ(joe.comment, "");  // only a bare addr-spec has a name comment
  EXPECT_TRUE(joe.angle_brackets);
  EXPECT_EQ(joe.addr_spec(), "\"john q\"@Example.COM");
  const auto& jorg = std::get<Mailbox>(list.addresses[1]);
  EXPECT_EQ(jorg.display_name_raw, "=?utf-8?q?J=C3=B6rg?=");
  EXPECT_EQ(jorg.addr_spec(), "j@x.test");
  // The views point into the input.
  EXPECT_GE(joe.raw.data(), input.data());
  EXPECT_LE(jorg.raw.data() + jorg.raw.size(), input.data() + input.size());
}

TEST(AddressList, KeepsTheNameCommentOfBareAddresses) {
  struct {
    const char* input;
    const char* comment;
  } const cases[] = {
      {"jdoe@x.test (first) (John \\(JD\\)   Doe )", "John (JD) Doe"},
      {"jdoe(John)@x.test", "John"},
      {"jdoe@(host)x.test", "host"},
      {"MAILER-DAEMON (Mail Delivery System)", "Mail Delivery System"},
      {"a@b.test (multi\r\n line)", "multi line"},
      // Not a name comment: before the address, or with angle brackets.
      {"(John) jdoe@x.test", ""},
      {"<jdoe@x.test> (John)", ""},
      {"\"\" <a@b.test> (c)", ""},
  };

  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto list = parse_address_list(c.input);
    ASSERT_EQ(list.mailboxes().size(), 1U);
    EXPECT_EQ(list.mailboxes()[0]->comment, c.comment);
  }
}

TEST(AddressList, FlattensToEnvelopeItems) {
  auto list = parse_address_list(
      "\"Joe\" <@r.test:joe@x.test>, g: a@b.test (Al), <>, Bare Name;, jdoe@y.test (John), "
      "\"\" <e@x.test>, MAILER-DAEMON");
  auto items = envelope_addresses(list);
  ASSERT_EQ(items.size(), 9U);
  EXPECT_EQ(items[0], (EnvelopeAddress{"Joe", "@r.test", "joe", "x.test"}));
  EXPECT_TRUE(items[1].is_group_start());
  EXPECT_EQ(items[1].mailbox, "g");
  EXPECT_EQ(items[2], (EnvelopeAddress{"Al", std::nullopt, "a", "b.test"}));
  // Dovecot's placeholders where IMAP has no way to say "absent".
  EXPECT_EQ(items[3],
            (EnvelopeAddress{std::nullopt, std::nullopt, "MISSING_MAILBOX", "MISSING_DOMAIN"}));
  EXPECT_EQ(items[4],
            (EnvelopeAddress{"Bare Name", std::nullopt, "MISSING_MAILBOX", "MISSING_DOMAIN"}));
  EXPECT_TRUE(items[5].is_group_end());
  EXPECT_EQ(items[6], (EnvelopeAddress{"John", std::nullopt, "jdoe", "y.test"}));
  EXPECT_EQ(items[7], (EnvelopeAddress{std::nullopt, std::nullopt, "e", "x.test"}));
  EXPECT_EQ(items[8],
            (EnvelopeAddress{std::nullopt, std::nullopt, "MAILER-DAEMON", "MISSING_DOMAIN"}));
}

TEST(AddressList, ReportsErrorsApartFromObsoleteForms) {
  EXPECT_FALSE(parse_address_list("Joe Q. Public <a@b.test>").has_errors());
  EXPECT_TRUE(parse_address_list("Joe a@b.test").has_errors());
  EXPECT_TRUE(is_obsolete(Problem::kObsoleteRoute));
  EXPECT_FALSE(is_obsolete(Problem::kMissingDomain));
}

TEST(AddressList, ListsMailboxesIncludingGroupMembers) {
  auto list = parse_address_list("a@x.test, g: b@x.test, c@x.test;, d@x.test");
  auto mailboxes = list.mailboxes();
  ASSERT_EQ(mailboxes.size(), 4U);
  EXPECT_EQ(mailboxes[1]->local_part, "b");
  EXPECT_EQ(mailboxes[3]->local_part, "d");
}

TEST(AddressList, BoundsInputAndAddressCount) {
  AddressListOptions options;
  options.limits.max_input_bytes = 20;
  auto truncated = parse_address_list("a@b.test, c@d.test, e@f.test, g@h.test", options);
  EXPECT_EQ(describe(truncated), "~||a|b.test , ~||c|d.test");
  EXPECT_EQ(problems(truncated), "input_truncated,empty_list_element");  // ", " at the cut

  AddressListOptions few;
  few.limits.max_addresses = 2;
  auto capped = parse_address_list("a@x.test, g: b@x.test, c@x.test;", few);
  EXPECT_EQ(capped.mailboxes().size(), 2U);
  EXPECT_EQ(problems(capped), "too_many_addresses");

  AddressListOptions quiet;
  quiet.limits.max_diagnostics = 1;
  EXPECT_EQ(parse_address_list("a, b, c", quiet).diagnostics.size(), 1U);
}

TEST(AddressList, HandlesDeepCommentsAndLongInputsLinearly) {
  std::string deep(100000, '(');
  auto comments = parse_address_list(deep + "a@b.test");
  EXPECT_TRUE(comments.addresses.empty());
  EXPECT_EQ(problems(comments), "unterminated_comment");

  // Shapes that would be quadratic with a naive merge or group scan.
  for (const char* unit : {"a,", "a b,", "g:", ";", "<", "<@a,", "(", "\"", ",", "a.", "@"}) {
    std::string input;
    while (input.size() < 256 * 1024) {
      input += unit;
    }
    auto list = parse_address_list(input);
    EXPECT_LE(list.mailboxes().size(), 10000U) << unit;
  }

  std::string many;
  for (int i = 0; i < 20000; ++i) {
    many += "user" + std::to_string(i) + "@example.org, ";
  }
  auto list = parse_address_list(many);
  EXPECT_EQ(list.mailboxes().size(), 10000U);  // the default max_addresses
}

// Every prefix and every one-byte deletion of every table input parses without
// a crash and with views inside the input (ASan checks the reads).
TEST(AddressList, SurvivesEveryPrefixAndDeletion) {
  for (const auto& c : kCases) {
    std::string input = c.input;
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      std::string prefix = input.substr(0, cut);
      std::string deleted =
          input.substr(0, cut) + (cut < input.size() ? input.substr(cut + 1) : "");
      for (const std::string* s : {&prefix, &deleted}) {
        auto list = parse_address_list(*s);
        for (const Mailbox* m : list.mailboxes()) {
          ASSERT_GE(m->raw.data(), s->data());
          ASSERT_LE(m->raw.data() + m->raw.size(), s->data() + s->size());
        }
        static_cast<void>(envelope_addresses(list));
      }
    }
  }
}

}  // namespace
}  // namespace tern::address
