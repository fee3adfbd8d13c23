-- SPDX-License-Identifier: Apache-2.0
-- TLS reports waiting to be POSTed to https: rua destinations (RFC 8460 §5.4),
-- with their retry schedule (§5.5), so that an undelivered report survives a
-- restart (domain::ReportPost). Times are Unix seconds.
CREATE TABLE report_posts (
  uri TEXT NOT NULL,
  report_id TEXT NOT NULL,
  policy_domain TEXT NOT NULL,
  document TEXT NOT NULL,
  queued INTEGER NOT NULL,
  next_attempt INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  PRIMARY KEY (uri, report_id)
) WITHOUT ROWID;

CREATE INDEX report_posts_due ON report_posts (next_attempt);
