// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/file_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tern::store::sqlite {

namespace fs = std::filesystem;

Error io_error(std::string_view what, const fs::path& path, int err) {
  return Error{ErrorCode::kIo, std::string(what) + " " + path.string() + ": " + std::strerror(err)};
}

Result<std::optional<int>> create_locked(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    return std::optional<int>();
  }
  if (fd < 0) {
    return io_error("create", path, errno);
  }
  // Blocking: only a cleanup's brief look can hold the lock of a new file.
  if (::flock(fd, LOCK_EX) != 0) {
    auto error = io_error("lock", path, errno);
    ::close(fd);
    return error;
  }

  struct stat opened {};

  struct stat named {};

  if (::fstat(fd, &opened) != 0 || ::stat(path.c_str(), &named) != 0 ||
      opened.st_ino != named.st_ino || opened.st_dev != named.st_dev) {
    ::close(fd);
    return std::optional<int>();
  }
  return std::optional<int>(fd);
}

Result<void> fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return io_error("open directory", dir, errno);
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return io_error("fsync directory", dir, err);
  }
  return ok();
}

Result<void> pwrite_all(int fd, std::string_view bytes, std::uint64_t offset,
                        const fs::path& path) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + written, bytes.size() - written,
                         static_cast<off_t>(offset + written));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return io_error("write", path, n < 0 ? errno : ENOSPC);
    }
    written += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<std::string> pread_exact(int fd, std::uint64_t offset, std::uint64_t length,
                                const fs::path& path) {
  std::string out(length, '\0');
  std::size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return io_error("read", path, errno);
    }
    if (n == 0) {
      return Error{ErrorCode::kCorrupt,
                   "short read of " + path.string() + " at " + std::to_string(offset + got)};
    }
    got += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace tern::store::sqlite
