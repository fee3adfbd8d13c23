// SPDX-License-Identifier: Apache-2.0
#include "domain/flags.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tern::domain {
namespace {

using Words = std::vector<std::string>;

TEST(SystemFlag, NamesTheFiveFlagsAClientMaySetInAnyCase) {
  EXPECT_EQ(system_flag("\\Seen"), kFlagSeen);
  EXPECT_EQ(system_flag("\\fLaGgEd"), kFlagFlagged);
  EXPECT_EQ(system_flag("\\Draft"), kFlagDraft);
  EXPECT_EQ(system_flag("\\Recent"), std::nullopt);  // the server's, not a stored flag
  EXPECT_EQ(system_flag("Seen"), std::nullopt);      // a keyword
  EXPECT_EQ(system_flag("$Label1"), std::nullopt);
}

TEST(KeywordText, JoinsWithSingleSpaces) {
  EXPECT_EQ(join_keywords({}), "");
  EXPECT_EQ(join_keywords({"$Forwarded"}), "$Forwarded");
  EXPECT_EQ(join_keywords({"$Junk", "$Label1", "work"}), "$Junk $Label1 work");
}

TEST(KeywordText, SplitIsTheInverseOfJoin) {
  for (const Words& keywords : {Words{}, Words{"a"}, Words{"$Junk", "$Label1", "work"}}) {
    EXPECT_EQ(split_keywords(join_keywords(keywords)), keywords);
  }
}

TEST(KeywordText, SplitSkipsEmptyWords) {
  EXPECT_EQ(split_keywords(""), Words{});
  EXPECT_EQ(split_keywords("   "), Words{});
  EXPECT_EQ(split_keywords(" a  b "), (Words{"a", "b"}));
}

TEST(NormalizeKeywords, SortsAndRemovesDuplicates) {
  EXPECT_EQ(normalize_keywords({"b", "a", "b", "$x"}), (Words{"$x", "a", "b"}));
}

TEST(NormalizeKeywords, IgnoresCaseAndKeepsTheFirstSpelling) {
  EXPECT_EQ(normalize_keywords({"zed", "Alpha", "$Junk", "ALPHA", "$junk"}),
            (Words{"$Junk", "Alpha", "zed"}));
  EXPECT_TRUE(keyword_less("apple", "Zed"));
  EXPECT_FALSE(keyword_less("Zed", "zed"));
}

TEST(DefineKeywords, AnotherSpellingIsNotANewKeyword) {
  Words defined{"Project-X"};
  EXPECT_FALSE(define_keywords(defined, {"project-x"}));
  EXPECT_TRUE(define_keywords(defined, {"apple", "PROJECT-X"}));
  EXPECT_EQ(defined, (Words{"apple", "Project-X"}));
  Words keywords{"APPLE", "new", "project-x"};
  spell_as_defined(defined, keywords);
  EXPECT_EQ(keywords, (Words{"apple", "new", "Project-X"}));
}

TEST(ApplyFlagChange, MatchesKeywordsWithoutCase) {
  Entry entry;
  entry.keywords = {"$Junk", "Project-X"};
  EXPECT_FALSE(apply_flag_change(entry, prepare_flag_change({FlagOp::kAdd, 0, {"$JUNK"}, {}})));
  EXPECT_TRUE(
      apply_flag_change(entry, prepare_flag_change({FlagOp::kRemove, 0, {"project-x"}, {}})));
  EXPECT_EQ(entry.keywords, Words{"$Junk"});
}

TEST(DefineKeywords, GrowsOnlyForNewKeywords) {
  Words defined{"a", "c"};
  EXPECT_FALSE(define_keywords(defined, {"a"}));
  EXPECT_TRUE(define_keywords(defined, {"b", "c"}));
  EXPECT_EQ(defined, (Words{"a", "b", "c"}));
}

}  // namespace
}  // namespace tern::domain
