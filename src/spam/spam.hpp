// SPDX-License-Identifier: Apache-2.0
// The built-in statistical spam filter: a message's features (tokens) and a
// naive-Bayes classifier over counts learned from messages users file as spam
// or as not spam. Pure: no I/O. The caller (domain/spam_filter) fetches the
// counts of a message's tokens from the store (SpamStore), asks classify() for
// a verdict, and records what users teach (SpamStore::learn_spam).
//
// The combining rule is Gary Robinson's: each token's spam probability is
// smoothed toward a prior by how often it was seen, and the most telling
// tokens are combined with Fisher's chi-square method into a score in [0, 1]
// (as SpamBayes and bogofilter do). docs/adr/0023-spam-filter.md says why.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tern::spam {

// One feature of a message. `hash` names it in the model (stable across
// versions and machines: it is stored); `text` is kept to explain a verdict.
struct Token {
  std::uint64_t hash = 0;
  std::string text;
};

// Bounds on what tokenize() reads and returns, so a huge message costs bounded
// CPU and memory.
struct TokenizeLimits {
  std::size_t max_bytes = 512 * 1024;  // of the raw message looked at
  std::size_t max_tokens = 3000;       // distinct tokens returned
};

// The distinct features of `raw` (an RFC 5322 message; CRLF or LF): words of
// the decoded text parts (HTML without its markup), of the Subject and the
// sender's display name; the sender's and links' domains; content types and
// attachment name extensions; a few header facts. Sorted by hash, no two equal.
// Never fails: malformed input gives fewer tokens.
std::vector<Token> tokenize(std::string_view raw, const TokenizeLimits& limits = {});

// The stable 64-bit hash tokenize() names a feature's text by: SipHash-2-4 of
// the text's bytes under the fixed key 00 01 02 ... 0f (the key of the SipHash
// paper's test vectors, so the implementation can be checked against them), the
// result read as the little-endian 64-bit integer the reference code outputs.
// Stored in every SpamStore: it must never change (spam_test pins values).
std::uint64_t token_hash(std::string_view text);

// How often a token was seen in the messages learned as spam and as ham.
struct TokenCounts {
  std::uint32_t spam = 0;
  std::uint32_t ham = 0;
};

// What classify() knows: how many messages were learned of each kind, and the
// counts of (some of) a message's tokens; a token not in `tokens` was never seen.
struct Model {
  std::uint64_t spam_messages = 0;
  std::uint64_t ham_messages = 0;
  std::unordered_map<std::uint64_t, TokenCounts> tokens;
};

struct ClassifyOptions {
  // Robinson's prior for a token seen little (x) and its weight (s).
  double unknown_probability = 0.5;
  double unknown_strength = 0.45;
  // Tokens closer than this to 0.5 are ignored; at most this many of the most
  // telling ones are combined.
  double minimum_deviation = 0.1;
  std::size_t max_discriminators = 150;
  // Score cut-offs: at or above spam_cutoff spam, below ham_cutoff ham, unsure
  // between.
  double spam_cutoff = 0.9;
  double ham_cutoff = 0.2;
  // Fewer learned messages than this of either kind: no verdict (kUntrained).
  std::uint64_t min_messages = 10;
  // How many of the most telling tokens a Verdict explains itself with.
  std::size_t explain = 8;
};

enum class Class { kUntrained, kHam, kUnsure, kSpam };

std::string_view class_name(Class c);  // "untrained", "ham", "unsure", "spam"

struct Clue {
  std::string text;
  double probability = 0.5;  // the token's smoothed spam probability
};

struct Verdict {
  Class verdict = Class::kUntrained;
  double score = 0.5;       // 0 = surely ham, 1 = surely spam
  std::vector<Clue> clues;  // the most telling tokens, most telling first
};

// The verdict on a message with `tokens` (tokenize()) under `model`.
Verdict classify(const std::vector<Token>& tokens, const Model& model,
                 const ClassifyOptions& options = {});

// Q(chi2 | dof): the probability that a chi-square variable with `dof` degrees of
// freedom is at least `chi2`, for even `dof` (an odd one is rounded up), the step
// of Fisher's method classify() combines token probabilities with. Computed in
// logs, so it underflows to 0 gracefully instead of giving NaN; exposed for tests.
double chi2q(double chi2, std::size_t dof);

}  // namespace tern::spam
