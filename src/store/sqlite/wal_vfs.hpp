// SPDX-License-Identifier: Apache-2.0
// A VFS for the writer's connection: SQLite's default one, except that the WAL
// frames a transaction writes are gathered in memory and written in 64 KiB
// pieces, where SQLite makes two writes per frame (its 24-byte header, then the
// page). A batch of 30 appends writes 50–100 frames; on a VM each write costs a few µs
// of the writer's CPU, which is the store's serial resource under load
// (docs/adr/0004-sqlite-group-commit.md, revision 4).
//
// What SQLite relies on still holds, because the gathered bytes are written
// before anything can observe them:
//   - before the WAL is read, synced, truncated, sized or closed through this
//     connection, and before any file control on it;
//   - before the connection touches the shared-memory WAL index of its database
//     (every xShmLock and xShmBarrier): a commit becomes visible to other
//     connections only through that index, after a barrier, and the write lock is
//     released through it — so frames a rolled-back transaction left gathered go
//     to disk while this connection still holds the lock, never over frames
//     another connection wrote after it.
// A write error found while gathering is returned by the next call that writes
// (xSync above all), so COMMIT fails as it would have.
#pragma once

namespace tern::store::sqlite {

// Registers the VFS with SQLite on first use (thread-safe) and returns its name,
// for sqlite3_open_v2. It wraps the default VFS that was registered at that time.
const char* gathering_wal_vfs();

}  // namespace tern::store::sqlite
