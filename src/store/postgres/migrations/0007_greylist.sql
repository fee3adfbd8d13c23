-- SPDX-License-Identifier: Apache-2.0
-- Greylisting's records (domain::GreylistStore), as sqlite's 0017_greylist.sql:
-- one row per (client network, sender, recipient) triplet, times in Unix
-- seconds. An attempt takes a transaction-scoped advisory lock on its triplet
-- first, so concurrent attempts of one triplet (on any node) run one at a time.
CREATE TABLE greylist (
  client text NOT NULL,
  sender text NOT NULL,
  recipient text NOT NULL,
  first_seen bigint NOT NULL,
  last_seen bigint NOT NULL,
  passed boolean NOT NULL,
  PRIMARY KEY (client, sender, recipient)
);

CREATE INDEX greylist_last_seen ON greylist (last_seen);
