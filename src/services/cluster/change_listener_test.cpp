// SPDX-License-Identifier: Apache-2.0
// ChangeListener against the test run's PostgreSQL (TERN_TEST_POSTGRES, exported
// by the ctest fixture; unset, the tests skip, except under CI=true where that is
// a failure). Each test works in a database of its own: NOTIFY channels are per
// database, so other tests' stores (which notify on the same channel) cannot
// reach this test's listener.
#include "services/cluster/change_listener.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "services/imap/change_hub.hpp"
#include "store/postgres/postgres_storage.hpp"

namespace tern::services::cluster {
namespace {

using namespace std::chrono_literals;

std::string server_conninfo() {
  const char* conninfo = std::getenv("TERN_TEST_POSTGRES");
  if (conninfo != nullptr && *conninfo != '\0') {
    return conninfo;
  }
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string_view(ci) == "true") {
    ADD_FAILURE() << "TERN_TEST_POSTGRES is not set, and CI=true requires the postgres tests";
  }
  return "";
}

// `conninfo` (URL or key=value form) with another database.
std::string with_database(const std::string& conninfo, const std::string& db) {
  if (conninfo.starts_with("postgres")) {
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + "dbname=" + db;
  }
  return conninfo + " dbname=" + db;
}

// One statement on a short-lived connection; the error message, or "".
std::string exec(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
      error = PQerrorMessage(conn);
    }
    PQclear(result);
  }
  PQfinish(conn);
  return error;
}

// A database created for one test and dropped (connections and all) after it.
class ChangeListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = server_conninfo();
    if (server_.empty()) {
      GTEST_SKIP() << "TERN_TEST_POSTGRES is not set (ctest provides it: fixture tern_postgres)";
    }
    std::random_device random;
    db_ = "tern_listener_" + std::to_string(::getpid()) + "_" + std::to_string(random() % 1000000);
    ASSERT_EQ(exec(server_, "CREATE DATABASE " + db_), "");
    conninfo_ = with_database(server_, db_);
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
    if (!db_.empty()) {
      exec(server_, "DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
    }
  }

  // Polls `condition` for up to `limit`.
  template <class F>
  static bool eventually(F condition, std::chrono::milliseconds limit = 5s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > until) {
        return false;
      }
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  ChangeListenerOptions options() {
    ChangeListenerOptions o;
    o.conninfo = conninfo_;
    o.min_backoff = 20ms;
    o.max_backoff = 200ms;
    return o;
  }

  // A store ("node") on this test's database, with a pool of two.
  std::unique_ptr<store::postgres::PostgresStorage> open_node() {
    store::postgres::PostgresOptions pg;
    pg.conninfo = conninfo_;
    pg.pool_size = 2;
    auto node = store::postgres::PostgresStorage::open(pg);
    EXPECT_TRUE(node) << node.error().message;
    return node ? std::move(*node) : nullptr;
  }

  std::string server_, db_, conninfo_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread thread_;
};

struct Heard {
  std::mutex mutex;
  std::vector<std::int64_t> accounts;

  void add(domain::AccountId id) {
    std::lock_guard lock(mutex);
    accounts.push_back(domain::value_of(id));
  }

  std::vector<std::int64_t> get() {
    std::lock_guard lock(mutex);
    return accounts;
  }
};

TEST_F(ChangeListenerTest, DeliversAccountIdsAndIgnoresOtherPayloads) {
  Heard heard;
  ChangeListener listener(io_.get_executor(), options(),
                          [&](domain::AccountId id) { heard.add(id); });
  listener.start();
  ASSERT_TRUE(eventually([&] { return listener.listening(); }));
  EXPECT_EQ(exec(conninfo_,
                 "SELECT pg_notify('tern_changes', '42'), "
                 "pg_notify('tern_changes', 'x7'), pg_notify('other', '9'), "
                 "pg_notify('tern_changes', '-3'), pg_notify('tern_changes', '7')"),
            "");
  ASSERT_TRUE(eventually([&] { return heard.get().size() == 2; }));
  EXPECT_EQ(heard.get(), (std::vector<std::int64_t>{42, 7}));
  EXPECT_EQ(listener.stats().ignored, 2u);
  listener.stop();
  EXPECT_FALSE(listener.listening());
  // Nothing is delivered after stop().
  exec(conninfo_, "SELECT pg_notify('tern_changes', '5')");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(heard.get().size(), 2u);
}

TEST_F(ChangeListenerTest, ReconnectsAfterTheServerDropsTheConnection) {
  Heard heard;
  std::atomic<int> reconnects{0};
  ChangeListener listener(
      io_.get_executor(), options(), [&](domain::AccountId id) { heard.add(id); },
      [&] { ++reconnects; });
  listener.start();
  ASSERT_TRUE(eventually([&] { return listener.listening(); }));
  ASSERT_EQ(exec(conninfo_,
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND query LIKE 'LISTEN%'"),
            "");
  ASSERT_TRUE(eventually([&] { return reconnects.load() == 1 && listener.listening(); }));
  EXPECT_EQ(listener.stats().connects, 2u);
  exec(conninfo_, "SELECT pg_notify('tern_changes', '11')");
  ASSERT_TRUE(eventually([&] { return heard.get() == std::vector<std::int64_t>{11}; }));
}

TEST_F(ChangeListenerTest, RetriesUntilTheDatabaseExists) {
  Heard heard;
  ChangeListenerOptions o = options();
  o.conninfo = with_database(server_, db_ + "_later");
  ChangeListener listener(io_.get_executor(), o, [&](domain::AccountId id) { heard.add(id); });
  listener.start();
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(listener.listening());
  ASSERT_EQ(exec(server_, "CREATE DATABASE " + db_ + "_later"), "");
  EXPECT_TRUE(eventually([&] { return listener.listening(); }));
  listener.stop();
  exec(server_, "DROP DATABASE IF EXISTS " + db_ + "_later WITH (FORCE)");
}

// Two nodes: two stores on one database, each with its own ChangeHub; node B's
// listener feeds node B's hub. A delivery through node A wakes node B's IDLE
// subscriber for that account, and only for that account.
TEST_F(ChangeListenerTest, DeliveryOnOneNodeWakesTheOtherNodesHub) {
  auto node_a = open_node();
  auto node_b = open_node();
  ASSERT_TRUE(node_a && node_b);

  ASSERT_TRUE(node_a->directory().add_domain("example.org").get());
  auto alice = node_a->directory().add_account({"alice@example.org", "x", 0}).get();
  ASSERT_TRUE(alice) << alice.error().message;
  auto bob = node_a->directory().add_account({"bob@example.org", "x", 0}).get();
  ASSERT_TRUE(bob) << bob.error().message;
  auto inbox = node_b->mail().mailboxes(alice->id).get();
  ASSERT_TRUE(inbox && !inbox->empty());

  imap::ChangeHub hub_b;
  std::atomic<int> alice_woken{0}, bob_woken{0};
  hub_b.subscribe(alice->id, [&] { ++alice_woken; });
  hub_b.subscribe(bob->id, [&] { ++bob_woken; });
  ChangeListener listener(io_.get_executor(), options(),
                          [&](domain::AccountId id) { hub_b.notify(id); });
  listener.start();
  ASSERT_TRUE(eventually([&] { return listener.listening(); }));

  auto started = std::chrono::steady_clock::now();
  auto appended = node_a->mail()
                      .append({"Subject: hi\r\n\r\nbody\r\n", SystemTime{}, ""},
                              {{alice->id, inbox->front().id, 0, {}}})
                      .get();
  ASSERT_TRUE(appended) << appended.error().message;
  ASSERT_TRUE(eventually([&] { return alice_woken.load() > 0; }, 1s))
      << "node B's hub did not hear of the delivery through node A within a second";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(bob_woken.load(), 0);
  // And node B's store sees the message at once.
  auto entries =
      node_b->mail().entries(alice->id, inbox->front().id, domain::Uid{1}, domain::Uid{~0u}).get();
  ASSERT_TRUE(entries);
  EXPECT_EQ(entries->size(), 1u);
  listener.stop();
}

// The self-filter: node A's hub hears A's own changes once, in process (the
// store's change observer), not a second time through LISTEN; changes through
// node B arrive through the listener. Neither a pool connection replaced after
// being killed nor a listener reconnect leaves a gap or a double wake.
TEST_F(ChangeListenerTest, OwnChangesWakeTheHubOnceAndOtherNodesThroughTheListener) {
  auto node_a = open_node();
  auto node_b = open_node();
  ASSERT_TRUE(node_a && node_b);
  auto& a = *node_a;
  auto& b = *node_b;
  ASSERT_TRUE(a.directory().add_domain("example.org").get());
  auto alice = a.directory().add_account({"alice@example.org", "x", 0}).get();
  ASSERT_TRUE(alice) << alice.error().message;
  auto inbox = a.mail().mailboxes(alice->id).get();
  ASSERT_TRUE(inbox && !inbox->empty());

  imap::ChangeHub hub_a;
  std::atomic<int> woken{0};
  hub_a.subscribe(alice->id, [&] { ++woken; });
  a.set_change_observer([&](domain::AccountId id) { hub_a.notify(id); });
  std::atomic<int> reconnects{0};
  ChangeListenerOptions o = options();
  o.own_notification = [&](int pid, domain::AccountId id) {
    return a.take_own_notification(pid, id);
  };
  o.on_listening = [&] { a.expect_own_notifications(); };
  ChangeListener listener(
      io_.get_executor(), o, [&](domain::AccountId id) { hub_a.notify(id); },
      [&] { ++reconnects; });
  listener.start();
  ASSERT_TRUE(eventually([&] { return listener.listening(); }));

  int expected = 0;
  auto deliver = [&](store::postgres::PostgresStorage& node, const std::string& tag) {
    auto appended = node.mail()
                        .append({"Subject: " + tag + "\r\n\r\nbody\r\n", SystemTime{}, ""},
                                {{alice->id, inbox->front().id, 0, {}}})
                        .get();
    ASSERT_TRUE(appended && (*appended)[0]) << tag;
    ++expected;
    ASSERT_TRUE(eventually([&] { return woken.load() >= expected; }, 2s)) << tag;
    std::this_thread::sleep_for(300ms);  // a second wake would have come by now
    EXPECT_EQ(woken.load(), expected) << tag;
  };
  deliver(a, "own");
  EXPECT_EQ(listener.stats().own, 1u);
  EXPECT_EQ(listener.stats().notifications, 0u);
  deliver(b, "other node");
  EXPECT_EQ(listener.stats().notifications, 1u);

  // Node A's pool connections die and are replaced by new server processes.
  ASSERT_EQ(
      exec(conninfo_, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (" +
                          std::to_string(a.backend_pids()[0]) + ", " +
                          std::to_string(a.backend_pids()[1]) + ")"),
      "");
  deliver(a, "own, new connection");
  EXPECT_EQ(listener.stats().own, 2u);
  deliver(b, "other node again");

  // The listener's own connection dies: after it is back, nothing is lost.
  ASSERT_EQ(exec(conninfo_,
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND query LIKE 'LISTEN%'"),
            "");
  ASSERT_TRUE(eventually([&] { return reconnects.load() == 1 && listener.listening(); }));
  deliver(a, "own, after the listener reconnected");
  deliver(b, "other node, after the listener reconnected");
  EXPECT_EQ(listener.stats().own, 3u);
  EXPECT_EQ(listener.stats().notifications, 3u);
  listener.stop();
}

}  // namespace
}  // namespace tern::services::cluster
