-- SPDX-License-Identifier: Apache-2.0
-- Small blobs' bytes keyed by an integer id that the blobs row names, instead of
-- by hash (docs/adr/0004-sqlite-group-commit.md, "Appends in bulk"). blob_data
-- kept a second index of 64-character hashes beside the blobs primary key; hashes
-- arrive in random order, so every append dirtied one more random index page (a
-- WAL frame, a checkpoint write and a page of writeback). New bytes now append to
-- the end of blob_bytes, and blobs.data_id points at them.
ALTER TABLE blobs ADD COLUMN data_id INTEGER;  -- blob_bytes.id; NULL: a blob file

CREATE TABLE blob_bytes (
  id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
) STRICT;

-- Bytes without a blobs row were never referenced (an append whose every target
-- failed stored them anyway); they are dropped here.
INSERT INTO blob_bytes (id, data)
  SELECT d.rowid, d.data FROM blob_data d WHERE d.hash IN (SELECT hash FROM blobs);
UPDATE blobs SET data_id = (SELECT d.rowid FROM blob_data d WHERE d.hash = blobs.hash)
  WHERE hash IN (SELECT hash FROM blob_data);

DROP TRIGGER blobs_delete_data;
DROP TABLE blob_data;

-- The bytes go with their blobs row, so garbage collection is unchanged.
CREATE TRIGGER blobs_delete_bytes AFTER DELETE ON blobs WHEN old.data_id IS NOT NULL
BEGIN
  DELETE FROM blob_bytes WHERE id = old.data_id;
END;
