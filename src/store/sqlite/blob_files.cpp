// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/blob_files.hpp"

#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain/ids.hpp"
#include "store/sqlite/file_io.hpp"

namespace tern::store::sqlite {

namespace fs = std::filesystem;

namespace {

// Enough concurrent syncs to fill a journal commit; more threads only cost.
constexpr std::size_t kMaxSyncThreads = 32;

// Runs fn(0) .. fn(n - 1) on up to kMaxSyncThreads threads (the caller's among
// them) and returns when all are done. For blocking syncs only: the point is to
// have them wait together, so the journal folds them into one commit.
template <class Fn>
void for_each_concurrently(std::size_t n, Fn fn) {
  const std::size_t workers = std::min<std::size_t>(n, kMaxSyncThreads);
  auto run = [&](std::size_t first) {
    for (std::size_t i = first; i < n; i += workers) {
      fn(i);
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < workers; ++w) {
    threads.emplace_back(run, w);
  }
  if (workers > 0) {
    run(0);
  }
  for (auto& thread : threads) {
    thread.join();
  }
}

// mkdir that reports whether it created the directory (which then needs its parent
// synced for the new entry to be durable).
Result<bool> ensure_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    return true;
  }
  if (errno == EEXIST) {
    return false;
  }
  return io_error("mkdir", dir, errno);
}

// Whether `path` was last modified at least `min_age` ago (false when it is gone).
bool old_enough(const fs::path& path, std::chrono::seconds min_age) {
  if (min_age.count() <= 0) {
    return true;
  }

  struct stat st {};

  if (::stat(path.c_str(), &st) != 0) {
    return false;
  }
  return std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime) >=
         min_age;
}

void close_all(std::vector<TempBlob>& temps) {
  for (auto& temp : temps) {
    if (temp.fd >= 0) {
      ::close(temp.fd);
      temp.fd = -1;
    }
  }
}

}  // namespace

Result<void> BlobFiles::prepare() {
  std::error_code ec;
  fs::create_directories(root_ / "tmp", ec);
  if (ec) {
    return Error{ErrorCode::kIo, "create " + root_.string() + ": " + ec.message()};
  }
  return ok();
}

fs::path BlobFiles::path_of(std::string_view hex) const {
  return root_ / std::string(hex.substr(0, 2)) / std::string(hex.substr(2, 2)) / std::string(hex);
}

Result<TempBlob> BlobFiles::write_temp(std::string_view hex, std::string_view bytes) {
  TempBlob temp;
  temp.hex = std::string(hex);
  // Locked until the file is at its final name (or gone), which tells
  // remove_stale_temps() in any process that its writer is alive. The pid
  // keeps two processes' names apart.
  for (int attempt = 0; temp.fd < 0; ++attempt) {
    temp.temp_path =
        root_ / "tmp" /
        (temp.hex + "." + std::to_string(::getpid()) + "." + std::to_string(temp_counter_++));
    TERN_TRY(auto created, create_locked(temp.temp_path, O_WRONLY));
    if (created) {
      temp.fd = *created;
    } else if (attempt >= 100) {
      return Error{ErrorCode::kIo, "no free temp name in " + (root_ / "tmp").string()};
    }
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(temp.fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      auto error = io_error("write", temp.temp_path, errno);
      discard(temp);
      return error;
    }
    written += static_cast<std::size_t>(n);
  }
  // Start writeback now, without waiting: by the time make_durable() fsyncs, the
  // data of every blob in the batch is already on its way to the disk, so the
  // fdatasync calls mostly wait for one shared journal commit instead of issuing
  // their writes one after the other.
  ::sync_file_range(temp.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  return temp;
}

std::vector<Result<void>> BlobFiles::make_durable(std::vector<TempBlob>& temps,
                                                  SyncStrategy strategy) {
  if (strategy == SyncStrategy::kFileSystem) {
    return make_durable_with_syncfs(temps);
  }
  std::vector<Result<void>> results(temps.size(), ok());
  // fdatasync the files concurrently. A new file's fdatasync must commit the
  // journal (its block allocation); called one after another, each waits for its
  // own commit, so a batch of n blobs costs n commits. Called together, the
  // journal (ext4's jbd2, XFS's log) folds the waiting syncs into one commit, and
  // the batch costs about one, which is what makes group commit pay off.
  for_each_concurrently(temps.size(), [&](std::size_t i) {
    if (::fdatasync(temps[i].fd) != 0) {
      results[i] = io_error("fdatasync", temps[i].temp_path, errno);
    }
  });
  // Rename into place (each temp stays open, so locked, until it is there). Directories created
  // here need their parents synced too.
  std::set<fs::path> dirs_to_sync;
  std::vector<std::set<fs::path>> dirs_of(temps.size());
  for (std::size_t i = 0; i < temps.size(); ++i) {
    if (!results[i]) {
      ::unlink(temps[i].temp_path.c_str());
      continue;
    }
    auto final_path = path_of(temps[i].hex);
    auto level1 = final_path.parent_path().parent_path();
    auto level2 = final_path.parent_path();
    auto created1 = ensure_dir(level1);
    auto created2 = created1 ? ensure_dir(level2) : Result<bool>(created1.error());
    if (!created2) {
      results[i] = created2.error();
      ::unlink(temps[i].temp_path.c_str());
      continue;
    }
    if (*created1) {
      dirs_of[i].insert(root_);
    }
    if (*created2) {
      dirs_of[i].insert(level1);
    }
    dirs_of[i].insert(level2);
    if (::rename(temps[i].temp_path.c_str(), final_path.c_str()) != 0) {
      results[i] = io_error("rename", final_path, errno);
      ::unlink(temps[i].temp_path.c_str());
      continue;
    }
    dirs_to_sync.insert(dirs_of[i].begin(), dirs_of[i].end());
  }
  close_all(temps);
  // One fsync per touched directory makes the new names durable.
  // Concurrently, for the same reason as the data syncs: serial directory fsyncs
  // would each wait for a journal commit of their own.
  std::vector<fs::path> dirs(dirs_to_sync.begin(), dirs_to_sync.end());
  std::vector<char> dir_failed(dirs.size(), 0);
  for_each_concurrently(dirs.size(),
                        [&](std::size_t i) { dir_failed[i] = fsync_dir(dirs[i]) ? 0 : 1; });
  std::set<fs::path> failed_dirs;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    if (dir_failed[i] != 0) {
      failed_dirs.insert(dirs[i]);
    }
  }
  for (std::size_t i = 0; i < temps.size(); ++i) {
    for (const auto& dir : dirs_of[i]) {
      if (results[i] && failed_dirs.contains(dir)) {
        results[i] = io_error("fsync directory", dir, EIO);
      }
    }
  }
  return results;
}

std::vector<Result<void>> BlobFiles::make_durable_with_syncfs(std::vector<TempBlob>& temps) {
  std::vector<Result<void>> results(temps.size(), ok());
  bool any_renamed = false;
  for (std::size_t i = 0; i < temps.size(); ++i) {
    auto final_path = path_of(temps[i].hex);
    auto created1 = ensure_dir(final_path.parent_path().parent_path());
    auto created2 =
        created1 ? ensure_dir(final_path.parent_path()) : Result<bool>(created1.error());
    if (!created2) {
      results[i] = created2.error();
      ::unlink(temps[i].temp_path.c_str());
      continue;
    }
    // Replaces an orphan left by a crash, if there is one (see SyncStrategy).
    if (::rename(temps[i].temp_path.c_str(), final_path.c_str()) != 0) {
      results[i] = io_error("rename", final_path, errno);
      ::unlink(temps[i].temp_path.c_str());
      continue;
    }
    any_renamed = true;
  }
  close_all(temps);
  if (!any_renamed) {
    return results;
  }
  // One syncfs(2) writes back the data of every file and commits the journal with
  // every new name and directory: the batch costs one sync, not two per blob.
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : ::syncfs(fd);
  int err = errno;
  if (fd >= 0) {
    ::close(fd);
  }
  if (rc != 0) {
    for (auto& result : results) {
      if (result) {
        result = io_error("syncfs", root_, err);
      }
    }
  }
  return results;
}

void BlobFiles::discard(TempBlob& temp) {
  if (temp.is_inline) {
    temp.inline_bytes.clear();
    return;
  }
  ::unlink(temp.temp_path.c_str());  // ours (locked): before the close lets go of it
  if (temp.fd >= 0) {
    ::close(temp.fd);
    temp.fd = -1;
  }
}

Result<std::string> BlobFiles::read(std::string_view hex) const {
  auto path = path_of(hex);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return Error{ErrorCode::kNotFound, "no blob file " + path.string()};
    }
    return io_error("open", path, errno);
  }

  struct stat st {};

  std::string bytes;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    bytes.reserve(static_cast<std::size_t>(st.st_size));
  }
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return io_error("read", path, err);
    }
    if (n == 0) {
      break;
    }
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return bytes;
}

Result<void> BlobFiles::remove_if_older(std::string_view hex, std::chrono::seconds min_age) {
  if (!old_enough(path_of(hex), min_age)) {
    return ok();
  }
  return remove(hex);
}

Result<void> BlobFiles::remove(std::string_view hex) {
  auto path = path_of(hex);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return io_error("unlink", path, errno);
  }
  return ok();
}

Result<std::uint64_t> BlobFiles::remove_stale_temps(std::chrono::seconds min_age) {
  std::error_code ec;
  std::uint64_t removed = 0;
  for (fs::directory_iterator it(root_ / "tmp", ec), end; !ec && it != end; it.increment(ec)) {
    if (!old_enough(it->path(), min_age)) {
      continue;
    }
    int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;  // gone meanwhile
    }
    // Locked: a live writer (this process or another) is between write_temp()
    // and the rename. flock(2) locks conflict between open file descriptions,
    // so this fails against this process's own writers too.
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(it->path().c_str()) == 0) {
      ++removed;
    }
    ::close(fd);
  }
  if (ec) {
    return Error{ErrorCode::kIo, "clean " + (root_ / "tmp").string() + ": " + ec.message()};
  }
  return removed;
}

Result<std::vector<std::string>> BlobFiles::list(std::chrono::seconds min_age) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && it->path().filename() == "tmp") {
      it.disable_recursion_pending();
      continue;
    }
    auto name = it->path().filename().string();
    if (it->is_regular_file(ec) && domain::is_sha256_hex(name) && old_enough(it->path(), min_age)) {
      out.push_back(name);
    }
  }
  if (ec) {
    return Error{ErrorCode::kIo, "list " + root_.string() + ": " + ec.message()};
  }
  return out;
}

}  // namespace tern::store::sqlite
