// SPDX-License-Identifier: Apache-2.0
// The SpamStore conformance suite: a typed GoogleTest suite every backend of
// domain::Storage instantiates beside StorageConformance (same Factory concept):
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Memory, SpamConformance,
//                                  ::testing::Types<MemoryFactory>);
//
// It pins down the port's promises (ports.hpp SpamStore): an empty model gives
// zeros; counts come only for the tokens asked for, sorted by token (as uint64),
// and never for a token unseen or back at 0/0; a message is learned once, again
// with the same label changes nothing, with the other label moves its counts
// (never below 0); forget and reset; the site-wide model and each account's are
// apart; unknown accounts are kNotFound and an account's model goes with it; an
// empty message key is kInvalidInput; large lessons and tokens with the top bit
// set round-trip; lessons from several threads at once all count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "domain/ports.hpp"
#include "store/conformance/conformance_support.hpp"

namespace tern::store::conformance {

template <class Factory>
class SpamConformance : public ::testing::Test {
 protected:
  using Model = std::optional<domain::AccountId>;

  void SetUp() override {
    storage_ = factory_.make();
    if (!storage_) {
      GTEST_SKIP() << "backend not available";
    }
  }

  void TearDown() override { storage_.reset(); }

  domain::SpamStore& spam() { return storage_->spam(); }

  domain::Directory& dir() { return storage_->directory(); }

  // Adds example.com (once) and <local>@example.com; fails the test on error.
  domain::AccountId make_account(const std::string& local) {
    auto existing = wait(dir().find_domain("example.com"));
    EXPECT_TRUE(existing);
    if (existing && !*existing) {
      EXPECT_TRUE(wait(dir().add_domain("example.com")));
    }
    auto account = wait(dir().add_account(domain::NewAccount{local + "@example.com", "hash", 0}));
    EXPECT_TRUE(account) << account.error().message;
    return account ? account->id : domain::AccountId{};
  }

  // learn_spam(), expecting success.
  domain::SpamLearned learn(Model model, const std::string& key, domain::SpamLabel label,
                            std::vector<std::uint64_t> tokens) {
    auto learned =
        wait(spam().learn_spam(domain::SpamLesson{model, key, label, std::move(tokens)}));
    EXPECT_TRUE(learned) << learned.error().message;
    return learned ? *learned : domain::SpamLearned::kUnchanged;
  }

  // spam_counts(), expecting success.
  domain::SpamCounts counts(Model model, std::vector<std::uint64_t> tokens) {
    auto counted = wait(spam().spam_counts(model, std::move(tokens)));
    EXPECT_TRUE(counted) << counted.error().message;
    return counted ? *counted : domain::SpamCounts{};
  }

  // spam_stats(), expecting success.
  domain::SpamModelStats stats(Model model) {
    auto got = wait(spam().spam_stats(model));
    EXPECT_TRUE(got) << got.error().message;
    return got ? *got : domain::SpamModelStats{};
  }

  static domain::SpamModelStats model_stats(std::uint64_t spam, std::uint64_t ham,
                                            std::uint64_t tokens) {
    return domain::SpamModelStats{spam, ham, tokens};
  }

  using Counts = std::vector<domain::SpamTokenCount>;

  // `n` distinct tokens spread over the whole uint64 range (top bit set for about
  // half), from a fixed seed.
  static std::vector<std::uint64_t> spread_tokens(std::size_t n, std::uint64_t seed) {
    std::vector<std::uint64_t> out;
    std::uint64_t x = seed;
    while (out.size() < n) {
      // splitmix64
      x += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      out.push_back(z ^ (z >> 31));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Factory factory_;
  std::unique_ptr<domain::Storage> storage_;
};

TYPED_TEST_SUITE_P(SpamConformance);

TYPED_TEST_P(SpamConformance, AnEmptyModelGivesZeros) {
  const auto account = this->make_account("alice");
  for (auto model : {typename TestFixture::Model(), typename TestFixture::Model(account)}) {
    auto counts = this->counts(model, {1, 2, 3});
    EXPECT_EQ(counts.spam_messages, 0u);
    EXPECT_EQ(counts.ham_messages, 0u);
    EXPECT_TRUE(counts.tokens.empty());
    EXPECT_TRUE(this->counts(model, {}).tokens.empty());
    EXPECT_EQ(this->stats(model), this->model_stats(0, 0, 0));
  }
}

TYPED_TEST_P(SpamConformance, LearningCountsTheMessageAndItsTokens) {
  using Label = domain::SpamLabel;
  const std::optional<domain::AccountId> site;
  EXPECT_EQ(this->learn(site, "m1", Label::kSpam, {30, 10, 20}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(site, "m2", Label::kHam, {20, 90}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(site, "m3", Label::kSpam, {10}), domain::SpamLearned::kLearned);

  // Only the tokens asked for, sorted, the unseen ones absent.
  auto counts = this->counts(site, {50, 20, 10, 40});
  EXPECT_EQ(counts.spam_messages, 2u);
  EXPECT_EQ(counts.ham_messages, 1u);
  EXPECT_EQ(counts.tokens, (typename TestFixture::Counts{{10, 2, 0}, {20, 1, 1}}));
  EXPECT_EQ(this->counts(site, {90}).tokens, (typename TestFixture::Counts{{90, 0, 1}}));
  EXPECT_TRUE(this->counts(site, {1, 2, 3}).tokens.empty());
  EXPECT_EQ(this->stats(site), this->model_stats(2, 1, 4));
}

TYPED_TEST_P(SpamConformance, LearningAgainWithTheSameLabelChangesNothing) {
  using Label = domain::SpamLabel;
  const auto account = this->make_account("alice");
  EXPECT_EQ(this->learn(account, "m1", Label::kHam, {1, 2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(account, "m1", Label::kHam, {1, 2}), domain::SpamLearned::kUnchanged);
  // The key decides, whatever the tokens given this time.
  EXPECT_EQ(this->learn(account, "m1", Label::kHam, {1, 2, 3}), domain::SpamLearned::kUnchanged);
  auto counts = this->counts(account, {1, 2, 3});
  EXPECT_EQ(counts.spam_messages, 0u);
  EXPECT_EQ(counts.ham_messages, 1u);
  EXPECT_EQ(counts.tokens, (typename TestFixture::Counts{{1, 0, 1}, {2, 0, 1}}));
  EXPECT_EQ(this->stats(account), this->model_stats(0, 1, 2));
}

TYPED_TEST_P(SpamConformance, RelearningWithTheOtherLabelMovesTheCounts) {
  using Label = domain::SpamLabel;
  const auto account = this->make_account("alice");
  EXPECT_EQ(this->learn(account, "m1", Label::kSpam, {1, 2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(account, "m2", Label::kSpam, {2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(account, "m3", Label::kHam, {4}), domain::SpamLearned::kLearned);

  // Token 3 was never counted as spam: its spam count stays 0, not below.
  EXPECT_EQ(this->learn(account, "m1", Label::kHam, {1, 2, 3}), domain::SpamLearned::kRelearned);
  auto counts = this->counts(account, {1, 2, 3, 4});
  EXPECT_EQ(counts.spam_messages, 1u);
  EXPECT_EQ(counts.ham_messages, 2u);
  EXPECT_EQ(counts.tokens,
            (typename TestFixture::Counts{{1, 0, 1}, {2, 1, 1}, {3, 0, 1}, {4, 0, 1}}));
  EXPECT_EQ(this->stats(account), this->model_stats(1, 2, 4));

  // And back: now as spam again, once more kUnchanged after.
  EXPECT_EQ(this->learn(account, "m1", Label::kSpam, {1, 2, 3}), domain::SpamLearned::kRelearned);
  EXPECT_EQ(this->learn(account, "m1", Label::kSpam, {1, 2, 3}), domain::SpamLearned::kUnchanged);
  counts = this->counts(account, {1, 2, 3, 4});
  EXPECT_EQ(counts.spam_messages, 2u);
  EXPECT_EQ(counts.ham_messages, 1u);
  EXPECT_EQ(counts.tokens,
            (typename TestFixture::Counts{{1, 1, 0}, {2, 2, 0}, {3, 1, 0}, {4, 0, 1}}));

  // A ham message moved to spam whose tokens the model never counted as ham:
  // ham counts and messages never go below 0.
  EXPECT_EQ(this->learn(account, "m3", Label::kSpam, {4, 5}), domain::SpamLearned::kRelearned);
  counts = this->counts(account, {4, 5});
  EXPECT_EQ(counts.spam_messages, 3u);
  EXPECT_EQ(counts.ham_messages, 0u);
  EXPECT_EQ(counts.tokens, (typename TestFixture::Counts{{4, 1, 0}, {5, 1, 0}}));
}

TYPED_TEST_P(SpamConformance, ForgettingTakesAMessageBackOut) {
  using Label = domain::SpamLabel;
  const std::optional<domain::AccountId> site;
  EXPECT_EQ(this->learn(site, "a", Label::kSpam, {1, 2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(site, "b", Label::kSpam, {2, 3}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(site, "c", Label::kHam, {3}), domain::SpamLearned::kLearned);

  auto forgot = wait(this->spam().forget_spam(site, "a", {1, 2}));
  ASSERT_TRUE(forgot) << forgot.error().message;
  EXPECT_TRUE(*forgot);
  // Token 1 went back to 0/0: gone from the counts and from the stats.
  auto counts = this->counts(site, {1, 2, 3});
  EXPECT_EQ(counts.spam_messages, 1u);
  EXPECT_EQ(counts.ham_messages, 1u);
  EXPECT_EQ(counts.tokens, (typename TestFixture::Counts{{2, 1, 0}, {3, 1, 1}}));
  EXPECT_EQ(this->stats(site), this->model_stats(1, 1, 2));

  // Not learned (any more): false, nothing changes.
  for (const char* key : {"a", "never"}) {
    auto again = wait(this->spam().forget_spam(site, key, {2, 3}));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_FALSE(*again) << key;
  }
  EXPECT_EQ(this->counts(site, {1, 2, 3}).tokens,
            (typename TestFixture::Counts{{2, 1, 0}, {3, 1, 1}}));
  EXPECT_EQ(this->stats(site), this->model_stats(1, 1, 2));

  // A ham message, with a token it never had among those given: counts stop at 0.
  auto ham = wait(this->spam().forget_spam(site, "c", {3, 7}));
  ASSERT_TRUE(ham) << ham.error().message;
  EXPECT_TRUE(*ham);
  EXPECT_EQ(this->counts(site, {3, 7}).tokens, (typename TestFixture::Counts{{3, 1, 0}}));
  EXPECT_EQ(this->stats(site), this->model_stats(1, 0, 2));

  // A forgotten key can be learned anew.
  EXPECT_EQ(this->learn(site, "a", Label::kHam, {1}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->counts(site, {1}).tokens, (typename TestFixture::Counts{{1, 0, 1}}));
}

TYPED_TEST_P(SpamConformance, RelearnedAndForgottenTokensAtZeroDisappear) {
  using Label = domain::SpamLabel;
  const auto account = this->make_account("alice");
  EXPECT_EQ(this->learn(account, "a", Label::kSpam, {1, 2, 3}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(account, "a", Label::kHam, {1, 2, 3}), domain::SpamLearned::kRelearned);
  EXPECT_EQ(this->stats(account), this->model_stats(0, 1, 3));
  auto forgot = wait(this->spam().forget_spam(account, "a", {1, 2, 3}));
  ASSERT_TRUE(forgot) << forgot.error().message;
  EXPECT_TRUE(*forgot);
  auto counts = this->counts(account, {1, 2, 3});
  EXPECT_EQ(counts.spam_messages, 0u);
  EXPECT_EQ(counts.ham_messages, 0u);
  EXPECT_TRUE(counts.tokens.empty());
  EXPECT_EQ(this->stats(account), this->model_stats(0, 0, 0));
}

TYPED_TEST_P(SpamConformance, ResetEmptiesTheModel) {
  using Label = domain::SpamLabel;
  const auto account = this->make_account("alice");
  EXPECT_EQ(this->learn(account, "a", Label::kSpam, {1, 2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(account, "b", Label::kHam, {2, 3}), domain::SpamLearned::kLearned);
  ASSERT_TRUE(wait(this->spam().reset_spam_model(account)));
  auto counts = this->counts(account, {1, 2, 3});
  EXPECT_EQ(counts.spam_messages, 0u);
  EXPECT_EQ(counts.ham_messages, 0u);
  EXPECT_TRUE(counts.tokens.empty());
  EXPECT_EQ(this->stats(account), this->model_stats(0, 0, 0));
  // The learned keys went too.
  EXPECT_EQ(this->learn(account, "a", Label::kSpam, {1}), domain::SpamLearned::kLearned);
  auto forgot = wait(this->spam().forget_spam(account, "b", {2, 3}));
  ASSERT_TRUE(forgot);
  EXPECT_FALSE(*forgot);
  // Resetting an empty model is fine.
  ASSERT_TRUE(wait(this->spam().reset_spam_model(std::nullopt)));
  ASSERT_TRUE(wait(this->spam().reset_spam_model(std::nullopt)));
}

TYPED_TEST_P(SpamConformance, SiteWideAndAccountModelsAreApart) {
  using Label = domain::SpamLabel;
  const std::optional<domain::AccountId> site;
  const auto alice = this->make_account("alice");
  const auto bob = this->make_account("bob");
  // The same key in three models is three messages.
  EXPECT_EQ(this->learn(site, "k", Label::kSpam, {1, 2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(alice, "k", Label::kHam, {2, 3}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(bob, "k", Label::kSpam, {3}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(bob, "j", Label::kSpam, {4}), domain::SpamLearned::kLearned);

  EXPECT_EQ(this->counts(site, {1, 2, 3, 4}).tokens,
            (typename TestFixture::Counts{{1, 1, 0}, {2, 1, 0}}));
  EXPECT_EQ(this->counts(alice, {1, 2, 3, 4}).tokens,
            (typename TestFixture::Counts{{2, 0, 1}, {3, 0, 1}}));
  EXPECT_EQ(this->counts(bob, {1, 2, 3, 4}).tokens,
            (typename TestFixture::Counts{{3, 1, 0}, {4, 1, 0}}));
  EXPECT_EQ(this->stats(site), this->model_stats(1, 0, 2));
  EXPECT_EQ(this->stats(alice), this->model_stats(0, 1, 2));
  EXPECT_EQ(this->stats(bob), this->model_stats(2, 0, 2));

  // Relearning, forgetting and resetting one model leaves the others.
  EXPECT_EQ(this->learn(alice, "k", Label::kSpam, {2, 3}), domain::SpamLearned::kRelearned);
  auto forgot = wait(this->spam().forget_spam(bob, "j", {4}));
  ASSERT_TRUE(forgot);
  EXPECT_TRUE(*forgot);
  ASSERT_TRUE(wait(this->spam().reset_spam_model(site)));
  EXPECT_EQ(this->stats(site), this->model_stats(0, 0, 0));
  EXPECT_EQ(this->stats(alice), this->model_stats(1, 0, 2));
  EXPECT_EQ(this->stats(bob), this->model_stats(1, 0, 1));
  EXPECT_EQ(this->counts(bob, {3}).tokens, (typename TestFixture::Counts{{3, 1, 0}}));
}

TYPED_TEST_P(SpamConformance, UnknownAccountsAreNotFound) {
  const auto alice = this->make_account("alice");
  const auto unknown = domain::AccountId{domain::value_of(alice) + 1000};
  auto expect_not_found = [](const auto& result) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kNotFound) << result.error().message;
  };
  expect_not_found(wait(this->spam().spam_counts(unknown, {1})));
  expect_not_found(wait(
      this->spam().learn_spam(domain::SpamLesson{unknown, "k", domain::SpamLabel::kSpam, {1}})));
  expect_not_found(wait(this->spam().forget_spam(unknown, "k", {1})));
  expect_not_found(wait(this->spam().spam_stats(unknown)));
  expect_not_found(wait(this->spam().reset_spam_model(unknown)));
  // Nothing was stored anywhere.
  EXPECT_EQ(this->stats(std::nullopt), this->model_stats(0, 0, 0));
  EXPECT_EQ(this->stats(alice), this->model_stats(0, 0, 0));
}

TYPED_TEST_P(SpamConformance, AnAccountsModelGoesWithTheAccount) {
  using Label = domain::SpamLabel;
  const auto alice = this->make_account("alice");
  const auto bob = this->make_account("bob");
  EXPECT_EQ(this->learn(alice, "k", Label::kSpam, {1, 2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(bob, "k", Label::kSpam, {1}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->learn(std::nullopt, "k", Label::kHam, {1}), domain::SpamLearned::kLearned);

  ASSERT_TRUE(wait(this->dir().remove_account("alice@example.com")));
  {
    auto gone = wait(this->spam().spam_stats(alice));
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  }
  // Added again under the same address: an empty model, whatever its new id.
  const auto again = this->make_account("alice");
  EXPECT_EQ(this->stats(again), this->model_stats(0, 0, 0));
  EXPECT_TRUE(this->counts(again, {1, 2}).tokens.empty());
  EXPECT_EQ(this->learn(again, "k", Label::kHam, {2}), domain::SpamLearned::kLearned);
  EXPECT_EQ(this->counts(again, {1, 2}).tokens, (typename TestFixture::Counts{{2, 0, 1}}));
  // The other models are untouched.
  EXPECT_EQ(this->stats(bob), this->model_stats(1, 0, 1));
  EXPECT_EQ(this->stats(std::nullopt), this->model_stats(0, 1, 1));
}

TYPED_TEST_P(SpamConformance, AnEmptyMessageKeyIsInvalid) {
  const auto alice = this->make_account("alice");
  for (auto model : {typename TestFixture::Model(), typename TestFixture::Model(alice)}) {
    auto refused =
        wait(this->spam().learn_spam(domain::SpamLesson{model, "", domain::SpamLabel::kSpam, {1}}));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidInput) << refused.error().message;
    EXPECT_EQ(this->stats(model), this->model_stats(0, 0, 0));
  }
}

TYPED_TEST_P(SpamConformance, LargeLessonsRoundTrip) {
  using Label = domain::SpamLabel;
  const auto alice = this->make_account("alice");
  const auto tokens = this->spread_tokens(2000, 1);
  ASSERT_EQ(tokens.size(), 2000u);
  const auto unseen = this->spread_tokens(500, 2);

  // Asked for in another order than sorted, with unseen tokens among them.
  std::vector<std::uint64_t> asked(tokens.rbegin(), tokens.rend());
  asked.insert(asked.begin() + 700, unseen.begin(), unseen.end());

  EXPECT_EQ(this->learn(alice, "big", Label::kSpam, tokens), domain::SpamLearned::kLearned);
  auto counts = this->counts(alice, asked);
  EXPECT_EQ(counts.spam_messages, 1u);
  ASSERT_EQ(counts.tokens.size(), tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ASSERT_EQ(counts.tokens[i], (domain::SpamTokenCount{tokens[i], 1, 0})) << i;
  }
  EXPECT_EQ(this->stats(alice), this->model_stats(1, 0, 2000));

  EXPECT_EQ(this->learn(alice, "big", Label::kHam, tokens), domain::SpamLearned::kRelearned);
  counts = this->counts(alice, asked);
  ASSERT_EQ(counts.tokens.size(), tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ASSERT_EQ(counts.tokens[i], (domain::SpamTokenCount{tokens[i], 0, 1})) << i;
  }

  auto forgot = wait(this->spam().forget_spam(alice, "big", tokens));
  ASSERT_TRUE(forgot) << forgot.error().message;
  EXPECT_TRUE(*forgot);
  EXPECT_TRUE(this->counts(alice, asked).tokens.empty());
  EXPECT_EQ(this->stats(alice), this->model_stats(0, 0, 0));
}

TYPED_TEST_P(SpamConformance, TokensWithTheTopBitSetRoundTrip) {
  using Label = domain::SpamLabel;
  const std::vector<std::uint64_t> tokens = {
      0xffffffffffffffffULL, 0x8000000000000000ULL, 0, 0x7fffffffffffffffULL, 1,
      0xdeadbeefcafef00dULL};
  EXPECT_EQ(this->learn(std::nullopt, "top", Label::kHam, tokens), domain::SpamLearned::kLearned);
  // Sorted as unsigned numbers.
  EXPECT_EQ(this->counts(std::nullopt, tokens).tokens,
            (typename TestFixture::Counts{{0, 0, 1},
                                          {1, 0, 1},
                                          {0x7fffffffffffffffULL, 0, 1},
                                          {0x8000000000000000ULL, 0, 1},
                                          {0xdeadbeefcafef00dULL, 0, 1},
                                          {0xffffffffffffffffULL, 0, 1}}));
  EXPECT_EQ(this->counts(std::nullopt, {0xffffffffffffffffULL, 0xfffffffffffffffeULL}).tokens,
            (typename TestFixture::Counts{{0xffffffffffffffffULL, 0, 1}}));
  EXPECT_EQ(this->stats(std::nullopt), this->model_stats(0, 1, 6));
}

TYPED_TEST_P(SpamConformance, ConcurrentLessonsAllCount) {
  using Label = domain::SpamLabel;
  const auto alice = this->make_account("alice");
  constexpr int kThreads = 4;
  constexpr int kMessages = 15;
  const auto shared = this->spread_tokens(200, 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kMessages; ++i) {
        const auto label = (i % 3 == 0) ? Label::kHam : Label::kSpam;
        const auto key = "t" + std::to_string(t) + "m" + std::to_string(i);
        // The same key from two threads: one learns it, the other finds it.
        auto learned = wait(this->spam().learn_spam(domain::SpamLesson{alice, key, label, shared}));
        EXPECT_TRUE(learned) << learned.error().message;
        auto shared_key =
            wait(this->spam().learn_spam(domain::SpamLesson{alice, "same", Label::kSpam, {7}}));
        EXPECT_TRUE(shared_key) << shared_key.error().message;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const std::uint64_t ham = kThreads * ((kMessages + 2) / 3);
  const std::uint64_t spam = kThreads * kMessages - ham;
  auto counts = this->counts(alice, shared);
  EXPECT_EQ(counts.spam_messages, spam + 1);
  EXPECT_EQ(counts.ham_messages, ham);
  ASSERT_EQ(counts.tokens.size(), shared.size());
  for (const auto& token : counts.tokens) {
    ASSERT_EQ(token.spam, spam);
    ASSERT_EQ(token.ham, ham);
  }
  EXPECT_EQ(this->counts(alice, {7}).tokens, (typename TestFixture::Counts{{7, 1, 0}}));
}

REGISTER_TYPED_TEST_SUITE_P(
    SpamConformance, AnEmptyModelGivesZeros, LearningCountsTheMessageAndItsTokens,
    LearningAgainWithTheSameLabelChangesNothing, RelearningWithTheOtherLabelMovesTheCounts,
    ForgettingTakesAMessageBackOut, RelearnedAndForgottenTokensAtZeroDisappear,
    ResetEmptiesTheModel, SiteWideAndAccountModelsAreApart, UnknownAccountsAreNotFound,
    AnAccountsModelGoesWithTheAccount, AnEmptyMessageKeyIsInvalid, LargeLessonsRoundTrip,
    TokensWithTheTopBitSetRoundTrip, ConcurrentLessonsAllCount);

}  // namespace tern::store::conformance
