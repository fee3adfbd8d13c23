// SPDX-License-Identifier: Apache-2.0
#include "base/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace tern::detail {

void assert_failed(const char* expr, const char* why, const char* file, int line) {
  std::fprintf(stderr, "tern: assertion failed at %s:%d: %s (%s)\n", file, line, expr, why);
  std::abort();
}

}  // namespace tern::detail
