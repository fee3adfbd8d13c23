// SPDX-License-Identifier: Apache-2.0
// store::memory's domain::ReportStore: the report data of MemoryStorage, kept in
// maps under a mutex of its own (reports never share a transaction with mail).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "domain/ports.hpp"
#include "domain/store_import.hpp"

namespace tern::store::memory {

// Counts equal rows per hour as the port describes; every future is ready at once.
// Received-report ids count up from 1. Thread-safe: each call is one step under
// the mutex.
class MemoryReportStore final : public domain::ReportStore {
 public:
  domain::Async<void> record_dmarc(domain::DmarcEvaluation evaluation) override;
  domain::Async<void> record_tls(domain::TlsSessionResult result) override;
  domain::Async<std::vector<std::string>> dmarc_domains(SystemTime begin, SystemTime end) override;
  domain::Async<domain::DmarcAggregate> dmarc_aggregate(std::string domain, SystemTime begin,
                                                        SystemTime end) override;
  domain::Async<std::vector<std::string>> tls_domains(SystemTime begin, SystemTime end) override;
  domain::Async<std::vector<domain::TlsPolicySummary>> tls_summary(std::string domain,
                                                                   SystemTime begin,
                                                                   SystemTime end) override;
  domain::Async<bool> store_received_report(domain::ReceivedReport report) override;
  domain::Async<std::vector<domain::ReceivedReport>> received_reports(
      domain::ReceivedReportQuery query) override;
  domain::Async<std::optional<SystemTime>> report_cursor(std::string name) override;
  domain::Async<void> set_report_cursor(std::string name, SystemTime value) override;
  domain::Async<bool> compare_and_set_report_cursor(std::string name,
                                                    std::optional<SystemTime> expected,
                                                    SystemTime value) override;
  domain::Async<void> put_report_post(domain::ReportPost post) override;
  domain::Async<std::vector<domain::ReportPost>> due_report_posts(SystemTime now,
                                                                  std::size_t limit) override;
  domain::Async<std::vector<domain::ReportPost>> claim_report_posts(
      SystemTime now, std::size_t limit, std::chrono::seconds lease) override;
  domain::Async<void> remove_report_post(std::string uri, std::string report_id) override;
  domain::Async<std::uint64_t> prune_reports(SystemTime before) override;

  // MemoryStorage's StoreImport::export_report_rows / import_report_rows.
  domain::Async<domain::RecordedReportRows> export_rows();
  domain::Async<void> import_rows(domain::RecordedReportRows rows);

 private:
  std::mutex mutex_;  // guards everything below
  // (domain, hour, encoded row) -> count
  std::map<std::tuple<std::string, std::int64_t, std::string>, std::uint64_t> dmarc_;
  // (domain, hour) -> encoded policy, the last one recorded in that hour
  std::map<std::pair<std::string, std::int64_t>, std::string> dmarc_policies_;
  // (domain, hour, encoded policy, encoded detail) -> sessions
  std::map<std::tuple<std::string, std::int64_t, std::string, std::string>, std::uint64_t> tls_;
  std::vector<domain::ReceivedReport> received_;
  std::map<std::string, SystemTime> cursors_;
  std::map<std::pair<std::string, std::string>, domain::ReportPost> posts_;  // (uri, report_id)

  // due_report_posts() under the held mutex: pointers into posts_.
  std::vector<domain::ReportPost*> due_locked(SystemTime now, std::size_t limit);
  std::uint64_t next_report_id_ = 1;
};

}  // namespace tern::store::memory
