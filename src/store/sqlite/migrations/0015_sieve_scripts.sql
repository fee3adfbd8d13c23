-- SPDX-License-Identifier: Apache-2.0
-- Each account's Sieve scripts (domain::SieveScript, as ManageSieve keeps them)
-- and the vacation replies it sent (RFC 5230 §4.2 response tracking). Both go
-- with their account (remove_account deletes them). Times are SystemTime ticks.
CREATE TABLE sieve_scripts (
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  script TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, name)
) STRICT, WITHOUT ROWID;
-- At most one active script per account, whatever a writer gets wrong.
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts(account_id) WHERE active = 1;

CREATE TABLE sieve_vacation (
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  reply_key BLOB NOT NULL,                 -- opaque: the caller's hash of sender and :handle
  sent INTEGER NOT NULL,                   -- when the last reply was recorded
  expires INTEGER NOT NULL,                -- sent + the period it was recorded with
  PRIMARY KEY (account_id, reply_key)
) STRICT, WITHOUT ROWID;
