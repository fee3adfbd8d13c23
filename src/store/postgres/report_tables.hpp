// SPDX-License-Identifier: Apache-2.0
// The SQL of domain::ReportStore for store::postgres: each function runs inside
// the transaction PostgresStorage opened for it. Rows are counted per policy
// domain, hour and encoded row (domain/report_model.hpp), so equal evaluations
// from any number of nodes add up in one row (INSERT ... ON CONFLICT DO UPDATE).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "domain/report_model.hpp"
#include "domain/store_import.hpp"
#include "store/postgres/connection.hpp"

namespace tern::store::postgres::reports {

// kInvalidInput without a policy domain or source address.
Result<void> record_dmarc(Connection& c, const domain::DmarcEvaluation& evaluation);
// kInvalidInput without a policy domain or with no sessions.
Result<void> record_tls(Connection& c, const domain::TlsSessionResult& result);
// False when a report with the same kind, org_name and report_id is stored.
Result<bool> store_received(Connection& c, const domain::ReceivedReport& report);
Result<void> set_cursor(Connection& c, const std::string& name, SystemTime value);
// Compare-and-set of a cursor in one statement (the row lock of the UPDATE, or
// the unique key of the INSERT, serialises concurrent callers).
Result<bool> compare_and_set_cursor(Connection& c, const std::string& name,
                                    std::optional<SystemTime> expected, SystemTime value);
// Rows older than `before` (by hour) and received reports that ended before it.
Result<std::uint64_t> prune(Connection& c, SystemTime before);
// StoreImport::import_report_rows: adds the rows (counts add up on equal keys).
Result<void> import_rows(Connection& c, const domain::RecordedReportRows& rows);
// StoreImport::export_report_rows: every recorded row, sorted by key (bytewise).
Result<domain::RecordedReportRows> export_rows(Connection& c);
// report_posts (migration 0003_report_posts.sql).
// due_posts() with each row's next_attempt moved to now + lease in one UPDATE;
// rows another transaction is claiming are skipped (FOR UPDATE SKIP LOCKED), so
// concurrent claimers get disjoint sets.
Result<std::vector<domain::ReportPost>> claim_posts(Connection& c, SystemTime now,
                                                    std::size_t limit, std::chrono::seconds lease);
Result<void> put_post(Connection& c, const domain::ReportPost& post);
Result<void> remove_post(Connection& c, const std::string& uri, const std::string& report_id);

Result<std::vector<std::string>> dmarc_domains(Connection& c, SystemTime begin, SystemTime end);
// kNotFound when the domain has no rows in the period.
Result<domain::DmarcAggregate> dmarc_aggregate(Connection& c, const std::string& domain,
                                               SystemTime begin, SystemTime end);
Result<std::vector<std::string>> tls_domains(Connection& c, SystemTime begin, SystemTime end);
Result<std::vector<domain::TlsPolicySummary>> tls_summary(Connection& c, const std::string& domain,
                                                          SystemTime begin, SystemTime end);
// Newest (by end, then id) first, at most query.limit.
Result<std::vector<domain::ReceivedReport>> received(Connection& c,
                                                     const domain::ReceivedReportQuery& query);
Result<std::optional<SystemTime>> cursor(Connection& c, const std::string& name);
Result<std::vector<domain::ReportPost>> due_posts(Connection& c, SystemTime now, std::size_t limit);

}  // namespace tern::store::postgres::reports
