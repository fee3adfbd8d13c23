// SPDX-License-Identifier: Apache-2.0
// Queue policy: the pure rules of outbound delivery that the scheduler
// (services/outbound) applies around each transport attempt. No I/O and no clock:
// `now` is a parameter, so every rule is tested with fixed times (a five-day
// lifetime is checked without waiting five days).
//
// The defaults are Postfix's: minimal_backoff_time 300s, maximal_backoff_time 4000s,
// maximal_queue_lifetime 5d, delay_warning_time 4h, hopcount_limit 50.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "domain/model.hpp"
#include "domain/outbound.hpp"

namespace tern::domain {

struct RetryPolicy {
  // Exponential backoff: the delay after the n-th failed attempt is
  // min_backoff * 2^(n-1), capped at max_backoff.
  std::chrono::seconds min_backoff{300};
  std::chrono::seconds max_backoff{4000};
  // An explicit schedule replaces the exponential one: the delay after the n-th
  // attempt is schedule[n-1], the last element repeating. Empty: exponential.
  std::vector<std::chrono::seconds> schedule;
  // After `lifetime` in the queue the pending recipients fail (expiry DSN).
  std::chrono::seconds lifetime{5 * 24 * 3600};
  // One "Action: delayed" DSN once a message is this old and still pending;
  // zero disables warnings.
  std::chrono::seconds delay_warning{4 * 3600};
  // A message with this many Received: fields or more is bounced as a loop.
  std::size_t hop_limit = 50;
};

// The delay before the next attempt after `attempts` attempts (attempts >= 1).
std::chrono::seconds retry_delay(const RetryPolicy& policy, std::uint32_t attempts);

// The destination of an address: its domain, lower-cased ("" when the address
// has no '@'). The transport's and the scheduler's per-destination limits key on it.
std::string destination_of(std::string_view address);

// The pending recipients of a message that share a destination, in queue order.
struct DestinationGroup {
  std::string destination;
  std::vector<std::size_t> indices;  // into QueuedMessage::recipients
};

// Groups the kPending recipients of `message` by destination, in order of first
// appearance.
std::vector<DestinationGroup> group_pending(const QueuedMessage& message);

// The transport request for one group (the message bytes are passed in).
DeliveryRequest make_request(const QueuedMessage& message, const DestinationGroup& group,
                             std::string raw);

// Counts the Received: fields in the header of `raw` (RFC 5321 §6.3: a loop shows
// as many trace fields). Stops at the first empty line.
std::size_t count_received(std::string_view raw);

// True when a recipient's RFC 3461 NOTIFY asks for a DSN of this kind. Absent
// NOTIFY means FAILURE,DELAY (RFC 3461 §4.1); NEVER means none.
bool wants_failure_notice(const QueueRecipient& recipient);
bool wants_delay_notice(const QueueRecipient& recipient);
bool wants_success_notice(const QueueRecipient& recipient);

// What one queue run decided for a message, to be written back with
// update_queued() (or remove_queued() when `finished`) and turned into DSNs.
struct RunOutcome {
  QueueUpdate update;
  bool finished = false;               // no recipient is pending: remove the entry
  std::vector<std::size_t> failed;     // recipients that failed in this run (bounce)
  std::vector<std::size_t> succeeded;  // delivered now and asking for a success DSN
  std::vector<std::size_t> delayed;    // pending and owed a delay warning now
  bool expired = false;                // pending recipients failed on lifetime
};

// Applies the per-recipient outcomes of one run to `message` (claimed, so
// `message.attempts` is the count before this run): delivered and failed
// recipients change state, deferred ones stay pending; then the lifetime is checked
// (expired recipients fail with 4.4.7 and their last reply), a delay warning is
// decided, and the next attempt is scheduled. Outcomes for indices out of range
// are ignored; a pending recipient with no outcome counts as deferred.
RunOutcome apply_outcomes(const QueuedMessage& message,
                          const std::vector<RecipientOutcome>& outcomes, SystemTime now,
                          const RetryPolicy& policy);

// Outcomes that fail every pending recipient of `message` with `reply`
// (`enhanced_status` e.g. "5.4.6" for a loop, "5.0.0" for `tern queue bounce`).
std::vector<RecipientOutcome> fail_all_pending(const QueuedMessage& message,
                                               std::string_view enhanced_status,
                                               std::string_view reply);

}  // namespace tern::domain
