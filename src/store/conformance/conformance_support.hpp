// SPDX-License-Identifier: Apache-2.0
// Helpers for the storage conformance suite (storage_conformance.hpp): waiting on
// store futures and building test messages.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "base/result.hpp"
#include "domain/ports.hpp"

namespace tern::store::conformance {

// Waits for `future` and returns its Result. Tests then assert on it, e.g.
//   auto r = wait(store.mail().usage(id)); ASSERT_TRUE(r) << r.error().message;
template <class T>
Result<T> wait(domain::Async<T> future) {
  return future.get();
}

// A syntactically plausible RFC 5322 message whose bytes depend on `tag`, padded
// with body lines to at least `min_bytes`.
std::string make_raw_message(const std::string& tag, std::size_t min_bytes = 0);

// A NewMessage with make_raw_message(tag, min_bytes), a fixed internal date and
// facts "facts:<tag>".
domain::NewMessage make_message(const std::string& tag, std::size_t min_bytes = 0);

// A fixed point in time (2024-01-01T00:00:00Z) so date checks are exact.
SystemTime fixed_time();

// A queue entry from sender@example.org to `recipients` with bytes from `tag`.
domain::NewQueuedMessage make_queued(const std::string& tag, std::vector<std::string> recipients,
                                     SystemTime now);

}  // namespace tern::store::conformance
