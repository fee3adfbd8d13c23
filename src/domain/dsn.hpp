// SPDX-License-Identifier: Apache-2.0
// Delivery status notifications for queued mail: which recipients a notice covers
// and the notice itself, an RFC 3464 multipart/report built by mime::build_dsn and
// returned as a new queue entry from the null sender (RFC 5321 §4.5.5, RFC 3461 §6).
// Pure: time and host name are parameters.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "domain/model.hpp"

namespace tern::domain {

enum class DsnKind {
  kFailure,  // Action: failed (permanent failure, expiry, loop, `tern queue bounce`)
  kDelay,    // Action: delayed (the delay warning, RFC 3464 §2.3.3)
  kSuccess,  // Action: relayed (NOTIFY=SUCCESS to a receiver without DSN)
};

struct DsnContext {
  std::string hostname;  // this server: Reporting-MTA and MAILER-DAEMON@hostname
  SystemTime now{};
  SystemTime will_retry_until{};  // for kDelay: created + lifetime
};

// The notice about `indices` (recipients of `message`, whose state, last_reply,
// status and remote_host describe the outcome) in the message `original`.
// Returns nothing when no notice is owed: the sender is null (never a bounce for a
// bounce, RFC 5321 §6.1), or no listed recipient asked for this kind (NOTIFY).
// The notice goes to the envelope sender from the null sender; its own recipient
// has NOTIFY=NEVER semantics by the null sender alone. The original is included
// whole for failures unless RET=HDRS, and as headers only otherwise (RFC 3461 §4.3).
std::optional<NewQueuedMessage> compose_dsn(const QueuedMessage& message, std::string_view original,
                                            DsnKind kind, const std::vector<std::size_t>& indices,
                                            const DsnContext& context);

}  // namespace tern::domain
