// SPDX-License-Identifier: Apache-2.0
// Blob files in a directory shared by every node (PostgresOptions::blob_dir):
// <root>/ab/cd/<sha256hex>, written durably before the row that names them
// commits. The database stays the truth: a file counts only while a committed
// `blobs` row with in_file = true names it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::store::postgres {

class BlobDir {
 public:
  explicit BlobDir(std::filesystem::path root) : root_(std::move(root)) {}

  // Creates the root and its tmp/ directory. kIo when that fails.
  Result<void> prepare();

  // Makes `bytes` durable at their final name: written to tmp/, fdatasynced,
  // renamed into place and the directory fsynced. Writing a blob that is already
  // there replaces it with the same bytes (and a fresh mtime, which is what
  // protects it from a concurrent sweep()). kIo on any failure.
  Result<void> store(const std::string& hex, std::string_view bytes);

  // The file's bytes; kNotFound when it is missing.
  Result<std::string> read(const std::string& hex) const;

  // Removes blob files that `referenced(hex)` says no row names, and temp files,
  // when they are older than `grace` (files a node is writing for a transaction
  // that has not committed yet are young). Returns how many files went.
  Result<std::uint64_t> sweep(const std::function<Result<bool>(const std::string&)>& referenced,
                              std::chrono::seconds grace);

  std::filesystem::path path_of(const std::string& hex) const;

 private:
  std::filesystem::path root_;
};

}  // namespace tern::store::postgres
