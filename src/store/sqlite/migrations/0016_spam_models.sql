-- SPDX-License-Identifier: Apache-2.0
-- The statistical spam filter's models (domain::SpamStore): per model its
-- message totals, each token's counts and the messages it learned (by key).
-- account_id 0 is the site-wide model, so there is no foreign key: an account's
-- rows go with it in remove_account. Tokens (uint64 hashes) are stored as their
-- int64 bit pattern; a token whose counts are both 0 has no row.
CREATE TABLE spam_models (
  account_id INTEGER PRIMARY KEY,
  spam_messages INTEGER NOT NULL,
  ham_messages INTEGER NOT NULL
) STRICT;

CREATE TABLE spam_tokens (
  account_id INTEGER NOT NULL,
  token INTEGER NOT NULL,
  spam INTEGER NOT NULL,
  ham INTEGER NOT NULL,
  PRIMARY KEY (account_id, token)
) STRICT, WITHOUT ROWID;

CREATE TABLE spam_learned (
  account_id INTEGER NOT NULL,
  message_key TEXT NOT NULL,
  label INTEGER NOT NULL,                 -- domain::SpamLabel: 0 spam, 1 ham
  PRIMARY KEY (account_id, message_key)
) STRICT, WITHOUT ROWID;
