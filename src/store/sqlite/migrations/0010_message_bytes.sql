-- SPDX-License-Identifier: Apache-2.0
-- A delivered small message keeps its bytes in its own row of message_bytes,
-- named by messages.bytes_id, instead of in a content-addressed blobs row
-- (docs/adr/0018-message-bytes-by-message.md). The blobs primary key is a
-- SHA-256: every append inserted into it at a random place, which dirtied one
-- more random b-tree page per message (a WAL frame, a checkpoint write, a page of
-- writeback, and a page read once the index outgrew the cache) and took about
-- half of the writer's time per batched append. message_bytes grows at its end.
-- The messages of one append (one per account) share the row; `refs` counts
-- them. messages.blob stays the SHA-256 of the bytes (domain::Entry::blob) but no
-- longer names a blobs row when bytes_id is set, so its foreign key goes: SQLite
-- drops a constraint only by rebuilding the table (apply_migrations runs this
-- with foreign keys off and checks them before it commits).
CREATE TABLE message_bytes (
  id INTEGER PRIMARY KEY,
  refs INTEGER NOT NULL,                   -- messages rows whose bytes_id is this row
  data BLOB NOT NULL
) STRICT;

CREATE TABLE messages_rebuilt (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  blob TEXT NOT NULL,                      -- SHA-256 hex; a blobs row's hash when bytes_id is NULL
  size INTEGER NOT NULL,
  internal_date INTEGER NOT NULL,
  facts BLOB NOT NULL,
  entry_count INTEGER NOT NULL,
  bytes_id INTEGER REFERENCES message_bytes(id)
) STRICT;

INSERT INTO messages_rebuilt (id, account_id, blob, size, internal_date, facts, entry_count)
  SELECT id, account_id, blob, size, internal_date, facts, entry_count FROM messages;
-- AUTOINCREMENT must go on where it was: ids of deleted messages are never reused.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'messages')
  WHERE name = 'messages_rebuilt';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'messages_rebuilt', seq FROM sqlite_sequence WHERE name = 'messages'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages_rebuilt');

DROP TABLE messages;  -- with its index and trigger, made again below
ALTER TABLE messages_rebuilt RENAME TO messages;
CREATE INDEX messages_account ON messages(account_id);

CREATE TRIGGER messages_delete_summaries AFTER DELETE ON messages
BEGIN
  DELETE FROM message_records WHERE message_id = old.id;
  DELETE FROM message_envelopes WHERE message_id = old.id;
  DELETE FROM message_search_headers WHERE message_id = old.id;
  DELETE FROM message_search_text WHERE message_id = old.id;
END;

-- The last message naming a message_bytes row takes it along.
CREATE TRIGGER messages_release_bytes AFTER DELETE ON messages WHEN old.bytes_id IS NOT NULL
BEGIN
  UPDATE message_bytes SET refs = refs - 1 WHERE id = old.bytes_id;
  DELETE FROM message_bytes WHERE id = old.bytes_id AND refs <= 0;
END;
