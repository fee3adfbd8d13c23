-- SPDX-License-Identifier: Apache-2.0
-- The first schema. Times are std::chrono::system_clock ticks (nanoseconds since
-- the Unix epoch) so values round-trip exactly. Ids use AUTOINCREMENT: they are
-- exposed (IMAP OBJECTID, JMAP ids) and must never be reused after a delete. Counters that must be allocated
-- atomically (uid_next, the account modseq) live in their owner's row.

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

CREATE TABLE domains (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES domains(id),
  address TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  quota_bytes INTEGER NOT NULL,
  used_bytes INTEGER NOT NULL DEFAULT 0,
  modseq INTEGER NOT NULL DEFAULT 0        -- the last modseq handed out
) STRICT;

CREATE TABLE aliases (
  source TEXT NOT NULL,
  destination TEXT NOT NULL,
  domain TEXT NOT NULL,                    -- the source's domain, for listing and removal checks
  PRIMARY KEY (source, destination)
) STRICT, WITHOUT ROWID;
CREATE INDEX aliases_domain ON aliases(domain);

CREATE TABLE mailboxes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  special_use INTEGER NOT NULL,
  uid_validity INTEGER NOT NULL,
  uid_next INTEGER NOT NULL,
  highest_modseq INTEGER NOT NULL,
  subscribed INTEGER NOT NULL,
  UNIQUE (account_id, name)
) STRICT;

-- One row per stored blob file. A row exists only once its file is durable, so a
-- committed reference never points at a missing or partial file.
CREATE TABLE blobs (
  hash TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL                    -- messages + queue rows that use it
) STRICT, WITHOUT ROWID;
CREATE INDEX blobs_unreferenced ON blobs(refs) WHERE refs = 0;

CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  blob TEXT NOT NULL REFERENCES blobs(hash),
  size INTEGER NOT NULL,
  internal_date INTEGER NOT NULL,
  facts BLOB NOT NULL,
  entry_count INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_account ON messages(account_id);

CREATE TABLE entries (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  uid INTEGER NOT NULL,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  save_date INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  keywords TEXT NOT NULL,                  -- sorted, space separated
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
) STRICT, WITHOUT ROWID;
CREATE INDEX entries_modseq ON entries(mailbox_id, modseq);

CREATE TABLE tombstones (
  mailbox_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
) STRICT, WITHOUT ROWID;

CREATE TABLE changes (
  account_id INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  mailbox_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  kind INTEGER NOT NULL
) STRICT;
CREATE INDEX changes_account ON changes(account_id, modseq);

CREATE TABLE queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  blob TEXT NOT NULL REFERENCES blobs(hash),
  size INTEGER NOT NULL,
  sender TEXT NOT NULL,
  envid TEXT NOT NULL,
  ret TEXT NOT NULL,
  created INTEGER NOT NULL,
  next_attempt INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  state INTEGER NOT NULL,                  -- domain::QueueState
  lease_until INTEGER NOT NULL
) STRICT;
CREATE INDEX queue_due ON queue(state, next_attempt);

CREATE TABLE queue_recipients (
  queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  address TEXT NOT NULL,
  state INTEGER NOT NULL,                  -- domain::RecipientState
  notify TEXT NOT NULL,
  orcpt TEXT NOT NULL,
  last_reply TEXT NOT NULL,
  PRIMARY KEY (queue_id, position)
) STRICT, WITHOUT ROWID;
