// SPDX-License-Identifier: Apache-2.0
// Message segments of the sqlite backend: <dir>/segments/<id>.seg, append-only
// files that hold the bytes of many delivered messages each, written by the
// appending threads and synced once per batch by the writer
// (docs/adr/0020-message-segments.md).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include "base/result.hpp"

namespace tern::store::sqlite {

// One segment file open for appending. This process holds an exclusive flock(2)
// on it for as long as the object lives, which tells collect_garbage() (in any
// process) that the file is being written and must be left alone.
struct SegmentFile {
  // fdatasync(2), or a stand-in that fails on cue (tests).
  using SyncFunction = int (*)(int fd);

  SegmentFile(std::int64_t segment_id, int descriptor, std::filesystem::path file_path,
              SyncFunction sync_function = &::fdatasync)
      : id(segment_id), fd(descriptor), path(std::move(file_path)), sync_(sync_function) {}

  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;
  ~SegmentFile();

  // fdatasync(2), serialized with every other sync of this file. Once a write or
  // a sync of the file failed, every later sync fails too: Linux reports a
  // writeback error to one fdatasync of the open file only, so without this the
  // zero-filler's sync could take the error that a batch's sync of the same
  // pages must see, and the batch would commit bytes that never reached the disk.
  Result<void> sync_data();
  // Records a failed write: the next sync_data() fails.
  void mark_failed();
  bool failed() const;

  const std::int64_t id;
  const int fd;
  const std::filesystem::path path;

 private:
  const SyncFunction sync_;
  std::mutex sync_mutex_;  // one sync at a time, so none misses another's error
  std::atomic<bool> failed_{false};
};

// Where one message's bytes were written. `file` keeps the segment open (and
// locked) until the writer has synced it.
struct SegmentSpan {
  std::int64_t segment = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::shared_ptr<SegmentFile> file;
};

// The invariant: a message_bytes row that names a span is committed only after
// the span's bytes were synced (SqliteStorage::run_batch syncs every segment of
// a batch beside its SQL and waits for that before COMMIT). Bytes whose row
// never committed are dead space, which collect_garbage() reclaims with the
// segment.
//
// Segments are never appended to by two processes: each process creates its own
// (O_EXCL, the next id after the highest on disk) and after a restart never
// reopens an old one for writing. Ids are not reused while a higher segment
// exists, and the highest segment file is never removed, so a span read through
// an old snapshot never finds other bytes at its place.
//
// Syncs of data written into zero-filled space need no journal commit (the file
// neither grows nor changes its extents), so a thread of its own zero-fills the
// active segment ahead of the appends, about as far ahead as has been written.
//
// Thread-safety: every method may be called from any thread.
class SegmentFiles {
 public:
  struct Options {
    // A segment takes appends until it holds this many bytes (one larger message
    // may end it past that); the next append starts a new one.
    std::uint64_t segment_bytes = 64ULL << 20;
    // The most zero-filled space kept ahead of the appends.
    std::uint64_t zero_ahead = 4ULL << 20;
    // How segments being appended to are synced: fdatasync(2), or for tests a
    // stand-in that fails as a disk would.
    SegmentFile::SyncFunction sync = &::fdatasync;
  };

  // `root` is <dir>/segments.
  SegmentFiles(std::filesystem::path root, Options options);
  SegmentFiles(const SegmentFiles&) = delete;
  SegmentFiles& operator=(const SegmentFiles&) = delete;
  // Calls close().
  ~SegmentFiles();

  // Creates root if missing (and syncs its parent) and starts the zero-filling
  // thread. kIo on failure.
  Result<void> prepare();

  // Stops the zero-filling thread and lets go of the active segment (spans
  // handed out keep their file until they are dropped). Idempotent.
  void close();

  // Appends `bytes` to the active segment, starting a new segment first when it
  // is full or broken. Not durable until sync(span.file). kIo on failure.
  Result<SegmentSpan> write(std::string_view bytes);

  // file->sync_data(). A failed sync (or write) retires the file: the next
  // write() starts a new segment, since after a failure what the file holds is
  // unknown.
  Result<void> sync(const std::shared_ptr<SegmentFile>& file);

  // sync() of every file in `files` on the syncing thread, so that the writer
  // runs its batch's SQL meanwhile; wait_sync() returns the outcome. One round
  // at a time (the writer's).
  void start_sync(std::vector<std::shared_ptr<SegmentFile>> files);
  Result<void> wait_sync();

  // The bytes of a span. kNotFound when the segment file is gone (a span read
  // through a snapshot older than the compaction that moved it), kCorrupt when
  // the file is shorter than the span, kIo on read errors.
  Result<std::string> read(std::int64_t segment, std::uint64_t offset, std::uint64_t length);

  // The segment ids on disk with their file sizes, in ascending order.
  Result<std::map<std::int64_t, std::uint64_t>> list() const;

  // True when a process (this one included) is appending to segment `id`.
  bool in_use(std::int64_t id) const;

  // Removes segment `id` unless a process is appending to it (missing is fine);
  // its bytes stay readable through descriptors open already. The file is
  // unlinked under its flock, so a process that has just created it (and locks
  // it next) either keeps it or finds it gone and takes another id. kIo on
  // other errors.
  Result<void> remove(std::int64_t id);

  std::filesystem::path path_of(std::int64_t id) const;

 private:
  // Opens a new segment with the next id. Called with mutex_ held.
  Result<void> roll();
  void zero_loop();
  void sync_loop();

  const std::filesystem::path root_;
  const Options options_;

  mutable std::mutex mutex_;           // guards everything below
  std::condition_variable zero_cv_;    // the zero-filler waits for work
  std::condition_variable zeroed_cv_;  // appends wait for a zero-fill to end
  std::shared_ptr<SegmentFile> active_;
  std::uint64_t reserved_ = 0;  // bytes of active_ handed out to write()
  std::uint64_t zeroed_ = 0;    // active_ is zero-filled and synced up to here
  // The file the zero-filler is writing [zero_begin_, zero_end_) of, if any; it
  // may be a segment that was active when the round began.
  const SegmentFile* zeroing_ = nullptr;
  std::uint64_t zero_begin_ = 0;
  std::uint64_t zero_end_ = 0;
  bool zero_wanted_ = false;
  bool stopping_ = false;
  std::thread zero_thread_;

  std::mutex sync_mutex_;  // guards the round below
  std::condition_variable sync_cv_;
  std::vector<std::shared_ptr<SegmentFile>> sync_files_;
  bool sync_wanted_ = false;
  bool sync_done_ = true;
  bool sync_stopping_ = false;
  Result<void> sync_result_ = ok();
  std::thread sync_thread_;
  // Descriptors opened for reading, by segment id.
  std::map<std::int64_t, std::shared_ptr<SegmentFile>> readers_;
};

}  // namespace tern::store::sqlite
