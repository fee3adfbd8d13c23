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

// Gathered bytes go to disk before they would pass this much (a batch of 30
// appends gathers 200–400 KiB; a migration or a compaction may write more).
constexpr std::size_t kGatherLimit = std::size_t{4} << 20;

struct WalFile;

// What both wrappers start with: the file SQLite sees, and the default VFS's
// file it stands for. A wrapper's address is that of its `base`.
struct Wrapper {
  sqlite3_file base;
  sqlite3_file* real;
};

// The database file: passed through, except that the shared-memory calls first
// write what its WAL file gathered.
struct DbFile {
  Wrapper head;
  const char* name;  // the pointer SQLite opened it with (see vfs_open)
  WalFile* wal;      // its WAL file while open; the connection's thread only
};

struct WalFile {
  Wrapper head;
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
    rc = wal->head.real->pMethods->xWrite(wal->head.real, gathered.data() + done,
                                          static_cast<int>(piece),
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

Wrapper* as_wrapper(sqlite3_file* file) {
  return reinterpret_cast<Wrapper*>(file);
}

// Calls both wrappers pass through as they are.

int pass_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xRead(real, out, amount, offset);
}

int pass_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xWrite(real, data, amount, offset);
}

int pass_truncate(sqlite3_file* file, sqlite3_int64 size) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xTruncate(real, size);
}

int pass_sync(sqlite3_file* file, int flags) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xSync(real, flags);
}

int pass_file_size(sqlite3_file* file, sqlite3_int64* size) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xFileSize(real, size);
}

int pass_lock(sqlite3_file* file, int level) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xLock(real, level);
}

int pass_unlock(sqlite3_file* file, int level) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xUnlock(real, level);
}

int pass_check_reserved_lock(sqlite3_file* file, int* out) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xCheckReservedLock(real, out);
}

int pass_file_control(sqlite3_file* file, int op, void* arg) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xFileControl(real, op, arg);
}

int pass_sector_size(sqlite3_file* file) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xSectorSize(real);
}

int pass_device_characteristics(sqlite3_file* file) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xDeviceCharacteristics(real);
}

int pass_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xShmMap(real, region, size, extend, out);
}

int pass_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xShmLock(real, offset, n, flags);
}

void pass_shm_barrier(sqlite3_file* file) {
  auto* real = as_wrapper(file)->real;
  real->pMethods->xShmBarrier(real);
}

int pass_shm_unmap(sqlite3_file* file, int remove) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xShmUnmap(real, remove);
}

int pass_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xFetch(real, offset, amount, out);
}

int pass_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  auto* real = as_wrapper(file)->real;
  return real->pMethods->xUnfetch(real, offset, page);
}

// WAL file methods.

int wal_close(sqlite3_file* file) {
  auto* wal = as_wal(file);
  int rc = flush(wal);
  if (wal->db != nullptr) {
    wal->db->wal = nullptr;
  }
  const int closed = wal->head.real->pMethods->xClose(wal->head.real);
  delete wal->gathered;
  wal->gathered = nullptr;
  return rc != SQLITE_OK ? rc : closed;
}

int wal_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return pass_read(file, out, amount, offset);
}

int wal_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* wal = as_wal(file);
  if (wal->failed != SQLITE_OK) {
    return take_failure(wal);
  }
  const auto size = static_cast<std::size_t>(amount);
  if (wal->gathered == nullptr) {
    return pass_write(file, data, amount, offset);
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
    if (size > kWritePiece) {  // not a write SQLite makes
      return pass_write(file, data, amount, offset);
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
  return pass_truncate(file, size);
}

int wal_sync(sqlite3_file* file, int flags) {
  auto* wal = as_wal(file);
  flush(wal);
  if (wal->failed != SQLITE_OK) {
    return take_failure(wal);
  }
  return pass_sync(file, flags);
}

int wal_file_size(sqlite3_file* file, sqlite3_int64* size) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return pass_file_size(file, size);
}

int wal_file_control(sqlite3_file* file, int op, void* arg) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return pass_file_control(file, op, arg);
}

int wal_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  auto* wal = as_wal(file);
  if (const int rc = flush(wal); rc != SQLITE_OK) {
    return take_failure(wal);
  }
  return pass_fetch(file, offset, amount, out);
}

constexpr sqlite3_io_methods kWalMethods = {
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    pass_lock,
    pass_unlock,
    pass_check_reserved_lock,
    wal_file_control,
    pass_sector_size,
    pass_device_characteristics,
    pass_shm_map,
    pass_shm_lock,  // SQLite maps no shared memory through a WAL file
    pass_shm_barrier,
    pass_shm_unmap,
    wal_fetch,
    pass_unfetch,
};

// Database file methods: the shared-memory ones write the gathered WAL bytes
// first; the others pass through.

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
  return db->head.real->pMethods->xClose(db->head.real);
}

int db_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  flush_wal_of(as_db(file));
  return pass_shm_lock(file, offset, n, flags);
}

void db_shm_barrier(sqlite3_file* file) {
  flush_wal_of(as_db(file));
  pass_shm_barrier(file);
}

constexpr sqlite3_io_methods kDbMethods = {
    3,
    db_close,
    pass_read,
    pass_write,
    pass_truncate,
    pass_sync,
    pass_file_size,
    pass_lock,
    pass_unlock,
    pass_check_reserved_lock,
    pass_file_control,
    pass_sector_size,
    pass_device_characteristics,
    pass_shm_map,
    db_shm_lock,
    db_shm_barrier,
    pass_shm_unmap,
    pass_fetch,
    pass_unfetch,
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
    db->head.real = real;
    db->name = name;
    db->wal = nullptr;
    std::lock_guard lock(registry_mutex());
    registry().push_back(db);
    file->pMethods = &kDbMethods;
    return SQLITE_OK;
  }
  auto* w = as_wal(file);
  w->head.real = real;
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
