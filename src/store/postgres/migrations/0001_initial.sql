-- SPDX-License-Identifier: Apache-2.0
-- The first PostgreSQL schema (docs/adr/0015-postgres-backend.md). It mirrors the
-- sqlite schema so `tern migrate` maps table to table. Times are
-- std::chrono::system_clock ticks (nanoseconds since the Unix epoch) in bigint so
-- values round-trip exactly. Ids come from identity columns: sequences never hand
-- a value out twice, so ids exposed as IMAP OBJECTIDs and JMAP ids are never reused.
-- Counters allocated under a row lock (uid_next, the account modseq) live in
-- their owner's row; every mail change locks its account row first.

CREATE TABLE meta (
  key text PRIMARY KEY,
  value bigint NOT NULL
);
INSERT INTO meta (key, value) VALUES ('uid_validity', 0);

CREATE TABLE domains (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE
);

CREATE TABLE accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain_id bigint NOT NULL REFERENCES domains(id),
  address text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  scram_sha256 text NOT NULL DEFAULT '',
  quota_bytes bigint NOT NULL,
  used_bytes bigint NOT NULL DEFAULT 0,
  modseq bigint NOT NULL DEFAULT 0          -- the last modseq handed out
);
CREATE INDEX accounts_domain ON accounts(domain_id);

CREATE TABLE aliases (
  source text NOT NULL,
  destination text NOT NULL,
  domain text NOT NULL,                     -- the source's domain
  PRIMARY KEY (source, destination)
);
CREATE INDEX aliases_domain ON aliases(domain);

CREATE TABLE mailboxes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts(id),
  name text NOT NULL,
  special_use smallint NOT NULL,
  uid_validity bigint NOT NULL,
  uid_next bigint NOT NULL,
  highest_modseq bigint NOT NULL,
  subscribed boolean NOT NULL,
  UNIQUE (account_id, name)
);

-- Content-addressed blobs: one row per SHA-256, reference counted by messages
-- and queue rows; the bytes are in blob_chunks, chunk_bytes per row.
CREATE TABLE blobs (
  hash text PRIMARY KEY,
  size bigint NOT NULL,
  refs bigint NOT NULL
);
CREATE INDEX blobs_unreferenced ON blobs(hash) WHERE refs <= 0;

CREATE TABLE blob_chunks (
  hash text NOT NULL REFERENCES blobs(hash) ON DELETE CASCADE,
  seq integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (hash, seq)
);

CREATE TABLE messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts(id),
  blob text NOT NULL REFERENCES blobs(hash),
  size bigint NOT NULL,
  internal_date bigint NOT NULL,
  facts bytea NOT NULL,
  entry_count integer NOT NULL
);
CREATE INDEX messages_account ON messages(account_id);
CREATE INDEX messages_blob ON messages(blob);

CREATE TABLE entries (
  mailbox_id bigint NOT NULL REFERENCES mailboxes(id),
  uid bigint NOT NULL,
  message_id bigint NOT NULL REFERENCES messages(id),
  save_date bigint NOT NULL,
  flags smallint NOT NULL,
  keywords text NOT NULL,                   -- sorted, space separated
  modseq bigint NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX entries_modseq ON entries(mailbox_id, modseq);
CREATE INDEX entries_message ON entries(message_id);

CREATE TABLE tombstones (
  mailbox_id bigint NOT NULL,
  uid bigint NOT NULL,
  modseq bigint NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);

CREATE TABLE changes (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  account_id bigint NOT NULL,
  modseq bigint NOT NULL,
  mailbox_id bigint NOT NULL,
  uid bigint NOT NULL,
  kind smallint NOT NULL
);
CREATE INDEX changes_account ON changes(account_id, modseq, seq);

CREATE TABLE queue (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  blob text NOT NULL REFERENCES blobs(hash),
  size bigint NOT NULL,
  sender text NOT NULL,
  envid text NOT NULL,
  ret text NOT NULL,
  created bigint NOT NULL,
  next_attempt bigint NOT NULL,
  attempts integer NOT NULL,
  state smallint NOT NULL,                  -- domain::QueueState
  lease_until bigint NOT NULL,
  smtputf8 boolean NOT NULL DEFAULT false,
  body_type smallint NOT NULL DEFAULT 0,    -- domain::BodyType
  requiretls boolean NOT NULL DEFAULT false,
  submitter text NOT NULL DEFAULT '',
  delay_warned boolean NOT NULL DEFAULT false
);
CREATE INDEX queue_due ON queue(state, next_attempt);

CREATE TABLE queue_recipients (
  queue_id bigint NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
  position integer NOT NULL,
  address text NOT NULL,
  state smallint NOT NULL,                  -- domain::RecipientState
  notify text NOT NULL,
  orcpt text NOT NULL,
  last_reply bytea NOT NULL,                -- a remote server's words: any bytes
  status text NOT NULL,
  remote_host text NOT NULL,
  PRIMARY KEY (queue_id, position)
);

-- The keywords defined in each mailbox (domain::Mailbox::keywords, RFC 9051
-- §7.3.5 FLAGS): sorted, space separated. Appends, copies, moves and flag changes
-- add to it under the account lock.
ALTER TABLE mailboxes ADD COLUMN keywords text NOT NULL DEFAULT '';

-- The parts of a message's facts that MailStore::message_summaries() reads for
-- many messages at once, kept apart from the record (as in the sqlite schema,
-- migration 0008 there). A message has an envelope row when its facts were a
-- readable record at append, and search rows when that record had search fields.
CREATE TABLE message_envelopes (
  message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  envelope bytea NOT NULL
);
CREATE TABLE message_search_headers (
  message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  headers bytea NOT NULL
);
CREATE TABLE message_search_text (
  message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  text bytea NOT NULL
);

-- Report data (domain::ReportStore): DMARC evaluations and outbound TLS results
-- counted per hour and encoded row (domain/report_model.hpp encodings), the DMARC
-- policy seen per domain and hour, reports received from others, and the report
-- scheduler's cursors. Encodings are bytea: they carry header and DNS text
-- as received, which need not be UTF-8.
CREATE TABLE report_dmarc_rows (
  domain text NOT NULL,
  hour bigint NOT NULL,
  row bytea NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (domain, hour, row)
);
CREATE INDEX report_dmarc_rows_hour ON report_dmarc_rows (hour);

CREATE TABLE report_dmarc_policies (
  domain text NOT NULL,
  hour bigint NOT NULL,
  policy bytea NOT NULL,
  PRIMARY KEY (domain, hour)
);

CREATE TABLE report_tls_rows (
  domain text NOT NULL,
  hour bigint NOT NULL,
  policy bytea NOT NULL,
  detail bytea NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (domain, hour, policy, detail)
);
CREATE INDEX report_tls_rows_hour ON report_tls_rows (hour);

CREATE TABLE received_reports (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind smallint NOT NULL,
  org_name text NOT NULL,
  contact text NOT NULL,
  report_id text NOT NULL,
  policy_domain text NOT NULL,
  policy text NOT NULL,
  begin_time bigint NOT NULL,
  end_time bigint NOT NULL,
  received bigint NOT NULL,
  messages bigint NOT NULL,
  passed bigint NOT NULL,
  rows bytea NOT NULL,
  UNIQUE (kind, org_name, report_id)
);
CREATE INDEX received_reports_end ON received_reports (end_time);

CREATE TABLE report_cursors (
  name text PRIMARY KEY,
  value bigint NOT NULL
);
