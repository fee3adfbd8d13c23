// SPDX-License-Identifier: Apache-2.0
// Runs the storage conformance suite against store::sqlite, plus tests of what only
// this backend has: persistence across reopen, recovery and group commit.
#include "store/sqlite/sqlite_storage.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "base/recording_sink.hpp"
#include "mime/facts/facts.hpp"
#include "store/conformance/import_conformance.hpp"
#include "store/conformance/report_conformance.hpp"
#include "store/conformance/spam_conformance.hpp"
#include "store/conformance/storage_conformance.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/test_dir.hpp"

namespace tern::store::sqlite {
namespace {

namespace fs = std::filesystem;
using conformance::make_message;
using conformance::wait;

struct SqliteFactory {
  TempDir dir;

  std::unique_ptr<domain::Storage> make() {
    auto storage = SqliteStorage::open(dir.path() / "store");
    EXPECT_TRUE(storage) << storage.error().message;
    return storage ? std::move(*storage) : nullptr;
  }
};

// The same suite with one transaction per request and every blob in a file, so
// both writer modes and both blob placements conform.
struct SqliteNoGroupCommitFactory {
  TempDir dir;

  std::unique_ptr<domain::Storage> make() {
    SqliteOptions options;
    options.group_commit = false;
    options.inline_blob_max_bytes = 0;
    auto storage = SqliteStorage::open(dir.path() / "store", options);
    EXPECT_TRUE(storage) << storage.error().message;
    return storage ? std::move(*storage) : nullptr;
  }
};

// The same suite with every delivered message's bytes in segment files (ADR
// 0020), which roll over every 64 KiB.
struct SqliteSegmentsFactory {
  TempDir dir;

  std::unique_ptr<domain::Storage> make() {
    SqliteOptions options;
    options.segment_min_queue = 0;
    options.segment_bytes = 64 * 1024;
    auto storage = SqliteStorage::open(dir.path() / "store", options);
    EXPECT_TRUE(storage) << storage.error().message;
    return storage ? std::move(*storage) : nullptr;
  }
};

// The same suite as run by a thread that may block (a blocking-pool job): every
// read runs on the test's thread with an inline connection (ADR 0017). The scope
// is a member, so it covers the whole test body, which runs on this thread.
struct SqliteInlineReadsFactory {
  TempDir dir;
  MayBlockScope may_block;

  std::unique_ptr<domain::Storage> make() {
    auto storage = SqliteStorage::open(dir.path() / "store");
    EXPECT_TRUE(storage) << storage.error().message;
    return storage ? std::move(*storage) : nullptr;
  }
};

std::unique_ptr<SqliteStorage> open_or_die(const fs::path& path, SqliteOptions options = {}) {
  auto storage = SqliteStorage::open(path, options);
  EXPECT_TRUE(storage) << storage.error().message;
  return storage ? std::move(*storage) : nullptr;
}

// An account `address` (its domain added already) and its INBOX.
struct AccountInbox {
  domain::AccountId id{};
  domain::MailboxId inbox{};
};

AccountInbox add_account_with_inbox(SqliteStorage& store, const std::string& address) {
  auto account = wait(store.directory().add_account({address, "h", 0}));
  EXPECT_TRUE(account) << address;
  if (!account) {
    return {};
  }
  auto boxes = wait(store.mail().mailboxes(account->id));
  EXPECT_TRUE(boxes && !boxes->empty()) << address;
  return {account->id, boxes && !boxes->empty() ? (*boxes)[0].id : domain::MailboxId{}};
}

// The one integer `sql` selects, read behind the store's back; -1 (and a test
// failure) when there is none.
std::int64_t select_integer(Connection& c, const std::string& sql) {
  auto value = c.scalar(sql);
  EXPECT_TRUE(value && *value) << sql;
  return value && *value ? **value : -1;
}

TEST(SqliteStorage, DataSurvivesReopen) {
  TempDir dir;
  domain::Appended appended;
  domain::AccountId account{};
  {
    auto store = open_or_die(dir.path());
    ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
    auto bob = wait(store->directory().add_account({"bob@example.com", "h", 0}));
    ASSERT_TRUE(bob);
    account = bob->id;
    auto boxes = wait(store->mail().mailboxes(account));
    ASSERT_TRUE(boxes);
    auto result = wait(store->mail().append(
        make_message("persist"), {domain::AppendTarget{account, (*boxes)[0].id, 0, {}}}));
    ASSERT_TRUE(result && (*result)[0]);
    appended = *(*result)[0];
  }
  auto store = open_or_die(dir.path());
  auto read = wait(store->mail().read_message(account, appended.message));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, conformance::make_raw_message("persist"));
  auto check = store->integrity_check();
  ASSERT_TRUE(check);
  EXPECT_EQ(*check, "ok");
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
}

// Orphans go only once they are an hour old: a younger file without a row may
// be another process's, renamed into place with its row not yet committed.
TEST(SqliteStorage, OpenRemovesStaleTempFilesAndGcRemovesOldOrphans) {
  TempDir dir;
  { open_or_die(dir.path()); }
  std::ofstream(dir.path() / "blobs" / "tmp" / "half-written") << "partial";
  fs::create_directories(dir.path() / "blobs" / "aa" / "aa");
  const fs::path old_orphan = dir.path() / "blobs" / "aa" / "aa" / std::string(64, 'a');
  const fs::path young_orphan = dir.path() / "blobs" / "aa" / "aa" / ("aa" + std::string(62, 'b'));
  std::ofstream(old_orphan) << "orphan";
  std::ofstream(young_orphan) << "just renamed";
  fs::last_write_time(old_orphan, fs::file_time_type::clock::now() - std::chrono::hours(2));
  auto store = open_or_die(dir.path());
  EXPECT_FALSE(fs::exists(dir.path() / "blobs" / "tmp" / "half-written"));
  auto collected = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  EXPECT_FALSE(fs::exists(old_orphan));
  EXPECT_TRUE(fs::exists(young_orphan));
}

TEST(SqliteStorage, CorruptBlobFileIsReportedAsCorrupt) {
  TempDir dir;
  SqliteOptions files_only;
  files_only.inline_blob_max_bytes = 0;
  auto store = open_or_die(dir.path(), files_only);
  auto id = wait(store->blobs().put("original bytes"));
  ASSERT_TRUE(id);
  auto path = dir.path() / "blobs" / id->hex.substr(0, 2) / id->hex.substr(2, 2) / id->hex;
  std::ofstream(path, std::ios::trunc) << "tampered";
  auto got = wait(store->blobs().get(*id));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kCorrupt);
}

TEST(SqliteStorage, SmallBlobsLiveInTheDatabaseAndLargeOnesInFiles) {
  TempDir dir;
  SqliteOptions options;
  options.inline_blob_max_bytes = 1024;
  auto store = open_or_die(dir.path(), options);
  auto small = wait(store->blobs().put(std::string(1024, 's')));
  auto large = wait(store->blobs().put(std::string(1025, 'l')));
  ASSERT_TRUE(small);
  ASSERT_TRUE(large);
  auto file_of = [&](const domain::BlobId& id) {
    return dir.path() / "blobs" / id.hex.substr(0, 2) / id.hex.substr(2, 2) / id.hex;
  };
  EXPECT_FALSE(fs::exists(file_of(*small)));
  EXPECT_TRUE(fs::exists(file_of(*large)));
  EXPECT_EQ(*wait(store->blobs().get(*small)), std::string(1024, 's'));
  EXPECT_EQ(*wait(store->blobs().get(*large)), std::string(1025, 'l'));
  // Unreferenced, both go with garbage collection, the inline bytes by trigger.
  auto collected = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 2u);
  EXPECT_EQ(wait(store->blobs().get(*small)).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(file_of(*large)));
}

TEST(SqliteStorage, ConcurrentWritesShareBatches) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  std::vector<domain::Async<domain::BlobId>> pending;
  for (int i = 0; i < 200; ++i) {
    pending.push_back(store->blobs().put("blob " + std::to_string(i)));
  }
  for (auto& future : pending) {
    ASSERT_TRUE(future.get());
  }
  auto stats = store->stats();
  EXPECT_EQ(stats.requests, 200u);
  EXPECT_LT(stats.batches, 200u);  // requests queued during a commit joined the next batch
}

// A run of appends hands out the message and message_bytes ids itself (to insert
// its rows in bulk, ADR 0004 revision 3): one id per message, in order, above
// every id the messages table ever had, and sqlite_sequence raised to match, so
// the id of an expunged message is never handed out again.
TEST(SqliteStorage, AppendsInBulkTakeFreshIdsAndKeepTheSequence) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  const auto [bob, inbox] = add_account_with_inbox(*store, "bob@example.com");
  std::vector<domain::Async<std::vector<Result<domain::Appended>>>> pending;
  for (int i = 0; i < 40; ++i) {
    pending.push_back(
        store->mail().append(make_message("m" + std::to_string(i)), {{bob, inbox, 0, {}}}));
  }
  std::vector<std::int64_t> ids;
  for (auto& future : pending) {
    auto result = future.get();
    ASSERT_TRUE(result && (*result)[0]);
    ids.push_back(domain::value_of((*result)[0]->message));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i], static_cast<std::int64_t>(i) + 1);
  }
  auto opened = Connection::open(dir.path() / "tern.db", false);
  ASSERT_TRUE(opened);
  auto count = [&](const std::string& sql) { return select_integer(**opened, sql); };
  EXPECT_EQ(count("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"), 40);
  EXPECT_EQ(count("SELECT count(*) FROM messages m JOIN message_bytes b ON b.id = m.bytes_id"), 40);
  // The newest message goes, row and all; the next append still takes 41.
  ASSERT_TRUE(wait(store->mail().expunge(bob, inbox, {domain::Uid{40}})));
  EXPECT_EQ(count("SELECT max(id) FROM messages"), 39);
  auto next = wait(store->mail().append(make_message("next"), {{bob, inbox, 0, {}}}));
  ASSERT_TRUE(next && (*next)[0]);
  EXPECT_EQ(domain::value_of((*next)[0]->message), 41);
  EXPECT_EQ(count("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  EXPECT_EQ(*store->integrity_check(), "ok");
}

// An append that fails in SQL (here: its UID is taken by a row planted behind the
// store's back) rolls back alone; the appends batched with it keep their rows,
// and the counters the batch holds in memory do not count the failed one.
TEST(SqliteStorage, FailingAppendRollsBackAloneInItsBatch) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = wait(store->directory().add_account({"bob@example.com", "h", 0}));
  ASSERT_TRUE(bob);
  auto inbox = (*wait(store->mail().mailboxes(bob->id)))[0].id;
  auto other = wait(store->mail().create_mailbox(bob->id, "Other", domain::SpecialUse::kNone));
  ASSERT_TRUE(other);
  auto first = wait(store->mail().append(make_message("first"), {{bob->id, inbox, 0, {}}}));
  ASSERT_TRUE(first && (*first)[0]);
  {
    auto c = Connection::open(dir.path() / "tern.db", false);
    ASSERT_TRUE(c);
    ASSERT_TRUE(
        (*c)->run("INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, "
                  "keywords, modseq) VALUES (?1, 2, ?2, 0, 0, '', 1)",
                  domain::value_of(inbox), domain::value_of((*first)[0]->message)));
  }
  // Alone in its batch, the append fails on its own; the store goes on.
  auto lone = wait(store->mail().append(make_message("lone"), {{bob->id, inbox, 0, {}}}));
  ASSERT_FALSE(lone);
  EXPECT_EQ(lone.error().code, ErrorCode::kConflict);
  std::vector<domain::Async<std::vector<Result<domain::Appended>>>> pending;
  for (int i = 0; i < 20; ++i) {
    auto target = i == 10 ? inbox : other->id;
    pending.push_back(
        store->mail().append(make_message("m" + std::to_string(i)), {{bob->id, target, 0, {}}}));
  }
  std::uint32_t next_uid = 1;
  for (int i = 0; i < 20; ++i) {
    auto result = pending[i].get();
    if (i == 10) {
      ASSERT_FALSE(result);
      EXPECT_EQ(result.error().code, ErrorCode::kConflict);
      continue;
    }
    ASSERT_TRUE(result && (*result)[0]) << i;
    EXPECT_EQ(domain::value_of((*result)[0]->uid), next_uid++);
  }
  auto usage = wait(store->mail().usage(bob->id));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->messages, 21u);  // "first", the planted entry and 19 of the 20
  auto boxes = wait(store->mail().mailboxes(bob->id));
  ASSERT_TRUE(boxes);
  for (const auto& box : *boxes) {
    EXPECT_EQ(domain::value_of(box.uid_next), box.id == inbox ? 2u : 20u) << box.name;
  }
  EXPECT_EQ(*store->integrity_check(), "ok");
}

// Checkpoints run on their own thread (ADR 0019), and yet the WAL starts over
// while appends keep coming: 8 writers append ~8 MB without a pause, ~24 MB of
// WAL frames, which a WAL that never started over would all hold (measured with
// the checkpointer off). It has peaked at 1.1–5.4 MB (ASan, 2 cores, batches
// faster since rows go in bulk, ADR 0004 revision 3), so the bound is a third.
// Were the writer not to finish each background round, the WAL could restart
// only in a pause and would hold it all.
TEST(SqliteStorage, CheckpointsOffTheWriterKeepTheWalSmallUnderLoad) {
  TempDir dir;
  SqliteOptions options;
  options.checkpoint_frames = 32;
  auto store = open_or_die(dir.path(), options);
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");

  std::atomic<bool> done{false};
  std::atomic<std::uintmax_t> largest_wal{0};
  std::thread watcher([&] {
    while (!done.load()) {
      std::error_code ec;
      const auto size = fs::file_size(dir.path() / "tern.db-wal", ec);
      if (!ec && size > largest_wal.load()) {
        largest_wal.store(size);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  constexpr int kWriters = 8;
  constexpr int kEach = 250;
  std::atomic<int> stored{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        auto message = make_message("w" + std::to_string(w) + " m" + std::to_string(i));
        message.raw += std::string(4096, 'x');
        auto appended =
            wait(store->mail().append(std::move(message), {{bob.id, bob.inbox, 0, {}}}));
        if (appended && (*appended)[0]) {
          stored.fetch_add(1);
        }
      }
    });
  }
  for (auto& writer : writers) {
    writer.join();
  }
  done.store(true);
  watcher.join();

  EXPECT_EQ(stored.load(), kWriters * kEach);
  EXPECT_GT(largest_wal.load(), 0u);
  EXPECT_LT(largest_wal.load(), 8u << 20) << "the WAL did not start over";
  // The messages reached the database file, not only the WAL.
  EXPECT_GT(fs::file_size(dir.path() / "tern.db"), std::uintmax_t{kWriters * kEach} * 4096);
  auto entries = wait(store->mail().entries(
      bob.id, bob.inbox, domain::Uid{1}, domain::Uid{std::numeric_limits<std::uint32_t>::max()}));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), std::size_t{kWriters * kEach});
  auto last = wait(store->mail().read_message(bob.id, entries->back().message));
  ASSERT_TRUE(last);
  EXPECT_GT(last->size(), 4096u);
  store->close();
  auto integrity = store->integrity_check();
  ASSERT_TRUE(integrity);
  EXPECT_EQ(*integrity, "ok");
}

// Options that put every delivered message's bytes in a segment, `segment_bytes`
// to a segment.
SqliteOptions segment_options(std::uint64_t segment_bytes) {
  SqliteOptions options;
  options.segment_min_queue = 0;
  options.segment_bytes = segment_bytes;
  return options;
}

// The id of the oldest segment file in `dir`/segments, and a segment's file name.
std::int64_t lowest_segment(const fs::path& dir) {
  std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  for (const auto& entry : fs::directory_iterator(dir / "segments")) {
    lowest = std::min<std::int64_t>(lowest, std::stoll(entry.path().stem().string(), nullptr, 16));
  }
  return lowest;
}

std::string segment_name(std::int64_t id) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.seg", static_cast<unsigned long long>(id));
  return name;
}

std::size_t segment_count(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir / "segments")) {
    n += entry.path().extension() == ".seg" ? 1 : 0;
  }
  return n;
}

// A small delivered message keeps its bytes in one message_bytes row that the
// message rows of its append share (one per account), with no blobs row to look
// up by hash (migration 0010); the last message to go takes the bytes along.
// Under load the row holds no bytes but names their span in a segment file
// (migration 0011); the span is dead space once the row is gone.
class MessageBytes : public ::testing::TestWithParam<bool> {};

TEST_P(MessageBytes, AreKeptOncePerAppendAndGoWithTheLastMessage) {
  const bool in_segment = GetParam();
  TempDir dir;
  auto store = open_or_die(dir.path(), in_segment ? segment_options(1 << 20) : SqliteOptions{});
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  auto alice = add_account_with_inbox(*store, "alice@example.com");
  auto message = make_message("shared");
  const std::string raw = message.raw;
  auto appended = wait(store->mail().append(
      std::move(message), {{bob.id, bob.inbox, 0, {}}, {alice.id, alice.inbox, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0] && (*appended)[1]);

  auto opened = Connection::open(dir.path() / "tern.db", false);
  ASSERT_TRUE(opened);
  Connection& c = **opened;
  EXPECT_EQ(select_integer(c, "SELECT count(*) FROM message_bytes"), 1);
  EXPECT_EQ(select_integer(c, "SELECT refs FROM message_bytes"), 2);
  EXPECT_EQ(select_integer(c, "SELECT count(*) FROM blobs"), 0);
  EXPECT_EQ(select_integer(c, "SELECT count(DISTINCT bytes_id) FROM messages"), 1);
  EXPECT_EQ(select_integer(c, "SELECT length(data) FROM message_bytes"),
            in_segment ? 0 : static_cast<std::int64_t>(raw.size()));
  EXPECT_EQ(select_integer(c, "SELECT count(segment) FROM message_bytes"), in_segment ? 1 : 0);
  if (in_segment) {
    EXPECT_EQ(select_integer(c, "SELECT seg_length FROM message_bytes"),
              static_cast<std::int64_t>(raw.size()));
    EXPECT_EQ(segment_count(dir.path()), 1u);
  }
  for (const auto& [account, index] : {std::pair{bob.id, 0}, std::pair{alice.id, 1}}) {
    auto read = wait(store->mail().read_message(account, (*appended)[index]->message));
    ASSERT_TRUE(read);
    EXPECT_EQ(*read, raw);
  }

  ASSERT_TRUE(wait(store->mail().expunge(bob.id, bob.inbox, {(*appended)[0]->uid})));
  EXPECT_EQ(select_integer(c, "SELECT refs FROM message_bytes"), 1);
  auto alice_read = wait(store->mail().read_message(alice.id, (*appended)[1]->message));
  ASSERT_TRUE(alice_read);
  EXPECT_EQ(*alice_read, raw);
  ASSERT_TRUE(wait(store->directory().remove_account("alice@example.com")));
  EXPECT_EQ(select_integer(c, "SELECT count(*) FROM message_bytes"), 0);
  EXPECT_EQ(select_integer(c, "SELECT count(*) FROM blobs"), 0);
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  EXPECT_EQ(*store->integrity_check(), "ok");
}

INSTANTIATE_TEST_SUITE_P(SqliteStorage, MessageBytes, ::testing::Bool(),
                         [](const auto& test) { return test.param ? "InSegment" : "InRow"; });

// missing_blobs() names a message whose own bytes row is gone, and reading it is
// kCorrupt.
TEST(SqliteStorage, MissingMessageBytesAreReported) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  auto appended = wait(store->mail().append(make_message("lost"), {{bob.id, bob.inbox, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  {
    auto c = Connection::open(dir.path() / "tern.db", false);
    ASSERT_TRUE(c);
    ASSERT_TRUE((*c)->exec("PRAGMA foreign_keys = OFF; DELETE FROM message_bytes"));
  }
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  ASSERT_EQ(missing->size(), 1u);
  auto entries = wait(store->mail().entries(bob.id, bob.inbox, domain::Uid{1}, domain::Uid{1}));
  ASSERT_TRUE(entries && entries->size() == 1);
  EXPECT_EQ((*missing)[0], (*entries)[0].blob.hex);
  auto read = wait(store->mail().read_message(bob.id, (*appended)[0]->message));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(read.error().message.find("missing"), std::string::npos) << read.error().message;
}

// A database in `dir` migrated up to, not including, migration `version`, for
// tests of that migration; nullptr (with a test failure) on error.
std::unique_ptr<Connection> open_before_migration(const fs::path& dir, int version) {
  auto c = Connection::open(dir / "tern.db", true);
  if (!c) {
    ADD_FAILURE() << c.error().message;
    return nullptr;
  }
  if (!(*c)->exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT "
                  "NOT NULL, applied INTEGER NOT NULL) STRICT")) {
    ADD_FAILURE() << "schema_version";
    return nullptr;
  }
  for (const auto& migration : migrations()) {
    if (migration.version >= version) {
      break;
    }
    if (!(*c)->exec(migration.sql) || !(*c)->run("INSERT INTO schema_version VALUES (?1, ?2, 0)",
                                                 migration.version, migration.name)) {
      ADD_FAILURE() << migration.name;
      return nullptr;
    }
  }
  return std::move(*c);
}

// Migration 0005 moves small blobs from blob_data (keyed by hash) to blob_bytes
// (keyed by the id the blobs row names) and drops bytes nothing referenced.
TEST(SqliteStorage, MigrationMovesInlineBlobBytes) {
  TempDir dir;
  const std::string hex(64, 'b');  // only the rows are checked, never the bytes' hash
  {
    auto c = open_before_migration(dir.path(), 5);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->exec("INSERT INTO blobs (hash, size, refs) VALUES ('" + hex +
                        "', 5, 0);"
                        "INSERT INTO blob_data (hash, data) VALUES ('" +
                        hex +
                        "', X'6279746573');"
                        "INSERT INTO blob_data (hash, data) VALUES ('" +
                        std::string(64, 'c') + "', X'00');"));
  }
  auto store = open_or_die(dir.path());
  auto c = Connection::open(dir.path() / "tern.db", false);
  ASSERT_TRUE(c);
  auto bytes = (*c)->scalar("SELECT count(*) FROM blob_bytes");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(**bytes, 1);
  auto linked = (*c)->scalar(
      "SELECT length(d.data) FROM blobs b JOIN blob_bytes d "
      "ON d.id = b.data_id WHERE b.hash = ?1",
      hex);
  ASSERT_TRUE(linked);
  EXPECT_EQ(*linked, std::optional<std::int64_t>(5));
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  // Garbage collection still takes the bytes with their unreferenced row.
  auto collected = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  auto left = (*c)->scalar("SELECT count(*) FROM blob_bytes");
  ASSERT_TRUE(left);
  EXPECT_EQ(**left, 0);
  EXPECT_EQ(*store->integrity_check(), "ok");
}

// Migration 0010 rebuilds messages without the foreign key to blobs: every row
// and id stays, ids are still never reused, messages stored before it keep
// reading (and releasing) their blobs row, and the triggers are back.
// Migration 0014: save dates that batched appends wrote in seconds become ticks;
// those already in ticks stay.
TEST(SqliteStorage, MigrationTurnsSaveDatesInSecondsIntoTicks) {
  TempDir dir;
  const std::int64_t seconds = 1700000000;  // 14 Nov 2023
  const std::int64_t ticks =
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::seconds(seconds)).count();
  {
    auto c = open_before_migration(dir.path(), 14);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->exec(
        "INSERT INTO domains (id, name) VALUES (1, 'example.com');"
        "INSERT INTO accounts (id, domain_id, address, password_hash, quota_bytes) "
        "VALUES (1, 1, 'bob@example.com', 'h', 0);"
        "INSERT INTO mailboxes (id, account_id, name, special_use, uid_validity, uid_next, "
        "highest_modseq, subscribed) VALUES (1, 1, 'INBOX', 0, 1, 3, 2, 1);"
        "INSERT INTO messages (id, account_id, blob, size, internal_date, facts, entry_count) "
        "VALUES (7, 1, 'x', 1, 0, X'', 2);"));
    ASSERT_TRUE(
        c->run("INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, "
               "keywords, modseq) VALUES (1, 1, 7, ?1, 0, '', 1), (1, 2, 7, ?2, 0, '', 2)",
               seconds, ticks + 1));
  }
  auto store = open_or_die(dir.path());
  auto entries = wait(store->mail().entries(domain::AccountId{1}, domain::MailboxId{1},
                                            domain::Uid{1}, domain::Uid{2}));
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].save_date, SystemTime(std::chrono::seconds(seconds)));
  EXPECT_EQ((*entries)[1].save_date.time_since_epoch().count(), ticks + 1);
}

TEST(SqliteStorage, MigrationRebuildsMessagesKeepingRowsIdsAndBlobReferences) {
  TempDir dir;
  const std::string old_raw = "Subject: old\r\n\r\nstored before 0010\r\n";
  const std::string hex = domain::sha256_hex(old_raw);
  {
    auto c = open_before_migration(dir.path(), 10);
    ASSERT_TRUE(c);
    ASSERT_TRUE(
        c->exec("INSERT INTO domains (id, name) VALUES (1, 'example.com');"
                "INSERT INTO accounts (id, domain_id, address, password_hash, quota_bytes) "
                "VALUES (1, 1, 'bob@example.com', 'h', 0);"
                "INSERT INTO mailboxes (id, account_id, name, special_use, uid_validity, uid_next, "
                "highest_modseq, subscribed) VALUES (1, 1, 'INBOX', 0, 1, 2, 1, 1);"));
    ASSERT_TRUE(c->run("INSERT INTO blob_bytes (id, data) VALUES (1, ?1)", AsBlob{old_raw}));
    ASSERT_TRUE(c->run("INSERT INTO blobs (hash, size, refs, data_id) VALUES (?1, ?2, 1, 1)", hex,
                       static_cast<std::int64_t>(old_raw.size())));
    ASSERT_TRUE(c->run(
        "INSERT INTO messages (id, account_id, blob, size, internal_date, facts, entry_count) "
        "VALUES (7, 1, ?1, ?2, 0, X'', 1)",
        hex, static_cast<std::int64_t>(old_raw.size())));
    ASSERT_TRUE(c->exec(
        "INSERT INTO message_envelopes (message_id, envelope) VALUES (7, X'00');"
        "INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, modseq) "
        "VALUES (1, 1, 7, 0, 0, '', 1);"
        // Messages up to 40 existed once and were expunged: their ids stay used.
        "UPDATE sqlite_sequence SET seq = 40 WHERE name = 'messages';"));
  }
  auto store = open_or_die(dir.path());
  const domain::AccountId bob{1};
  const domain::MailboxId inbox{1};
  auto read = wait(store->mail().read_message(bob, domain::MessageId{7}));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, old_raw);
  auto appended = wait(store->mail().append(make_message("new"), {{bob, inbox, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  EXPECT_EQ(domain::value_of((*appended)[0]->message), 41);

  auto opened = Connection::open(dir.path() / "tern.db", false);
  ASSERT_TRUE(opened);
  auto count = [&](const std::string& sql) { return select_integer(**opened, sql); };
  EXPECT_EQ(count("SELECT count(*) FROM pragma_foreign_key_list('messages') "
                  "WHERE \"table\" = 'blobs'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = "
                  "'messages'"),
            2);
  // Expunging the old message releases its blobs row and drops its summary rows.
  EXPECT_EQ(count("SELECT count(*) FROM message_envelopes"), 1);
  ASSERT_TRUE(wait(store->mail().expunge(bob, inbox, {domain::Uid{1}})));
  EXPECT_EQ(count("SELECT refs FROM blobs"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM message_envelopes"), 0);
  auto collected = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 1u);
  EXPECT_EQ(count("SELECT count(*) FROM blob_bytes"), 0);
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  EXPECT_EQ(count("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  EXPECT_EQ(*store->integrity_check(), "ok");
}

// Migration 0006 defines in each existing mailbox the keywords its entries carry
// (domain::Mailbox::keywords), so FLAGS lists them after an upgrade.
TEST(SqliteStorage, MigrationDefinesTheKeywordsOfExistingEntries) {
  TempDir dir;
  {
    auto c = open_before_migration(dir.path(), 6);
    ASSERT_TRUE(c);
    const std::string hex(64, 'b');
    ASSERT_TRUE(c->exec(
        "INSERT INTO domains (id, name) VALUES (1, 'example.com');"
        "INSERT INTO accounts (id, domain_id, address, password_hash, quota_bytes) "
        "VALUES (1, 1, 'bob@example.com', 'h', 0);"
        "INSERT INTO mailboxes (id, account_id, name, special_use, uid_validity, uid_next, "
        "highest_modseq, subscribed) VALUES (1, 1, 'INBOX', 0, 1, 4, 3, 1), "
        "(2, 1, 'Plain', 0, 2, 2, 4, 0);"
        "INSERT INTO blobs (hash, size, refs) VALUES ('" +
        hex +
        "', 1, 4);"
        "INSERT INTO messages (id, account_id, blob, size, internal_date, facts, entry_count) "
        "VALUES (1, 1, '" +
        hex +
        "', 1, 0, X'', 4);"
        "INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, modseq) "
        "VALUES (1, 1, 1, 0, 0, '$Work zeta', 1), (1, 2, 1, 0, 0, '', 2), "
        "(1, 3, 1, 0, 0, '$Junk $Work', 3), (2, 1, 1, 0, 0, '', 4);"));
  }
  auto store = open_or_die(dir.path());
  auto boxes = wait(store->mail().mailboxes(domain::AccountId{1}));
  ASSERT_TRUE(boxes) << boxes.error().message;
  ASSERT_EQ(boxes->size(), 2u);
  EXPECT_EQ((*boxes)[0].keywords, (std::vector<std::string>{"$Junk", "$Work", "zeta"}));
  EXPECT_TRUE((*boxes)[1].keywords.empty());
  EXPECT_EQ(*store->integrity_check(), "ok");
}

// Migration 0008 keeps envelope, search headers and search text apart from
// messages.facts for new appends; messages stored before it keep their whole record,
// and message_summaries() splits it on read with the same result.
TEST(SqliteStorage, SummariesOfMessagesStoredBeforeMigration8AreSplitOnRead) {
  TempDir dir;
  const std::string raw = "Subject: Old zebra\r\nFrom: a@example.com\r\n\r\nquokka text\r\n";
  const mime::facts::Facts facts = mime::facts::compute_facts(raw);
  const std::string record = mime::facts::encode_facts(facts);
  {
    auto c = Connection::open(dir.path() / "tern.db", true);
    ASSERT_TRUE(c);
    ASSERT_TRUE(
        (*c)->exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT "
                   "NOT NULL, applied INTEGER NOT NULL) STRICT"));
    for (const auto& migration : migrations()) {
      if (migration.version >= 8) {
        break;
      }
      ASSERT_TRUE((*c)->exec(migration.sql)) << migration.name;
      ASSERT_TRUE((*c)->run("INSERT INTO schema_version VALUES (?1, ?2, 0)", migration.version,
                            migration.name));
    }
    const std::string hex(64, 'b');
    ASSERT_TRUE((*c)->exec(
        "INSERT INTO domains (id, name) VALUES (1, 'example.com');"
        "INSERT INTO accounts (id, domain_id, address, password_hash, quota_bytes) "
        "VALUES (1, 1, 'bob@example.com', 'h', 0);"
        "INSERT INTO mailboxes (id, account_id, name, special_use, uid_validity, uid_next, "
        "highest_modseq, subscribed) VALUES (1, 1, 'INBOX', 0, 1, 2, 1, 1);"
        "INSERT INTO blobs (hash, size, refs) VALUES ('" +
        hex + "', 1, 1);"));
    ASSERT_TRUE((*c)->run(
        "INSERT INTO messages (id, account_id, blob, size, internal_date, facts, entry_count) "
        "VALUES (1, 1, ?1, 1, 0, ?2, 1)",
        hex, AsBlob{record}));
    ASSERT_TRUE(
        (*c)->exec("INSERT INTO entries (mailbox_id, uid, message_id, save_date, flags, keywords, "
                   "modseq) VALUES (1, 1, 1, 0, 0, '', 1)"));
  }
  auto store = open_or_die(dir.path());
  const domain::AccountId bob{1};
  const domain::MailboxId inbox{1};
  const domain::SummaryParts all = domain::kSummaryEnvelope | domain::kSummaryFacts |
                                   domain::kSummarySearchHeaders | domain::kSummarySearchText;
  auto got = wait(store->mail().message_summaries(bob, inbox, {domain::Uid{1}}, all));
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 1u);
  EXPECT_TRUE((*got)[0].has_envelope);
  EXPECT_TRUE((*got)[0].has_search);
  EXPECT_EQ((*got)[0].envelope, facts.envelope);
  EXPECT_EQ((*got)[0].search_headers, facts.search_headers);
  EXPECT_EQ((*got)[0].search_text, facts.search_text);
  auto split = mime::facts::split_facts(record);
  ASSERT_TRUE(split);
  EXPECT_EQ((*got)[0].facts, split->record);
  // The old row itself is left as it was.
  auto stored = wait(store->mail().message_facts(bob, domain::MessageId{1}));
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, record);

  // A new append keeps the record in message_records (messages rows stay small for
  // the entries() join) and the search text apart.
  auto appended = wait(store->mail().append(domain::NewMessage{raw, {}, record},
                                            {domain::AppendTarget{bob, inbox, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  auto c = Connection::open(dir.path() / "tern.db", false);
  ASSERT_TRUE(c);
  const auto id = domain::value_of((*appended)[0]->message);
  auto length = (*c)->scalar("SELECT length(facts) FROM messages WHERE id = ?1", id);
  ASSERT_TRUE(length);
  EXPECT_EQ(*length, std::optional<std::int64_t>(0));
  length = (*c)->scalar("SELECT length(record) FROM message_records WHERE message_id = ?1", id);
  ASSERT_TRUE(length);
  EXPECT_EQ(*length, std::optional<std::int64_t>(split->record.size()));
  auto fresh_record = wait(store->mail().message_facts(bob, (*appended)[0]->message));
  ASSERT_TRUE(fresh_record);
  EXPECT_EQ(*fresh_record, split->record);
  auto fresh = wait(store->mail().message_summaries(bob, inbox, {(*appended)[0]->uid}, all));
  ASSERT_TRUE(fresh);
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ((*fresh)[0].search_text, (*got)[0].search_text);
  EXPECT_EQ((*fresh)[0].facts, (*got)[0].facts);
  EXPECT_EQ(*store->integrity_check(), "ok");
}

TEST(SqliteStorage, RequestsAfterCloseAreCancelled) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  store->close();
  auto put = wait(store->blobs().put("late"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kCancelled);
  auto domains = wait(store->directory().domains());
  ASSERT_FALSE(domains);
  EXPECT_EQ(domains.error().code, ErrorCode::kCancelled);
}

TEST(SqliteStorage, ReadsOfAThreadThatMayBlockAreAnsweredBeforeTheCallReturns) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  ASSERT_TRUE(wait(store->directory().add_domain("example.test")));
  MayBlockScope may_block;
  for (int i = 0; i < 100; ++i) {
    auto found = store->directory().find_domain("example.test");
    ASSERT_TRUE(found.is_ready()) << "read " << i << " went through a reader thread";
    auto domain = found.get();
    ASSERT_TRUE(domain && *domain);
  }
}

TEST(SqliteStorage, InlineReadsBeyondTheirConnectionsQueueForTheReaderThreads) {
  TempDir dir;
  SqliteOptions options;
  options.inline_readers = 2;
  auto store = open_or_die(dir.path(), options);
  ASSERT_TRUE(wait(store->directory().add_domain("example.test")));
  // Eight blocking threads against two inline connections, while the writer
  // keeps adding accounts: every read is answered and sees a committed state.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) {
      domain::NewAccount account;
      account.address = "u" + std::to_string(i) + "@example.test";
      if (!wait(store->directory().add_account(std::move(account)))) {
        ++failures;
      }
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      MayBlockScope may_block;
      std::size_t seen = 0;
      while (!stop) {
        auto accounts = store->directory().accounts(std::string("example.test")).get();
        if (!accounts || accounts->size() < seen) {
          ++failures;  // an error, or a snapshot older than one seen before
          return;
        }
        seen = accounts->size();
      }
    });
  }
  writer.join();
  for (auto& t : readers) {
    t.join();
  }
  EXPECT_EQ(failures, 0);
  MayBlockScope may_block;
  auto all = store->directory().accounts(std::nullopt).get();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 50u);
}

TEST(SqliteStorage, InlineReadsAfterCloseAreCancelled) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  MayBlockScope may_block;
  ASSERT_TRUE(store->directory().domains().get());  // opens an inline connection
  store->close();
  auto domains = store->directory().domains().get();
  ASSERT_FALSE(domains);
  EXPECT_EQ(domains.error().code, ErrorCode::kCancelled);
}

// A span whose segment lost its tail (or the whole file) is reported by
// missing_blobs(), and reading it is kCorrupt, not a short message.
TEST(SqliteStorage, TruncatedSegmentsAreReported) {
  TempDir dir;
  auto store = open_or_die(dir.path(), segment_options(1 << 20));
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  auto appended =
      wait(store->mail().append(make_message("cut", 3000), {{bob.id, bob.inbox, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  store->close();
  for (const auto& entry : fs::directory_iterator(dir.path() / "segments")) {
    fs::resize_file(entry.path(), 100);
  }
  store = open_or_die(dir.path(), segment_options(1 << 20));
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->size(), 1u);
  auto read = wait(store->mail().read_message(bob.id, (*appended)[0]->message));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kCorrupt) << read.error().message;
}

// collect_garbage() removes segments nothing names, moves the live spans of
// mostly dead ones into the active segment, and leaves mostly live ones and
// the one being appended to. Every message stays readable throughout.
TEST(SqliteStorage, CollectGarbageCompactsSegments) {
  TempDir dir;
  auto store = open_or_die(dir.path(), segment_options(16 * 1024));
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  std::vector<domain::Appended> kept;
  std::vector<std::string> kept_raw;
  std::vector<domain::Uid> doomed;
  // Messages of about 3.9 KB, four to a 16 KiB segment: 40 fill ten segments.
  // Of the first six segments, all but one message of every other segment go,
  // and every message of the others; the last four stay whole.
  for (int i = 0; i < 40; ++i) {
    auto message = make_message("m" + std::to_string(i), 3900);
    const std::string raw = message.raw;
    auto appended = wait(store->mail().append(std::move(message), {{bob.id, bob.inbox, 0, {}}}));
    ASSERT_TRUE(appended && (*appended)[0]);
    const int segment = i / 4;
    if (segment < 6 && (segment % 2 == 1 || i % 4 != 0)) {
      doomed.push_back((*appended)[0]->uid);
    } else {
      kept.push_back(*(*appended)[0]);
      kept_raw.push_back(raw);
    }
  }
  ASSERT_EQ(segment_count(dir.path()), 10u);
  ASSERT_TRUE(wait(store->mail().expunge(bob.id, bob.inbox, doomed)));
  auto collected = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(collected) << collected.error().message;
  EXPECT_EQ(*collected, 6u);  // three dead segments, three compacted

  // Ten segments less six, plus the one the three moved spans went to.
  EXPECT_EQ(segment_count(dir.path()), 5u);
  for (std::size_t k = 0; k < kept.size(); ++k) {
    auto read = wait(store->mail().read_message(bob.id, kept[k].message));
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(*read, kept_raw[k]);
  }
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  // Nothing left to do: a second collection removes nothing.
  auto again = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
  EXPECT_EQ(*store->integrity_check(), "ok");

  // After a restart the old active segment is an ordinary one.
  store->close();
  store = open_or_die(dir.path(), segment_options(16 * 1024));
  for (std::size_t k = 0; k < kept.size(); ++k) {
    auto read = wait(store->mail().read_message(bob.id, kept[k].message));
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(*read, kept_raw[k]);
  }
}

// Group commit: appends queued while a batch runs its SQL join that batch's
// transaction instead of waiting for the next one (ADR 0021); without group
// commit every request stays a batch of its own.
class LateJoiners : public ::testing::TestWithParam<bool> {};

TEST_P(LateJoiners, JoinTheRunningBatchOnlyWithGroupCommit) {
  const bool group_commit = GetParam();
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> armed{false};
  SqliteOptions options;
  options.group_commit = group_commit;
  options.segment_bytes = 0;
  options.before_late_joiners = [&] {
    if (armed.exchange(false)) {
      entered.set_value();
      released.wait();
    }
  };
  TempDir dir;
  auto store = open_or_die(dir.path(), options);
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  armed = group_commit;
  const auto before = store->stats();
  auto first = store->mail().append(make_message("first"), {{bob.id, bob.inbox, 0, {}}});
  if (group_commit) {
    entered.get_future().wait();  // the writer is between the batch's SQL and its COMMIT
  }
  std::vector<domain::Async<std::vector<Result<domain::Appended>>>> later;
  for (int i = 0; i < 5; ++i) {
    later.push_back(store->mail().append(make_message("later" + std::to_string(i)),
                                         {{bob.id, bob.inbox, 0, {}}}));
  }
  release.set_value();
  auto first_result = wait(std::move(first));
  ASSERT_TRUE(first_result && (*first_result)[0]);
  std::vector<std::uint32_t> uids{domain::value_of((*first_result)[0]->uid)};
  for (auto& future : later) {
    auto result = wait(std::move(future));
    ASSERT_TRUE(result && (*result)[0]);
    uids.push_back(domain::value_of((*result)[0]->uid));
  }
  const auto after = store->stats();
  EXPECT_EQ(after.requests - before.requests, 6u);
  EXPECT_EQ(after.batches - before.batches, group_commit ? 1u : 6u);
  // In the order they came, the joiners after the first.
  EXPECT_TRUE(std::is_sorted(uids.begin(), uids.end()));
  auto entries = wait(store->mail().entries(bob.id, bob.inbox, domain::Uid{1}, domain::Uid{100}));
  ASSERT_TRUE(entries);
  EXPECT_EQ(entries->size(), 6u);
}

INSTANTIATE_TEST_SUITE_P(GroupCommit, LateJoiners, ::testing::Values(true, false));

// An exclusive request (garbage collection) runs alone: its batch takes no late
// joiners.
TEST(SqliteStorage, AnExclusiveBatchTakesNoLateJoiners) {
  std::atomic<int> looked{0};
  SqliteOptions options;
  options.before_late_joiners = [&] { ++looked; };
  TempDir dir;
  auto store = open_or_die(dir.path(), options);
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  const int before = looked;
  EXPECT_GE(before, 1);  // the ordinary batch above looked for joiners
  ASSERT_TRUE(wait(store->blobs().collect_garbage()));
  EXPECT_EQ(looked, before);
}

// Garbage collection runs while deliveries go on (ternd's timer does not wait
// for a quiet moment): the temp files of large appends already written but not
// yet made durable are theirs, not stale, and every append succeeds.
TEST(SqliteStorage, CollectGarbageWhileLargeAppendsAreInFlight) {
  TempDir dir;
  auto store = open_or_die(dir.path());
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  constexpr int kThreads = 4;
  constexpr int kAppends = 25;
  std::atomic<int> failures{0};
  std::atomic<int> running{kThreads};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::pair<domain::MessageId, std::string>>> stored(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        // Past inline_blob_max_bytes: each goes through a temp file in blobs/tmp.
        auto message = make_message("t" + std::to_string(t) + "m" + std::to_string(i), 70 * 1024);
        std::string raw = message.raw;
        auto appended =
            wait(store->mail().append(std::move(message), {{bob.id, bob.inbox, 0, {}}}));
        if (!appended || !(*appended)[0]) {
          ++failures;
        } else {
          stored[t].emplace_back((*appended)[0]->message, std::move(raw));
        }
      }
      --running;
    });
  }
  int collections = 0;
  while (running > 0) {
    auto collected = wait(store->blobs().collect_garbage());
    EXPECT_TRUE(collected) << collected.error().message;
    if (!collected) {
      break;  // and join the appending threads
    }
    ++collections;
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GT(collections, 1);
  for (const auto& mine : stored) {
    for (const auto& [message, raw] : mine) {
      auto read = wait(store->mail().read_message(bob.id, message));
      ASSERT_TRUE(read) << read.error().message;
      EXPECT_EQ(*read, raw);
    }
  }
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
}

// A segment cut short does not stop the collection: the other segments are
// compacted and removed, the damaged one stays, and missing_blobs() names the
// message whose bytes it lost.
TEST(SqliteStorage, CollectGarbageKeepsADamagedSegmentAndGoesOn) {
  TempDir dir;
  auto store = open_or_die(dir.path(), segment_options(16 * 1024));
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  std::vector<domain::Uid> doomed;
  std::vector<domain::Appended> kept;
  // Four messages of about 3.9 KB to a 16 KiB segment. Of the first segment
  // only the last message stays, of the second only the first: both are under
  // half live, so compacted. The third is all dead; the last two stay whole.
  for (int i = 0; i < 20; ++i) {
    auto appended = wait(store->mail().append(make_message("m" + std::to_string(i), 3900),
                                              {{bob.id, bob.inbox, 0, {}}}));
    ASSERT_TRUE(appended && (*appended)[0]);
    if (i < 12 && i != 3 && i != 4) {
      doomed.push_back((*appended)[0]->uid);
    } else {
      kept.push_back(*(*appended)[0]);
    }
  }
  ASSERT_EQ(segment_count(dir.path()), 5u);
  ASSERT_TRUE(wait(store->mail().expunge(bob.id, bob.inbox, doomed)));
  const std::int64_t first = lowest_segment(dir.path());
  const std::string name = segment_name(first);
  // Cut inside the live message's span (it starts near 11.7 KB), leaving the
  // file still more than twice its live bytes, so that the collection reads it.
  fs::resize_file(dir.path() / "segments" / name, 12000);

  auto collected = wait(store->blobs().collect_garbage());
  ASSERT_TRUE(collected) << collected.error().message;
  EXPECT_EQ(*collected, 2u);  // the second segment compacted, the third dead
  EXPECT_TRUE(fs::exists(dir.path() / "segments" / name));
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->size(), 1u);
  auto lost = wait(store->mail().read_message(bob.id, kept[0].message));
  EXPECT_FALSE(lost);
  for (std::size_t k = 1; k < kept.size(); ++k) {
    auto read = wait(store->mail().read_message(bob.id, kept[k].message));
    ASSERT_TRUE(read) << k << ": " << read.error().message;
  }
}

using log::RecordingSink;

// A damaged segment is one warning per collection, whatever number of messages
// it lost: a large segment cut short must not log a line per message each hour.
TEST(SqliteStorage, CollectGarbageLogsADamagedSegmentOncePerCollection) {
  TempDir dir;
  RecordingSink sink;
  auto options = segment_options(16 * 1024);
  options.logger = log::Logger(&sink);
  auto store = open_or_die(dir.path(), options);
  ASSERT_TRUE(wait(store->directory().add_domain("example.com")));
  auto bob = add_account_with_inbox(*store, "bob@example.com");
  // Three large messages, then three small ones, fill the first segment; the
  // large ones go, so the segment is under half live and the collection reads it.
  std::vector<domain::Uid> doomed;
  for (int i = 0; i < 6; ++i) {
    auto appended = wait(store->mail().append(
        make_message("m" + std::to_string(i), i < 3 ? 3900 : 800), {{bob.id, bob.inbox, 0, {}}}));
    ASSERT_TRUE(appended && (*appended)[0]);
    if (i < 3) {
      doomed.push_back((*appended)[0]->uid);
    }
  }
  // A second segment, so that the first is not the highest (which always stays).
  ASSERT_TRUE(
      wait(store->mail().append(make_message("next", 12000), {{bob.id, bob.inbox, 0, {}}})));
  ASSERT_EQ(segment_count(dir.path()), 2u);
  ASSERT_TRUE(wait(store->mail().expunge(bob.id, bob.inbox, doomed)));
  const std::int64_t first = lowest_segment(dir.path());
  const std::string name = segment_name(first);
  // Cut just after the large messages: all three small ones are lost.
  fs::resize_file(dir.path() / "segments" / name, 3 * 3900 + 100);

  for (int round = 1; round <= 2; ++round) {
    ASSERT_TRUE(wait(store->blobs().collect_garbage()));
    auto warnings = sink.with_message("segment gc: keeping a damaged segment");
    ASSERT_EQ(warnings.size(), static_cast<std::size_t>(round));
    EXPECT_EQ(warnings.back()["unreadable_spans"], "3");
    EXPECT_EQ(warnings.back()["segment"], std::to_string(first));
  }
  auto missing = store->missing_blobs();
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->size(), 3u);
}

}  // namespace
}  // namespace tern::store::sqlite

namespace tern::store::conformance {
using SqliteFactories = ::testing::Types<
    tern::store::sqlite::SqliteFactory, tern::store::sqlite::SqliteNoGroupCommitFactory,
    tern::store::sqlite::SqliteSegmentsFactory, tern::store::sqlite::SqliteInlineReadsFactory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StorageConformance, SqliteFactories);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, ReportConformance, SqliteFactories);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, ImportConformance, SqliteFactories);
// The spam tables are plain writer requests and reads: no segments or batching
// variants needed, but reads both through the reader threads and inline.
using SqliteSpamFactories = ::testing::Types<tern::store::sqlite::SqliteFactory,
                                             tern::store::sqlite::SqliteInlineReadsFactory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, SpamConformance, SqliteSpamFactories);
}  // namespace tern::store::conformance
