// SPDX-License-Identifier: Apache-2.0
#include "domain/spam_filter.hpp"

#include <utility>

namespace tern::domain {

namespace {

std::vector<std::uint64_t> hashes_of(const std::vector<spam::Token>& tokens) {
  std::vector<std::uint64_t> hashes;
  hashes.reserve(tokens.size());
  for (const auto& token : tokens) {
    hashes.push_back(token.hash);
  }
  return hashes;
}

void add_counts(spam::Model& model, const SpamCounts& counts) {
  model.spam_messages += counts.spam_messages;
  model.ham_messages += counts.ham_messages;
  for (const auto& token : counts.tokens) {
    auto& sum = model.tokens[token.token];
    sum.spam += token.spam;
    sum.ham += token.ham;
  }
}

}  // namespace

Result<spam::Model> spam_model_for(SpamStore& store, AccountId account,
                                   const std::vector<spam::Token>& tokens) {
  // Both reads are issued before either is awaited, so they overlap on a
  // backend with several readers.
  auto site = store.spam_counts(std::nullopt, hashes_of(tokens));
  auto own = store.spam_counts(account, hashes_of(tokens));
  TERN_TRY(auto site_counts, site.get());
  TERN_TRY(auto own_counts, own.get());
  spam::Model model;
  model.tokens.reserve(site_counts.tokens.size() + own_counts.tokens.size());
  add_counts(model, site_counts);
  add_counts(model, own_counts);
  return model;
}

Result<spam::Verdict> classify_for(SpamStore& store, AccountId account,
                                   const std::vector<spam::Token>& tokens,
                                   const spam::ClassifyOptions& options) {
  TERN_TRY(auto model, spam_model_for(store, account, tokens));
  return spam::classify(tokens, model, options);
}

Result<SpamLearned> learn_message(SpamStore& store, std::optional<AccountId> account,
                                  std::string_view raw, std::string key, SpamLabel label) {
  SpamLesson lesson;
  lesson.account = account;
  lesson.message_key = std::move(key);
  lesson.label = label;
  lesson.tokens = hashes_of(spam::tokenize(raw));
  return store.learn_spam(std::move(lesson)).get();
}

Result<SpamLessons> learn_entries(Storage& storage, AccountId account,
                                  const std::vector<Entry>& entries, SpamLabel label,
                                  std::size_t limit) {
  SpamLessons lessons;
  for (const auto& entry : entries) {
    if (lessons.learned + lessons.relearned + lessons.unchanged >= limit) {
      ++lessons.skipped;
      continue;
    }
    auto raw = storage.mail().read_message(account, entry.message).get();
    if (!raw) {
      ++lessons.skipped;  // expunged meanwhile, or its bytes are gone
      continue;
    }
    TERN_TRY(auto learned, learn_message(storage.spam(), account, *raw, entry.blob.hex, label));
    switch (learned) {
      case SpamLearned::kLearned:
        ++lessons.learned;
        break;
      case SpamLearned::kRelearned:
        ++lessons.relearned;
        break;
      case SpamLearned::kUnchanged:
        ++lessons.unchanged;
        break;
    }
  }
  return lessons;
}

std::optional<SpamLabel> lesson_of_move(const Mailbox& from_box, const Mailbox& to_box) {
  auto use_of = [](const Mailbox& box) {
    if (box.special_use != SpecialUse::kNone) {
      return box.special_use;
    }
    return box.name == "Junk" || box.name == "Spam" ? SpecialUse::kJunk
           : box.name == "Trash"                    ? SpecialUse::kTrash
                                                    : SpecialUse::kNone;
  };
  SpecialUse from = use_of(from_box);
  SpecialUse to = use_of(to_box);
  if (to == SpecialUse::kJunk) {
    return from == SpecialUse::kJunk ? std::nullopt : std::optional(SpamLabel::kSpam);
  }
  // Deleting a message says nothing about it. Taking it out of Junk, or filing
  // it anywhere else, says it is wanted: without these lessons a user's model
  // would learn spam only and never give verdicts of its own.
  if (to == SpecialUse::kTrash) {
    return std::nullopt;
  }
  return SpamLabel::kHam;
}

}  // namespace tern::domain
