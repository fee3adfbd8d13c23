// SPDX-License-Identifier: Apache-2.0
// The classifier's accuracy on the SpamAssassin public corpus (about 6,000 real
// messages, cached outside the repo by scripts/install-deps; found as
// src/mime/spamassassin_test.cpp finds it): a deterministic 2-fold split, each
// fold learned from the other's messages and classified with the default
// ClassifyOptions. The thresholds are what was measured less a margin
// (src/spam/README.md), so a tokenizer or classifier change that makes the
// filter worse fails here.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mime/spamassassin_corpus.hpp"
#include "spam/spam.hpp"

namespace tern::spam {
namespace {

namespace fs = std::filesystem;

struct Sample {
  fs::path path;
  bool spam = false;
  std::vector<Token> tokens;
};

// The raw messages are the .txt files (each .json beside one holds the same text
// with metadata). Folders spam-1 and spam-2 hold spam; easy-ham-1, easy-ham-2
// and hard-ham-1 ham. Sorted by path so the split never depends on the file
// system's order.
std::vector<Sample> corpus_samples() {
  std::vector<Sample> samples;
  std::error_code ec;
  const fs::path dir = mime::spamassassin_corpus_dir();
  if (!fs::is_directory(dir, ec)) {
    return samples;
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") {
      const std::string group = entry.path().parent_path().filename().string();
      samples.push_back(Sample{entry.path(), group.rfind("spam", 0) == 0, {}});
    }
  }
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.path.string() < b.path.string(); });
  return samples;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SpamCorpus, TwoFoldAccuracyOnTheSpamAssassinCorpus) {
  std::vector<Sample> samples = corpus_samples();
  if (samples.empty()) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      FAIL() << "SpamAssassin corpus missing at " << mime::spamassassin_corpus_dir()
             << " (run scripts/install-deps)";
    }
    GTEST_SKIP() << "SpamAssassin corpus not cached at " << mime::spamassassin_corpus_dir()
                 << "; run scripts/install-deps";
  }
  // Fold of each message: its index's parity within its class, so both folds
  // hold half of each class.
  std::vector<int> fold(samples.size());
  std::size_t spam_total = 0;
  std::size_t ham_total = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    std::size_t& seen = samples[i].spam ? spam_total : ham_total;
    fold[i] = static_cast<int>(seen++ % 2);
    samples[i].tokens = tokenize(read(samples[i].path));
  }
  EXPECT_GE(spam_total, 1800u);
  EXPECT_GE(ham_total, 4000u);

  for (int test_fold = 0; test_fold < 2; ++test_fold) {
    Model model;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (fold[i] == test_fold) {
        continue;
      }
      (samples[i].spam ? model.spam_messages : model.ham_messages) += 1;
      for (const Token& token : samples[i].tokens) {
        TokenCounts& counts = model.tokens[token.hash];
        (samples[i].spam ? counts.spam : counts.ham) += 1;
      }
    }
    std::size_t spam = 0, spam_caught = 0, spam_unsure = 0;
    std::size_t ham = 0, ham_false_positive = 0, ham_unsure = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (fold[i] != test_fold) {
        continue;
      }
      const Verdict verdict = classify(samples[i].tokens, model);
      ASSERT_NE(verdict.verdict, Class::kUntrained);
      if (samples[i].spam) {
        ++spam;
        spam_caught += verdict.verdict == Class::kSpam ? 1 : 0;
        spam_unsure += verdict.verdict == Class::kUnsure ? 1 : 0;
      } else {
        ++ham;
        ham_false_positive += verdict.verdict == Class::kSpam ? 1 : 0;
        ham_unsure += verdict.verdict == Class::kUnsure ? 1 : 0;
      }
    }
    const auto pct = [](std::size_t n, std::size_t of) {
      return 100.0 * static_cast<double>(n) / static_cast<double>(of);
    };
    const double recall = pct(spam_caught, spam);
    const double false_positives = pct(ham_false_positive, ham);
    std::printf(
        "fold %d: %zu spam, recall %.2f%% (unsure %.2f%%); %zu ham, false positives %.2f%% "
        "(%zu, unsure %.2f%%)\n",
        test_fold, spam, recall, pct(spam_unsure, spam), ham, false_positives, ham_false_positive,
        pct(ham_unsure, ham));
    // Measured: recall 93.57 % and 94.94 %, false positives 0.24 % (5) and 0.10 % (2).
    EXPECT_GE(recall, 92.0) << "fold " << test_fold;
    EXPECT_LE(false_positives, 0.5) << "fold " << test_fold;
    EXPECT_LE(pct(spam_unsure, spam), 8.0) << "fold " << test_fold;
    EXPECT_LE(pct(ham_unsure, ham), 2.0) << "fold " << test_fold;
  }
}

}  // namespace
}  // namespace tern::spam
