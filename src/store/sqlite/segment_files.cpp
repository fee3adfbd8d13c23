// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/segment_files.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <system_error>

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite/file_io.hpp"

namespace tern::store::sqlite {

namespace fs = std::filesystem;

namespace {

// Zero-fill grows with the segment (a store that takes a few messages fills a
// few pages, a busy one megabytes), from this much up to Options::zero_ahead.
constexpr std::uint64_t kMinZeroFill = 64 * 1024;

// Descriptors kept open for reads: 4 GiB of recent mail with 64 MiB segments,
// and few enough beside ternd's connections under a 1024 RLIMIT_NOFILE.
constexpr std::size_t kMaxReaders = 64;

// "<16 hex digits>.seg", which sorts like the ids; nullopt for other names.
std::optional<std::int64_t> segment_id(const std::string& name) {
  if (name.size() != 20 || name.compare(16, 4, ".seg") != 0) {
    return std::nullopt;
  }
  std::int64_t id = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    const char ch = name[i];
    int digit = 0;
    if (ch >= '0' && ch <= '9') {
      digit = ch - '0';
    } else if (ch >= 'a' && ch <= 'f') {
      digit = ch - 'a' + 10;
    } else {
      return std::nullopt;
    }
    id = id * 16 + digit;
  }
  return id;
}

}  // namespace

SegmentFile::~SegmentFile() {
  ::close(fd);  // releases the flock
}

Result<void> SegmentFile::sync_data() {
  std::lock_guard lock(sync_mutex_);
  if (failed_) {
    return Error{ErrorCode::kIo, "segment " + path.string() + " failed an earlier write or sync"};
  }
  if (sync_(fd) != 0) {
    failed_ = true;
    return io_error("fdatasync", path, errno);
  }
  return ok();
}

void SegmentFile::mark_failed() {
  failed_ = true;
}

bool SegmentFile::failed() const {
  return failed_;
}

SegmentFiles::SegmentFiles(fs::path root, Options options)
    : root_(std::move(root)), options_(options) {}

SegmentFiles::~SegmentFiles() {
  close();
}

fs::path SegmentFiles::path_of(std::int64_t id) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".seg", static_cast<std::uint64_t>(id));
  return root_ / name;
}

Result<void> SegmentFiles::prepare() {
  if (::mkdir(root_.c_str(), 0700) == 0) {
    TERN_TRY_VOID(fsync_dir(root_.parent_path()));
  } else if (errno != EEXIST) {
    return io_error("mkdir", root_, errno);
  }
  std::lock_guard lock(mutex_);
  if (!zero_thread_.joinable() && !stopping_) {
    zero_thread_ = std::thread([this] { zero_loop(); });
    sync_thread_ = std::thread([this] { sync_loop(); });
  }
  return ok();
}

void SegmentFiles::close() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    active_.reset();
    readers_.clear();
  }
  zero_cv_.notify_all();
  zeroed_cv_.notify_all();
  if (zero_thread_.joinable()) {
    zero_thread_.join();
  }
  {
    std::lock_guard lock(sync_mutex_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (sync_thread_.joinable()) {
    sync_thread_.join();
  }
}

Result<std::map<std::int64_t, std::uint64_t>> SegmentFiles::list() const {
  std::map<std::int64_t, std::uint64_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    auto id = segment_id(it->path().filename().string());
    if (!id) {
      continue;
    }
    std::error_code size_ec;
    auto size = it->file_size(size_ec);
    out[*id] = size_ec ? 0 : size;
  }
  if (ec) {
    return Error{ErrorCode::kIo, "list " + root_.string() + ": " + ec.message()};
  }
  return out;
}

Result<void> SegmentFiles::roll() {
  TERN_TRY(auto existing, list());
  std::int64_t id = existing.empty() ? 1 : existing.rbegin()->first + 1;
  if (active_) {
    id = std::max(id, active_->id + 1);
  }
  // Another process may create the same id at the same moment: O_EXCL picks one.
  // A collection that saw the new file before it was locked may remove it
  // (remove() unlinks under the lock): then it is not ours to write either.
  for (int attempt = 0;; ++attempt, ++id) {
    const fs::path path = path_of(id);
    TERN_TRY(auto created, create_locked(path, O_RDWR));
    if (!created) {
      if (attempt < 100) {
        continue;
      }
      return Error{ErrorCode::kIo, "no free segment id near " + path.string()};
    }
    const int fd = *created;
    auto file = std::make_shared<SegmentFile>(id, fd, path, options_.sync);
    // The name must be durable before a committed row may point into the file.
    TERN_TRY_VOID(fsync_dir(root_));
    active_ = std::move(file);
    reserved_ = 0;
    zeroed_ = 0;
    return ok();
  }
}

Result<SegmentSpan> SegmentFiles::write(std::string_view bytes) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    return Error{ErrorCode::kCancelled, "store is closed"};
  }
  if (!active_ || active_->failed() ||
      (reserved_ > 0 && reserved_ + bytes.size() > options_.segment_bytes)) {
    TERN_TRY_VOID(roll());
  }
  SegmentSpan span;
  span.file = active_;
  span.segment = active_->id;
  span.offset = reserved_;
  span.length = bytes.size();
  reserved_ += bytes.size();
  // Bytes must not land where the zero-filler is writing: wait for it there.
  // (Even when another append has started a new segment meanwhile: the round
  // still writes zeros into this one.)
  zeroed_cv_.wait(lock, [&] {
    return stopping_ || zeroing_ != span.file.get() || span.offset + span.length <= zero_begin_ ||
           span.offset >= zero_end_;
  });
  if (stopping_) {  // the zero-filler may still be writing there
    return Error{ErrorCode::kCancelled, "store is closed"};
  }
  // A round of zero-fill when less than half the distance is left, so that each
  // round (a write and a sync of its own) covers many appends.
  const std::uint64_t ahead =
      std::clamp<std::uint64_t>(reserved_, kMinZeroFill, options_.zero_ahead);
  if (zeroing_ != active_.get() &&
      zeroed_ < std::min(reserved_ + ahead / 2, options_.segment_bytes)) {
    zero_wanted_ = true;
    zero_cv_.notify_one();
  }
  lock.unlock();
  if (auto written = pwrite_all(span.file->fd, bytes, span.offset, span.file->path); !written) {
    span.file->mark_failed();
    return written.error();
  }
  return span;
}

void SegmentFiles::zero_loop() {
  ::pthread_setname_np(::pthread_self(), "tern-sqlite-z");
  std::unique_lock lock(mutex_);
  while (true) {
    zero_cv_.wait(lock, [&] { return stopping_ || zero_wanted_; });
    if (stopping_) {
      return;
    }
    zero_wanted_ = false;
    if (!active_) {
      continue;
    }
    auto file = active_;
    // Only space no write() has been given: what lies below reserved_ is theirs.
    const std::uint64_t begin = std::max(zeroed_, reserved_);
    const std::uint64_t ahead =
        std::clamp<std::uint64_t>(reserved_, kMinZeroFill, options_.zero_ahead);
    const std::uint64_t end = std::min(reserved_ + ahead, options_.segment_bytes);
    if (begin >= end) {
      continue;
    }
    zeroing_ = file.get();
    zero_begin_ = begin;
    zero_end_ = end;
    lock.unlock();
    // Written zeros, not fallocate(2): preallocated extents are "unwritten" and
    // turning them into written ones is a metadata change, which is just the
    // journal commit per sync this is here to avoid.
    static const std::string zeros(256 * 1024, '\0');
    bool filled = true;
    for (std::uint64_t at = begin; at < end && filled;) {
      const std::uint64_t n = std::min<std::uint64_t>(zeros.size(), end - at);
      filled = pwrite_all(file->fd, std::string_view(zeros.data(), n), at, file->path).has_value();
      at += n;
    }
    if (!filled) {
      file->mark_failed();
    }
    // Through sync_data(), so that an error this sync takes is kept for the
    // batches whose bytes are in the file.
    filled = filled && file->sync_data().has_value();
    lock.lock();
    zeroing_ = nullptr;
    if (active_ == file && filled) {
      zeroed_ = end;
    }
    zeroed_cv_.notify_all();
  }
}

Result<void> SegmentFiles::sync(const std::shared_ptr<SegmentFile>& file) {
  return file->sync_data();  // a failure retires the file (write() checks it)
}

void SegmentFiles::start_sync(std::vector<std::shared_ptr<SegmentFile>> files) {
  {
    std::lock_guard lock(sync_mutex_);
    sync_files_ = std::move(files);
    sync_done_ = sync_files_.empty();
    sync_wanted_ = !sync_done_;
    sync_result_ = ok();
  }
  sync_cv_.notify_all();
}

Result<void> SegmentFiles::wait_sync() {
  std::unique_lock lock(sync_mutex_);
  sync_cv_.wait(lock, [&] { return sync_done_; });
  return sync_result_;
}

void SegmentFiles::sync_loop() {
  ::pthread_setname_np(::pthread_self(), "tern-sqlite-s");
  std::unique_lock lock(sync_mutex_);
  while (true) {
    sync_cv_.wait(lock, [&] { return sync_stopping_ || sync_wanted_; });
    if (sync_wanted_) {
      sync_wanted_ = false;
      auto files = std::move(sync_files_);
      lock.unlock();
      Result<void> result = ok();
      for (const auto& file : files) {
        if (auto synced = sync(file); !synced && result) {
          result = synced.error();
        }
      }
      files.clear();  // drops the files' last references off the writer
      lock.lock();
      sync_result_ = std::move(result);
      sync_done_ = true;
      sync_cv_.notify_all();
    } else if (sync_stopping_) {
      return;
    }
  }
}

Result<std::string> SegmentFiles::read(std::int64_t segment, std::uint64_t offset,
                                       std::uint64_t length) {
  std::shared_ptr<SegmentFile> file;
  {
    std::lock_guard lock(mutex_);
    if (auto it = readers_.find(segment); it != readers_.end()) {
      file = it->second;
    }
  }
  if (!file) {
    const fs::path path = path_of(segment);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      return Error{ErrorCode::kNotFound, "no such segment: " + path.string()};
    }
    if (fd < 0) {
      return io_error("open", path, errno);
    }
    file = std::make_shared<SegmentFile>(segment, fd, path);
    std::lock_guard lock(mutex_);
    if (readers_.size() >= kMaxReaders) {
      readers_.clear();  // reads in flight keep theirs
    }
    if (!stopping_) {
      readers_.emplace(segment, file);  // another thread's, when it won the race
    }
  }
  return pread_exact(file->fd, offset, length, file->path);
}

bool SegmentFiles::in_use(std::int64_t id) const {
  const fs::path path = path_of(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  // flock(2) locks conflict between open file descriptions, so this one fails
  // against this process's own writer too.
  const bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return busy;
}

Result<void> SegmentFiles::remove(std::int64_t id) {
  {
    std::lock_guard lock(mutex_);
    readers_.erase(id);
  }
  const fs::path path = path_of(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? ok() : io_error("open", path, errno);
  }
  Result<void> result = ok();
  // Locked: being appended to (a new file that took a removed one's id).
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    result = io_error("remove", path, errno);
  }
  ::close(fd);
  return result;
}

}  // namespace tern::store::sqlite
