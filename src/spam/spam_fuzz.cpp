// SPDX-License-Identifier: Apache-2.0
// Fuzz target spam_tokenize: any bytes as a message tokenize within the limits
// (distinct tokens sorted by hash, at most max_tokens, each hash matching its
// text) and classify under a small model to a score in [0, 1]: never a crash,
// a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "spam/spam.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::spam;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  TokenizeLimits limits;
  limits.max_bytes = 64 * 1024;
  limits.max_tokens = 500;
  const std::vector<Token> tokens = tokenize(raw, limits);
  if (tokens.size() > limits.max_tokens) {
    std::abort();
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].text.empty() || token_hash(tokens[i].text) != tokens[i].hash ||
        (i > 0 && tokens[i - 1].hash >= tokens[i].hash)) {
      std::abort();
    }
  }
  // A small model in which every other token is spammy and every third hammy.
  Model model;
  model.spam_messages = 20;
  model.ham_messages = 30;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    model.tokens[tokens[i].hash] = TokenCounts{static_cast<std::uint32_t>(i % 2 == 0 ? 15 : 1),
                                               static_cast<std::uint32_t>(i % 3 == 0 ? 25 : 0)};
  }
  const Verdict verdict = classify(tokens, model);
  if (!(verdict.score >= 0.0 && verdict.score <= 1.0) || verdict.verdict == Class::kUntrained ||
      verdict.clues.size() > ClassifyOptions{}.explain) {
    std::abort();
  }
  return 0;
}
