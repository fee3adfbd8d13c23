// SPDX-License-Identifier: Apache-2.0
// The POSIX file calls the sqlite backend's files (blobs/, segments/) share, with
// errors that name the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::store::sqlite {

// kIo: "<what> <path>: <strerror(err)>".
Error io_error(std::string_view what, const std::filesystem::path& path, int err);

// fsync(2) of a directory, which makes the names created in it durable.
Result<void> fsync_dir(const std::filesystem::path& dir);

// Creates `path` (O_CREAT | O_EXCL, opened with `flags`) and takes an exclusive
// flock(2) on it: the mark of a live writer, which cleanups in every process
// honour by unlinking such a file only under its lock. Once locked, checks that
// `path` still names the file (a cleanup may have taken it in between).
// nullopt when the name exists or was lost that way: try another name.
Result<std::optional<int>> create_locked(const std::filesystem::path& path, int flags);

// pwrite(2) of all of `bytes` at `offset` (retried on EINTR and short writes).
Result<void> pwrite_all(int fd, std::string_view bytes, std::uint64_t offset,
                        const std::filesystem::path& path);

// pread(2) of exactly `length` bytes at `offset`. kCorrupt when the file ends
// first.
Result<std::string> pread_exact(int fd, std::uint64_t offset, std::uint64_t length,
                                const std::filesystem::path& path);

}  // namespace tern::store::sqlite
