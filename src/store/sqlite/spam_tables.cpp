// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/spam_tables.hpp"

#include <algorithm>
#include <limits>

namespace tern::store::sqlite::spam {

namespace d = tern::domain;

namespace {

// The model's key in the spam tables: the account's id, 0 for the site-wide model.
std::int64_t model_of(std::optional<d::AccountId> account) {
  return account ? d::value_of(*account) : 0;
}

// kNotFound unless `account` is nullopt or an existing account.
Result<void> require_model(Connection& c, std::optional<d::AccountId> account) {
  if (!account) {
    return ok();
  }
  TERN_TRY(auto exists, c.scalar("SELECT 1 FROM accounts WHERE id = ?1", d::value_of(*account)));
  if (!exists) {
    return Error{ErrorCode::kNotFound, "no such account"};
  }
  return ok();
}

// Sorted, each once: the port asks for distinct tokens, and a repeated one then
// counts once, as in every backend.
std::vector<std::uint64_t> distinct(std::vector<std::uint64_t> tokens) {
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  return tokens;
}

std::uint32_t count32(std::int64_t value) {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(value, 0, std::numeric_limits<std::uint32_t>::max()));
}

Result<std::optional<d::SpamLabel>> learned_label(Connection& c, std::int64_t model,
                                                  const std::string& key) {
  TERN_TRY(auto label, c.scalar("SELECT label FROM spam_learned WHERE account_id = ?1 AND "
                                "message_key = ?2",
                                model, key));
  if (!label) {
    return std::optional<d::SpamLabel>();
  }
  return std::optional<d::SpamLabel>(static_cast<d::SpamLabel>(*label));
}

// Adds (spam, ham) to the model's message totals and to each token's counts, every
// count kept at 0 or more. Used only where a count goes up (learn): no token
// can end at 0/0.
Result<void> add_counts(Connection& c, std::int64_t model, std::int64_t spam, std::int64_t ham,
                        const std::vector<std::uint64_t>& tokens) {
  TERN_TRY_VOID(
      c.run("INSERT INTO spam_models (account_id, spam_messages, ham_messages) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (account_id) DO UPDATE SET spam_messages = max(spam_messages + ?4, 0), "
            "ham_messages = max(ham_messages + ?5, 0)",
            model, std::max<std::int64_t>(spam, 0), std::max<std::int64_t>(ham, 0), spam, ham));
  // One cached statement stepped per token (about 1000 a message).
  for (auto token : tokens) {
    TERN_TRY_VOID(c.run(
        "INSERT INTO spam_tokens (account_id, token, spam, ham) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (account_id, token) DO UPDATE SET spam = max(spam + ?5, 0), "
        "ham = max(ham + ?6, 0)",
        model, token, std::max<std::int64_t>(spam, 0), std::max<std::int64_t>(ham, 0), spam, ham));
  }
  return ok();
}

}  // namespace

Result<d::SpamLearned> learn(Connection& c, const d::SpamLesson& lesson) {
  if (lesson.message_key.empty()) {
    return Error{ErrorCode::kInvalidInput, "empty spam message key"};
  }
  TERN_TRY_VOID(require_model(c, lesson.account));
  const auto model = model_of(lesson.account);
  TERN_TRY(auto previous, learned_label(c, model, lesson.message_key));
  if (previous == lesson.label) {
    return d::SpamLearned::kUnchanged;
  }
  const std::int64_t spam_delta = lesson.label == d::SpamLabel::kSpam ? 1 : -1;
  if (previous) {
    TERN_TRY_VOID(
        c.run("UPDATE spam_learned SET label = ?3 WHERE account_id = ?1 AND "
              "message_key = ?2",
              model, lesson.message_key, static_cast<std::int64_t>(lesson.label)));
    // One label down, the other up.
    TERN_TRY_VOID(add_counts(c, model, spam_delta, -spam_delta, distinct(lesson.tokens)));
    return d::SpamLearned::kRelearned;
  }
  TERN_TRY_VOID(
      c.run("INSERT INTO spam_learned (account_id, message_key, label) VALUES (?1, ?2, ?3)", model,
            lesson.message_key, static_cast<std::int64_t>(lesson.label)));
  TERN_TRY_VOID(add_counts(c, model, spam_delta > 0 ? 1 : 0, spam_delta > 0 ? 0 : 1,
                           distinct(lesson.tokens)));
  return d::SpamLearned::kLearned;
}

Result<bool> forget(Connection& c, std::optional<d::AccountId> account,
                    const std::string& message_key, const std::vector<std::uint64_t>& tokens) {
  TERN_TRY_VOID(require_model(c, account));
  const auto model = model_of(account);
  TERN_TRY(auto label, learned_label(c, model, message_key));
  if (!label) {
    return false;
  }
  TERN_TRY_VOID(c.run("DELETE FROM spam_learned WHERE account_id = ?1 AND message_key = ?2", model,
                      message_key));
  const bool spam = *label == d::SpamLabel::kSpam;
  TERN_TRY_VOID(c.run(spam ? "UPDATE spam_models SET spam_messages = max(spam_messages - 1, 0) "
                             "WHERE account_id = ?1"
                           : "UPDATE spam_models SET ham_messages = max(ham_messages - 1, 0) "
                             "WHERE account_id = ?1",
                      model));
  const std::string_view decrement =
      spam ? "UPDATE spam_tokens SET spam = max(spam - 1, 0) WHERE account_id = ?1 AND token = ?2 "
             "RETURNING spam, ham"
           : "UPDATE spam_tokens SET ham = max(ham - 1, 0) WHERE account_id = ?1 AND token = ?2 "
             "RETURNING spam, ham";
  for (auto token : distinct(tokens)) {
    bool zero = false;
    {
      TERN_TRY(auto stmt, c.query(decrement, model, token));
      TERN_TRY(bool row, stmt.next());
      zero = row && stmt.int64(0) == 0 && stmt.int64(1) == 0;
      if (row) {
        TERN_TRY_VOID(stmt.done());
      }
    }
    if (zero) {
      TERN_TRY_VOID(
          c.run("DELETE FROM spam_tokens WHERE account_id = ?1 AND token = ?2", model, token));
    }
  }
  return true;
}

Result<void> reset(Connection& c, std::optional<d::AccountId> account) {
  TERN_TRY_VOID(require_model(c, account));
  return remove_model(c, model_of(account));
}

Result<void> remove_model(Connection& c, std::int64_t model) {
  TERN_TRY_VOID(c.run("DELETE FROM spam_tokens WHERE account_id = ?1", model));
  TERN_TRY_VOID(c.run("DELETE FROM spam_learned WHERE account_id = ?1", model));
  return c.run("DELETE FROM spam_models WHERE account_id = ?1", model);
}

Result<void> import_models(Connection& c, const std::vector<d::SpamModelRows>& models) {
  TERN_TRY_VOID(d::check_spam_models(models));
  for (const auto& m : models) {
    TERN_TRY_VOID(require_model(c, m.account));
    const auto model = model_of(m.account);
    TERN_TRY_VOID(remove_model(c, model));
    if (!d::spam_model_holds_anything(m)) {
      continue;
    }
    TERN_TRY_VOID(
        c.run("INSERT INTO spam_models (account_id, spam_messages, ham_messages) "
              "VALUES (?1, ?2, ?3)",
              model, m.spam_messages, m.ham_messages));
    // One cached statement stepped per row, all in the writer's one transaction.
    for (const auto& t : m.tokens) {
      TERN_TRY_VOID(
          c.run("INSERT INTO spam_tokens (account_id, token, spam, ham) "
                "VALUES (?1, ?2, ?3, ?4)",
                model, t.token, t.spam, t.ham));
    }
    for (const auto& l : m.learned) {
      TERN_TRY_VOID(
          c.run("INSERT INTO spam_learned (account_id, message_key, label) VALUES (?1, ?2, ?3)",
                model, l.message_key, static_cast<std::int64_t>(l.label)));
    }
  }
  return ok();
}

namespace {

// The model's message totals (zeros when it never learned anything).
Result<std::pair<std::uint64_t, std::uint64_t>> totals(Connection& c, std::int64_t model) {
  TERN_TRY(auto stmt, c.query("SELECT spam_messages, ham_messages FROM spam_models WHERE "
                              "account_id = ?1",
                              model));
  TERN_TRY(bool row, stmt.next());
  if (!row) {
    return std::pair<std::uint64_t, std::uint64_t>{0, 0};
  }
  return std::pair<std::uint64_t, std::uint64_t>{stmt.uint64(0), stmt.uint64(1)};
}

// Runs `body` in one read transaction, so the totals and the counts agree.
template <class Body>
auto in_read_transaction(Connection& c, Body body) -> decltype(body()) {
  TERN_TRY_VOID(c.exec("BEGIN"));
  auto result = body();
  (void)c.exec("COMMIT");
  return result;
}

}  // namespace

Result<d::SpamCounts> counts(Connection& c, std::optional<d::AccountId> account,
                             std::vector<std::uint64_t> tokens) {
  if (tokens.empty()) {
    // The totals alone, which delivery asks for every message: one statement
    // (atomic by itself, no transaction), and the account is looked up only
    // when its model has no row, since a model's rows go with its account.
    d::SpamCounts out;
    {
      TERN_TRY(auto stmt, c.query("SELECT spam_messages, ham_messages FROM spam_models WHERE "
                                  "account_id = ?1",
                                  model_of(account)));
      TERN_TRY(bool row, stmt.next());
      if (row) {
        out.spam_messages = stmt.uint64(0);
        out.ham_messages = stmt.uint64(1);
        TERN_TRY_VOID(stmt.done());
        return out;
      }
    }
    TERN_TRY_VOID(require_model(c, account));
    return out;
  }
  tokens = distinct(std::move(tokens));
  return in_read_transaction(c, [&]() -> Result<d::SpamCounts> {
    TERN_TRY_VOID(require_model(c, account));
    const auto model = model_of(account);
    d::SpamCounts out;
    TERN_TRY(auto messages, totals(c, model));
    out.spam_messages = messages.first;
    out.ham_messages = messages.second;
    // One cached statement stepped per token, in uint64 order so the answer is
    // sorted (faster than IN lists, json_each or a temp table: README.md).
    for (auto token : tokens) {
      TERN_TRY(auto stmt, c.query("SELECT spam, ham FROM spam_tokens WHERE account_id = ?1 AND "
                                  "token = ?2",
                                  model, token));
      TERN_TRY(bool row, stmt.next());
      if (row) {
        out.tokens.push_back(
            d::SpamTokenCount{token, count32(stmt.int64(0)), count32(stmt.int64(1))});
      }
    }
    return out;
  });
}

Result<d::SpamModelStats> stats(Connection& c, std::optional<d::AccountId> account) {
  return in_read_transaction(c, [&]() -> Result<d::SpamModelStats> {
    TERN_TRY_VOID(require_model(c, account));
    const auto model = model_of(account);
    TERN_TRY(auto messages, totals(c, model));
    TERN_TRY(auto tokens,
             c.scalar("SELECT count(*) FROM spam_tokens WHERE account_id = ?1", model));
    return d::SpamModelStats{messages.first, messages.second,
                             static_cast<std::uint64_t>(tokens.value_or(0))};
  });
}

Result<std::vector<d::SpamModelRows>> export_models(Connection& c) {
  return in_read_transaction(c, [&]() -> Result<std::vector<d::SpamModelRows>> {
    d::SpamModelCollector models;
    {
      TERN_TRY(auto stmt, c.query("SELECT account_id, spam_messages, ham_messages FROM "
                                  "spam_models"));
      for (;;) {
        TERN_TRY(bool row, stmt.next());
        if (!row) {
          break;
        }
        auto& m = models.model(stmt.int64(0));
        m.spam_messages = stmt.uint64(1);
        m.ham_messages = stmt.uint64(2);
      }
    }
    {
      TERN_TRY(auto stmt, c.query("SELECT account_id, token, spam, ham FROM spam_tokens"));
      for (;;) {
        TERN_TRY(bool row, stmt.next());
        if (!row) {
          break;
        }
        models.model(stmt.int64(0))
            .tokens.push_back(
                d::SpamTokenCount{stmt.uint64(1), count32(stmt.int64(2)), count32(stmt.int64(3))});
      }
    }
    {
      // BINARY collation: bytewise, the order the port gives.
      TERN_TRY(auto stmt, c.query("SELECT account_id, message_key, label FROM spam_learned "
                                  "ORDER BY account_id, message_key"));
      for (;;) {
        TERN_TRY(bool row, stmt.next());
        if (!row) {
          break;
        }
        models.model(stmt.int64(0))
            .learned.push_back({stmt.text(1), static_cast<d::SpamLabel>(stmt.int64(2))});
      }
    }
    return models.take();
  });
}

}  // namespace tern::store::sqlite::spam
