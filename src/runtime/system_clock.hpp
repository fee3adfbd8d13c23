// SPDX-License-Identifier: Apache-2.0
// The real Clock and Random (base/clock.hpp). Only app/ and runtime/ construct
// them; everything else receives a Clock& or Random&.
#pragma once

#include <cstdint>
#include <span>

#include "base/clock.hpp"

namespace tern::runtime {

// std::chrono::system_clock and steady_clock. Thread-safe, stateless.
class SystemClock final : public Clock {
 public:
  SystemTime now() const override;
  Instant monotonic() const override;
};

// Cryptographically strong bytes from the kernel (getrandom(2)), suitable for
// salts, session ids and tokens. Thread-safe. fill() never fails: getrandom only
// blocks before the kernel pool is seeded at boot, and on any other error the
// process aborts rather than hand out weak randomness.
class SystemRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

// The host's local zone (TZ, else /etc/localtime) at `t`, in minutes east of
// UTC: what Sieve's date tests show times in when a script names no zone
// (RFC 5260 §4.1.1), as Dovecot does. 0 when the zone cannot be read.
int local_zone_minutes(SystemTime t);

}  // namespace tern::runtime
