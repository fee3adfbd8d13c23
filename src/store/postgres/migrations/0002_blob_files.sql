-- SPDX-License-Identifier: Apache-2.0
-- Blobs in a shared directory (PostgresOptions::blob_dir, docs/adr/0015): the row
-- says where the bytes are. false: in blob_chunks; true: in the file
-- <blob_dir>/ab/cd/<hash>, made durable before the row committed. A store can
-- switch between the two; rows keep pointing where their bytes were written.
ALTER TABLE blobs ADD COLUMN in_file boolean NOT NULL DEFAULT false;
