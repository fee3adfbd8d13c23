// SPDX-License-Identifier: Apache-2.0
// Time and randomness come in from outside (ARCHITECTURE.md §2): pure code takes a
// Clock& or a time value; runtime/ provides the real ones, tests/support the fakes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tern {

using SystemTime = std::chrono::system_clock::time_point;
using Instant = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps that are stored or shown (internal dates).
  virtual SystemTime now() const = 0;
  // Monotonic time, for deadlines and durations.
  virtual Instant monotonic() const = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with bytes. Implementations used for secrets (salts, passwords)
  // must be cryptographically strong.
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// Seconds since the Unix epoch, the unit stored for dates.
inline std::int64_t to_unix_seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

inline SystemTime from_unix_seconds(std::int64_t seconds) {
  return SystemTime(std::chrono::seconds(seconds));
}

}  // namespace tern
