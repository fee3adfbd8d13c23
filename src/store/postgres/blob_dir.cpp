// SPDX-License-Identifier: Apache-2.0
#include "store/postgres/blob_dir.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include <fcntl.h>
#include <unistd.h>

#include "domain/ids.hpp"

namespace tern::store::postgres {

namespace fs = std::filesystem;

namespace {

Error io_error(std::string_view what, const fs::path& path, int err) {
  return Error{ErrorCode::kIo, std::string(what) + " " + path.string() + ": " + std::strerror(err)};
}

Result<void> fsync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    return io_error("open", path, errno);
  }
  const int rc = directory ? ::fsync(fd) : ::fdatasync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return io_error("sync", path, err);
  }
  return ok();
}

}  // namespace

fs::path BlobDir::path_of(const std::string& hex) const {
  return root_ / hex.substr(0, 2) / hex.substr(2, 2) / hex;
}

Result<void> BlobDir::prepare() {
  std::error_code ec;
  fs::create_directories(root_ / "tmp", ec);
  if (ec) {
    return Error{ErrorCode::kIo, "create " + (root_ / "tmp").string() + ": " + ec.message()};
  }
  return ok();
}

Result<void> BlobDir::store(const std::string& hex, std::string_view bytes) {
  // A name no other thread or node picks: several nodes share the directory.
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 random{std::random_device{}()};
  const fs::path temp = root_ / "tmp" /
                        (hex + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) +
                         "." + std::to_string(random()));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    return io_error("create", temp, errno);
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return io_error("write", temp, err);
    }
    written += static_cast<std::size_t>(n);
  }
  // The bytes reach the disk before the name does, and the name before the row
  // that relies on it commits (ARCHITECTURE.md §4).
  if (::fdatasync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return io_error("fdatasync", temp, err);
  }
  ::close(fd);
  const fs::path final_path = path_of(hex);
  std::error_code ec;
  fs::create_directories(final_path.parent_path(), ec);
  if (ec) {
    ::unlink(temp.c_str());
    return Error{ErrorCode::kIo,
                 "create " + final_path.parent_path().string() + ": " + ec.message()};
  }
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_error("rename", final_path, err);
  }
  TERN_TRY_VOID(fsync_path(final_path.parent_path(), true));
  // The two-level directories may be new too; their entries must survive as well.
  TERN_TRY_VOID(fsync_path(final_path.parent_path().parent_path(), true));
  return fsync_path(root_, true);
}

Result<std::string> BlobDir::read(const std::string& hex) const {
  const fs::path path = path_of(hex);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return Error{ErrorCode::kNotFound, "blob file missing: " + path.string()};
    }
    return io_error("open", path, errno);
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return io_error("read", path, errno);
  }
  return bytes;
}

Result<std::uint64_t> BlobDir::sweep(
    const std::function<Result<bool>(const std::string&)>& referenced, std::chrono::seconds grace) {
  const auto cutoff = fs::file_time_type::clock::now() - grace;
  std::uint64_t removed = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) {
      continue;
    }
    auto modified = it->last_write_time(ec);
    if (ec || modified > cutoff) {
      ec.clear();
      continue;
    }
    const auto name = it->path().filename().string();
    const bool temp = it->path().parent_path().filename() == "tmp";
    if (!temp) {
      if (!domain::is_sha256_hex(name)) {
        continue;  // not ours
      }
      TERN_TRY(bool known, referenced(name));
      if (known) {
        continue;
      }
    }
    if (fs::remove(it->path(), ec)) {
      ++removed;
    }
    ec.clear();
  }
  if (ec) {
    return Error{ErrorCode::kIo, "sweep " + root_.string() + ": " + ec.message()};
  }
  return removed;
}

}  // namespace tern::store::postgres
