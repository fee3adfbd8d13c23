// SPDX-License-Identifier: Apache-2.0
#include "domain/spam_filter.hpp"

#include <utility>

#include "base/ascii.hpp"

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

const std::vector<spam::Token>& LazyTokens::get() {
  if (!tokens_) {
    tokens_ = spam::tokenize(raw_);
  }
  return *tokens_;
}

std::optional<SpamCounts> SpamTotalsCache::get(std::optional<AccountId> account,
                                               SystemTime now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(account ? value_of(*account) : 0);
  if (it == entries_.end() || now < it->second.read_at || now - it->second.read_at > ttl_) {
    return std::nullopt;
  }
  SpamCounts totals;
  totals.spam_messages = it->second.spam;
  totals.ham_messages = it->second.ham;
  return totals;
}

void SpamTotalsCache::put(std::optional<AccountId> account, const SpamCounts& totals,
                          SystemTime now) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= capacity_) {
    entries_.clear();
  }
  entries_[account ? value_of(*account) : 0] = {totals.spam_messages, totals.ham_messages, now};
}

void SpamTotalsCache::forget(std::optional<AccountId> account) {
  std::lock_guard lock(mutex_);
  entries_.erase(account ? value_of(*account) : 0);
}

Result<spam::Model> spam_model_for(SpamStore& store, std::optional<AccountId> account,
                                   LazyTokens& tokens, std::uint64_t min_messages,
                                   SpamTotalsCache* cache, SystemTime now) {
  std::optional<SpamCounts> site;
  std::optional<SpamCounts> own;
  if (!account) {
    own = SpamCounts{};  // the site's model alone
  }
  if (cache != nullptr) {
    site = cache->get(std::nullopt, now);
    if (!own) {
      own = cache->get(account, now);
    }
  }
  // The reads are issued before either is awaited, so they overlap on a
  // backend with several readers.
  std::optional<Async<SpamCounts>> site_read;
  std::optional<Async<SpamCounts>> own_read;
  if (!site) {
    site_read = store.spam_counts(std::nullopt, {});
  }
  if (!own) {
    own_read = store.spam_counts(account, {});
  }
  if (site_read) {
    TERN_TRY(site, site_read->get());
    if (cache != nullptr) {
      cache->put(std::nullopt, *site, now);
    }
  }
  if (own_read) {
    TERN_TRY(own, own_read->get());
    if (cache != nullptr) {
      cache->put(account, *own, now);
    }
  }
  spam::Model model;
  model.spam_messages = site->spam_messages + own->spam_messages;
  model.ham_messages = site->ham_messages + own->ham_messages;
  if (model.spam_messages < min_messages || model.ham_messages < min_messages) {
    return model;  // untrained: the token counts could not change that
  }
  auto learned = [](const SpamCounts& c) { return c.spam_messages + c.ham_messages > 0; };
  std::optional<Async<SpamCounts>> site_tokens;
  std::optional<Async<SpamCounts>> own_tokens;
  if (learned(*site)) {
    site_tokens = store.spam_counts(std::nullopt, hashes_of(tokens.get()));
  }
  if (learned(*own)) {
    own_tokens = store.spam_counts(account, hashes_of(tokens.get()));
  }
  // The totals come from the reads that also give the counts, so that the two
  // agree should a lesson land in between.
  model = spam::Model{};
  for (auto* pending : {&site_tokens, &own_tokens}) {
    if (*pending) {
      TERN_TRY(auto counts, (*pending)->get());
      add_counts(model, counts);
    }
  }
  return model;
}

Result<spam::Verdict> classify_for(SpamStore& store, AccountId account, LazyTokens& tokens,
                                   const SpamPolicy& policy, SystemTime now) {
  const spam::ClassifyOptions& options = policy.options;
  TERN_TRY(auto model,
           spam_model_for(store, account, tokens, options.min_messages, policy.totals.get(), now));
  if (model.spam_messages < options.min_messages || model.ham_messages < options.min_messages) {
    return spam::classify({}, model, options);  // kUntrained, without tokenizing
  }
  return spam::classify(tokens.get(), model, options);
}

SpamLesson lesson_of(std::optional<AccountId> account, std::string_view raw, std::string key,
                     SpamLabel label) {
  SpamLesson lesson;
  lesson.account = account;
  lesson.message_key = std::move(key);
  lesson.label = label;
  lesson.tokens = hashes_of(spam::tokenize(raw));
  return lesson;
}

void SpamLessons::count(SpamLearned outcome) {
  switch (outcome) {
    case SpamLearned::kLearned:
      ++learned;
      break;
    case SpamLearned::kRelearned:
      ++relearned;
      break;
    case SpamLearned::kUnchanged:
      ++unchanged;
      break;
  }
}

SpamLessons& SpamLessons::operator+=(const SpamLessons& other) {
  learned += other.learned;
  relearned += other.relearned;
  unchanged += other.unchanged;
  skipped += other.skipped;
  return *this;
}

Result<SpamLessons> learn_entries(Storage& storage, AccountId account,
                                  const std::vector<Entry>& entries, SpamLabel label,
                                  std::size_t limit, SpamTotalsCache* cache) {
  SpamLessons lessons;
  // Every lesson is asked for before any is awaited: the sqlite writer then
  // commits the queued ones together (one transaction and one sync for many,
  // as appends share them), instead of one sync per message.
  std::vector<Async<SpamLearned>> pending;
  for (const auto& entry : entries) {
    if (pending.size() >= limit) {
      ++lessons.skipped;
      continue;
    }
    auto raw = storage.mail().read_message(account, entry.message).get();
    if (!raw) {
      ++lessons.skipped;  // expunged meanwhile, or its bytes are gone
      continue;
    }
    pending.push_back(storage.spam().learn_spam(lesson_of(account, *raw, entry.blob.hex, label)));
  }
  std::optional<Error> failed;
  for (auto& lesson : pending) {
    auto learned = lesson.get();
    if (!learned) {
      failed = failed ? failed : std::optional<Error>(learned.error());
      continue;
    }
    lessons.count(*learned);
  }
  if (cache != nullptr) {
    cache->forget(account);
  }
  if (failed) {
    return *failed;
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

std::optional<SpamLabel> label_of_keyword(std::string_view keyword) {
  if (ascii::iequals(keyword, "$Junk") || ascii::iequals(keyword, "Junk")) {
    return SpamLabel::kSpam;
  }
  if (ascii::iequals(keyword, "$NotJunk") || ascii::iequals(keyword, "NonJunk") ||
      ascii::iequals(keyword, "NotJunk")) {
    return SpamLabel::kHam;
  }
  return std::nullopt;
}

std::optional<SpamLabel> lesson_of_keywords(const std::vector<std::string>& added) {
  bool spam = false;
  bool ham = false;
  for (const auto& keyword : added) {
    auto label = label_of_keyword(keyword);
    spam = spam || label == SpamLabel::kSpam;
    ham = ham || label == SpamLabel::kHam;
  }
  if (spam == ham) {
    return std::nullopt;  // neither, or a contradiction
  }
  return spam ? SpamLabel::kSpam : SpamLabel::kHam;
}

}  // namespace tern::domain
