// SPDX-License-Identifier: Apache-2.0
// services::cluster::ChangeListener: how one ternd node hears of mail changes made
// by the other nodes on the same PostgreSQL database (issue #9). The postgres
// store runs pg_notify(<channel>, '<account id>') in every transaction that
// changes an account's mail (store/postgres/postgres_storage.hpp); this listener
// holds one dedicated libpq connection that LISTENs on that channel and turns
// each notification into a callback, which ternd routes to the IMAP services'
// ChangeHubs, so an IDLE session on node B hears of a delivery through node A
// within a second instead of at its next poll.
//
// Life cycle: start() connects in the background (never blocking the io
// threads: libpq's non-blocking connect and reads are driven by socket
// readiness on the executor); a failed connect or a lost connection is retried
// with exponential backoff from `min_backoff` to `max_backoff`. Notifications
// sent while the connection was down are lost (PostgreSQL queues them only for
// listening sessions); the IDLE poll interval bounds what that costs.
// on_reconnect runs after every successful (re)connect but the first, so the
// owner can wake everyone who may have missed something.
//
// Threads: callbacks run on the executor given to the constructor. stop() may be
// called from any thread; after it returns no callback starts. Destroying the
// listener stops it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>

#include "base/log.hpp"
#include "domain/ids.hpp"

namespace tern::services::cluster {

struct ChangeListenerOptions {
  // A libpq connection string or URL: the database the store uses.
  std::string conninfo;
  // The NOTIFY channel: store::postgres::change_channel() of the store's schema
  // (channels are per database, account ids per schema). Letters, digits, "_".
  std::string channel = "tern_changes";
  // The self-filter. A node's own changes wake its hubs in process (the store's
  // change observer), so the notice its own store sent would wake them twice.
  // When set, a notification is dropped if this returns true for its sender's
  // server pid (PGnotify::be_pid) and account; it must do so only for a notice
  // this node's store sent and has not matched yet
  // (store::postgres::PostgresStorage::take_own_notification), never for a pid
  // alone: a pid of a pool connection that died may serve another node later.
  // Runs on the listener's strand.
  std::function<bool(int sender_pid, domain::AccountId)> own_notification;
  // Runs each time LISTEN is acknowledged (the first connect included), before
  // that connection delivers anything: what was sent before was not heard, so
  // the store must stop expecting it (PostgresStorage::expect_own_notifications).
  std::function<void()> on_listening;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  log::Logger logger;
};

struct ChangeListenerStats {
  std::uint64_t notifications = 0;  // notifications delivered to on_change
  std::uint64_t connects = 0;       // successful connects (LISTEN issued)
  std::uint64_t ignored = 0;        // payloads that were no account id
  std::uint64_t own = 0;            // this node's own notices, dropped (own_notification)
};

class ChangeListener {
 public:
  using OnChange = std::function<void(domain::AccountId)>;
  using OnReconnect = std::function<void()>;

  ChangeListener(asio::any_io_executor executor, ChangeListenerOptions options, OnChange on_change,
                 OnReconnect on_reconnect = {});
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;
  ~ChangeListener();

  // Starts connecting and listening in the background. Call once.
  void start();
  // Closes the connection; no callback starts after this returns. Idempotent.
  void stop();

  // True while the connection is up and LISTEN has been acknowledged.
  bool listening() const;
  ChangeListenerStats stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tern::services::cluster
