-- SPDX-License-Identifier: Apache-2.0
-- Report data (domain::ReportStore): DMARC evaluations and outbound TLS results
-- counted per hour and encoded row (domain/report_model.hpp encodings), the DMARC
-- policy seen per domain and hour, reports received from others, and the report
-- scheduler's cursors. Counting equal rows keeps a busy day at a few rows per
-- distinct source instead of one per message.
CREATE TABLE report_dmarc_rows (
  domain TEXT NOT NULL,
  hour INTEGER NOT NULL,
  row TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (domain, hour, row)
) WITHOUT ROWID;
CREATE INDEX report_dmarc_rows_hour ON report_dmarc_rows (hour);

CREATE TABLE report_dmarc_policies (
  domain TEXT NOT NULL,
  hour INTEGER NOT NULL,
  policy TEXT NOT NULL,
  PRIMARY KEY (domain, hour)
) WITHOUT ROWID;

CREATE TABLE report_tls_rows (
  domain TEXT NOT NULL,
  hour INTEGER NOT NULL,
  policy TEXT NOT NULL,
  detail TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (domain, hour, policy, detail)
) WITHOUT ROWID;
CREATE INDEX report_tls_rows_hour ON report_tls_rows (hour);

CREATE TABLE received_reports (
  id INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  org_name TEXT NOT NULL,
  contact TEXT NOT NULL,
  report_id TEXT NOT NULL,
  policy_domain TEXT NOT NULL,
  policy TEXT NOT NULL,
  begin_time INTEGER NOT NULL,
  end_time INTEGER NOT NULL,
  received INTEGER NOT NULL,
  messages INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  rows TEXT NOT NULL,
  UNIQUE (kind, org_name, report_id)
);
CREATE INDEX received_reports_end ON received_reports (end_time);

CREATE TABLE report_cursors (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
