// SPDX-License-Identifier: Apache-2.0
// classify(): Gary Robinson's smoothed token probabilities ("A Statistical
// Approach to the Spam Problem", Linux Journal 107, 2003) combined with Fisher's
// inverse chi-square method, as SpamBayes' chi2_spamprob() and bogofilter do.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "spam/spam.hpp"

namespace tern::spam {
namespace {

// f never reaches 0 or 1 (ln 0 is -inf); with the default prior it cannot, but a
// caller's unknown_strength of 0 could.
constexpr double kMinProbability = 1e-6;
constexpr double kMaxProbability = 1.0 - 1e-6;

struct Scored {
  double deviation = 0;  // |f - 0.5|
  double probability = 0.5;
  const Token* token = nullptr;
};

// Robinson's f(w): the token's spam probability p(w) from its share of each
// class's messages (so the classes' sizes do not bias it), pulled toward the
// prior x with weight s: f = (s*x + n*p) / (s + n), n the messages it was seen in.
double token_probability(const TokenCounts& counts, const Model& model,
                         const ClassifyOptions& options) {
  const double s = counts.spam;
  const double h = counts.ham;
  const double n = s + h;
  const double x = options.unknown_probability;
  if (n == 0) {
    return x;
  }
  const double spam_ratio =
      model.spam_messages > 0 ? std::min(1.0, s / static_cast<double>(model.spam_messages)) : 0;
  const double ham_ratio =
      model.ham_messages > 0 ? std::min(1.0, h / static_cast<double>(model.ham_messages)) : 0;
  const double p = spam_ratio + ham_ratio > 0 ? spam_ratio / (spam_ratio + ham_ratio) : x;
  const double strength = std::max(0.0, options.unknown_strength);
  const double f = (strength * x + n * p) / (strength + n);
  if (!std::isfinite(f)) {
    return x;
  }
  return std::clamp(f, kMinProbability, kMaxProbability);
}

}  // namespace

double chi2q(double chi2, std::size_t dof) {
  // For even dof = 2k: Q = e^-m * sum_{i<k} m^i / i!, m = chi2 / 2. The terms are
  // summed in logs (log-sum-exp) so that e^-m underflowing for large m does not
  // lose the large terms that make up for it.
  if (!(chi2 > 0) || dof == 0) {
    return 1.0;  // also NaN
  }
  if (std::isinf(chi2)) {
    return 0.0;
  }
  const std::size_t k = (dof + 1) / 2;
  const double m = chi2 / 2;
  const double log_m = std::log(m);
  double log_term = -m;
  double log_max = log_term;
  double sum = 1.0;  // of exp(log_term_i - log_max)
  for (std::size_t i = 1; i < k; ++i) {
    log_term += log_m - std::log(static_cast<double>(i));
    if (log_term > log_max) {
      sum = sum * std::exp(log_max - log_term) + 1.0;
      log_max = log_term;
    } else {
      sum += std::exp(log_term - log_max);
    }
  }
  const double q = std::exp(log_max + std::log(sum));
  return std::clamp(q, 0.0, 1.0);
}

std::string_view class_name(Class c) {
  switch (c) {
    case Class::kUntrained:
      return "untrained";
    case Class::kHam:
      return "ham";
    case Class::kUnsure:
      return "unsure";
    case Class::kSpam:
      return "spam";
  }
  return "untrained";
}

Verdict classify(const std::vector<Token>& tokens, const Model& model,
                 const ClassifyOptions& options) {
  Verdict verdict;
  if (model.spam_messages < options.min_messages || model.ham_messages < options.min_messages) {
    return verdict;
  }

  std::vector<Scored> scored;
  for (const Token& token : tokens) {
    const auto it = model.tokens.find(token.hash);
    if (it == model.tokens.end()) {
      continue;  // never seen: f = x, which tells nothing
    }
    const double f = token_probability(it->second, model, options);
    const double deviation = std::fabs(f - 0.5);
    if (deviation >= options.minimum_deviation && deviation > 0) {
      scored.push_back(Scored{deviation, f, &token});
    }
  }
  // Most telling first; equal ones in hash order so the choice does not depend on
  // the input's order. A token given twice counts once.
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    if (a.deviation != b.deviation) {
      return a.deviation > b.deviation;
    }
    return a.token->hash < b.token->hash;
  });
  scored.erase(
      std::unique(scored.begin(), scored.end(),
                  [](const Scored& a, const Scored& b) { return a.token->hash == b.token->hash; }),
      scored.end());
  if (scored.size() > options.max_discriminators) {
    scored.resize(options.max_discriminators);
  }

  if (!scored.empty()) {
    // Fisher: if the f were uniform noise, -2 Σ ln f would be chi-square with 2N
    // degrees of freedom. A small Q for the ln f sum means the f are too close to
    // 0 to be chance (the message is hammy); for the ln(1 - f) sum, too close to
    // 1 (spammy). The score weighs the two evidences against each other.
    double sum_log_f = 0;
    double sum_log_not_f = 0;
    for (const Scored& s : scored) {
      sum_log_f += std::log(s.probability);
      sum_log_not_f += std::log1p(-s.probability);
    }
    const std::size_t dof = 2 * scored.size();
    const double ham_q = chi2q(-2 * sum_log_f, dof);       // 1 - hamminess
    const double spam_q = chi2q(-2 * sum_log_not_f, dof);  // 1 - spamminess
    verdict.score = std::clamp((1.0 + ham_q - spam_q) / 2.0, 0.0, 1.0);
  }

  if (verdict.score >= options.spam_cutoff) {
    verdict.verdict = Class::kSpam;
  } else if (verdict.score < options.ham_cutoff) {
    verdict.verdict = Class::kHam;
  } else {
    verdict.verdict = Class::kUnsure;
  }
  const std::size_t explained = std::min(options.explain, scored.size());
  for (std::size_t i = 0; i < explained; ++i) {
    verdict.clues.push_back(Clue{scored[i].token->text, scored[i].probability});
  }
  return verdict;
}

}  // namespace tern::spam
