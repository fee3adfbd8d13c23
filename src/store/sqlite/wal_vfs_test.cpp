// SPDX-License-Identifier: Apache-2.0
// The gathering WAL VFS (wal_vfs.hpp) against other connections on the same
// database: what they read is what was committed, and frames a rolled-back
// transaction left gathered never land on frames another connection wrote.
#include "store/sqlite/wal_vfs.hpp"

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/test_dir.hpp"

namespace tern::store::sqlite {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Connection> open_or_die(const fs::path& path, const char* vfs) {
  auto c = Connection::open(path, true, vfs);
  EXPECT_TRUE(c) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

std::int64_t integer(Connection& c, const std::string& sql) {
  auto value = c.scalar(sql);
  EXPECT_TRUE(value) << sql << ": " << value.error().message;
  return value && *value ? **value : -1;
}

std::string text(Connection& c, const std::string& sql) {
  auto stmt = c.query(sql);
  EXPECT_TRUE(stmt) << sql;
  if (!stmt) {
    return "";
  }
  auto row = stmt->next();
  return row && *row ? stmt->text(0) : "";
}

// Transactions of many frames through the VFS; a reader on SQLite's default VFS
// sees each one whole after its COMMIT, and a reopened database is intact.
TEST(GatheringWalVfs, OtherConnectionsReadWhatWasCommitted) {
  TempDir dir;
  const auto db = dir.path() / "t.db";
  auto writer = open_or_die(db, gathering_wal_vfs());
  ASSERT_TRUE(writer);
  ASSERT_TRUE(
      writer->exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                   "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)"));
  auto reader = open_or_die(db, nullptr);
  ASSERT_TRUE(reader);
  for (int round = 1; round <= 20; ++round) {
    ASSERT_TRUE(writer->exec("BEGIN IMMEDIATE"));
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(writer->run("INSERT INTO t (v) VALUES (randomblob(3000))"));
    }
    ASSERT_TRUE(writer->exec("COMMIT"));
    EXPECT_EQ(integer(*reader, "SELECT count(*) FROM t"), round * 50);
  }
  EXPECT_EQ(text(*reader, "PRAGMA integrity_check"), "ok");
  writer.reset();
  reader.reset();
  auto again = open_or_die(db, nullptr);
  ASSERT_TRUE(again);
  EXPECT_EQ(integer(*again, "SELECT count(*) FROM t"), 1000);
  EXPECT_EQ(text(*again, "PRAGMA integrity_check"), "ok");
}

// A transaction larger than the page cache spills frames to the WAL before
// COMMIT; rolled back, they stay beyond the WAL's end. They must reach the disk
// before this connection gives up the write lock: another connection then writes
// its frames at that very place (more of them than were spilled), and stale
// frames written later would replace them. Without the flush in the database
// file's xShmLock this test fails.
TEST(GatheringWalVfs, RolledBackFramesNeverOverwriteAnotherConnectionsCommit) {
  TempDir dir;
  const auto db = dir.path() / "t.db";
  auto gathering = open_or_die(db, gathering_wal_vfs());
  ASSERT_TRUE(gathering);
  ASSERT_TRUE(
      gathering->exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                      "PRAGMA cache_size = 20;"
                      "CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, v BLOB)"));
  auto other = open_or_die(db, nullptr);
  ASSERT_TRUE(other);
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(gathering->exec("BEGIN IMMEDIATE"));
    ASSERT_TRUE(
        gathering->exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                        "WHERE i < 400) INSERT INTO t (who, v) SELECT 'spilled', "
                        "randomblob(2000) FROM n"));
    ASSERT_TRUE(gathering->exec("ROLLBACK"));
    ASSERT_TRUE(
        other->exec("BEGIN IMMEDIATE; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                    "FROM n WHERE i < 500) INSERT INTO t (who, v) SELECT 'other', "
                    "zeroblob(2000) FROM n; COMMIT"));
    ASSERT_TRUE(gathering->exec("INSERT INTO t (who, v) VALUES ('gathering', zeroblob(10))"));
  }
  for (auto* c : {gathering.get(), other.get()}) {
    EXPECT_EQ(integer(*c, "SELECT count(*) FROM t WHERE who = 'other'"), 2500);
    EXPECT_EQ(integer(*c, "SELECT count(*) FROM t WHERE who = 'gathering'"), 5);
    EXPECT_EQ(integer(*c, "SELECT count(*) FROM t WHERE who = 'spilled'"), 0);
    EXPECT_EQ(text(*c, "PRAGMA integrity_check"), "ok");
  }
  gathering.reset();
  other.reset();
  auto again = open_or_die(db, nullptr);
  ASSERT_TRUE(again);
  EXPECT_EQ(integer(*again, "SELECT count(*) FROM t"), 2505);
  EXPECT_EQ(text(*again, "PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace tern::store::sqlite
