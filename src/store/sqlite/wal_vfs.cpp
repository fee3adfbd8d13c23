// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/wal_vfs.hpp"

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include <sqlite3.h>

namespace tern::store::sqlite {
namespace {

// Larger batches are written in pieces of this size (a batch of 30 appends
// gathers 200–400 KiB).
constexpr std::size_t kGatherLimit = std::size_t{4} << 20;

struct WalFile;

// The database file: passed through, except that the shared-memory calls first
// write what its WAL file gathered.
struct DbFile {
  sqlite3_file base;
  sqlite3_file* real;
  const char* name;  // the pointer SQLite opened it with (see wal_of)
  WalFile* wal;      // its WAL file while open; the connection's thread only
};

struct WalFile {
  sqlite3_file base;
  sqlite3_file* real;
  DbFile* db;                   // null when its database was not found: no gathering
  std::vector<char>* gathered;  // bytes for the file from `offset` on
  sqlite3_int64 offset;
  int failed;  // a write error not yet returned, or SQLITE_OK
};

// The real file lives right after the wrapper in the memory SQLite hands xOpen.
constexpr std::size_t kWrapperSize =
    (std::max(sizeof(DbFile), sizeof(WalFile)) + alignof(std::max_align_t) - 1) /
    alignof(std::max_align_t) * alignof(std::max_align_t);

sqlite3_vfs* parent_vfs = nullptr;

// The open database files of this VFS, to find the one a WAL file belongs to.
std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<DbFile*>& registry() {
  static std::vector<DbFile*> files;
  return files;
}

// The most bytes handed to the default VFS at once: its unix write takes at most
// 128 KiB (it was written for pages) and reports a longer one as a full disk.
constexpr std::size_t kWritePiece = std::size_t{64} << 10;

// Writes what `wal` gathered; clears it either way. An error is also kept for
// the next write or sync when the caller cannot return it.
int flush(WalFile* wal) {
  if (wal->gathered == nullptr || wal->gathered->empty()) {
    return SQLITE_OK;
  }
  const auto& gathered = *wal->gathered;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < gathered.size() && rc == SQLITE_OK;) {
    const std::size_t piece = std::min(kWritePiece, gathered.size() - done);
    rc = wal->real->pMethods->xWrite(wal->real, gathered.data() + done, static_cast<int>(piece),
                                     wal->offset + static_cast<sqlite3_int64>(done));
    done += piece;
  }
  wal->gathered->clear();
  if (rc != SQLITE_OK && wal->failed == SQLITE_OK) {
    wal->failed = rc;
  }
  return rc;
}

// The error flush() kept, once.
int take_failure(WalFile* wal) {
  const int rc = wal->failed;
  wal->failed = SQLITE_OK;
  return rc;
}

WalFile* as_wal(sqlite3_file* file) {
  return reinterpret_cast<WalFile*>(file);
}

DbFile* as_db(sqlite3_file* file) {
  return reinterpret_cast<DbFile*>(file);
}

// WAL file methods.

int wal_close(sqlite3_file* file) {
  auto* wal = as_wal(file);
  int rc = flush(wal);
  if (wal->db != nullptr) {
    wal->db->wal = nullptr;
  }
  const int closed = wal->real->pMethods->xClose(wal->real);
  delete wal->gathered;
  wal->gathered = nullptr;
  return rc != SQLITE_OK ? rc : closed;
}

int wal_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return wal->real->pMethods->xRead(wal->real, out, amount, offset);
}

int wal_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* wal = as_wal(file);
  if (wal->failed != SQLITE_OK) {
    return take_failure(wal);
  }
  const auto size = static_cast<std::size_t>(amount);
  if (wal->gathered == nullptr) {
    return wal->real->pMethods->xWrite(wal->real, data, amount, offset);
  }
  auto& gathered = *wal->gathered;
  const bool follows =
      !gathered.empty() && offset == wal->offset + static_cast<sqlite3_int64>(gathered.size());
  if (!follows || gathered.size() + size > kGatherLimit) {
    // Not where the gathered bytes end (SQLite rewrites a frame, or starts over
    // at the WAL's head): those go first, so writes land in SQLite's order.
    if (const int rc = flush(wal); rc != SQLITE_OK) {
      return take_failure(wal);
    }
    if (size > kWritePiece) {
      return wal->real->pMethods->xWrite(wal->real, data, amount, offset);  // not SQLite's
    }
    wal->offset = offset;
  }
  const auto* bytes = static_cast<const char*>(data);
  gathered.insert(gathered.end(), bytes, bytes + size);
  return SQLITE_OK;
}

int wal_truncate(sqlite3_file* file, sqlite3_int64 size) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return wal->real->pMethods->xTruncate(wal->real, size);
}

int wal_sync(sqlite3_file* file, int flags) {
  auto* wal = as_wal(file);
  flush(wal);
  if (wal->failed != SQLITE_OK) {
    return take_failure(wal);
  }
  return wal->real->pMethods->xSync(wal->real, flags);
}

int wal_file_size(sqlite3_file* file, sqlite3_int64* size) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return wal->real->pMethods->xFileSize(wal->real, size);
}

int wal_lock(sqlite3_file* file, int level) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xLock(wal->real, level);
}

int wal_unlock(sqlite3_file* file, int level) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xUnlock(wal->real, level);
}

int wal_check_reserved_lock(sqlite3_file* file, int* out) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xCheckReservedLock(wal->real, out);
}

int wal_file_control(sqlite3_file* file, int op, void* arg) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return wal->real->pMethods->xFileControl(wal->real, op, arg);
}

int wal_sector_size(sqlite3_file* file) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xSectorSize(wal->real);
}

int wal_device_characteristics(sqlite3_file* file) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xDeviceCharacteristics(wal->real);
}

// A WAL file has no shared memory or memory map of its own in SQLite; these
// pass through for completeness.
int wal_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xShmMap(wal->real, region, size, extend, out);
}

int wal_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  auto* wal = as_wal(file);
  flush(wal);
  return wal->real->pMethods->xShmLock(wal->real, offset, n, flags);
}

void wal_shm_barrier(sqlite3_file* file) {
  auto* wal = as_wal(file);
  flush(wal);
  wal->real->pMethods->xShmBarrier(wal->real);
}

int wal_shm_unmap(sqlite3_file* file, int remove) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xShmUnmap(wal->real, remove);
}

int wal_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return wal->real->pMethods->xFetch(wal->real, offset, amount, out);
}

int wal_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  auto* wal = as_wal(file);
  return wal->real->pMethods->xUnfetch(wal->real, offset, page);
}

constexpr sqlite3_io_methods kWalMethods = {
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    wal_lock,
    wal_unlock,
    wal_check_reserved_lock,
    wal_file_control,
    wal_sector_size,
    wal_device_characteristics,
    wal_shm_map,
    wal_shm_lock,
    wal_shm_barrier,
    wal_shm_unmap,
    wal_fetch,
    wal_unfetch,
};

// Database file methods: all pass through; the shared-memory ones write the
// gathered WAL bytes first.

void flush_wal_of(DbFile* db) {
  if (db->wal != nullptr) {
    flush(db->wal);
  }
}

int db_close(sqlite3_file* file) {
  auto* db = as_db(file);
  {
    std::lock_guard lock(registry_mutex());
    auto& files = registry();
    files.erase(std::remove(files.begin(), files.end(), db), files.end());
  }
  if (db->wal != nullptr) {
    db->wal->db = nullptr;  // SQLite closes the WAL first; this is for safety
  }
  return db->real->pMethods->xClose(db->real);
}

int db_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  auto* db = as_db(file);
  return db->real->pMethods->xRead(db->real, out, amount, offset);
}

int db_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* db = as_db(file);
  return db->real->pMethods->xWrite(db->real, data, amount, offset);
}

int db_truncate(sqlite3_file* file, sqlite3_int64 size) {
  auto* db = as_db(file);
  return db->real->pMethods->xTruncate(db->real, size);
}

int db_sync(sqlite3_file* file, int flags) {
  auto* db = as_db(file);
  return db->real->pMethods->xSync(db->real, flags);
}

int db_file_size(sqlite3_file* file, sqlite3_int64* size) {
  auto* db = as_db(file);
  return db->real->pMethods->xFileSize(db->real, size);
}

int db_lock(sqlite3_file* file, int level) {
  auto* db = as_db(file);
  return db->real->pMethods->xLock(db->real, level);
}

int db_unlock(sqlite3_file* file, int level) {
  auto* db = as_db(file);
  return db->real->pMethods->xUnlock(db->real, level);
}

int db_check_reserved_lock(sqlite3_file* file, int* out) {
  auto* db = as_db(file);
  return db->real->pMethods->xCheckReservedLock(db->real, out);
}

int db_file_control(sqlite3_file* file, int op, void* arg) {
  auto* db = as_db(file);
  return db->real->pMethods->xFileControl(db->real, op, arg);
}

int db_sector_size(sqlite3_file* file) {
  auto* db = as_db(file);
  return db->real->pMethods->xSectorSize(db->real);
}

int db_device_characteristics(sqlite3_file* file) {
  auto* db = as_db(file);
  return db->real->pMethods->xDeviceCharacteristics(db->real);
}

int db_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  auto* db = as_db(file);
  return db->real->pMethods->xShmMap(db->real, region, size, extend, out);
}

int db_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  auto* db = as_db(file);
  flush_wal_of(db);
  return db->real->pMethods->xShmLock(db->real, offset, n, flags);
}

void db_shm_barrier(sqlite3_file* file) {
  auto* db = as_db(file);
  flush_wal_of(db);
  db->real->pMethods->xShmBarrier(db->real);
}

int db_shm_unmap(sqlite3_file* file, int remove) {
  auto* db = as_db(file);
  return db->real->pMethods->xShmUnmap(db->real, remove);
}

int db_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  auto* db = as_db(file);
  return db->real->pMethods->xFetch(db->real, offset, amount, out);
}

int db_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  auto* db = as_db(file);
  return db->real->pMethods->xUnfetch(db->real, offset, page);
}

constexpr sqlite3_io_methods kDbMethods = {
    3,
    db_close,
    db_read,
    db_write,
    db_truncate,
    db_sync,
    db_file_size,
    db_lock,
    db_unlock,
    db_check_reserved_lock,
    db_file_control,
    db_sector_size,
    db_device_characteristics,
    db_shm_map,
    db_shm_lock,
    db_shm_barrier,
    db_shm_unmap,
    db_fetch,
    db_unfetch,
};

sqlite3_file* real_of(sqlite3_file* file) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kWrapperSize);
}

int vfs_open(sqlite3_vfs* /*vfs*/, sqlite3_filename name, sqlite3_file* file, int flags,
             int* out_flags) {
  const bool main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
  const bool wal = (flags & SQLITE_OPEN_WAL) != 0;
  if ((!main_db && !wal) || name == nullptr) {
    // Journals and temp files are the default VFS's own, in place.
    return parent_vfs->xOpen(parent_vfs, name, file, flags, out_flags);
  }
  sqlite3_file* real = real_of(file);
  file->pMethods = nullptr;  // SQLite calls no method unless xOpen set them
  const int rc = parent_vfs->xOpen(parent_vfs, name, real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (real->pMethods != nullptr) {
      real->pMethods->xClose(real);
    }
    return rc;
  }
  if (real->pMethods->iVersion < 3) {
    // Shared memory and memory maps are what the wrappers rely on; a default
    // VFS without them is not one this was written for: pass it through.
    real->pMethods->xClose(real);
    return parent_vfs->xOpen(parent_vfs, name, file, flags, out_flags);
  }
  if (main_db) {
    auto* db = as_db(file);
    db->real = real;
    db->name = name;
    db->wal = nullptr;
    std::lock_guard lock(registry_mutex());
    registry().push_back(db);
    file->pMethods = &kDbMethods;
    return SQLITE_OK;
  }
  auto* w = as_wal(file);
  w->real = real;
  w->db = nullptr;
  w->gathered = nullptr;
  w->offset = 0;
  w->failed = SQLITE_OK;
  {
    // Only a WAL whose database is open here gathers: its shared-memory calls
    // are what write the gathered bytes before they could be needed.
    const char* database = sqlite3_filename_database(name);
    std::lock_guard lock(registry_mutex());
    for (auto* db : registry()) {
      if (db->name == database && db->wal == nullptr) {
        w->db = db;
        db->wal = w;
        w->gathered = new std::vector<char>();
        w->gathered->reserve(std::size_t{512} << 10);
        break;
      }
    }
  }
  file->pMethods = &kWalMethods;
  return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs* /*vfs*/, const char* name, int sync_dir) {
  return parent_vfs->xDelete(parent_vfs, name, sync_dir);
}

int vfs_access(sqlite3_vfs* /*vfs*/, const char* name, int flags, int* out) {
  return parent_vfs->xAccess(parent_vfs, name, flags, out);
}

int vfs_full_pathname(sqlite3_vfs* /*vfs*/, const char* name, int size, char* out) {
  return parent_vfs->xFullPathname(parent_vfs, name, size, out);
}

void* vfs_dl_open(sqlite3_vfs* /*vfs*/, const char* name) {
  return parent_vfs->xDlOpen(parent_vfs, name);
}

void vfs_dl_error(sqlite3_vfs* /*vfs*/, int size, char* out) {
  parent_vfs->xDlError(parent_vfs, size, out);
}

void (*vfs_dl_sym(sqlite3_vfs* /*vfs*/, void* handle, const char* symbol))(void) {
  return parent_vfs->xDlSym(parent_vfs, handle, symbol);
}

void vfs_dl_close(sqlite3_vfs* /*vfs*/, void* handle) {
  parent_vfs->xDlClose(parent_vfs, handle);
}

int vfs_randomness(sqlite3_vfs* /*vfs*/, int size, char* out) {
  return parent_vfs->xRandomness(parent_vfs, size, out);
}

int vfs_sleep(sqlite3_vfs* /*vfs*/, int microseconds) {
  return parent_vfs->xSleep(parent_vfs, microseconds);
}

int vfs_current_time(sqlite3_vfs* /*vfs*/, double* out) {
  return parent_vfs->xCurrentTime(parent_vfs, out);
}

int vfs_get_last_error(sqlite3_vfs* /*vfs*/, int size, char* out) {
  return parent_vfs->xGetLastError(parent_vfs, size, out);
}

int vfs_current_time_int64(sqlite3_vfs* /*vfs*/, sqlite3_int64* out) {
  return parent_vfs->xCurrentTimeInt64(parent_vfs, out);
}

}  // namespace

const char* gathering_wal_vfs() {
  static constexpr const char* kName = "tern-gathering-wal";
  static std::once_flag once;
  std::call_once(once, [] {
    parent_vfs = sqlite3_vfs_find(nullptr);
    static sqlite3_vfs vfs{};
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(kWrapperSize) + parent_vfs->szOsFile;
    vfs.mxPathname = parent_vfs->mxPathname;
    vfs.zName = kName;
    vfs.xOpen = vfs_open;
    vfs.xDelete = vfs_delete;
    vfs.xAccess = vfs_access;
    vfs.xFullPathname = vfs_full_pathname;
    vfs.xDlOpen = vfs_dl_open;
    vfs.xDlError = vfs_dl_error;
    vfs.xDlSym = vfs_dl_sym;
    vfs.xDlClose = vfs_dl_close;
    vfs.xRandomness = vfs_randomness;
    vfs.xSleep = vfs_sleep;
    vfs.xCurrentTime = vfs_current_time;
    vfs.xGetLastError = vfs_get_last_error;
    vfs.xCurrentTimeInt64 = vfs_current_time_int64;
    sqlite3_vfs_register(&vfs, 0);
  });
  return kName;
}

}  // namespace tern::store::sqlite
