// SPDX-License-Identifier: Apache-2.0
// The blob files of the sqlite backend: <dir>/blobs/ab/cd/<sha256hex>, written via
// temp files in <dir>/blobs/tmp/ and made durable in groups.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::store::sqlite {

// A blob staged for the writer: either written to a temp file that is not yet
// durable nor at its final name (owning the open descriptor until
// BlobFiles::make_durable() or discard()), or, when small, held in memory to be
// stored in the database itself (`is_inline`; see SqliteOptions::inline_blob_max_bytes).
struct TempBlob {
  std::string hex;
  std::filesystem::path temp_path;
  int fd = -1;
  bool is_inline = false;
  std::string inline_bytes;
};

// The file layout and the durability protocol for blobs. The invariant it keeps:
// a file whose blob row is committed is complete and durable at its final name.
// Deduplication therefore trusts rows, never the mere existence of a file. Files
// in tmp/ are never trusted; remove_stale_temps() deletes them once their writer
// is gone.
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

  // <root>/ab/cd/<hex>. Requires: domain::is_sha256_hex(hex), the only ids that
  // map to a path.
  std::filesystem::path path_of(std::string_view hex) const;

  // Writes `bytes` to a new file in tmp/ and starts its writeback (no wait).
  // kIo on failure (nothing is left behind).
  Result<TempBlob> write_temp(std::string_view hex, std::string_view bytes);

  // How make_durable() reaches stable storage (docs/adr/0004-sqlite-group-commit.md).
  enum class SyncStrategy {
    // fdatasync each file, rename it into place, fsync each touched directory:
    // at least two syncs per blob. The cheapest way to make one blob durable.
    kPerFile,
    // Rename every file into place, then one syncfs(2) of the blob file system:
    // one sync for the whole batch, whatever its size. A file at its final name
    // may then be incomplete after a crash until the sync returns; that is safe
    // because such a file has no committed row yet (rows commit only after this
    // returns), so it is an orphan: never deduplicated against, overwritten by the
    // next write of the same bytes, and removed by collect_garbage().
    kFileSystem,
  };

  // Makes every blob in `temps` durable at its final name with `strategy`.
  // Returns one Result per temp, in order; a failed blob's temp file is removed.
  // Closes every descriptor.
  std::vector<Result<void>> make_durable(std::vector<TempBlob>& temps,
                                         SyncStrategy strategy = SyncStrategy::kPerFile);

  // Removes and closes a temp that will not be used.
  void discard(TempBlob& temp);

  // The bytes of a blob. kNotFound if the file is missing, kIo on read errors.
  Result<std::string> read(std::string_view hex) const;

  // Removes the final file of `hex` (missing is fine). kIo on other errors.
  Result<void> remove(std::string_view hex);

  // remove(hex) when its file was last modified at least `min_age` ago, checked
  // just before: a file another process has just renamed over an old orphan of
  // the same bytes is young again.
  Result<void> remove_if_older(std::string_view hex, std::chrono::seconds min_age);

  // Deletes the files in tmp/ that no live writer holds (write_temp() locks its
  // file until make_durable() or discard()) and that were last modified at least
  // `min_age` ago, each under its lock; returns how many went. Safe while any
  // process writes blobs.
  Result<std::uint64_t> remove_stale_temps(std::chrono::seconds min_age);

  // Every final blob id present on disk whose file was last modified at least
  // `min_age` ago (for garbage collection of orphans).
  Result<std::vector<std::string>> list(std::chrono::seconds min_age = std::chrono::seconds{0});

 private:
  std::vector<Result<void>> make_durable_with_syncfs(std::vector<TempBlob>& temps);

  std::filesystem::path root_;
  std::atomic<std::uint64_t> temp_counter_{0};
};

}  // namespace tern::store::sqlite
