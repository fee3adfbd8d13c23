// SPDX-License-Identifier: Apache-2.0
// Runs the storage conformance suite against store::postgres, plus what only this
// backend has: several stores ("nodes") on one database, migrations racing at
// start, NOTIFY on every change, chunked blobs and lost connections.
//
// Needs a server: TERN_TEST_POSTGRES is a libpq connection string (the ctest
// fixture exports one for a throwaway server). Unset, the tests skip, except
// under CI=true where that is a failure. Every store lives in its own random
// schema, dropped afterwards, so tests run in parallel on one database.
#include "store/postgres/postgres_storage.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <libpq-fe.h>
#include <unistd.h>

#include "store/conformance/import_conformance.hpp"
#include "store/conformance/report_conformance.hpp"
#include "store/conformance/spam_conformance.hpp"
#include "store/conformance/storage_conformance.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/migrations.hpp"

namespace tern::store::postgres {
namespace {

namespace d = tern::domain;
using conformance::make_message;
using conformance::make_queued;
using conformance::wait;

// The server to test against, or "" (and a test failure under CI=true).
std::string test_conninfo() {
  const char* conninfo = std::getenv("TERN_TEST_POSTGRES");
  if (conninfo != nullptr && *conninfo != '\0') {
    return conninfo;
  }
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string_view(ci) == "true") {
    // Fatal, so the suite's SetUp does not run a test body without a store.
    [] { FAIL() << "TERN_TEST_POSTGRES is not set, and CI=true requires the postgres tests"; }();
  }
  return "";
}

// A schema name no other test (or test process) uses.
std::string fresh_schema() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return "tern_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(random() % 1000000);
}

// Owns one schema on the test server and drops it at the end.
class TestSchema {
 public:
  TestSchema() : conninfo_(test_conninfo()), name_(fresh_schema()) {}

  ~TestSchema() {
    if (conninfo_.empty()) {
      return;
    }
    auto c = Connection::open(conninfo_, "");
    if (c) {
      (void)(*c)->script("DROP SCHEMA IF EXISTS " + (*c)->quote_identifier(name_) + " CASCADE");
    }
  }

  bool available() const { return !conninfo_.empty(); }

  PostgresOptions options() const {
    PostgresOptions options;
    options.conninfo = conninfo_;
    options.schema = name_;
    return options;
  }

  std::unique_ptr<PostgresStorage> open(PostgresOptions options) const {
    auto storage = PostgresStorage::open(std::move(options));
    EXPECT_TRUE(storage) << storage.error().message;
    return storage ? std::move(*storage) : nullptr;
  }

  std::unique_ptr<PostgresStorage> open() const { return open(options()); }

  // A plain connection to the schema, for looking behind the store's back.
  std::unique_ptr<Connection> raw() const {
    auto c = Connection::open(conninfo_, name_);
    EXPECT_TRUE(c) << c.error().message;
    return c ? std::move(*c) : nullptr;
  }

  const std::string& conninfo() const { return conninfo_; }

  const std::string& name() const { return name_; }

 private:
  std::string conninfo_;
  std::string name_;
};

struct PostgresFactory {
  TestSchema schema;

  std::unique_ptr<domain::Storage> make() {
    if (!schema.available()) {
      return nullptr;
    }
    return schema.open();
  }
};

// The same suite with one append per transaction and tiny blob chunks, so the
// batch-of-one path and multi-chunk blobs conform too.
struct PostgresUnbatchedFactory {
  TestSchema schema;

  std::unique_ptr<domain::Storage> make() {
    if (!schema.available()) {
      return nullptr;
    }
    auto options = schema.options();
    options.max_append_batch = 1;
    options.chunk_bytes = 100;
    options.pool_size = 2;
    return schema.open(options);
  }
};

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tern-pg-blobs-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }

  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The suite once more with blob bytes in a shared directory.
struct PostgresBlobDirFactory {
  TestSchema schema;
  TempDir dir;

  std::unique_ptr<domain::Storage> make() {
    if (!schema.available()) {
      return nullptr;
    }
    auto options = schema.options();
    options.blob_dir = dir.path().string();
    return schema.open(options);
  }
};

#define TERN_REQUIRE_SERVER(schema)                    \
  do {                                                 \
    if (!(schema).available()) {                       \
      GTEST_SKIP() << "TERN_TEST_POSTGRES is not set"; \
    }                                                  \
  } while (false)

// Adds example.com and bob through `store`; returns bob and his INBOX.
std::pair<d::Account, d::Mailbox> make_bob(PostgresStorage& store) {
  EXPECT_TRUE(wait(store.directory().add_domain("example.com")));
  auto bob = wait(store.directory().add_account({"bob@example.com", "h", 0}));
  EXPECT_TRUE(bob) << bob.error().message;
  auto boxes = wait(store.mail().mailboxes(bob->id));
  EXPECT_TRUE(boxes && !boxes->empty());
  return {*bob, (*boxes)[0]};
}

TEST(PostgresStorage, TwoNodesAppendingToOneMailboxNeverShareAUidOrModSeq) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto a = schema.open();
  auto b = schema.open();
  ASSERT_TRUE(a && b);
  auto [bob, inbox] = make_bob(*a);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  std::vector<std::vector<d::Appended>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      PostgresStorage& node = t % 2 == 0 ? *a : *b;
      std::vector<d::Async<std::vector<Result<d::Appended>>>> pending;
      for (int i = 0; i < kPerThread; ++i) {
        pending.push_back(
            node.mail().append(make_message("n" + std::to_string(t) + "-" + std::to_string(i)),
                               {d::AppendTarget{bob.id, inbox.id, 0, {}}}));
      }
      for (auto& future : pending) {
        auto result = future.get();
        if (result && (*result)[0]) {
          results[static_cast<std::size_t>(t)].push_back(*(*result)[0]);
        } else {
          ADD_FAILURE() << (result ? (*result)[0].error().message : result.error().message);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::set<std::uint32_t> uids;
  std::set<std::uint64_t> modseqs;
  for (const auto& per_thread : results) {
    for (const auto& appended : per_thread) {
      uids.insert(d::value_of(appended.uid));
      modseqs.insert(d::value_of(appended.modseq));
    }
  }
  EXPECT_EQ(uids.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(modseqs.size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto entries = wait(b->mail().entries(bob.id, inbox.id, d::Uid{1}, d::Uid{0xffffffffu}));
  ASSERT_TRUE(entries);
  EXPECT_EQ(entries->size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto boxes = wait(a->mail().mailboxes(bob.id));
  ASSERT_TRUE(boxes);
  EXPECT_EQ(d::value_of((*boxes)[0].uid_next), kThreads * kPerThread + 1u);
  // The log has one change per append, every modseq once.
  auto log = wait(a->mail().account_changes_since(bob.id, d::ModSeq{0}));
  ASSERT_TRUE(log);
  std::set<std::uint64_t> logged;
  for (const auto& change : *log) {
    if (change.kind == d::ChangeKind::kMessageAdded) {
      logged.insert(d::value_of(change.modseq));
    }
  }
  EXPECT_EQ(logged, modseqs);
}

TEST(PostgresStorage, AQueueEntryClaimedOnOneNodeIsNotClaimedOnTheOtherUntilItsLeaseExpires) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto a = schema.open();
  auto b = schema.open();
  ASSERT_TRUE(a && b);
  const auto now = conformance::fixed_time();
  constexpr int kEntries = 40;
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_TRUE(
        wait(a->queue().enqueue(make_queued("q" + std::to_string(i), {"x@remote.org"}, now))));
  }
  // Both nodes claim at once, in small bites, until nothing is due.
  std::vector<d::QueueId> claimed_a;
  std::vector<d::QueueId> claimed_b;
  auto claim_all = [&](PostgresStorage& node, std::vector<d::QueueId>& out) {
    for (;;) {
      auto claimed = wait(node.queue().claim_due(now, 3, std::chrono::seconds(60)));
      ASSERT_TRUE(claimed) << claimed.error().message;
      if (claimed->empty()) {
        return;
      }
      for (const auto& q : *claimed) {
        out.push_back(q.id);
      }
    }
  };
  std::thread ta([&] { claim_all(*a, claimed_a); });
  std::thread tb([&] { claim_all(*b, claimed_b); });
  ta.join();
  tb.join();
  std::set<std::int64_t> all;
  for (auto id : claimed_a) {
    all.insert(d::value_of(id));
  }
  for (auto id : claimed_b) {
    EXPECT_FALSE(all.contains(d::value_of(id))) << "claimed twice: " << d::value_of(id);
    all.insert(d::value_of(id));
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kEntries));
  // Node a "dies": while its leases hold node b gets nothing, afterwards all.
  auto early =
      wait(b->queue().claim_due(now + std::chrono::seconds(59), 100, std::chrono::seconds(60)));
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty());
  auto reclaimed =
      wait(b->queue().claim_due(now + std::chrono::seconds(60), 100, std::chrono::seconds(60)));
  ASSERT_TRUE(reclaimed);
  EXPECT_EQ(reclaimed->size(), static_cast<std::size_t>(kEntries));
}

TEST(PostgresStorage, TwoNodesClaimingReportPostsAtOnceNeverGetTheSameOne) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto a = schema.open();
  auto b = schema.open();
  ASSERT_TRUE(a && b);
  const auto now = conformance::fixed_time();
  constexpr int kPosts = 40;
  for (int i = 0; i < kPosts; ++i) {
    d::ReportPost p;
    p.uri = "https://r.example/" + std::to_string(i);
    p.report_id = "id";
    p.policy_domain = "example.net";
    p.document = "{}";
    p.queued = now;
    p.next_attempt = now;
    ASSERT_TRUE(wait(a->reports().put_report_post(p)));
  }
  std::vector<std::string> claimed[2];
  auto claim_all = [&](PostgresStorage& node, std::vector<std::string>& out) {
    for (;;) {
      auto got = wait(node.reports().claim_report_posts(now, 3, std::chrono::seconds(60)));
      ASSERT_TRUE(got) << got.error().message;
      if (got->empty()) {
        return;
      }
      for (const auto& p : *got) {
        out.push_back(p.uri);
      }
    }
  };
  std::thread ta([&] { claim_all(*a, claimed[0]); });
  std::thread tb([&] { claim_all(*b, claimed[1]); });
  ta.join();
  tb.join();
  std::set<std::string> all(claimed[0].begin(), claimed[0].end());
  for (const auto& uri : claimed[1]) {
    EXPECT_TRUE(all.insert(uri).second) << "claimed twice: " << uri;
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kPosts));
}

TEST(PostgresStorage, OfNodesSettingACursorAtOnceFromOneValueExactlyOneWins) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto a = schema.open();
  auto b = schema.open();
  ASSERT_TRUE(a && b);
  const auto t = conformance::fixed_time();
  for (int round = 0; round < 20; ++round) {
    const auto from = round == 0 ? std::optional<SystemTime>() : t + std::chrono::hours(round);
    const auto to = t + std::chrono::hours(round + 1);
    bool won[2] = {false, false};
    std::thread ta([&] {
      won[0] = *wait(a->reports().compare_and_set_report_cursor("reports.lease", from, to));
    });
    std::thread tb([&] {
      won[1] = *wait(b->reports().compare_and_set_report_cursor("reports.lease", from, to));
    });
    ta.join();
    tb.join();
    EXPECT_NE(won[0], won[1]) << "round " << round;
  }
}

TEST(PostgresStorage, NodesStartingAtOnceApplyEachMigrationOnce) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<PostgresStorage>> nodes(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      auto options = schema.options();
      options.pool_size = 1;
      auto opened = PostgresStorage::open(options);
      if (opened) {
        nodes[static_cast<std::size_t>(i)] = std::move(*opened);
      } else {
        ADD_FAILURE() << opened.error().message;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (auto& node : nodes) {
    ASSERT_TRUE(node);
    auto version = node->schema_version();
    ASSERT_TRUE(version) << version.error().message;
    EXPECT_EQ(*version, migrations().back().version);
  }
  auto raw = schema.raw();
  ASSERT_TRUE(raw);
  auto count = raw->query("SELECT count(*), count(DISTINCT version) FROM schema_version");
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(count->int64(0, 0), static_cast<std::int64_t>(migrations().size()));
  EXPECT_EQ(count->int64(0, 1), static_cast<std::int64_t>(migrations().size()));
}

// LISTENs on `channel` on a connection of its own; next() returns the payloads
// that arrive within a second, or once 200 ms pass without one after the first.
class NoticeListener {
 public:
  NoticeListener(const std::string& conninfo, const std::string& channel)
      : conn_(PQconnectdb(conninfo.c_str())), channel_(channel) {
    ok_ = PQstatus(conn_) == CONNECTION_OK;
    if (ok_) {
      PGresult* result = PQexec(conn_, ("LISTEN \"" + channel + "\"").c_str());
      ok_ = PQresultStatus(result) == PGRES_COMMAND_OK;
      PQclear(result);
    }
  }

  ~NoticeListener() { PQfinish(conn_); }

  NoticeListener(const NoticeListener&) = delete;
  NoticeListener& operator=(const NoticeListener&) = delete;

  bool ok() const { return ok_; }

  // Every payload heard in the window, in order, each with its sender's pid.
  std::vector<std::pair<std::string, int>> next() {
    std::vector<std::pair<std::string, int>> heard;
    int quiet = 0;
    for (int i = 0; i < 100 && (heard.empty() || quiet < 20); ++i) {
      PQconsumeInput(conn_);
      if (PGnotify* n = PQnotifies(conn_)) {
        EXPECT_EQ(std::string(n->relname), channel_);
        heard.emplace_back(n->extra, n->be_pid);
        quiet = 0;
        PQfreemem(n);
        continue;
      }
      ++quiet;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return heard;
  }

 private:
  PGconn* conn_;
  std::string channel_;
  bool ok_ = false;
};

TEST(PostgresStorage, EveryMailChangeIsNotifiedOnceWithTheAccountId) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto store = schema.open();
  ASSERT_TRUE(store);
  auto [bob, inbox] = make_bob(*store);
  NoticeListener listener(schema.conninfo(), change_channel(schema.name()));
  ASSERT_TRUE(listener.ok());
  // Each change: exactly one notice, the account id, sent by one of the pool's
  // own connections.
  const auto id = std::to_string(d::value_of(bob.id));
  auto expect_one = [&](const char* what) {
    auto heard = listener.next();
    ASSERT_EQ(heard.size(), 1u) << what;
    EXPECT_EQ(heard[0].first, id) << what;
    auto pids = store->backend_pids();
    EXPECT_NE(std::find(pids.begin(), pids.end(), heard[0].second), pids.end()) << what;
  };
  auto appended = wait(store->mail().append(make_message("n1"), {{bob.id, inbox.id, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  expect_one("append");
  ASSERT_TRUE(wait(store->mail().change_flags(bob.id, inbox.id, {(*appended)[0]->uid},
                                              {d::FlagOp::kAdd, d::kFlagSeen, {}, {}})));
  expect_one("change_flags");
  ASSERT_TRUE(wait(store->mail().expunge(bob.id, inbox.id, {(*appended)[0]->uid})));
  expect_one("expunge");
  ASSERT_TRUE(wait(store->mail().create_mailbox(bob.id, "Box", d::SpecialUse::kNone)));
  expect_one("create_mailbox");
  // A failed change rolls back, and its notice with it.
  EXPECT_FALSE(wait(store->mail().create_mailbox(bob.id, "Box", d::SpecialUse::kNone)));
  EXPECT_TRUE(listener.next().empty());
}

// NOTIFY channels are per database, account ids per schema: a store in another
// schema of the same database has an account 1 too, and its changes must not
// reach this schema's listeners (they once did, on the one channel
// "tern_changes": the stray notices of full parallel test runs).
TEST(PostgresStorage, StoresInOtherSchemasOfTheDatabaseAreNotHeard) {
  TestSchema here;
  TestSchema there;
  TERN_REQUIRE_SERVER(here);
  auto mine = here.open();
  auto theirs = there.open();
  ASSERT_TRUE(mine && theirs);
  auto [bob, inbox] = make_bob(*mine);
  auto [their_bob, their_inbox] = make_bob(*theirs);
  ASSERT_EQ(bob.id, their_bob.id);  // both account 1 of their schema
  NoticeListener listener(here.conninfo(), change_channel(here.name()));
  ASSERT_TRUE(listener.ok());
  ASSERT_NE(change_channel(here.name()), change_channel(there.name()));
  auto elsewhere =
      wait(theirs->mail().append(make_message("there"), {{their_bob.id, their_inbox.id, 0, {}}}));
  ASSERT_TRUE(elsewhere && (*elsewhere)[0]);
  EXPECT_TRUE(listener.next().empty());
  auto appended = wait(mine->mail().append(make_message("here"), {{bob.id, inbox.id, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  auto heard = listener.next();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].first, std::to_string(d::value_of(bob.id)));
}

TEST(PostgresStorage, ChangeChannelsArePlainIdentifiersOnePerSchema) {
  EXPECT_EQ(change_channel(""), "tern_changes");
  EXPECT_EQ(change_channel("public"), "tern_changes");
  EXPECT_EQ(change_channel("staging"), "tern_changes_staging");
  EXPECT_EQ(change_channel("Staging_2"), "tern_changes_Staging_2");
  const std::string long_name(60, 'a');
  for (const std::string& schema : {std::string("with space"), std::string("ümlaut"),
                                    std::string("a\"b"), long_name, long_name + "b"}) {
    const auto channel = change_channel(schema);
    EXPECT_TRUE(channel.starts_with("tern_changesx")) << channel;
    EXPECT_EQ(channel.size(), 29u) << channel;
    EXPECT_EQ(channel, change_channel(schema));  // stable
  }
  EXPECT_NE(change_channel(long_name), change_channel(long_name + "b"));
  EXPECT_NE(change_channel("with space"), change_channel("with_space"));
}

TEST(PostgresStorage, LargeBlobsAreChunkedAndCheckedOnRead) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto options = schema.options();
  options.chunk_bytes = 1000;
  auto store = schema.open(options);
  ASSERT_TRUE(store);
  std::string bytes(10500, 'x');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(i * 31 + 7);  // NULs and high bytes included
  }
  auto id = wait(store->blobs().put(bytes));
  ASSERT_TRUE(id);
  auto raw = schema.raw();
  ASSERT_TRUE(raw);
  auto chunks =
      raw->query("SELECT count(*), max(length(data)) FROM blob_chunks WHERE hash = $1", id->hex);
  ASSERT_TRUE(chunks) << chunks.error().message;
  EXPECT_EQ(chunks->int64(0, 0), 11);
  EXPECT_EQ(chunks->int64(0, 1), 1000);
  auto got = wait(store->blobs().get(*id));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, bytes);
  ASSERT_TRUE(raw->query("UPDATE blob_chunks SET data = '\\x00'::bytea WHERE hash = $1 AND seq = 3",
                         id->hex));
  auto tampered = wait(store->blobs().get(*id));
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code, ErrorCode::kCorrupt);
}

TEST(PostgresStorage, BlobDirHoldsTheBytesAndTheDatabaseTheTruth) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  TempDir dir;
  auto options = schema.options();
  options.blob_dir = dir.path().string();
  options.blob_dir_grace = std::chrono::seconds(0);
  auto a = schema.open(options);
  auto b = schema.open(options);  // a second node on the same directory
  ASSERT_TRUE(a && b);
  auto [bob, inbox] = make_bob(*a);
  auto appended = wait(a->mail().append(make_message("file"), {{bob.id, inbox.id, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  auto entries = wait(b->mail().entries(bob.id, inbox.id, d::Uid{1}, d::Uid{1}));
  ASSERT_TRUE(entries && entries->size() == 1);
  const auto hex = (*entries)[0].blob.hex;
  const auto path = dir.path() / hex.substr(0, 2) / hex.substr(2, 2) / hex;
  EXPECT_TRUE(std::filesystem::exists(path));
  auto raw = schema.raw();
  ASSERT_TRUE(raw);
  auto chunks = raw->query("SELECT count(*) FROM blob_chunks");
  ASSERT_TRUE(chunks);
  EXPECT_EQ(chunks->int64(0, 0), 0);  // no bytes in the database
  auto read = wait(b->mail().read_message(bob.id, (*appended)[0]->message));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, conformance::make_raw_message("file"));

  // An orphan file (its transaction never committed) goes with the next
  // collection once older than the grace period; referenced files stay.
  const auto orphan = dir.path() / "ab" / "cd" / ("abcd" + std::string(60, '0'));
  std::filesystem::create_directories(orphan.parent_path());
  std::ofstream(orphan) << "orphan";
  auto collected = wait(b->blobs().collect_garbage());
  ASSERT_TRUE(collected) << collected.error().message;
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_TRUE(std::filesystem::exists(path));

  // Expunged and collected: row and file go.
  ASSERT_TRUE(wait(a->mail().expunge(bob.id, inbox.id, {(*appended)[0]->uid})));
  collected = wait(a->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 1u);
  EXPECT_FALSE(std::filesystem::exists(path));

  // A referenced file that vanished is corruption, not "no such message".
  auto again = wait(a->mail().append(make_message("again"), {{bob.id, inbox.id, 0, {}}}));
  ASSERT_TRUE(again && (*again)[0]);
  auto listed = wait(a->mail().entries(bob.id, inbox.id, (*again)[0]->uid, (*again)[0]->uid));
  ASSERT_TRUE(listed && listed->size() == 1);
  const auto gone = (*listed)[0].blob.hex;
  std::filesystem::remove(dir.path() / gone.substr(0, 2) / gone.substr(2, 2) / gone);
  auto missing = wait(a->mail().read_message(bob.id, (*again)[0]->message));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kCorrupt);
}

TEST(PostgresStorage, BackendPidsNameThePoolsConnections) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto options = schema.options();
  options.pool_size = 3;
  auto store = schema.open(options);
  ASSERT_TRUE(store);
  auto pids = store->backend_pids();
  ASSERT_EQ(pids.size(), 3u);
  auto raw = schema.raw();
  ASSERT_TRUE(raw);
  auto listed = raw->query(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid = ANY($2::int[])",
      "tern:" + schema.name(), std::vector<std::int64_t>(pids.begin(), pids.end()));
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(listed->int64(0, 0), 3);
}

// The self-filter's bookkeeping (services/cluster drops the notices this returns
// true for): a notice counts as the store's own only when its pool sent it for
// that account from that server process and it has not been matched yet.
TEST(PostgresStorage, OwnNotificationsAreMatchedOncePerNoticeSent) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto options = schema.options();
  options.pool_size = 2;
  auto store = schema.open(options);
  ASSERT_TRUE(store);
  auto [bob, inbox] = make_bob(*store);
  std::atomic<int> observed{0};
  store->set_change_observer([&](d::AccountId account) {
    EXPECT_EQ(account, bob.id);
    ++observed;
  });
  // How many of the pool's pids own a pending notice for bob (each taken once).
  auto take_all = [&] {
    int taken = 0;
    for (int pid : store->backend_pids()) {
      while (store->take_own_notification(pid, bob.id)) {
        ++taken;
      }
    }
    return taken;
  };
  auto append = [&](const std::string& tag) {
    auto appended = wait(store->mail().append(make_message(tag), {{bob.id, inbox.id, 0, {}}}));
    ASSERT_TRUE(appended && (*appended)[0]);
  };
  // Nothing is recorded before a listener asked for it; the observer hears all.
  append("before");
  EXPECT_EQ(take_all(), 0);
  EXPECT_EQ(observed.load(), 1);
  store->expect_own_notifications();
  append("one");
  ASSERT_TRUE(wait(store->mail().create_mailbox(bob.id, "Box", d::SpecialUse::kNone)));
  EXPECT_EQ(observed.load(), 3);
  EXPECT_FALSE(store->take_own_notification(0, bob.id));
  EXPECT_FALSE(store->take_own_notification(store->backend_pids()[0], d::AccountId{999}));
  EXPECT_EQ(take_all(), 2);
  EXPECT_EQ(take_all(), 0);  // matched: a later notice with that pid is not ours
  // A rolled-back change sends nothing, so it expects nothing either.
  EXPECT_FALSE(wait(store->mail().create_mailbox(bob.id, "Box", d::SpecialUse::kNone)));
  EXPECT_EQ(take_all(), 0);
  EXPECT_EQ(observed.load(), 3);
  // Replaced connections: their new pids are the ones expected.
  const auto old_pids = store->backend_pids();
  auto raw = schema.raw();
  ASSERT_TRUE(raw);
  ASSERT_TRUE(
      raw->query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                 "application_name = $1 AND pid <> pg_backend_pid()",
                 "tern:" + schema.name()));
  append("after");
  int taken_by_old = 0;
  for (int pid : old_pids) {
    while (store->take_own_notification(pid, bob.id)) {
      ++taken_by_old;
    }
  }
  EXPECT_EQ(taken_by_old, 0);
  EXPECT_EQ(take_all(), 1);
  // A listener that (re)starts listening forgets what it could not have heard.
  append("unheard");
  store->expect_own_notifications();
  EXPECT_EQ(take_all(), 0);
}

TEST(PostgresStorage, TextWithNulIsRefusedNotTruncated) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto store = schema.open();
  ASSERT_TRUE(store);
  auto added = wait(store->directory().add_domain(std::string("exa\0mple.com", 12)));
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kInvalidInput);
  auto none = wait(store->directory().domains());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(PostgresStorage, LostConnectionsAreReestablished) {
  TestSchema schema;
  TERN_REQUIRE_SERVER(schema);
  auto options = schema.options();
  options.pool_size = 2;
  auto store = schema.open(options);
  ASSERT_TRUE(store);
  auto [bob, inbox] = make_bob(*store);
  auto raw = schema.raw();
  ASSERT_TRUE(raw);
  // Kill every connection of this store: they name themselves "tern:<schema>".
  auto killed = raw->query(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 "
      "AND pid <> pg_backend_pid()",
      "tern:" + schema.name());
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_EQ(killed->int64(0, 0), 2);
  // Each pool thread finds its connection gone, reconnects and retries.
  for (int i = 0; i < 6; ++i) {
    auto appended = wait(store->mail().append(make_message("after" + std::to_string(i)),
                                              {{bob.id, inbox.id, 0, {}}}));
    ASSERT_TRUE(appended) << appended.error().message;
    ASSERT_TRUE((*appended)[0]) << (*appended)[0].error().message;
    auto boxes = wait(store->mail().mailboxes(bob.id));
    ASSERT_TRUE(boxes) << boxes.error().message;
  }
}

TEST(PostgresStorage, OpenFailsClearlyWithoutAServer) {
  PostgresOptions options;
  options.conninfo = "host=/nonexistent-tern-socket-dir dbname=x connect_timeout=1";
  auto store = PostgresStorage::open(options);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
  options.conninfo = "";
  store = PostgresStorage::open(options);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidInput);
}

}  // namespace
}  // namespace tern::store::postgres

namespace tern::store::conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StorageConformance,
                               ::testing::Types<tern::store::postgres::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(PostgresUnbatched, StorageConformance,
                               ::testing::Types<tern::store::postgres::PostgresUnbatchedFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, ReportConformance,
                               ::testing::Types<tern::store::postgres::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, ImportConformance,
                               ::testing::Types<tern::store::postgres::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, SpamConformance,
                               ::testing::Types<tern::store::postgres::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(PostgresBlobDir, StorageConformance,
                               ::testing::Types<tern::store::postgres::PostgresBlobDirFactory>);
}  // namespace tern::store::conformance
