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
#include "store/postgres/connection.hpp"

namespace tern::store::postgres::spam {

// Writers (a read-write transaction each).
Result<domain::SpamLearned> learn(Connection& c, const domain::SpamLesson& lesson);
Result<bool> forget(Connection& c, std::optional<domain::AccountId> account,
                    const std::string& message_key, const std::vector<std::uint64_t>& tokens);
Result<void> reset(Connection& c, std::optional<domain::AccountId> account);
// remove_account(): deletes the account's model, in its transaction.
Result<void> remove_model(Connection& c, std::int64_t account);

// Readers (a read-only snapshot): one round trip each.
Result<domain::SpamCounts> counts(Connection& c, std::optional<domain::AccountId> account,
                                  const std::vector<std::uint64_t>& tokens);
Result<domain::SpamModelStats> stats(Connection& c, std::optional<domain::AccountId> account);

}  // namespace tern::store::postgres::spam
