// SPDX-License-Identifier: Apache-2.0
// MTA-STS TXT and policy parsing, MX pattern matching and the policy cache
// (RFC 8461 §3.1, §3.2, §4.1, §5.1).
#include "services/delivery/sts_policy.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "runtime/testing.hpp"

namespace tern::services::delivery {
namespace {

using namespace std::chrono_literals;

dns::TxtRecord txt(std::vector<std::string> strings) {
  return dns::TxtRecord{std::move(strings)};
}

TEST(StsTxt, TakesTheIdOfTheOneStsv1Record) {
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; id=20160831085700Z;"})}), "20160831085700Z");
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1;id=abc"})}), "abc");
  // Strings of one record are joined without spaces (§3.1).
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; id=ab", "cd"})}), "abcd");
  // Other records are discarded; unknown fields ignored; the first id wins.
  EXPECT_EQ(parse_sts_txt({txt({"v=spf1 -all"}), txt({"v=STSv1; ext=1; id=x1; id=x2"})}), "x1");
}

TEST(StsTxt, NoneSeveralOrInvalidMeanNoPolicy) {
  EXPECT_EQ(parse_sts_txt({}), std::nullopt);
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; id=a"}), txt({"v=STSv1; id=b"})}), std::nullopt);
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; id=bad-id"})}), std::nullopt);  // 1*32 ALPHA/DIGIT
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; id=" + std::string(33, 'a')})}), std::nullopt);
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; noequals"})}), std::nullopt);
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv1; ext=1"})}), std::nullopt);  // no id
  EXPECT_EQ(parse_sts_txt({txt({"v=STSv2; id=a"})}), std::nullopt);
  EXPECT_EQ(parse_sts_txt({txt({" v=STSv1; id=a"})}), std::nullopt);  // version first
}

TEST(StsPolicyParse, TheRfcExample) {
  // RFC 8461 §3.2, with CRLF and LF line ends.
  for (const char* eol : {"\r\n", "\n"}) {
    std::string body = std::string("version: STSv1") + eol + "mode: enforce" + eol +
                       "mx: mail.example.com" + eol + "mx: *.example.net" + eol +
                       "mx: backupmx.example.com" + eol + "max_age: 604800" + eol;
    auto policy = parse_sts_policy(body, "id1");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->id, "id1");
    EXPECT_EQ(policy->mode, StsMode::kEnforce);
    EXPECT_EQ(policy->mx, (std::vector<std::string>{"mail.example.com", "*.example.net",
                                                    "backupmx.example.com"}));
    EXPECT_EQ(policy->max_age, 604800U);
    EXPECT_EQ(policy->lines.front(), "version: STSv1");
    EXPECT_EQ(policy->lines.size(), 6U);
  }
}

TEST(StsPolicyParse, ExtensionsRepeatsAndNoFinalNewline) {
  auto policy = parse_sts_policy(
      "version: STSv1\nmode:testing\nmode: enforce\nx-ext: some value\nmx: MX.Example.ORG\n"
      "max_age: 86400",
      "i");
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->mode, StsMode::kTesting);  // a repeated field keeps its first value
  EXPECT_EQ(policy->mx, std::vector<std::string>{"mx.example.org"});
  EXPECT_EQ(policy->max_age, 86400U);
  // mode none needs no mx.
  auto none = parse_sts_policy("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", "i");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->mode, StsMode::kNone);
}

TEST(StsPolicyParse, RejectsWhatTheGrammarDoesNot) {
  const char* bad[] = {
      "",
      "mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n",  // version not first
      "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",  // unknown version
      "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",   // unknown mode
      "version: STSv1\nmode: enforce\nmax_age: 1\n",                 // no mx
      "version: STSv1\nmode: enforce\nmx: a.example\n",              // no max_age
      "version: STSv1\nmx: a.example\nmax_age: 1\n",                 // no mode
      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",
      "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
      "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
      "version: STSv1\nmode: enforce\nmx: a.example\n\nmax_age: 1\n",  // empty line inside
      "version: STSv1\nmode: enforce\njunk\nmx: a.example\nmax_age: 1\n",
      "<html>version: STSv1</html>",
  };
  for (const char* body : bad) {
    EXPECT_FALSE(parse_sts_policy(body, "i")) << body;
  }
}

TEST(StsMxMatch, WildcardCoversExactlyOneLabel) {
  // RFC 8461 §4.1's own examples.
  EXPECT_TRUE(sts_mx_matches("*.example.com", "mail.example.com"));
  EXPECT_FALSE(sts_mx_matches("*.example.com", "example.com"));
  EXPECT_FALSE(sts_mx_matches("*.example.com", "foo.bar.example.com"));
  EXPECT_TRUE(sts_mx_matches("mail.example.com", "MAIL.example.com."));
  EXPECT_FALSE(sts_mx_matches("mail.example.com", "mail.example.co"));
  EXPECT_FALSE(sts_mx_matches("mail.example.com", "xmail.example.com"));
  EXPECT_FALSE(sts_mx_matches("*.example.com", "mailexample.com"));
  EXPECT_FALSE(sts_mx_matches("", "example.com"));
  StsPolicy policy;
  policy.mx = {"mx1.example.org", "*.backup.example.org"};
  EXPECT_TRUE(sts_policy_allows(policy, "mx1.example.org"));
  EXPECT_TRUE(sts_policy_allows(policy, "b.backup.example.org"));
  EXPECT_FALSE(sts_policy_allows(policy, "evil.example.net"));
}

StsCache::Entry entry(std::string id, std::uint32_t max_age, StsCache::Clock::time_point fetched) {
  std::string body = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: " +
                     std::to_string(max_age) + "\r\n";
  auto policy = parse_sts_policy(body, std::move(id));
  return StsCache::Entry{*policy, fetched, body};
}

TEST(StsCache, FreshUntilMaxAge) {
  StsCache cache;
  const auto t0 = StsCache::Clock::time_point(std::chrono::seconds(1'700'000'000));
  EXPECT_FALSE(cache.fresh("example.org", t0));
  ASSERT_TRUE(cache.store("example.org", entry("a", 3600, t0)));
  ASSERT_TRUE(cache.fresh("example.org", t0 + 3599s));
  EXPECT_EQ(cache.fresh("example.org", t0 + 3599s)->policy.id, "a");
  EXPECT_FALSE(cache.fresh("example.org", t0 + 3600s));  // max_age from the fetch time
  EXPECT_FALSE(cache.fresh("other.example", t0));
  // A newer fetch replaces the entry (a changed TXT id).
  ASSERT_TRUE(cache.store("example.org", entry("b", 60, t0 + 4000s)));
  EXPECT_EQ(cache.fresh("example.org", t0 + 4010s)->policy.id, "b");
}

TEST(StsCache, FailedFetchWaitsFiveMinutesPerId) {
  StsCache cache;
  const auto t0 = StsCache::Clock::time_point(std::chrono::seconds(1'700'000'000));
  EXPECT_TRUE(cache.may_fetch("example.org", "a", t0));
  cache.note_fetch_failure("example.org", "a", t0);
  EXPECT_FALSE(cache.may_fetch("example.org", "a", t0 + 299s));
  EXPECT_TRUE(cache.may_fetch("example.org", "b", t0 + 1s));  // a new id may be tried at once
  EXPECT_TRUE(cache.may_fetch("example.org", "a", t0 + 300s));
}

TEST(StsCache, SurvivesARestartInItsDirectory) {
  runtime::testing::TempDir dir;
  const std::string path = dir.path() + "/mta-sts";
  const auto t0 = StsCache::Clock::time_point(std::chrono::seconds(1'700'000'000));
  {
    StsCache cache(path);
    ASSERT_TRUE(cache.store("example.org", entry("persisted", 86400, t0)));
    // A name that is not a plain domain is cached in memory only.
    ASSERT_TRUE(cache.store("../evil", entry("x", 86400, t0)));
  }
  EXPECT_TRUE(std::filesystem::exists(path + "/example.org"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/evil"));
  StsCache reloaded(path);
  auto fresh = reloaded.fresh("example.org", t0 + 10s);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->policy.id, "persisted");
  EXPECT_EQ(fresh->policy.mx, std::vector<std::string>{"mx.example.org"});
  EXPECT_FALSE(reloaded.fresh("example.org", t0 + 86400s));
}

}  // namespace
}  // namespace tern::services::delivery
