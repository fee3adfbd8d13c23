// SPDX-License-Identifier: Apache-2.0
// The only place that names a concrete storage backend (ARCHITECTURE.md §2).
#pragma once

#include <memory>

#include "base/result.hpp"
#include "config/settings.hpp"
#include "domain/ports.hpp"

namespace tern::app {

// Opens the backend [store] names: "memory" (empty, lives as long as the process)
// or "sqlite" under store.path, created if missing (directory mode 0700).
// Errors: kIo when the directory or database cannot be created or opened,
// kCorrupt when the database fails its checks; the message names the path.
Result<std::unique_ptr<domain::Storage>> open_storage(const config::StoreSettings& settings);

}  // namespace tern::app
