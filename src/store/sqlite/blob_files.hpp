// SPDX-License-Identifier: Apache-2.0
// The blob files of the sqlite backend: <dir>/blobs/ab/cd/<sha256hex>, written via
// temp files in <dir>/blobs/tmp/ and made durable in groups.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::store::sqlite {

// A blob written to a temp file that is not yet durable nor at its final name.
// Owns the open file descriptor until BlobFiles::make_durable() or discard().
struct TempBlob {
  std::string hex;
  std::filesystem::path temp_path;
  int fd = -1;
};

// The file layout and the durability protocol for blobs. The invariant it keeps:
// a file at a final name is complete and was fsynced before it got that name, so a
// file that exists at its final name can be trusted. Files in tmp/ are never
// trusted; remove_stale_temps() deletes them.
//
// Thread-safety: write_temp() and discard() may run on any thread; the rest is
// called from the writer thread (reads also from reader threads: read() is safe
// anywhere).
class BlobFiles {
 public:
  // `root` is <dir>/blobs.
  explicit BlobFiles(std::filesystem::path root) : root_(std::move(root)) {}

  // Creates root and root/tmp if missing. kIo on failure.
  Result<void> prepare();

  // True for 64 lower-case hex digits: the only ids that map to a path.
  static bool is_valid_hex(std::string_view hex);

  // <root>/ab/cd/<hex>. Requires: is_valid_hex(hex).
  std::filesystem::path path_of(std::string_view hex) const;

  // Writes `bytes` to a new file in tmp/ and starts its writeback (no wait).
  // kIo on failure (nothing is left behind).
  Result<TempBlob> write_temp(std::string_view hex, std::string_view bytes);

  // Makes every blob in `temps` durable at its final name: fdatasync the files
  // concurrently (so the file system folds them into one journal commit), rename
  // each into place, then fsync each touched directory once.
  // Returns one Result per temp, in order; a failed blob's temp file is removed.
  // Closes every descriptor.
  std::vector<Result<void>> make_durable(std::vector<TempBlob>& temps);

  // Closes and removes a temp that will not be used.
  void discard(TempBlob& temp);

  // The bytes of a blob. kNotFound if the file is missing, kIo on read errors.
  Result<std::string> read(std::string_view hex) const;

  // Removes the final file of `hex` (missing is fine). kIo on other errors.
  Result<void> remove(std::string_view hex);

  // Deletes everything in tmp/ and returns how many files went. Call only when no
  // write_temp() is in flight (at open, or from the writer thread between batches).
  Result<std::uint64_t> remove_stale_temps();

  // Every final blob id present on disk (for garbage collection of orphans).
  Result<std::vector<std::string>> list();

 private:
  std::filesystem::path root_;
  std::atomic<std::uint64_t> temp_counter_{0};
};

}  // namespace tern::store::sqlite
