// SPDX-License-Identifier: Apache-2.0
// The only place that names a concrete storage backend (ARCHITECTURE.md §2).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/log.hpp"
#include "base/result.hpp"
#include "config/settings.hpp"
#include "domain/ports.hpp"
#include "domain/store_import.hpp"

namespace tern::app {

// Opens the backend [store] names: "memory" (empty, lives as long as the process),
// "sqlite" under store.path, created if missing (directory mode 0700), or
// "postgres" at store.url (schema migrations applied; several nodes may share it).
// Errors: kIo when the directory or database cannot be created, opened or
// reached, kCorrupt when the database fails its checks; the message names the
// path (never the URL, which may carry a password).
Result<std::unique_ptr<domain::Storage>> open_storage(const config::StoreSettings& settings,
                                                      log::Logger logger = {});

// The NOTIFY channel on which the postgres store announces mail changes
// (store::postgres::change_channel of [store] schema: channels are per database,
// so each schema has its own); "" for the other backends.
std::string change_channel(const config::StoreSettings& settings);

// What a node of several on one database needs from its own store (postgres):
// every committed change is told in process to `set_observer`'s callback (so
// the node's IMAP hubs wake at once), and the node's change listener drops the
// notices for which `take_own` returns true (they are those changes' echoes),
// calling `expect_own` each time it starts listening. Exact matching, so no
// change of another node is ever dropped (store::postgres::PostgresStorage).
struct OwnChanges {
  std::function<void(std::function<void(domain::AccountId)>)> set_observer;
  std::function<bool(int sender_pid, domain::AccountId)> take_own;
  std::function<void()> expect_own;
};

// The hooks of a store open_storage() returned for backend "postgres";
// nullopt for the others. They point into `storage`, which must outlive them.
std::optional<OwnChanges> own_changes(domain::Storage& storage);

// A store together with its import port (`tern migrate`): the same backends as
// open_storage(); `import` points into `storage`.
struct ImportableStorage {
  std::unique_ptr<domain::Storage> storage;
  domain::StoreImport* import = nullptr;
};

Result<ImportableStorage> open_importable_storage(const config::StoreSettings& settings,
                                                  log::Logger logger = {});

}  // namespace tern::app
