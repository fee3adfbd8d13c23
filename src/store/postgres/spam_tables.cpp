// SPDX-License-Identifier: Apache-2.0
#include "store/postgres/spam_tables.hpp"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

namespace tern::store::postgres::spam {

namespace d = tern::domain;

namespace {

// The model's key in the spam tables: the account's id, 0 for the site-wide model.
std::int64_t model_of(std::optional<d::AccountId> account) {
  return account ? d::value_of(*account) : 0;
}

template <class... Args>
Statement statement(std::string_view sql, const Args&... args) {
  Statement s{std::string(sql), {}};
  (s.params.add(args), ...);
  return s;
}

// The tokens as bigint[] elements: sorted, each once (the port asks for distinct
// tokens; ON CONFLICT DO UPDATE could not touch a row twice anyway), each the int64
// bit pattern of the uint64.
std::vector<std::int64_t> token_array(std::vector<std::uint64_t> tokens) {
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  std::vector<std::int64_t> out;
  out.reserve(tokens.size());
  for (auto token : tokens) {
    out.push_back(static_cast<std::int64_t>(token));
  }
  return out;
}

std::uint32_t count32(std::int64_t value) {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(value, 0, std::numeric_limits<std::uint32_t>::max()));
}

// The first statements of every change, sent together: the account check (its row
// FOR KEY SHARE, so remove_account() waits for this transaction) and the model
// row's lock (created with zeros if missing; the no-op update locks it). The
// account check's answer is results[0]; an unknown account's model row is never
// committed, the caller failing with kNotFound.
void lock_model(std::vector<Statement>& statements, std::optional<d::AccountId> account) {
  const auto model = model_of(account);
  statements.push_back(
      statement("SELECT $1::bigint = 0 OR EXISTS (SELECT 1 FROM accounts WHERE "
                "id = $1 FOR KEY SHARE)",
                model));
  statements.push_back(statement(
      "INSERT INTO spam_models (account_id, spam_messages, ham_messages) VALUES ($1, 0, 0) "
      "ON CONFLICT (account_id) DO UPDATE SET spam_messages = spam_models.spam_messages",
      model));
}

Result<void> check_account(const Rows& result) {
  if (result.empty() || !result.boolean(0, 0)) {
    return Error{ErrorCode::kNotFound, "no such account"};
  }
  return ok();
}

// Adds (spam, ham) to the model's message totals and to each token's counts,
// every count kept at 0 or more. Used only where a count goes up (learn), so no
// token ends at 0/0.
void add_counts(std::vector<Statement>& statements, std::int64_t model, std::int64_t spam,
                std::int64_t ham, const std::vector<std::int64_t>& tokens) {
  statements.push_back(
      statement("UPDATE spam_models SET spam_messages = GREATEST(spam_messages + $2, 0), "
                "ham_messages = GREATEST(ham_messages + $3, 0) WHERE account_id = $1",
                model, spam, ham));
  // One statement for all the tokens (about 1000 a message).
  statements.push_back(statement(
      "INSERT INTO spam_tokens (account_id, token, spam, ham) "
      "SELECT $1::bigint, q.token, $2::bigint, $3::bigint FROM unnest($4::bigint[]) AS q(token) "
      "ON CONFLICT (account_id, token) DO UPDATE SET "
      "spam = GREATEST(spam_tokens.spam + $5::bigint, 0), "
      "ham = GREATEST(spam_tokens.ham + $6::bigint, 0)",
      model, std::max<std::int64_t>(spam, 0), std::max<std::int64_t>(ham, 0), tokens, spam, ham));
}

}  // namespace

Result<d::SpamLearned> learn(Connection& c, const d::SpamLesson& lesson) {
  if (lesson.message_key.empty()) {
    return Error{ErrorCode::kInvalidInput, "empty spam message key"};
  }
  const auto model = model_of(lesson.account);
  std::vector<Statement> first;
  lock_model(first, lesson.account);
  first.push_back(
      statement("SELECT label FROM spam_learned WHERE account_id = $1 AND "
                "message_key = $2",
                model, lesson.message_key));
  TERN_TRY(auto results, c.pipeline(first));
  TERN_TRY_VOID(check_account(results[0]));
  const auto& found = results[2];
  std::optional<d::SpamLabel> previous;
  if (!found.empty()) {
    previous = static_cast<d::SpamLabel>(found.int64(0, 0));
  }
  if (previous == lesson.label) {
    return d::SpamLearned::kUnchanged;
  }
  const bool spam = lesson.label == d::SpamLabel::kSpam;
  std::int64_t spam_delta = spam ? 1 : 0;
  std::int64_t ham_delta = spam ? 0 : 1;
  if (previous) {  // the other label's counts go down
    spam_delta = spam ? 1 : -1;
    ham_delta = -spam_delta;
  }
  std::vector<Statement> second;
  second.push_back(
      statement("INSERT INTO spam_learned (account_id, message_key, label) VALUES ($1, $2, $3) "
                "ON CONFLICT (account_id, message_key) DO UPDATE SET label = EXCLUDED.label",
                model, lesson.message_key, static_cast<std::int64_t>(lesson.label)));
  add_counts(second, model, spam_delta, ham_delta, token_array(lesson.tokens));
  TERN_TRY_VOID(c.pipeline(second).transform([](const auto&) {}));
  return previous ? d::SpamLearned::kRelearned : d::SpamLearned::kLearned;
}

Result<bool> forget(Connection& c, std::optional<d::AccountId> account,
                    const std::string& message_key, const std::vector<std::uint64_t>& tokens) {
  const auto model = model_of(account);
  std::vector<Statement> first;
  lock_model(first, account);
  first.push_back(
      statement("DELETE FROM spam_learned WHERE account_id = $1 AND message_key = $2 "
                "RETURNING label",
                model, message_key));
  TERN_TRY(auto results, c.pipeline(first));
  TERN_TRY_VOID(check_account(results[0]));
  if (results[2].empty()) {
    return false;
  }
  const bool spam = static_cast<d::SpamLabel>(results[2].int64(0, 0)) == d::SpamLabel::kSpam;
  const std::int64_t spam_delta = spam ? 1 : 0;
  const std::int64_t ham_delta = spam ? 0 : 1;
  const auto array = token_array(tokens);
  std::vector<Statement> second;
  second.push_back(
      statement("UPDATE spam_models SET spam_messages = GREATEST(spam_messages - $2, 0), "
                "ham_messages = GREATEST(ham_messages - $3, 0) WHERE account_id = $1",
                model, spam_delta, ham_delta));
  second.push_back(
      statement("UPDATE spam_tokens SET spam = GREATEST(spam - $2, 0), ham = GREATEST(ham - $3, 0) "
                "WHERE account_id = $1 AND token = ANY($4::bigint[])",
                model, spam_delta, ham_delta, array));
  second.push_back(
      statement("DELETE FROM spam_tokens WHERE account_id = $1 AND "
                "token = ANY($2::bigint[]) AND spam = 0 AND ham = 0",
                model, array));
  TERN_TRY_VOID(c.pipeline(second).transform([](const auto&) {}));
  return true;
}

Result<void> reset(Connection& c, std::optional<d::AccountId> account) {
  const auto model = model_of(account);
  std::vector<Statement> statements;
  lock_model(statements, account);
  statements.push_back(statement("DELETE FROM spam_tokens WHERE account_id = $1", model));
  statements.push_back(statement("DELETE FROM spam_learned WHERE account_id = $1", model));
  statements.push_back(statement("DELETE FROM spam_models WHERE account_id = $1", model));
  TERN_TRY(auto results, c.pipeline(statements));
  // An unknown account: the transaction is rolled back, the row lock_model made
  // goes with it.
  return check_account(results[0]);
}

Result<void> remove_model(Connection& c, std::int64_t model) {
  std::vector<Statement> statements;
  statements.push_back(statement("DELETE FROM spam_tokens WHERE account_id = $1", model));
  statements.push_back(statement("DELETE FROM spam_learned WHERE account_id = $1", model));
  statements.push_back(statement("DELETE FROM spam_models WHERE account_id = $1", model));
  return c.pipeline(statements).transform([](const auto&) {});
}

Result<void> import_models(Connection& c, const std::vector<d::SpamModelRows>& models) {
  TERN_TRY_VOID(d::check_spam_models(models));
  for (const auto& m : models) {
    const auto model = model_of(m.account);
    std::vector<Statement> statements;
    // The account check (FOR KEY SHARE) and the model row's lock, as every change
    // takes them; the row gets the imported totals (or goes, for an empty model).
    statements.push_back(
        statement("SELECT $1::bigint = 0 OR EXISTS (SELECT 1 FROM accounts WHERE "
                  "id = $1 FOR KEY SHARE)",
                  model));
    const bool holds = d::spam_model_holds_anything(m);
    if (holds) {
      statements.push_back(statement(
          "INSERT INTO spam_models (account_id, spam_messages, ham_messages) VALUES ($1, $2, $3) "
          "ON CONFLICT (account_id) DO UPDATE SET spam_messages = EXCLUDED.spam_messages, "
          "ham_messages = EXCLUDED.ham_messages",
          model, m.spam_messages, m.ham_messages));
    } else {
      statements.push_back(statement("DELETE FROM spam_models WHERE account_id = $1", model));
    }
    statements.push_back(statement("DELETE FROM spam_tokens WHERE account_id = $1", model));
    statements.push_back(statement("DELETE FROM spam_learned WHERE account_id = $1", model));
    if (!m.tokens.empty()) {
      std::vector<std::int64_t> tokens, spam, ham;
      tokens.reserve(m.tokens.size());
      spam.reserve(m.tokens.size());
      ham.reserve(m.tokens.size());
      for (const auto& t : m.tokens) {
        tokens.push_back(static_cast<std::int64_t>(t.token));  // the uint64's bit pattern
        spam.push_back(t.spam);
        ham.push_back(t.ham);
      }
      statements.push_back(
          statement("INSERT INTO spam_tokens (account_id, token, spam, ham) "
                    "SELECT $1::bigint, q.token, q.spam, q.ham "
                    "FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS q(token, spam, ham)",
                    model, tokens, spam, ham));
    }
    if (!m.learned.empty()) {
      std::vector<std::string> keys;
      std::vector<std::int64_t> labels;
      keys.reserve(m.learned.size());
      labels.reserve(m.learned.size());
      for (const auto& l : m.learned) {
        keys.push_back(l.message_key);
        labels.push_back(static_cast<std::int64_t>(l.label));
      }
      statements.push_back(
          statement("INSERT INTO spam_learned (account_id, message_key, label) "
                    "SELECT $1::bigint, q.message_key, q.label "
                    "FROM unnest($2::text[], $3::smallint[]) AS q(message_key, label)",
                    model, keys, labels));
    }
    TERN_TRY(auto results, c.pipeline(statements));
    // An unknown account: the transaction is rolled back with what it wrote.
    TERN_TRY_VOID(check_account(results[0]));
  }
  return ok();
}

namespace {

// The account check and the model's message totals, for the readers.
void read_model(std::vector<Statement>& statements, std::int64_t model) {
  statements.push_back(
      statement("SELECT $1::bigint = 0 OR EXISTS (SELECT 1 FROM accounts WHERE id = $1)", model));
  statements.push_back(statement(
      "SELECT spam_messages, ham_messages FROM spam_models WHERE account_id = $1", model));
}

}  // namespace

Result<d::SpamCounts> counts(Connection& c, std::optional<d::AccountId> account,
                             const std::vector<std::uint64_t>& tokens) {
  const auto model = model_of(account);
  std::vector<Statement> statements;
  read_model(statements, model);
  statements.push_back(
      statement("SELECT t.token, t.spam, t.ham FROM unnest($2::bigint[]) AS q(token) "
                "JOIN spam_tokens t ON t.account_id = $1 AND t.token = q.token",
                model, token_array(tokens)));
  TERN_TRY(auto results, c.pipeline(statements));
  TERN_TRY_VOID(check_account(results[0]));
  d::SpamCounts out;
  if (!results[1].empty()) {
    out.spam_messages = results[1].uint64(0, 0);
    out.ham_messages = results[1].uint64(0, 1);
  }
  const auto& found = results[2];
  out.tokens.reserve(static_cast<std::size_t>(found.size()));
  for (int i = 0; i < found.size(); ++i) {
    out.tokens.push_back(d::SpamTokenCount{found.uint64(i, 0), count32(found.int64(i, 1)),
                                           count32(found.int64(i, 2))});
  }
  // By token as uint64 (the database orders the int64 bit patterns otherwise).
  std::sort(out.tokens.begin(), out.tokens.end(),
            [](const auto& a, const auto& b) { return a.token < b.token; });
  return out;
}

Result<d::SpamModelStats> stats(Connection& c, std::optional<d::AccountId> account) {
  const auto model = model_of(account);
  std::vector<Statement> statements;
  read_model(statements, model);
  statements.push_back(statement("SELECT count(*) FROM spam_tokens WHERE account_id = $1", model));
  TERN_TRY(auto results, c.pipeline(statements));
  TERN_TRY_VOID(check_account(results[0]));
  d::SpamModelStats out;
  if (!results[1].empty()) {
    out.spam_messages = results[1].uint64(0, 0);
    out.ham_messages = results[1].uint64(0, 1);
  }
  out.tokens = results[2].uint64(0, 0);
  return out;
}

Result<std::vector<d::SpamModelRows>> export_models(Connection& c) {
  std::vector<Statement> statements;
  statements.push_back(
      statement("SELECT account_id, spam_messages, ham_messages FROM spam_models"));
  statements.push_back(statement("SELECT account_id, token, spam, ham FROM spam_tokens"));
  statements.push_back(
      statement("SELECT account_id, message_key, label FROM spam_learned "
                "ORDER BY account_id, message_key COLLATE \"C\""));
  TERN_TRY(auto results, c.pipeline(statements));
  d::SpamModelCollector models;
  const auto& totals = results[0];
  for (int i = 0; i < totals.size(); ++i) {
    auto& m = models.model(totals.int64(i, 0));
    m.spam_messages = totals.uint64(i, 1);
    m.ham_messages = totals.uint64(i, 2);
  }
  const auto& tokens = results[1];
  for (int i = 0; i < tokens.size(); ++i) {
    models.model(tokens.int64(i, 0))
        .tokens.push_back(d::SpamTokenCount{tokens.uint64(i, 1), count32(tokens.int64(i, 2)),
                                            count32(tokens.int64(i, 3))});
  }
  const auto& learned = results[2];
  for (int i = 0; i < learned.size(); ++i) {
    models.model(learned.int64(i, 0))
        .learned.push_back({learned.text(i, 1), static_cast<d::SpamLabel>(learned.int64(i, 2))});
  }
  return models.take();
}

}  // namespace tern::store::postgres::spam
