// SPDX-License-Identifier: Apache-2.0
// Greylisting (the MX's [greylist]; services/smtp): the first delivery attempt of
// a (client network, sender, recipient) triplet is deferred with 450, and a retry
// after `delay` passes. Real MTAs retry; much spamware does not. The rules are
// postgrey's, the tool Postfix sites run for this: senders normalised, clients by
// network, an unretried triplet forgotten after the retry window, a passed one
// after max_age unseen, and a client that passed often enough let through at once.
//
// The decision is here, pure; the store keeps the records (GreylistStore), one
// atomic step per attempt, so every node on one store agrees.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern::domain {

// Who tries to deliver what, each part normalised by greylist_triplet().
struct GreylistTriplet {
  std::string client;     // "192.0.2" (the /24) or "2001:db8:0:1" (the /64)
  std::string sender;     // "" for the null sender
  std::string recipient;  // lower case
  bool operator==(const GreylistTriplet&) const = default;
};

// The triplet of an attempt: the client's network (a /24 for IPv4, a /64 for
// IPv6: a sender's retries often leave from another host of its pool); the
// sender lower-cased, without a "+tag", with each run of digits as "#" (VERP and
// SRS senders differ per message: postgrey's sender normalisation); the
// recipient lower-cased. nullopt when `client_ip` is not an IP address.
std::optional<GreylistTriplet> greylist_triplet(std::string_view client_ip, std::string_view sender,
                                                std::string_view recipient);

struct GreylistPolicy {
  std::int64_t delay_seconds = 300;               // postgrey --delay
  std::int64_t retry_window_seconds = 2 * 86400;  // postgrey --retry-window
  std::int64_t max_age_seconds = 35 * 86400;      // postgrey --max-age
  // A client network with this many passed triplets passes at once; 0: never
  // (postgrey --auto-whitelist-clients).
  std::uint32_t auto_allow_after = 5;
  bool operator==(const GreylistPolicy&) const = default;
};

// What the store keeps per triplet (Unix seconds).
struct GreylistRecord {
  std::int64_t first_seen = 0;  // when the current round of attempts began
  std::int64_t last_seen = 0;
  bool passed = false;
  bool operator==(const GreylistRecord&) const = default;
};

struct GreylistVerdict {
  bool pass = false;
  std::int64_t retry_after = 0;  // deferred: seconds until a retry can pass
  bool operator==(const GreylistVerdict&) const = default;
};

struct GreylistDecision {
  GreylistVerdict verdict;
  GreylistRecord record;  // to store for the triplet
};

// Decides an attempt at `now` on the triplet's `record` (nullopt: never seen, or
// purged). `client_passes`: how many of the client network's triplets have
// passed (only compared with auto_allow_after).
GreylistDecision decide_greylist(const std::optional<GreylistRecord>& record,
                                 std::uint64_t client_passes, const GreylistPolicy& policy,
                                 std::int64_t now);

}  // namespace tern::domain
