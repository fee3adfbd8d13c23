// SPDX-License-Identifier: Apache-2.0
// Assertions for programmer errors only (ARCHITECTURE.md §6): never on anything the
// network, a file or a DNS answer controls.
#pragma once

namespace tern::detail {
[[noreturn]] void assert_failed(const char* expr, const char* why, const char* file, int line);
}  // namespace tern::detail

// Checked in every build; aborts with the location and reason.
#define TERN_ASSERT(cond, why)                                         \
  do {                                                                 \
    if (!(cond)) {                                                     \
      ::tern::detail::assert_failed(#cond, (why), __FILE__, __LINE__); \
    }                                                                  \
  } while (false)
