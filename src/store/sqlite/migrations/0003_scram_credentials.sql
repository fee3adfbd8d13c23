-- SPDX-License-Identifier: Apache-2.0
-- The SCRAM-SHA-256 secret beside the password hash (docs/adr/0008-authentication.md):
-- "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>", or '' for accounts that
-- have none yet (imported legacy hashes; the next PLAIN/LOGIN login fills it).
ALTER TABLE accounts ADD COLUMN scram_sha256 TEXT NOT NULL DEFAULT '';
