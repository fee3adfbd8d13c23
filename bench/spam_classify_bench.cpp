// SPDX-License-Identifier: Apache-2.0
// The spam classifier on the SpamAssassin public corpus: the 2-fold train/test of
// src/spam/corpus_test.cpp (files sorted by path, even indexes one fold, odd the
// other), with accuracy and the time tokenize() and classify() take per message
// (bench/README.md "Spam classifier"; bench/spam_bench.py sets it beside
// bogofilter).
//   tern_spam_bench [corpus-dir] [--json] [--verbose]
// --json prints one JSON object per fold; --verbose lists misclassified files.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "mime/spamassassin_corpus.hpp"
#include "spam/spam.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Message {
  std::string path;
  bool spam = false;
  std::vector<tern::spam::Token> tokens;
};

// The corpus's raw messages are the .txt files (the .json beside each holds the
// same text with metadata); the folder says ham or spam.
std::vector<Message> load(const fs::path& dir, std::vector<std::string>& raws) {
  std::vector<Message> messages;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".txt") {
      continue;
    }
    const std::string group = entry.path().parent_path().filename().string();
    Message m;
    m.path = entry.path().string();
    m.spam = group.rfind("spam", 0) == 0;
    messages.push_back(std::move(m));
  }
  std::sort(messages.begin(), messages.end(),
            [](const Message& a, const Message& b) { return a.path < b.path; });
  for (const Message& m : messages) {
    std::ifstream in(m.path, std::ios::binary);
    raws.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return messages;
}

double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = tern::mime::spamassassin_corpus_dir();
  bool json = false;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--verbose") {
      verbose = true;
    } else {
      dir = arg;
    }
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::fprintf(stderr, "no corpus at %s (run scripts/install-deps)\n", dir.c_str());
    return 2;
  }
  std::vector<std::string> raws;
  std::vector<Message> messages = load(dir, raws);

  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    messages[i].tokens = tern::spam::tokenize(raws[i]);
  }
  const double tokenize_us = micros(Clock::now() - t0) / static_cast<double>(messages.size());

  // Index parity within each class, as corpus_test.cpp splits.
  std::vector<int> fold_of(messages.size());
  std::size_t spam_seen = 0;
  std::size_t ham_seen = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::size_t& seen = messages[i].spam ? spam_seen : ham_seen;
    fold_of[i] = static_cast<int>(seen++ % 2);
  }

  if (!json) {
    std::printf("tern_spam_bench: %zu messages (%zu spam, %zu ham) from %s\n", messages.size(),
                spam_seen, ham_seen, dir.c_str());
    std::printf("tokenize: %.1f us/message\n", tokenize_us);
  }
  for (int test_fold = 0; test_fold < 2; ++test_fold) {
    tern::spam::Model model;
    const auto t_train = Clock::now();
    std::size_t trained = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (fold_of[i] == test_fold) {
        continue;
      }
      ++trained;
      (messages[i].spam ? model.spam_messages : model.ham_messages) += 1;
      for (const auto& token : messages[i].tokens) {
        auto& counts = model.tokens[token.hash];
        (messages[i].spam ? counts.spam : counts.ham) += 1;
      }
    }
    const double train_us = micros(Clock::now() - t_train) / static_cast<double>(trained);
    std::size_t counts[2][4] = {};  // [spam?][Class]
    std::size_t tested = 0;
    const auto t_classify = Clock::now();
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (fold_of[i] != test_fold) {
        continue;
      }
      ++tested;
      const auto verdict = tern::spam::classify(messages[i].tokens, model);
      counts[messages[i].spam ? 1 : 0][static_cast<int>(verdict.verdict)] += 1;
      const bool wrong = (messages[i].spam && verdict.verdict != tern::spam::Class::kSpam) ||
                         (!messages[i].spam && verdict.verdict == tern::spam::Class::kSpam);
      if (verbose && wrong) {
        std::printf("  %s %s %.3f:", messages[i].spam ? "spam" : "ham ",
                    std::string(tern::spam::class_name(verdict.verdict)).c_str(), verdict.score);
        std::printf(" %s\n", messages[i].path.c_str());
        for (const auto& clue : verdict.clues) {
          std::printf("      %.3f %s\n", clue.probability, clue.text.c_str());
        }
      }
    }
    const double classify_us = micros(Clock::now() - t_classify) / static_cast<double>(tested);
    const auto pct = [&](int spam, tern::spam::Class c) {
      std::size_t total = 0;
      for (std::size_t n : counts[spam]) {
        total += n;
      }
      return 100.0 * static_cast<double>(counts[spam][static_cast<int>(c)]) /
             static_cast<double>(total == 0 ? 1 : total);
    };
    using tern::spam::Class;
    if (json) {
      std::printf(
          "{\"fold\": %d, \"spam\": %zu, \"ham\": %zu, \"spam_recall\": %.4f, "
          "\"spam_unsure\": %.4f, \"spam_as_ham\": %.4f, \"ham_fp\": %.4f, \"ham_unsure\": %.4f, "
          "\"ham_fp_count\": %zu, \"tokenize_us\": %.1f, \"train_us\": %.1f, "
          "\"classify_us\": %.1f}\n",
          test_fold, counts[1][1] + counts[1][2] + counts[1][3],
          counts[0][1] + counts[0][2] + counts[0][3], pct(1, Class::kSpam), pct(1, Class::kUnsure),
          pct(1, Class::kHam), pct(0, Class::kSpam), pct(0, Class::kUnsure),
          counts[0][static_cast<int>(Class::kSpam)], tokenize_us, train_us, classify_us);
    } else {
      std::printf(
          "fold %d: spam recall %.2f%% (unsure %.2f%%, as ham %.2f%%); ham FP %.2f%% (%zu), "
          "unsure %.2f%%; train %.1f us/message, classify %.1f us/message\n",
          test_fold, pct(1, Class::kSpam), pct(1, Class::kUnsure), pct(1, Class::kHam),
          pct(0, Class::kSpam), counts[0][static_cast<int>(Class::kSpam)], pct(0, Class::kUnsure),
          train_us, classify_us);
    }
  }
  return 0;
}
