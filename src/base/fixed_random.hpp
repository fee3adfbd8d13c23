// SPDX-License-Identifier: Apache-2.0
// A Random for tests and fuzz targets: every byte it yields is the same, so nonces
// and salts are known in advance and runs repeat exactly. Never for secrets.
#pragma once

#include <cstdint>
#include <span>

#include "base/clock.hpp"

namespace tern {

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(std::uint8_t byte = 0) : byte_(byte) {}

  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      b = byte_;
    }
  }

 private:
  std::uint8_t byte_;
};

}  // namespace tern
