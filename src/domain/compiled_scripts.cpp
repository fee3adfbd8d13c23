// SPDX-License-Identifier: Apache-2.0
#include "domain/compiled_scripts.hpp"

namespace tern::domain {

Result<sieve::Script> CompiledScripts::get(const std::string& text) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = scripts_.find(text); found != scripts_.end()) {
      return found->second;
    }
  }
  TERN_TRY(auto script, sieve::compile(text));
  std::lock_guard lock(mutex_);
  if (text.size() > max_bytes_) {
    return script;
  }
  if (bytes_ + text.size() > max_bytes_) {
    // Simpler than LRU and as good here: most accounts have no script, and a
    // site's active scripts rarely add up to this; starting over costs one
    // compile per script.
    scripts_.clear();
    bytes_ = 0;
  }
  if (scripts_.emplace(text, script).second) {
    bytes_ += text.size();
  }
  return script;
}

}  // namespace tern::domain
