// SPDX-License-Identifier: Apache-2.0
// `tern queue ...`: inspecting and steering the outbound queue from the shell,
// while ternd runs (both open the same store; the scheduler sees changes at its
// next poll, [queue] poll_interval_ms).
//
//   list                     one block per entry: id, state, size, arrival, attempts,
//                            next attempt, sender, and each pending recipient with its
//                            last reply; a summary line at the end
//   show ID                  every field of one entry and the message header
//   flush                    every queued (not held) entry is due now
//   retry ID...              these entries are due now
//   hold ID...|ALL           never attempted until released
//   release ID...|ALL        held entries are due now
//   delete ID...|ALL         removed without notice
//   bounce ID...             pending recipients fail now (5.0.0); a DSN goes to the
//                            sender (not for the null sender), then the entry is removed
//
// Exit status: 0 done, 1 an ID does not exist or the store failed (the other IDs
// are still handled), 2 usage.
#pragma once

#include <string>
#include <vector>

#include "base/clock.hpp"
#include "config/settings.hpp"
#include "domain/ports.hpp"
#include "domain/queue_policy.hpp"

namespace tern::app {

// The usage lines of `tern queue`, for the CLI's help.
extern const char* const kQueueUsage;

// The retry policy [queue] configures (shared with ternd's scheduler).
domain::RetryPolicy retry_policy(const config::QueueSettings& queue);

// Runs `tern queue VERB ARGS...`; `words` starts with the verb.
int queue_command(const std::vector<std::string>& words, const config::Settings& settings,
                  domain::Storage& storage, const Clock& clock);

}  // namespace tern::app
