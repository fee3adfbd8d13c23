// SPDX-License-Identifier: Apache-2.0
// For the sqlite backend's tests: a fresh directory under /tmp, removed with
// everything in it when the object goes.
#pragma once

#include <filesystem>
#include <system_error>

#include <stdlib.h>

namespace tern::store::sqlite {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/tern-sqlite-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    path_ = made != nullptr ? made : "";
  }

  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace tern::store::sqlite
