// SPDX-License-Identifier: Apache-2.0
// The file halves of the sqlite backend on their own: segment files
// (segment_files.hpp) and blob temp files (blob_files.hpp), where the cases
// that matter (a failed sync, a concurrent roll, a live writer's temp) are
// hard to reach through SqliteStorage.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/sqlite/blob_files.hpp"
#include "store/sqlite/segment_files.hpp"
#include "store/sqlite/test_dir.hpp"

namespace tern::store::sqlite {
namespace {

namespace fs = std::filesystem;

// Once a write or sync of a segment failed, every later sync of it fails, and
// the next append starts a new segment. Linux reports a writeback error to one
// fdatasync of an open file only; the zero-filler syncs the same file, so
// without the mark a batch whose bytes were lost could sync "successfully".
TEST(SegmentFiles, AFailedFileFailsEveryLaterSyncAndIsRetired) {
  TempDir dir;
  SegmentFiles segments(dir.path() / "segments", {});
  ASSERT_TRUE(segments.prepare());
  auto first = segments.write("first message");
  ASSERT_TRUE(first);
  ASSERT_TRUE(segments.sync(first->file));
  first->file->mark_failed();  // what a failed fdatasync (by any thread) records
  auto again = segments.sync(first->file);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kIo);
  segments.start_sync({first->file});
  EXPECT_FALSE(segments.wait_sync());

  auto second = segments.write("second message");
  ASSERT_TRUE(second);
  EXPECT_GT(second->segment, first->segment);
  EXPECT_EQ(second->offset, 0u);
  EXPECT_TRUE(segments.sync(second->file));
  EXPECT_EQ(*segments.read(second->segment, 0, 14), "second message");
}

// A stand-in for fdatasync(2) that fails once, as a disk reporting a writeback
// error does, when armed.
std::atomic<bool> fail_next_sync{false};

int flaky_sync(int fd) {
  if (fail_next_sync.exchange(false)) {
    errno = EIO;
    return -1;
  }
  return ::fdatasync(fd);
}

// The zero-filler syncs the same file as the batches. When its sync is the one
// that takes a writeback error, the batch's sync of the file must fail too: the
// kernel would report that error once only, and the batch's bytes may be what
// was lost.
TEST(SegmentFiles, AnErrorTheZeroFillerSawFailsTheBatchSync) {
  TempDir dir;
  SegmentFiles::Options options;
  options.sync = &flaky_sync;
  SegmentFiles segments(dir.path() / "segments", options);
  ASSERT_TRUE(segments.prepare());
  fail_next_sync = true;
  auto span = segments.write("a message");  // starts a round of zero-fill
  ASSERT_TRUE(span);
  // Nothing but the zero-filler syncs until the error is taken.
  for (int i = 0; i < 5000 && fail_next_sync; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_FALSE(fail_next_sync) << "the zero-filler never synced through SegmentFile";
  segments.start_sync({span->file});
  auto synced = segments.wait_sync();
  ASSERT_FALSE(synced);
  EXPECT_EQ(synced.error().code, ErrorCode::kIo);
  auto next = segments.write("the next message");
  ASSERT_TRUE(next);
  EXPECT_GT(next->segment, span->segment);
  EXPECT_TRUE(segments.sync(next->file));
}

// Many threads append large messages to small segments, so that segments roll
// while the zero-filler is still at work in the one before, and every append's
// bytes are read back. (An append waiting for the zero-fill of its range must
// go on waiting after another append started a new segment; that window is a
// few microseconds, so this stress test seldom reaches it.)
TEST(SegmentFiles, ConcurrentAppendsAcrossRollsKeepTheirBytes) {
  TempDir dir;
  SegmentFiles::Options options;
  options.segment_bytes = 1 << 20;
  SegmentFiles segments(dir.path() / "segments", options);
  ASSERT_TRUE(segments.prepare());
  constexpr int kThreads = 8;
  constexpr int kWrites = 150;
  std::vector<std::vector<std::pair<SegmentSpan, std::string>>> written(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        std::string bytes(20000 + (i * 3797 + t * 1013) % 40000,
                          static_cast<char>('a' + (t + i) % 26));
        auto span = segments.write(bytes);
        if (!span) {
          ++failures;
          return;
        }
        written[t].emplace_back(*span, std::move(bytes));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  ASSERT_EQ(failures, 0);
  std::int64_t highest = 0;
  for (const auto& spans : written) {
    for (const auto& [span, bytes] : spans) {
      ASSERT_TRUE(segments.sync(span.file));
      auto read = segments.read(span.segment, span.offset, span.length);
      ASSERT_TRUE(read) << read.error().message;
      ASSERT_EQ(*read, bytes) << "segment " << span.segment << " offset " << span.offset;
      highest = std::max(highest, span.segment);
    }
  }
  EXPECT_GT(highest, 20);  // it did roll, many times over
}

// The highest segment stays on disk, so ids only grow, across restarts too.
TEST(SegmentFiles, NewSegmentsTakeIdsAboveEveryFileOnDisk) {
  TempDir dir;
  std::int64_t before = 0;
  {
    SegmentFiles segments(dir.path() / "segments", {});
    ASSERT_TRUE(segments.prepare());
    auto span = segments.write("x");
    ASSERT_TRUE(span);
    before = span->segment;
  }
  std::ofstream(dir.path() / "segments" / "00000000000000ff.seg") << "";
  SegmentFiles segments(dir.path() / "segments", {});
  ASSERT_TRUE(segments.prepare());
  auto span = segments.write("y");
  ASSERT_TRUE(span);
  EXPECT_GT(span->segment, before);
  EXPECT_EQ(span->segment, 0x100);
}

// remove() leaves a segment a process is appending to, whatever called it: the
// id may have been taken again by a new segment since the caller looked.
TEST(SegmentFiles, RemoveLeavesASegmentBeingAppendedTo) {
  TempDir dir;
  SegmentFiles segments(dir.path() / "segments", {});
  ASSERT_TRUE(segments.prepare());
  std::int64_t id = 0;
  {
    auto span = segments.write("still appending");
    ASSERT_TRUE(span);
    id = span->segment;
    ASSERT_TRUE(segments.remove(id));
    EXPECT_TRUE(fs::exists(segments.path_of(id)));
    EXPECT_TRUE(segments.in_use(id));
    segments.close();  // lets go of the active segment; the span still holds it
    EXPECT_TRUE(segments.in_use(id));
  }
  EXPECT_FALSE(segments.in_use(id));
  ASSERT_TRUE(segments.remove(id));
  EXPECT_FALSE(fs::exists(segments.path_of(id)));
}

// A temp a live writer holds survives remove_stale_temps() whatever its age;
// a temp nobody holds goes, at once at open and after min_age otherwise.
TEST(BlobFiles, StaleTempsGoAndLiveWritersKeepTheirs) {
  TempDir dir;
  BlobFiles blobs(dir.path() / "blobs");
  ASSERT_TRUE(blobs.prepare());
  const std::string hex(64, 'b');
  auto live = blobs.write_temp(hex, "being written");
  ASSERT_TRUE(live);
  const fs::path dead = dir.path() / "blobs" / "tmp" / "left-by-a-crash";
  std::ofstream(dead) << "partial";
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(live->temp_path, old);

  const fs::path young = dir.path() / "blobs" / "tmp" / "young";
  std::ofstream(young) << "partial";
  fs::last_write_time(dead, old);
  auto removed = blobs.remove_stale_temps(std::chrono::hours(1));
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(young));
  EXPECT_TRUE(fs::exists(live->temp_path));

  removed = blobs.remove_stale_temps(std::chrono::seconds(0));
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_FALSE(fs::exists(young));
  std::vector<TempBlob> temps;
  temps.push_back(std::move(*live));
  auto results = blobs.make_durable(temps);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0]) << results[0].error().message;
  EXPECT_EQ(*blobs.read(hex), "being written");
  EXPECT_TRUE(fs::is_empty(dir.path() / "blobs" / "tmp"));
}

// Orphan listing honours min_age, so a file another process has just renamed
// into place (its row not yet committed) is not taken for an orphan.
TEST(BlobFiles, ListLeavesOutYoungFiles) {
  TempDir dir;
  BlobFiles blobs(dir.path() / "blobs");
  ASSERT_TRUE(blobs.prepare());
  auto temp = blobs.write_temp(std::string(64, 'c'), "fresh");
  ASSERT_TRUE(temp);
  std::vector<TempBlob> temps;
  temps.push_back(std::move(*temp));
  ASSERT_TRUE(blobs.make_durable(temps)[0]);
  EXPECT_EQ(blobs.list()->size(), 1u);
  EXPECT_TRUE(blobs.list(std::chrono::hours(1))->empty());
  fs::last_write_time(blobs.path_of(std::string(64, 'c')),
                      fs::file_time_type::clock::now() - std::chrono::hours(2));
  EXPECT_EQ(blobs.list(std::chrono::hours(1))->size(), 1u);
}

}  // namespace
}  // namespace tern::store::sqlite
