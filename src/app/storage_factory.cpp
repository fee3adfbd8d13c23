// SPDX-License-Identifier: Apache-2.0
#include "app/storage_factory.hpp"

#include "store/memory/memory_storage.hpp"
#include "store/sqlite/sqlite_storage.hpp"

namespace tern::app {

Result<std::unique_ptr<domain::Storage>> open_storage(const config::StoreSettings& settings) {
  if (settings.backend == config::StoreBackend::kMemory) {
    return std::unique_ptr<domain::Storage>(std::make_unique<store::memory::MemoryStorage>());
  }
  store::sqlite::SqliteOptions options;
  options.group_commit = settings.group_commit;
  auto storage = store::sqlite::SqliteStorage::open(settings.path, options);
  if (!storage) {
    return storage.error().with_context("open store " + settings.path);
  }
  return std::unique_ptr<domain::Storage>(std::move(*storage));
}

}  // namespace tern::app
