// SPDX-License-Identifier: Apache-2.0
#include "sieve/sieve.hpp"

#include <limits>
#include <optional>

#include <gtest/gtest.h>

#include "sieve/text.hpp"

namespace tern::sieve {
namespace {

constexpr std::string_view kMessage =
    "Return-Path: <alice@example.org>\r\n"
    "Received: from mx.example.org by mail.example.com; Mon, 3 Jun 2024 10:00:05 +0000\r\n"
    "From: Alice Example <alice@example.org>\r\n"
    "To: bob+lists@example.com, \"Carol\" <carol@example.net>\r\n"
    "Cc: team: dave@example.com, erin@example.com;\r\n"
    "Subject: =?UTF-8?Q?R=C3=A9union?= planning\r\n"
    "Date: Mon, 3 Jun 2024 11:59:58 +0200\r\n"
    "X-Spam-Score: 7\r\n"
    "X-Tag: one\r\n"
    "X-Tag: two\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "the meeting is on Friday.\r\n";

// Compiles `script` (failing the test on an error) and runs it on kMessage.
Outcome run_script(std::string_view script, std::string_view message = kMessage,
                   Envelope envelope = {"alice@example.org", "bob+lists@example.com", ""},
                   Environment environment = {}) {
  auto compiled = compile(script);
  EXPECT_TRUE(compiled) << (compiled ? "" : compiled.error().message) << "\n" << script;
  if (!compiled) {
    return {};
  }
  return run(*compiled, message, envelope, environment);
}

// The actions as `tern sieve test` prints them, for compact expectations.
std::vector<std::string> lines(const Outcome& outcome) {
  std::vector<std::string> out;
  for (const auto& action : outcome.actions) {
    switch (action.kind) {
      case ActionKind::kKeep:
      case ActionKind::kFileInto: {
        std::string line = "store " + action.mailbox;
        for (const auto& flag : action.flags) {
          line += " " + flag;
        }
        out.push_back(line);
        break;
      }
      case ActionKind::kRedirect:
        out.push_back("redirect " + action.address);
        break;
      case ActionKind::kDiscard:
        out.push_back("discard");
        break;
      case ActionKind::kVacation:
        out.push_back("vacation");
        break;
    }
  }
  return out;
}

using Lines = std::vector<std::string>;

std::string compile_error(std::string_view script) {
  auto compiled = compile(script);
  return compiled ? "" : compiled.error().message;
}

TEST(SieveCompile, ReportsTheLineOfEachMistake) {
  EXPECT_EQ(compile_error("keep;\nfileinto \"x\";"), "line 2: fileinto needs require \"fileinto\"");
  EXPECT_EQ(compile_error("if true {\n  keep;\n"), "line 3: missing '}'");
  EXPECT_EQ(compile_error("keep"), "line 1: missing ';' after keep");
  EXPECT_EQ(compile_error("\n\"abc"), "line 2: unterminated string");
  EXPECT_EQ(compile_error("require \"nosuch\";"), "line 1: unsupported extension \"nosuch\"");
  EXPECT_EQ(compile_error("keep;\nrequire \"fileinto\";"),
            "line 2: require must come before any other command");
  EXPECT_EQ(compile_error("if header :is :contains \"a\" \"b\" {}"),
            "line 1: only one match type may be given");
  EXPECT_EQ(compile_error("if header :is \"a\" {}"), "line 1: header takes 2 arguments, not 1");
  EXPECT_EQ(compile_error("if size 10 {}"), "line 1: size takes :over or :under and a number");
  EXPECT_EQ(compile_error("elsif true {}"), "line 1: elsif without a preceding if");
  EXPECT_EQ(compile_error("frobnicate;"), "line 1: unknown command \"frobnicate\"");
  EXPECT_EQ(compile_error("if frob {}"), "line 1: unknown test \"frob\"");
  EXPECT_EQ(compile_error("if header \"bad name\" \"x\" {}"),
            "line 1: invalid header name \"bad name\"");
  EXPECT_EQ(compile_error("redirect \"not an address\";"),
            "line 1: redirect: invalid address \"not an address\"");
  EXPECT_EQ(compile_error("if header :comparator \"i;nope\" \"a\" \"b\" {}"),
            "line 1: unknown comparator \"i;nope\"");
  EXPECT_EQ(compile_error("require \"comparator-i;ascii-numeric\";\n"
                          "if header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" {}"),
            "line 2: comparator \"i;ascii-numeric\" cannot be used with :contains or :matches");
  EXPECT_EQ(compile_error("/* never closed"), "line 1: unterminated /* comment");
  EXPECT_EQ(compile_error("if size :over 99999999999999999999 {}"), "line 1: number too large");
  EXPECT_EQ(compile_error("keep;}"), "line 1: unexpected '}'");
  EXPECT_EQ(compile_error("require \"vacation\";\nvacation :from \"not an address\" \"x\";"),
            "line 2: vacation: :from \"not an address\" is no address");
  EXPECT_EQ(compile_error("require \"vacation\"; vacation :from \"Me <me@example.com>\" \"x\";"),
            "");
  EXPECT_EQ(compile_error("require \"vacation\";\nvacation :days 1 :seconds 2 \"x\";"),
            "line 2: :seconds needs require \"vacation-seconds\"");
}

TEST(SieveCompile, LimitsBoundTheScript) {
  std::string deep;
  for (int i = 0; i < 40; ++i) {
    deep += "if true {";
  }
  EXPECT_NE(compile_error(deep).find("nested too deep"), std::string::npos);
  std::string nots = "if ";
  for (int i = 0; i < 40; ++i) {
    nots += "not ";
  }
  EXPECT_NE(compile_error(nots + "true {}").find("nested too deep"), std::string::npos);
  CompileLimits small;
  small.max_commands = 3;
  EXPECT_FALSE(compile("keep; keep; keep; keep;", small));
  small.max_script_bytes = 4;
  EXPECT_FALSE(compile("keep;", small));
}

TEST(SieveStrings, QuotedMultiLineAndEncoded) {
  // RFC 5228 §2.4.2: a multi-line string, dot-stuffing removed, CRLF line ends.
  auto out = run_script(
      "require [\"vacation\"];\n"
      "vacation :addresses \"bob@example.com\" text: # comment\n"
      "..dotted\n"
      "second\n"
      ".\n;\n");
  ASSERT_EQ(out.actions.size(), 2u);
  EXPECT_EQ(out.actions[0].vacation.reason, ".dotted\r\nsecond\r\n");
  // RFC 5228 §2.4.2.4 encoded characters, only when required.
  EXPECT_EQ(lines(run_script("require [\"fileinto\", \"encoded-character\"];\n"
                             "fileinto \"${hex: 49 4e}${unicode:42}OX\";")),
            (Lines{"store INBOX"}));
  EXPECT_EQ(lines(run_script("require \"fileinto\"; fileinto \"${hex:41}\";")),
            (Lines{"store ${hex:41}"}));
  EXPECT_EQ(compile_error("require \"encoded-character\";\nkeep :flags \"${unicode:D800}\";"),
            "line 2: :flags needs require \"imap4flags\"");
  EXPECT_NE(compile_error("require [\"encoded-character\", \"fileinto\"];\n"
                          "fileinto \"${unicode:D800}\";")
                .find("invalid unicode"),
            std::string::npos);
  // "\" quotes any character.
  EXPECT_EQ(lines(run_script("require \"fileinto\"; fileinto \"a\\\"b\\\\c\\d\";")),
            (Lines{"store a\"b\\cd"}));
}

TEST(SieveRun, ImplicitKeepAndTheActionsThatCancelIt) {
  EXPECT_EQ(lines(run_script("")), (Lines{"store INBOX"}));
  EXPECT_TRUE(run_script("").implicit_keep);
  EXPECT_EQ(lines(run_script("discard;")), (Lines{"discard"}));
  EXPECT_EQ(lines(run_script("require \"fileinto\"; fileinto \"A\"; fileinto \"A\"; keep;")),
            (Lines{"store A", "store INBOX"}));
  EXPECT_EQ(lines(run_script("require \"fileinto\"; discard; fileinto \"A\";")),
            (Lines{"store A"}));
  EXPECT_EQ(lines(run_script("require [\"fileinto\", \"copy\"]; fileinto :copy \"A\";")),
            (Lines{"store A", "store INBOX"}));
  EXPECT_EQ(lines(run_script("redirect \"x@example.net\"; redirect \"X@example.net\";")),
            (Lines{"redirect x@example.net"}));
  EXPECT_EQ(lines(run_script("require \"copy\"; redirect :copy \"x@example.net\";")),
            (Lines{"redirect x@example.net", "store INBOX"}));
  EXPECT_EQ(lines(run_script("require \"fileinto\"; fileinto \"inbox\"; stop; discard;")),
            (Lines{"store INBOX"}));
}

TEST(SieveRun, HeaderAddressEnvelopeExistsSize) {
  auto yes = [](std::string_view test, std::string_view require = "") {
    auto out = run_script(std::string(require) + "if " + std::string(test) + " { discard; }");
    return lines(out) == Lines{"discard"};
  };
  EXPECT_TRUE(yes("header :contains \"subject\" \"réunion\""));  // RFC 2047 decoded, casemap
  EXPECT_FALSE(yes("header :comparator \"i;octet\" :contains \"subject\" \"réunion\""));
  EXPECT_TRUE(yes("header :is \"X-Tag\" \"two\""));
  EXPECT_TRUE(yes("header :matches \"subject\" \"*plan?ing\""));
  EXPECT_FALSE(yes("header :is \"subject\" \"planning\""));
  EXPECT_TRUE(yes("address :is :domain \"to\" \"EXAMPLE.NET\""));
  EXPECT_TRUE(yes("address :is :all \"cc\" \"erin@example.com\""));  // inside a group
  EXPECT_TRUE(yes("address :localpart :is \"from\" \"alice\""));
  EXPECT_FALSE(yes("address :is \"from\" \"Alice Example\""));
  EXPECT_TRUE(yes("address :user :is \"to\" \"bob\"", "require \"subaddress\";"));
  EXPECT_TRUE(yes("address :detail :is \"to\" \"lists\"", "require \"subaddress\";"));
  EXPECT_FALSE(yes("address :detail :matches \"from\" \"*\"", "require \"subaddress\";"));
  EXPECT_TRUE(yes("envelope :domain :is \"from\" \"example.org\"", "require \"envelope\";"));
  EXPECT_TRUE(
      yes("envelope :detail :is \"to\" \"lists\"", "require [\"envelope\",\"subaddress\"];"));
  EXPECT_TRUE(yes("exists [\"x-spam-score\", \"x-tag\"]"));
  EXPECT_FALSE(yes("exists [\"x-spam-score\", \"x-missing\"]"));
  EXPECT_TRUE(yes("size :over 100"));
  EXPECT_FALSE(yes("size :under 100"));
  EXPECT_TRUE(yes("size :under 1K"));
  EXPECT_TRUE(yes("size :under 1M"));
  EXPECT_TRUE(yes("allof (true, not false, anyof (false, true))"));
  EXPECT_FALSE(yes("anyof (false, allof (true, false))"));
  // The null sender is "" whatever the address part (RFC 5228 §5.4).
  auto out = run_script("require \"envelope\"; if envelope :domain :is \"from\" \"\" { discard; }",
                        kMessage, Envelope{"", "bob@example.com", ""});
  EXPECT_EQ(lines(out), (Lines{"discard"}));
}

TEST(SieveRun, ComparatorsAndRelational) {
  auto yes = [](std::string_view test) {
    auto out =
        run_script("require [\"relational\", \"comparator-i;ascii-numeric\", \"index\"];\nif " +
                   std::string(test) + " { discard; }");
    return lines(out) == Lines{"discard"};
  };
  EXPECT_TRUE(yes("header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"5\""));
  EXPECT_FALSE(yes("header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"10\""));
  EXPECT_TRUE(yes("header :value \"lt\" \"x-spam-score\" \"8\""));
  EXPECT_TRUE(yes("header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-tag\" \"2\""));
  EXPECT_TRUE(yes("address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"4\""));
  EXPECT_TRUE(yes("header :index 2 :is \"x-tag\" \"two\""));
  EXPECT_TRUE(yes("header :index 1 :last :is \"x-tag\" \"two\""));
  EXPECT_FALSE(yes("header :index 3 :is \"x-tag\" \"two\""));
  // i;ascii-numeric: no digits is positive infinity, leading zeros do not count.
  using detail::Comparator;
  using detail::Relation;
  EXPECT_TRUE(detail::relation_holds(Comparator::kAsciiNumeric, Relation::kGt, "abc", "99999"));
  EXPECT_TRUE(detail::relation_holds(Comparator::kAsciiNumeric, Relation::kEq, "007x", "7"));
  EXPECT_TRUE(detail::relation_holds(Comparator::kAsciiNumeric, Relation::kEq, "x", "y"));
  EXPECT_TRUE(detail::relation_holds(Comparator::kAsciiNumeric, Relation::kLt,
                                     "99999999999999999999998", "99999999999999999999999"));
}

TEST(SieveMatch, WildcardsTakeAsLittleAsTheyCan) {
  detail::Match match;
  match.type = detail::MatchType::kMatches;
  std::vector<std::string> captures;
  ASSERT_TRUE(detail::matches(match, "a-b-c", "*-*", &captures));
  EXPECT_EQ(captures, (std::vector<std::string>{"a-b-c", "a", "b-c"}));
  ASSERT_TRUE(detail::matches(match, "héllo", "h?llo", &captures));
  EXPECT_EQ(captures[1], "é");
  EXPECT_TRUE(detail::matches(match, "a*b", "a\\*b", nullptr));
  EXPECT_FALSE(detail::matches(match, "axb", "a\\*b", nullptr));
  EXPECT_TRUE(detail::matches(match, "", "*", nullptr));
  EXPECT_FALSE(detail::matches(match, "", "?", nullptr));
  EXPECT_TRUE(detail::matches(match, "ABC", "a*c", nullptr));
  match.comparator = detail::Comparator::kOctet;
  EXPECT_FALSE(detail::matches(match, "ABC", "a*c", nullptr));
  // Linear in practice on a pathological pattern.
  std::string value(20000, 'a');
  EXPECT_FALSE(detail::matches(match, value, "*a*a*a*a*a*a*a*b", nullptr));
}

TEST(SieveRun, VariablesAndMatchVariables) {
  auto out = run_script(
      "require [\"variables\", \"fileinto\"];\n"
      "if header :matches \"subject\" \"* planning\" {\n"
      "  set :lower \"topic\" \"${1}\";\n"
      "  set :upperfirst :length \"n\" \"${topic}\";\n"
      "  fileinto \"Topics/${topic}/${n}/${unknown}x\";\n"
      "}\n");
  EXPECT_EQ(lines(out), (Lines{"store Topics/réunion/7/x"}));
  out = run_script(
      "require [\"variables\", \"fileinto\", \"relational\"];\n"
      "set \"a\" \"*?\\\\\"; set :quotewildcard \"b\" \"${a}\";\n"
      "if string :is \"${b}\" \"\\\\*\\\\?\\\\\\\\\" { fileinto \"ok\"; }\n"
      "if string :count \"eq\" [\"\", \"x\"] \"1\" { fileinto \"count\"; }\n");
  EXPECT_EQ(lines(out), (Lines{"store ok", "store count"}));
  EXPECT_EQ(compile_error("require \"variables\"; set \"1a\" \"x\";"),
            "line 1: set: invalid variable name \"1a\"");
  EXPECT_EQ(compile_error("require \"variables\"; set :lower :upper \"a\" \"x\";"),
            "line 1: set: two modifiers of the same precedence");
  // Without "variables", "${...}" is text.
  EXPECT_EQ(lines(run_script("require \"fileinto\"; fileinto \"${x}\";")), (Lines{"store ${x}"}));
}

TEST(SieveRun, Imap4Flags) {
  auto out = run_script(
      "require [\"imap4flags\", \"fileinto\", \"variables\", \"relational\"];\n"
      "setflag \"\\\\seen $Work\";\n"
      "addflag [\"\\\\Flagged\", \"$work\", \"\\\\Recent\"];\n"
      "fileinto \"A\";\n"
      "removeflag \"\\\\Seen\";\n"
      "fileinto :flags \"\\\\Answered\" \"B\";\n"
      "if hasflag :is \"\\\\flagged\" { keep; }\n"
      "setflag \"mine\" \"x y\"; addflag \"mine\" \"z\";\n"
      "if hasflag :count \"eq\" \"mine\" \"3\" { fileinto \"C\"; }\n");
  // \Recent is the server's flag; a script cannot set it.
  EXPECT_EQ(lines(out), (Lines{"store A \\Seen $Work \\Flagged", "store B \\Answered",
                               "store INBOX $Work \\Flagged", "store C $Work \\Flagged"}));
  EXPECT_EQ(compile_error("require \"imap4flags\"; if hasflag :count \"eq\" \"m\" \"3\" {}"),
            "line 1: :count needs require \"relational\"");
  // The implicit keep takes the flags set by then.
  EXPECT_EQ(lines(run_script("require \"imap4flags\"; addflag \"\\\\Seen\";")),
            (Lines{"store INBOX \\Seen"}));
}

TEST(SieveRun, Body) {
  constexpr std::string_view kMultipart =
      "From: a@example.org\r\n"
      "To: bob@example.com\r\n"
      "Subject: parts\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/alternative; boundary=\"b\"\r\n"
      "\r\n"
      "preamble words\r\n"
      "--b\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "caf=E9 au lait\r\n"
      "--b\r\n"
      "Content-Type: text/html; charset=utf-8\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "PGI+Ym9sZDwvYj4gd29yZA==\r\n"
      "--b--\r\n";
  auto yes = [&](std::string_view test) {
    auto out =
        run_script("require \"body\"; if " + std::string(test) + " { discard; }", kMultipart);
    return lines(out) == Lines{"discard"};
  };
  EXPECT_TRUE(yes("body :contains \"café\""));
  EXPECT_TRUE(yes("body :text :contains \"bold word\""));  // HTML tags dropped
  EXPECT_FALSE(yes("body :text :contains \"<b>\""));
  EXPECT_TRUE(yes("body :raw :contains \"PGI+Ym9sZDwvYj4\""));
  EXPECT_FALSE(yes("body :raw :contains \"café\""));
  EXPECT_TRUE(yes("body :content \"text/html\" :contains \"<b>bold\""));
  EXPECT_FALSE(yes("body :content \"text/html\" :contains \"café\""));
  EXPECT_TRUE(yes("body :content \"multipart\" :contains \"preamble\""));
  EXPECT_TRUE(yes("body :content \"text\" :contains \"lait\""));
}

TEST(SieveRun, Vacation) {
  std::string_view script =
      "require \"vacation\";\n"
      "vacation :days 3 :addresses [\"carol@example.net\"] \"Away until Monday.\";\n";
  auto out = run_script(script);
  ASSERT_EQ(out.actions.size(), 2u);
  EXPECT_EQ(out.actions[0].kind, ActionKind::kVacation);
  EXPECT_EQ(out.actions[0].vacation.seconds, 3u * 86400);
  EXPECT_EQ(out.actions[0].vacation.subject, "Auto: Réunion planning");
  EXPECT_FALSE(out.actions[0].vacation.handle.empty());
  EXPECT_EQ(out.actions[1].kind, ActionKind::kKeep);  // vacation keeps the implicit keep
  // No reply to the null sender, to a list, to automated mail, or when the
  // recipient is not named in the message.
  EXPECT_EQ(lines(run_script(script, kMessage, Envelope{"", "bob+lists@example.com", ""})),
            (Lines{"store INBOX"}));
  EXPECT_EQ(
      lines(run_script(script, kMessage, Envelope{"owner-x@example.org", "bob@example.com", ""})),
      (Lines{"store INBOX"}));
  std::string list = "List-Id: <x.example.org>\r\n" + std::string(kMessage);
  EXPECT_EQ(lines(run_script(script, list)), (Lines{"store INBOX"}));
  std::string automated = "Auto-Submitted: auto-replied\r\n" + std::string(kMessage);
  EXPECT_EQ(lines(run_script(script, automated)), (Lines{"store INBOX"}));
  std::string_view plain = "require \"vacation\"; vacation \"Away.\";";
  EXPECT_EQ(
      lines(run_script(plain, kMessage, Envelope{"alice@example.org", "zed@example.com", ""})),
      (Lines{"store INBOX"}));
  // :addresses names the recipient's other addresses.
  EXPECT_EQ(
      lines(run_script(script, kMessage, Envelope{"alice@example.org", "zed@example.com", ""})),
      (Lines{"vacation", "store INBOX"}));
  // The envelope recipient without its detail counts too.
  EXPECT_EQ(lines(run_script("require \"vacation\"; vacation \"x\";", kMessage,
                             Envelope{"alice@example.org", "carol+x@example.net", ""})),
            (Lines{"vacation", "store INBOX"}));
  // Twice is a run-time error: the message is kept and nothing else is done.
  out = run_script("require \"vacation\"; vacation \"a\"; vacation \"b\";");
  EXPECT_EQ(lines(out), (Lines{"store INBOX"}));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(*out.error, "line 1: vacation may be executed only once");
}

TEST(SieveRun, RunTimeErrorsKeepTheMessage) {
  Environment environment;
  environment.max_redirects = 1;
  auto out = run_script("redirect \"a@example.net\"; redirect \"b@example.net\";", kMessage,
                        Envelope{"alice@example.org", "bob@example.com", ""}, environment);
  EXPECT_EQ(lines(out), (Lines{"store INBOX"}));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(*out.error, "line 1: too many redirects (over 1)");
  out = run_script("require [\"variables\", \"fileinto\"]; fileinto \"${empty}\";");
  EXPECT_EQ(lines(out), (Lines{"store INBOX"}));
  EXPECT_TRUE(out.error);
}

TEST(SieveRun, MailboxAndDate) {
  Environment environment;
  environment.mailbox_exists = [](std::string_view name) { return name == "Lists"; };
  environment.now = 1717408800;  // 2024-06-03 10:00:00 UTC, a Monday
  auto out = run_script(
      "require [\"mailbox\", \"fileinto\", \"date\", \"relational\"];\n"
      "if mailboxexists \"Lists\" { fileinto :create \"Lists\"; }\n"
      "if mailboxexists [\"Lists\", \"Nope\"] { fileinto \"Never\"; }\n"
      "if currentdate :zone \"+0200\" :is \"time\" \"12:00:00\" { fileinto \"Noon\"; }\n"
      "if currentdate :is \"weekday\" \"1\" { fileinto \"Monday\"; }\n"
      "if date :originalzone :is \"date\" \"iso8601\" \"2024-06-03T11:59:58+02:00\" { fileinto "
      "\"Orig\"; }\n"
      "if date :is \"date\" \"time\" \"09:59:58\" { fileinto \"Utc\"; }\n"
      "if date :zone \"-0500\" :value \"lt\" \"received\" \"hour\" \"06\" { fileinto \"Rcvd\"; }\n",
      kMessage, Envelope{"alice@example.org", "bob@example.com", ""}, environment);
  EXPECT_EQ(lines(out), (Lines{"store Lists", "store Noon", "store Monday", "store Orig",
                               "store Utc", "store Rcvd"}));
  EXPECT_TRUE(out.actions[0].create);
  EXPECT_EQ(detail::date_part("std11", 0, 0), "Thu, 1 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(detail::date_part("julian", 0, 0), "40587");
  EXPECT_EQ(detail::date_part("iso8601", -1, -90), "1969-12-31T22:29:59-01:30");
}

TEST(SieveRun, IfElsifElseTakeOneBranch) {
  std::string_view script =
      "require \"fileinto\";\n"
      "if header :is \"x-tag\" \"none\" { fileinto \"A\"; }\n"
      "elsif header :is \"x-tag\" \"one\" { fileinto \"B\"; }\n"
      "elsif true { fileinto \"C\"; }\n"
      "else { fileinto \"D\"; }\n"
      "if false { fileinto \"E\"; } else { if true { fileinto \"F\"; stop; } }\n"
      "fileinto \"G\";\n";
  EXPECT_EQ(lines(run_script(script)), (Lines{"store B", "store F"}));
  EXPECT_EQ(compile_error("if true { require \"fileinto\"; }"),
            "line 1: require must come before any other command");
  EXPECT_EQ(compile_error("else { keep; }"), "line 1: else without a preceding if");
  EXPECT_EQ(compile_error("if true { keep; }\nkeep;\nelse { keep; }"),
            "line 3: else without a preceding if");
  // RFC 5228 §5.1: the address test reads only fields that hold addresses.
  EXPECT_EQ(compile_error("if address :is \"subject\" \"x\" {}"),
            "line 1: address: \"subject\" holds no addresses");
}

TEST(SieveRun, WorkLimitBoundsLongPatternsOnLargeMessages) {
  std::string big = "Subject: " + std::string(200000, 'a') + "\r\n\r\nbody\r\n";
  std::string pattern(2000, '*');
  pattern += "b";
  std::string script = "if header :matches \"subject\" \"" + pattern + "\" { discard; }";
  auto out = run_script(script, big);
  ASSERT_TRUE(out.error);
  EXPECT_EQ(*out.error, "line 1: the script's comparisons took too much work");
  EXPECT_EQ(lines(out), (Lines{"store INBOX"}));
  // An ordinary test on the same message is well within it.
  EXPECT_EQ(lines(run_script("if header :contains \"subject\" \"aaab\" { discard; }", big)),
            (Lines{"store INBOX"}));
}

TEST(SieveRun, StepLimitEndsARunaway) {
  Environment environment;
  environment.max_steps = 50;
  std::string script;
  for (int i = 0; i < 60; ++i) {
    script += "if true {}\n";
  }
  auto out =
      run_script(script, kMessage, Envelope{"a@example.org", "b@example.com", ""}, environment);
  EXPECT_TRUE(out.error);
  EXPECT_EQ(lines(out), (Lines{"store INBOX"}));
}

// RFC 5235 §3.2: spamtest reads Environment::spam_score.
std::vector<std::string> spam_lines(std::string_view script, std::optional<double> score) {
  Environment environment;
  environment.spam_score = score;
  return lines(run_script(script, kMessage, Envelope{"alice@example.org", "bob@example.com", ""},
                          environment));
}

TEST(SieveSpamtest, NeedsItsCapabilityAndPercentNeedsSpamtestplus) {
  EXPECT_EQ(compile_error("if spamtest \"1\" { discard; }"),
            "line 1: spamtest needs require \"spamtest\" or \"spamtestplus\"");
  EXPECT_EQ(compile_error("require \"spamtest\";\nif spamtest :percent \"1\" { discard; }"),
            "line 2: :percent needs require \"spamtestplus\"");
  EXPECT_EQ(compile_error("require \"spamtest\"; if spamtest \"1\" { discard; }"), "");
  EXPECT_EQ(compile_error("require \"spamtestplus\"; if spamtest \"1\" { discard; }"), "");
  EXPECT_EQ(compile_error("require \"spamtestplus\"; if spamtest :percent \"1\" { discard; }"), "");
  EXPECT_EQ(compile_error("require [\"spamtest\", \"spamtestplus\"];\n"
                          "if spamtest :percent :is \"1\" { discard; }"),
            "");
  EXPECT_EQ(compile_error("require \"spamtestplus\"; if spamtest :percent :percent \"1\" {}"),
            "line 1: :percent given twice");
  EXPECT_EQ(compile_error("require \"spamtest\"; if spamtest {}"),
            "line 1: spamtest takes 1 argument, not 0");
  EXPECT_EQ(compile_error("require \"spamtest\"; if spamtest \"1\" \"2\" {}"),
            "line 1: spamtest takes 1 argument, not 2");
  EXPECT_EQ(compile_error("require \"spamtest\"; if spamtest :over \"1\" {}"),
            "line 1: unknown tag :over for spamtest");
  EXPECT_EQ(compile_error("require \"spamtest\"; if spamtest :value \"ge\" \"1\" {}"),
            "line 1: :value needs require \"relational\"");
  EXPECT_EQ(compile_error("require [\"spamtest\", \"comparator-i;ascii-numeric\"];\n"
                          "if spamtest :matches :comparator \"i;ascii-numeric\" \"1*\" {}"),
            "line 2: comparator \"i;ascii-numeric\" cannot be used with :contains or :matches");
  EXPECT_NE(supported_extensions().find(" spamtest spamtestplus"), std::string_view::npos);
}

TEST(SieveSpamtest, NormalizedResult) {
  using detail::spamtest_result;
  EXPECT_EQ(spamtest_result(std::nullopt, false), "0");
  EXPECT_EQ(spamtest_result(std::nullopt, true), "0");
  EXPECT_EQ(spamtest_result(std::numeric_limits<double>::quiet_NaN(), false), "0");
  // 1 + floor(9 × score): 1 clear .. 10 for a score of 1.
  EXPECT_EQ(spamtest_result(0.0, false), "1");
  EXPECT_EQ(spamtest_result(0.11, false), "1");
  EXPECT_EQ(spamtest_result(1.0 / 9, false), "2");
  EXPECT_EQ(spamtest_result(0.19, false), "2");
  EXPECT_EQ(spamtest_result(0.5, false), "5");
  EXPECT_EQ(spamtest_result(0.9, false), "9");
  EXPECT_EQ(spamtest_result(0.999, false), "9");
  EXPECT_EQ(spamtest_result(1.0, false), "10");
  // floor(100 × score), binary rounding not biting (0.29 × 100 = 28.999...).
  EXPECT_EQ(spamtest_result(0.0, true), "0");
  EXPECT_EQ(spamtest_result(0.29, true), "29");
  EXPECT_EQ(spamtest_result(0.369, true), "36");
  EXPECT_EQ(spamtest_result(0.37, true), "37");
  EXPECT_EQ(spamtest_result(0.999, true), "99");
  EXPECT_EQ(spamtest_result(1.0, true), "100");
  for (int n = 0; n <= 100; ++n) {
    EXPECT_EQ(spamtest_result(n / 100.0, true), std::to_string(n));
  }
  // Out of range: clamped.
  EXPECT_EQ(spamtest_result(-0.5, false), "1");
  EXPECT_EQ(spamtest_result(-0.5, true), "0");
  EXPECT_EQ(spamtest_result(7.0, false), "10");
  EXPECT_EQ(spamtest_result(7.0, true), "100");
}

TEST(SieveSpamtest, Rfc5235Examples) {
  // §3.2.1
  std::string_view plain =
      "require [\"spamtest\", \"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"];\n"
      "if spamtest :value \"eq\" :comparator \"i;ascii-numeric\" \"0\"\n"
      "{\n    fileinto \"INBOX.unclassified\";\n}\n"
      "elsif spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"3\"\n"
      "{\n    fileinto \"INBOX.spam-trap\";\n}\n";
  EXPECT_EQ(spam_lines(plain, std::nullopt), (Lines{"store INBOX.unclassified"}));
  EXPECT_EQ(spam_lines(plain, 0.0), (Lines{"store INBOX"}));
  EXPECT_EQ(spam_lines(plain, 0.2), (Lines{"store INBOX"}));             // 2
  EXPECT_EQ(spam_lines(plain, 0.23), (Lines{"store INBOX.spam-trap"}));  // 3
  EXPECT_EQ(spam_lines(plain, 0.95), (Lines{"store INBOX.spam-trap"}));
  EXPECT_EQ(spam_lines(plain, 1.0), (Lines{"store INBOX.spam-trap"}));
  // §3.2.2, with :value and with :count deciding "not tested": the same.
  std::string_view rest =
      "elsif spamtest :percent :value \"eq\"\n"
      "               :comparator \"i;ascii-numeric\" \"0\"\n"
      "{\n    fileinto \"INBOX.not-spam\";\n}\n"
      "elsif spamtest :percent :value \"lt\"\n"
      "               :comparator \"i;ascii-numeric\" \"37\"\n"
      "{\n    fileinto \"INBOX.spam-trap\";\n}\n"
      "else\n{\n    discard;\n}\n";
  std::string head =
      "require [\"spamtestplus\", \"fileinto\", \"relational\",\n"
      "         \"comparator-i;ascii-numeric\"];\n";
  std::string by_value = head +
                         "if spamtest :value \"eq\"\n"
                         "            :comparator \"i;ascii-numeric\" \"0\"\n"
                         "{\n    fileinto \"INBOX.unclassified\";\n}\n" +
                         std::string(rest);
  std::string by_count = head +
                         "if spamtest :percent :count \"eq\"\n"
                         "            :comparator \"i;ascii-numeric\" \"0\"\n"
                         "{\n    fileinto \"INBOX.unclassified\";\n}\n" +
                         std::string(rest);
  for (const std::string& script : {by_value, by_count}) {
    EXPECT_EQ(spam_lines(script, std::nullopt), (Lines{"store INBOX.unclassified"})) << script;
    EXPECT_EQ(spam_lines(script, 0.0), (Lines{"store INBOX.not-spam"})) << script;
    EXPECT_EQ(spam_lines(script, 0.009), (Lines{"store INBOX.not-spam"})) << script;
    EXPECT_EQ(spam_lines(script, 0.01), (Lines{"store INBOX.spam-trap"})) << script;
    EXPECT_EQ(spam_lines(script, 0.36), (Lines{"store INBOX.spam-trap"})) << script;
    EXPECT_EQ(spam_lines(script, 0.37), (Lines{"discard"})) << script;
    EXPECT_EQ(spam_lines(script, 1.0), (Lines{"discard"})) << script;
  }
}

TEST(SieveSpamtest, MatchTypesAndComparators) {
  auto yes = [](std::string_view test, std::optional<double> score) {
    return spam_lines(
               "require [\"spamtestplus\", \"relational\", \"comparator-i;ascii-numeric\"];\n"
               "if " +
                   std::string(test) + " { discard; }",
               score) == Lines{"discard"};
  };
  // The default match type is :is, the default comparator i;ascii-casemap.
  EXPECT_TRUE(yes("spamtest \"0\"", std::nullopt));
  EXPECT_TRUE(yes("spamtest \"5\"", 0.5));
  EXPECT_FALSE(yes("spamtest \"05\"", 0.5));  // :is compares strings
  EXPECT_TRUE(yes("spamtest :percent \"50\"", 0.5));
  EXPECT_TRUE(yes("spamtest :percent \"0\"", std::nullopt));
  EXPECT_TRUE(yes("spamtest :comparator \"i;octet\" :is \"10\"", 1.0));
  EXPECT_TRUE(yes("spamtest :matches \"1?\"", 1.0));
  EXPECT_TRUE(yes("spamtest :contains \"0\"", 1.0));
  EXPECT_TRUE(yes("spamtest :is :comparator \"i;ascii-numeric\" \"005\"", 0.5));
  // :value: "10" is less than "9" as strings, not as numbers.
  EXPECT_TRUE(yes("spamtest :value \"lt\" \"9\"", 1.0));
  EXPECT_FALSE(yes("spamtest :value \"lt\" :comparator \"i;ascii-numeric\" \"9\"", 1.0));
  EXPECT_TRUE(yes("spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"10\"", 1.0));
  EXPECT_TRUE(yes("spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"1\"", 0.0));
  EXPECT_FALSE(yes("spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"1\"", std::nullopt));
  EXPECT_TRUE(yes("spamtest :percent :value \"lt\" :comparator \"i;ascii-numeric\" \"37\"", 0.3));
  EXPECT_FALSE(yes("spamtest :percent :value \"lt\" :comparator \"i;ascii-numeric\" \"37\"", 0.4));
  EXPECT_TRUE(yes("spamtest :percent :value \"ge\" :comparator \"i;ascii-numeric\" \"90\"", 0.9));
  // :count: "1" when tested, "0" when not (RFC 5235 §3.1), :percent or not.
  for (auto* percent : {"", ":percent "}) {
    std::string count = std::string("spamtest ") + percent + ":count \"eq\" ";
    EXPECT_TRUE(yes(count + ":comparator \"i;ascii-numeric\" \"0\"", std::nullopt)) << percent;
    EXPECT_FALSE(yes(count + ":comparator \"i;ascii-numeric\" \"1\"", std::nullopt)) << percent;
    EXPECT_TRUE(yes(count + ":comparator \"i;ascii-numeric\" \"1\"", 0.0)) << percent;
    EXPECT_TRUE(yes(count + "\"1\"", 1.0)) << percent;
    EXPECT_FALSE(yes(count + "\"0\"", 0.0)) << percent;
  }
  // Inside anyof/not, and with several keys.
  EXPECT_TRUE(
      yes("not spamtest :percent :value \"gt\" :comparator \"i;ascii-numeric\" \"20\"", 0.2));
  EXPECT_TRUE(yes("spamtest [\"3\", \"4\", \"5\"]", 0.4));
  EXPECT_TRUE(yes("anyof (false, spamtest :percent \"100\")", 1.0));
}

}  // namespace
}  // namespace tern::sieve
