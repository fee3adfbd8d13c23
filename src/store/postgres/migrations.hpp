// SPDX-License-Identifier: Apache-2.0
// The schema migrations in src/store/postgres/migrations/NNNN_*.sql, embedded into
// the binary at build time (CMake generates migrations_embedded.cpp).
#pragma once

#include <span>
#include <string_view>

namespace tern::store::postgres {

struct Migration {
  int version;            // NNNN from the file name; versions are 1, 2, 3, ... in order
  std::string_view name;  // the file name
  std::string_view sql;
};

// All migrations, ascending by version.
std::span<const Migration> migrations();

}  // namespace tern::store::postgres
