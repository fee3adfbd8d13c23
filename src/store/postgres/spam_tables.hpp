// SPDX-License-Identifier: Apache-2.0
// The SQL of domain::SpamStore for store::postgres (migration 0006_spam_models.sql):
// each function runs inside the transaction PostgresStorage opened for it. A
// model is named by its account id, 0 for the site-wide one; each function checks
// that a named account exists (kNotFound). Every change locks (or creates) the
// model's spam_models row first, so changes to one model from any number of
// nodes run one at a time and their token upserts never deadlock; an account's
// row is taken FOR KEY SHARE, so remove_account() waits for them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "domain/model.hpp"
#include "domain/store_import.hpp"
#include "store/postgres/connection.hpp"

namespace tern::store::postgres::spam {

// Writers (a read-write transaction each).
Result<domain::SpamLearned> learn(Connection& c, const domain::SpamLesson& lesson);
Result<bool> forget(Connection& c, std::optional<domain::AccountId> account,
                    const std::string& message_key, const std::vector<std::uint64_t>& tokens);
Result<void> reset(Connection& c, std::optional<domain::AccountId> account);
// remove_account(): deletes the account's model, in its transaction.
Result<void> remove_model(Connection& c, std::int64_t account);
// StoreImport::import_spam_models: each model replaced by its rows, one pipeline
// per model (its row locked first, every token in one INSERT ... SELECT FROM
// unnest of three bigint[] arrays, every learned key in one more).
Result<void> import_models(Connection& c, const std::vector<domain::SpamModelRows>& models);

// Readers (a read-only snapshot): one round trip each.
Result<domain::SpamCounts> counts(Connection& c, std::optional<domain::AccountId> account,
                                  const std::vector<std::uint64_t>& tokens);
Result<domain::SpamModelStats> stats(Connection& c, std::optional<domain::AccountId> account);
// StoreImport::export_spam_models: every model that holds anything (three
// queries; run it in a REPEATABLE READ snapshot).
Result<std::vector<domain::SpamModelRows>> export_models(Connection& c);

}  // namespace tern::store::postgres::spam
