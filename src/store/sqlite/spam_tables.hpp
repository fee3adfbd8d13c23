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
#include "store/sqlite/connection.hpp"

namespace tern::store::sqlite::spam {

// Writers: run by the writer thread.
Result<domain::SpamLearned> learn(Connection& c, const domain::SpamLesson& lesson);
Result<bool> forget(Connection& c, std::optional<domain::AccountId> account,
                    const std::string& message_key, const std::vector<std::uint64_t>& tokens);
Result<void> reset(Connection& c, std::optional<domain::AccountId> account);
// remove_account(): deletes the account's model, in its transaction.
Result<void> remove_model(Connection& c, std::int64_t account);

// Readers.
Result<domain::SpamCounts> counts(Connection& c, std::optional<domain::AccountId> account,
                                  std::vector<std::uint64_t> tokens);
Result<domain::SpamModelStats> stats(Connection& c, std::optional<domain::AccountId> account);

}  // namespace tern::store::sqlite::spam
