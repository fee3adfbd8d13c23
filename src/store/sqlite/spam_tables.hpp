// SPDX-License-Identifier: Apache-2.0
// The SQL behind SqliteStorage's domain::SpamStore (migration 0016_spam_models.sql).
// Each function runs on the connection it is given: the writers inside the
// writer's transaction (one port call, one atomic step), the readers in a read
// transaction of their own. A model is named by its account id, 0 for the
// site-wide one; each function checks that a named account exists (kNotFound).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/model.hpp"
#include "domain/store_import.hpp"
#include "store/sqlite/connection.hpp"

namespace tern::store::sqlite::spam {

// Writers: run by the writer thread.
Result<domain::SpamLearned> learn(Connection& c, const domain::SpamLesson& lesson);
Result<bool> forget(Connection& c, std::optional<domain::AccountId> account,
                    const std::string& message_key, const std::vector<std::uint64_t>& tokens);
Result<void> reset(Connection& c, std::optional<domain::AccountId> account);
// remove_account(): deletes the account's model, in its transaction.
Result<void> remove_model(Connection& c, std::int64_t account);
// StoreImport::import_spam_models: each model replaced by its rows (one cached
// INSERT stepped per token and per learned key), in the writer's transaction.
Result<void> import_models(Connection& c, const std::vector<domain::SpamModelRows>& models);

// Readers.
Result<domain::SpamCounts> counts(Connection& c, std::optional<domain::AccountId> account,
                                  std::vector<std::uint64_t> tokens);
Result<domain::SpamModelStats> stats(Connection& c, std::optional<domain::AccountId> account);
// StoreImport::export_spam_models: every model that holds anything, in one read
// transaction (three table scans in key order).
Result<std::vector<domain::SpamModelRows>> export_models(Connection& c);

}  // namespace tern::store::sqlite::spam
