-- SPDX-License-Identifier: Apache-2.0
-- TLS reports waiting to be POSTed to https: rua destinations (RFC 8460 §5.4),
-- with their retry schedule (§5.5), so that an undelivered report survives a
-- restart (domain::ReportPost). Times are Unix seconds. Mirrors sqlite's
-- 0009_report_posts.sql.
CREATE TABLE report_posts (
  uri text NOT NULL,
  report_id text NOT NULL,
  policy_domain text NOT NULL,
  document text NOT NULL,
  queued bigint NOT NULL,
  next_attempt bigint NOT NULL,
  attempts bigint NOT NULL,
  last_error text NOT NULL,
  PRIMARY KEY (uri, report_id)
);

CREATE INDEX report_posts_due ON report_posts (next_attempt);
