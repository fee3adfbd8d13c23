// SPDX-License-Identifier: Apache-2.0
// The SQL behind SqliteStorage's domain::ReportStore (migration 0007_reports.sql).
// Each function runs on the connection it is given, inside the transaction its
// caller (the writer or a reader thread) holds; SqliteStorage only routes the port
// calls here, so the report tables stay out of the mail code.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/report_model.hpp"
#include "domain/store_import.hpp"
#include "store/sqlite/connection.hpp"

namespace tern::store::sqlite::reports {

// Writers: run by the writer thread.
Result<void> record_dmarc(Connection& c, const domain::DmarcEvaluation& evaluation);
Result<void> record_tls(Connection& c, const domain::TlsSessionResult& result);
Result<bool> store_received(Connection& c, const domain::ReceivedReport& report);
Result<void> set_cursor(Connection& c, const std::string& name, SystemTime value);
// Compare-and-set of a cursor; run by the writer, whose transaction makes the
// read and the write one step.
Result<bool> compare_and_set_cursor(Connection& c, const std::string& name,
                                    std::optional<SystemTime> expected, SystemTime value);
// due_posts() with each row's next_attempt moved to now + lease, in the writer's
// transaction (sqlite has one writer, so two claims never overlap).
Result<std::vector<domain::ReportPost>> claim_posts(Connection& c, SystemTime now,
                                                    std::size_t limit, std::chrono::seconds lease);
Result<std::uint64_t> prune(Connection& c, SystemTime before);
// StoreImport::import_report_rows: adds the rows (counts add up on equal keys).
Result<void> import_rows(Connection& c, const domain::RecordedReportRows& rows);
// report_posts (migration 0009_report_posts.sql).
Result<void> put_post(Connection& c, const domain::ReportPost& post);
Result<void> remove_post(Connection& c, const std::string& uri, const std::string& report_id);

// Readers.
Result<std::vector<std::string>> dmarc_domains(Connection& c, SystemTime begin, SystemTime end);
Result<domain::DmarcAggregate> dmarc_aggregate(Connection& c, const std::string& domain,
                                               SystemTime begin, SystemTime end);
Result<std::vector<std::string>> tls_domains(Connection& c, SystemTime begin, SystemTime end);
Result<std::vector<domain::TlsPolicySummary>> tls_summary(Connection& c, const std::string& domain,
                                                          SystemTime begin, SystemTime end);
Result<std::vector<domain::ReceivedReport>> received(Connection& c,
                                                     const domain::ReceivedReportQuery& query);
Result<std::optional<SystemTime>> cursor(Connection& c, const std::string& name);
// StoreImport::export_report_rows: every recorded row, sorted by key.
Result<domain::RecordedReportRows> export_rows(Connection& c);
Result<std::vector<domain::ReportPost>> due_posts(Connection& c, SystemTime now, std::size_t limit);

}  // namespace tern::store::sqlite::reports
