// SPDX-License-Identifier: Apache-2.0
#include "runtime/system_clock.hpp"

#include <cerrno>
#include <ctime>

#include <sys/random.h>

#include "base/assert.hpp"

namespace tern::runtime {

int local_zone_minutes(SystemTime t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  if (::localtime_r(&seconds, &local) == nullptr) {
    return 0;
  }
  return static_cast<int>(local.tm_gmtoff / 60);
}

SystemTime SystemClock::now() const {
  return std::chrono::system_clock::now();
}

Instant SystemClock::monotonic() const {
  return std::chrono::steady_clock::now();
}

void SystemRandom::fill(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      // EINTR: a signal arrived while waiting for the pool to be seeded; retry.
      TERN_ASSERT(errno == EINTR, "getrandom failed");
      continue;
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace tern::runtime
