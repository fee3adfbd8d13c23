-- Small blobs live in the database itself (docs/adr/0004-sqlite-group-commit.md):
-- their bytes reach stable storage with the WAL fsync of the batch that commits
-- them, so a batch of small messages costs one sync instead of several per blob.
-- A row here exists exactly when its blobs row does (inserted in the same
-- savepoint, deleted by the trigger below).
CREATE TABLE blob_data (
  hash TEXT NOT NULL UNIQUE,
  data BLOB NOT NULL
) STRICT;

CREATE TRIGGER blobs_delete_data AFTER DELETE ON blobs
BEGIN
  DELETE FROM blob_data WHERE hash = old.hash;
END;
