-- SPDX-License-Identifier: Apache-2.0
-- The statistical spam filter's models (domain::SpamStore): per model its
-- message totals, each token's counts and the messages it learned (by key).
-- Mirrors sqlite's 0016_spam_models.sql. account_id 0 is the site-wide model, so
-- there is no foreign key: an account's rows go with it in remove_account.
-- Tokens (uint64 hashes) are stored as their int64 bit pattern; a token whose
-- counts are both 0 has no row. Every change to a model first locks (or
-- creates) its spam_models row, so changes to one model run one at a time.
CREATE TABLE spam_models (
  account_id bigint PRIMARY KEY,
  spam_messages bigint NOT NULL,
  ham_messages bigint NOT NULL
);

CREATE TABLE spam_tokens (
  account_id bigint NOT NULL,
  token bigint NOT NULL,
  spam bigint NOT NULL,
  ham bigint NOT NULL,
  PRIMARY KEY (account_id, token)
);

CREATE TABLE spam_learned (
  account_id bigint NOT NULL,
  message_key text NOT NULL,
  label smallint NOT NULL,                -- domain::SpamLabel: 0 spam, 1 ham
  PRIMARY KEY (account_id, message_key)
);
