-- SPDX-License-Identifier: Apache-2.0
-- Each account's Sieve scripts (domain::SieveScript, as ManageSieve keeps them)
-- and the vacation replies it sent (RFC 5230 §4.2 response tracking). Both go
-- with their account (remove_account deletes them). Times are SystemTime ticks.
-- Mirrors sqlite's 0015_sieve_scripts.sql; the script text is bytea so any
-- bytes round-trip as on the other backends.
CREATE TABLE sieve_scripts (
  account_id bigint NOT NULL REFERENCES accounts(id),
  name text NOT NULL,
  script bytea NOT NULL,
  active boolean NOT NULL DEFAULT false,
  PRIMARY KEY (account_id, name)
);
-- At most one active script per account, whatever a writer gets wrong.
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts(account_id) WHERE active;

CREATE TABLE sieve_vacation (
  account_id bigint NOT NULL REFERENCES accounts(id),
  reply_key bytea NOT NULL,                 -- opaque: the caller's hash of sender and :handle
  sent bigint NOT NULL,                     -- when the last reply was recorded
  expires bigint NOT NULL,                  -- sent + the period it was recorded with
  PRIMARY KEY (account_id, reply_key)
);
