// SPDX-License-Identifier: Apache-2.0
// The compiled forms of the Sieve scripts deliveries run, kept between
// deliveries: compiling a 20-rule filter costs about five times what running it
// does (bench/README.md "Sieve at delivery"). Keyed by the script's text, so an
// edited script (ManageSieve PUTSCRIPT, `tern sieve put`) is compiled afresh
// and no invalidation is needed; several nodes on one database each keep their own.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/result.hpp"
#include "sieve/sieve.hpp"

namespace tern::domain {

class CompiledScripts {
 public:
  // `max_bytes` bounds the texts kept (the keys); past it the cache starts over.
  explicit CompiledScripts(std::size_t max_bytes = 16 << 20) : max_bytes_(max_bytes) {}

  // `text` compiled, from the cache or compiled now (and kept when it compiles).
  // Errors: sieve::compile's. Thread-safe; compiles outside the lock.
  Result<sieve::Script> get(const std::string& text);

 private:
  const std::size_t max_bytes_;
  std::mutex mutex_;
  std::unordered_map<std::string, sieve::Script> scripts_;
  std::size_t bytes_ = 0;
};

}  // namespace tern::domain
