// SPDX-License-Identifier: Apache-2.0
#include "app/storage_factory.hpp"

#include "store/memory/memory_storage.hpp"
#include "store/postgres/postgres_storage.hpp"
#include "store/sqlite/sqlite_storage.hpp"

namespace tern::app {

namespace {

// Each backend opened as its own class, so the import port (which is not on
// domain::Storage) stays reachable for open_importable_storage().
template <class Use>
auto with_backend(const config::StoreSettings& settings, log::Logger logger, Use use)
    -> decltype(use(std::unique_ptr<store::memory::MemoryStorage>())) {
  switch (settings.backend) {
    case config::StoreBackend::kMemory:
      return use(std::make_unique<store::memory::MemoryStorage>());
    case config::StoreBackend::kPostgres: {
      store::postgres::PostgresOptions options;
      options.conninfo = settings.url;
      options.pool_size = settings.pool_size;
      options.schema = settings.schema;
      options.blob_dir = settings.blob_dir;
      options.logger = std::move(logger);
      auto storage = store::postgres::PostgresStorage::open(std::move(options));
      if (!storage) {
        // The URL may hold a password: name the backend, not the URL.
        return storage.error().with_context("open postgres store");
      }
      return use(std::move(*storage));
    }
    case config::StoreBackend::kSqlite:
      break;
  }
  store::sqlite::SqliteOptions options;
  options.group_commit = settings.group_commit;
  auto storage = store::sqlite::SqliteStorage::open(settings.path, options);
  if (!storage) {
    return storage.error().with_context("open store " + settings.path);
  }
  return use(std::move(*storage));
}

}  // namespace

Result<std::unique_ptr<domain::Storage>> open_storage(const config::StoreSettings& settings,
                                                      log::Logger logger) {
  return with_backend(settings, std::move(logger),
                      [](auto storage) -> Result<std::unique_ptr<domain::Storage>> {
                        return std::unique_ptr<domain::Storage>(std::move(storage));
                      });
}

std::string change_channel(const config::StoreSettings& settings) {
  return settings.backend == config::StoreBackend::kPostgres
             ? store::postgres::change_channel(settings.schema)
             : std::string();
}

std::optional<OwnChanges> own_changes(domain::Storage& storage) {
  auto* postgres = dynamic_cast<store::postgres::PostgresStorage*>(&storage);
  if (postgres == nullptr) {
    return std::nullopt;
  }
  return OwnChanges{[postgres](std::function<void(domain::AccountId)> observer) {
                      postgres->set_change_observer(std::move(observer));
                    },
                    [postgres](int sender_pid, domain::AccountId account) {
                      return postgres->take_own_notification(sender_pid, account);
                    },
                    [postgres] { postgres->expect_own_notifications(); }};
}

Result<ImportableStorage> open_importable_storage(const config::StoreSettings& settings,
                                                  log::Logger logger) {
  return with_backend(settings, std::move(logger), [](auto storage) -> Result<ImportableStorage> {
    using Backend = typename decltype(storage)::element_type;
    if constexpr (std::is_base_of_v<domain::StoreImport, Backend>) {
      domain::StoreImport* import = storage.get();
      return ImportableStorage{std::unique_ptr<domain::Storage>(std::move(storage)), import};
    } else {
      return fail(ErrorCode::kPermanent, "this store backend cannot import (tern migrate) yet");
    }
  });
}

}  // namespace tern::app
