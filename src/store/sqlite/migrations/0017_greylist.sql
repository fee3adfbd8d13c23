-- SPDX-License-Identifier: Apache-2.0
-- Greylisting's records (domain::GreylistStore): one row per (client network,
-- sender, recipient) triplet, times in Unix seconds. purge_greylist() deletes
-- by last_seen.
CREATE TABLE greylist (
  client TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  PRIMARY KEY (client, sender, recipient)
) STRICT, WITHOUT ROWID;

CREATE INDEX greylist_last_seen ON greylist (last_seen);
