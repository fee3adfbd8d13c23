// SPDX-License-Identifier: Apache-2.0
// MemoryStorage's domain::SpamStore: the site-wide model is a member, an
// account's lives in its AccountState (so remove_account() drops it).
#include <algorithm>

#include "store/memory/memory_storage.hpp"

namespace tern::store::memory {

namespace d = tern::domain;

namespace {

template <class T>
d::Async<T> ready(Result<T> value) {
  return make_ready_future<Result<T>>(std::move(value));
}

// `tokens` sorted, each once (the port asks for distinct tokens; this makes a
// repeated one count once, as on the SQL backends).
std::vector<std::uint64_t> distinct(std::vector<std::uint64_t> tokens) {
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  return tokens;
}

std::uint32_t& count_of(std::pair<std::uint32_t, std::uint32_t>& counts, d::SpamLabel label) {
  return label == d::SpamLabel::kSpam ? counts.first : counts.second;
}

}  // namespace

Result<MemorySpamModel*> MemoryStorage::spam_model_locked(std::optional<d::AccountId> account) {
  if (!account) {
    return &site_spam_model_;
  }
  auto* owner = find_account_locked(*account);
  if (owner == nullptr) {
    return fail(ErrorCode::kNotFound, "no such account");
  }
  return &owner->spam_model;
}

namespace {

// Adds one message of `label` and one count of `label` to each of `tokens`.
void add_message(MemorySpamModel& model, d::SpamLabel label,
                 const std::vector<std::uint64_t>& tokens) {
  ++(label == d::SpamLabel::kSpam ? model.spam_messages : model.ham_messages);
  for (auto token : tokens) {
    auto& counts = model.tokens[token];
    auto& count = count_of(counts, label);
    if (count < UINT32_MAX) {
      ++count;
    }
  }
}

// Takes one message of `label` and one count of `label` from each of `tokens`,
// never below 0; tokens left at 0/0 go.
void remove_message(MemorySpamModel& model, d::SpamLabel label,
                    const std::vector<std::uint64_t>& tokens) {
  auto& messages = label == d::SpamLabel::kSpam ? model.spam_messages : model.ham_messages;
  if (messages > 0) {
    --messages;
  }
  for (auto token : tokens) {
    auto it = model.tokens.find(token);
    if (it == model.tokens.end()) {
      continue;
    }
    auto& count = count_of(it->second, label);
    if (count > 0) {
      --count;
    }
    if (it->second.first == 0 && it->second.second == 0) {
      model.tokens.erase(it);
    }
  }
}

}  // namespace

d::Async<d::SpamCounts> MemoryStorage::spam_counts(std::optional<d::AccountId> account,
                                                   std::vector<std::uint64_t> tokens) {
  tokens = distinct(std::move(tokens));
  std::lock_guard lock(mutex_);
  auto model = spam_model_locked(account);
  if (!model) {
    return ready<d::SpamCounts>(model.error());
  }
  d::SpamCounts out;
  out.spam_messages = (*model)->spam_messages;
  out.ham_messages = (*model)->ham_messages;
  for (auto token : tokens) {
    if (auto it = (*model)->tokens.find(token); it != (*model)->tokens.end()) {
      out.tokens.push_back(d::SpamTokenCount{token, it->second.first, it->second.second});
    }
  }
  return ready<d::SpamCounts>(std::move(out));
}

d::Async<d::SpamLearned> MemoryStorage::learn_spam(d::SpamLesson lesson) {
  if (lesson.message_key.empty()) {
    return ready<d::SpamLearned>(fail(ErrorCode::kInvalidInput, "empty spam message key"));
  }
  auto tokens = distinct(std::move(lesson.tokens));
  std::lock_guard lock(mutex_);
  auto model = spam_model_locked(lesson.account);
  if (!model) {
    return ready<d::SpamLearned>(model.error());
  }
  auto& m = **model;
  auto [it, added] = m.learned.try_emplace(std::move(lesson.message_key), lesson.label);
  if (added) {
    add_message(m, lesson.label, tokens);
    return ready<d::SpamLearned>(d::SpamLearned::kLearned);
  }
  if (it->second == lesson.label) {
    return ready<d::SpamLearned>(d::SpamLearned::kUnchanged);
  }
  remove_message(m, it->second, tokens);
  add_message(m, lesson.label, tokens);
  it->second = lesson.label;
  return ready<d::SpamLearned>(d::SpamLearned::kRelearned);
}

d::Async<bool> MemoryStorage::forget_spam(std::optional<d::AccountId> account,
                                          std::string message_key,
                                          std::vector<std::uint64_t> tokens) {
  tokens = distinct(std::move(tokens));
  std::lock_guard lock(mutex_);
  auto model = spam_model_locked(account);
  if (!model) {
    return ready<bool>(model.error());
  }
  auto& m = **model;
  auto it = m.learned.find(message_key);
  if (it == m.learned.end()) {
    return ready<bool>(false);
  }
  remove_message(m, it->second, tokens);
  m.learned.erase(it);
  return ready<bool>(true);
}

d::Async<d::SpamModelStats> MemoryStorage::spam_stats(std::optional<d::AccountId> account) {
  std::lock_guard lock(mutex_);
  auto model = spam_model_locked(account);
  if (!model) {
    return ready<d::SpamModelStats>(model.error());
  }
  return ready<d::SpamModelStats>(
      d::SpamModelStats{(*model)->spam_messages, (*model)->ham_messages, (*model)->tokens.size()});
}

d::Async<void> MemoryStorage::reset_spam_model(std::optional<d::AccountId> account) {
  std::lock_guard lock(mutex_);
  auto model = spam_model_locked(account);
  if (!model) {
    return ready<void>(model.error());
  }
  **model = MemorySpamModel{};
  return ready<void>(ok());
}

namespace {

// A model as StoreImport exports it: tokens sorted by uint64, keys bytewise.
d::SpamModelRows rows_of(const MemorySpamModel& model, std::optional<d::AccountId> account) {
  d::SpamModelRows out;
  out.account = account;
  out.spam_messages = model.spam_messages;
  out.ham_messages = model.ham_messages;
  out.tokens.reserve(model.tokens.size());
  for (const auto& [token, counts] : model.tokens) {
    out.tokens.push_back(d::SpamTokenCount{token, counts.first, counts.second});
  }
  std::sort(out.tokens.begin(), out.tokens.end(),
            [](const auto& a, const auto& b) { return a.token < b.token; });
  out.learned.reserve(model.learned.size());
  for (const auto& [key, label] : model.learned) {  // a std::map: already by key
    out.learned.push_back(d::SpamModelRows::Learned{key, label});
  }
  return out;
}

}  // namespace

d::Async<std::vector<d::SpamModelRows>> MemoryStorage::export_spam_models() {
  std::lock_guard lock(mutex_);
  std::vector<d::SpamModelRows> out;
  auto add = [&out](const MemorySpamModel& model, std::optional<d::AccountId> account) {
    auto rows = rows_of(model, account);
    if (d::spam_model_holds_anything(rows)) {
      out.push_back(std::move(rows));
    }
  };
  add(site_spam_model_, std::nullopt);
  for (const auto& [id, state] : accounts_) {  // by ascending id
    add(state.spam_model, id);
  }
  return ready<std::vector<d::SpamModelRows>>(std::move(out));
}

d::Async<void> MemoryStorage::import_spam_models(std::vector<d::SpamModelRows> models) {
  if (auto checked = d::check_spam_models(models); !checked) {
    return ready<void>(checked.error());
  }
  std::lock_guard lock(mutex_);
  // Every model found before any changes: an unknown account changes nothing.
  std::vector<MemorySpamModel*> targets;
  for (const auto& rows : models) {
    auto model = spam_model_locked(rows.account);
    if (!model) {
      return ready<void>(model.error());
    }
    targets.push_back(*model);
  }
  for (std::size_t i = 0; i < models.size(); ++i) {
    auto& rows = models[i];
    MemorySpamModel model;
    model.spam_messages = rows.spam_messages;
    model.ham_messages = rows.ham_messages;
    model.tokens.reserve(rows.tokens.size());
    for (const auto& t : rows.tokens) {
      model.tokens.emplace(t.token, std::pair{t.spam, t.ham});
    }
    for (auto& l : rows.learned) {
      model.learned.emplace(std::move(l.message_key), l.label);
    }
    *targets[i] = std::move(model);
  }
  return ready<void>(ok());
}

}  // namespace tern::store::memory
