-- SPDX-License-Identifier: Apache-2.0
-- The parts of a message's facts that IMAP reads for a whole mailbox at a time
-- (MailStore::message_summaries()), kept apart as Dovecot's index cache keeps them:
-- FETCH ENVELOPE reads small envelope rows and SEARCH SUBJECT the folded header
-- fields without walking the search text, which is as large as the message's text
-- (docs/adr/0009-imap-server.md). One table per part, so each is densely packed.
-- A message has an envelope row when its facts were a readable record at append,
-- and search rows when that record had search fields; the rest of the record
-- (without search fields) is then in message_records and messages.facts is empty,
-- which keeps messages rows small for the entries() join that every FETCH and
-- SELECT makes. Messages stored before this migration have none of these rows:
-- their parts are split from messages.facts on read.
CREATE TABLE message_records (
  message_id INTEGER PRIMARY KEY,
  record BLOB NOT NULL
) STRICT;

CREATE TABLE message_envelopes (
  message_id INTEGER PRIMARY KEY,  -- messages.id
  envelope BLOB NOT NULL
) STRICT;

CREATE TABLE message_search_headers (
  message_id INTEGER PRIMARY KEY,
  headers BLOB NOT NULL
) STRICT;

CREATE TABLE message_search_text (
  message_id INTEGER PRIMARY KEY,
  text BLOB NOT NULL
) STRICT;

CREATE TRIGGER messages_delete_summaries AFTER DELETE ON messages
BEGIN
  DELETE FROM message_records WHERE message_id = old.id;
  DELETE FROM message_envelopes WHERE message_id = old.id;
  DELETE FROM message_search_headers WHERE message_id = old.id;
  DELETE FROM message_search_text WHERE message_id = old.id;
END;
