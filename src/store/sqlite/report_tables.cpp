// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite/report_tables.hpp"

#include <algorithm>

namespace tern::store::sqlite::reports {

namespace d = tern::domain;

namespace {

Result<std::vector<std::string>> domains(Connection& c, std::string_view table, SystemTime begin,
                                         SystemTime end) {
  TERN_TRY(auto stmt, c.query("SELECT DISTINCT domain FROM " + std::string(table) +
                                  " WHERE hour >= ?1 AND hour < ?2 ORDER BY domain",
                              d::report_hour(begin), d::report_hour(end)));
  std::vector<std::string> out;
  for (;;) {
    TERN_TRY(bool row, stmt.next());
    if (!row) {
      return out;
    }
    out.push_back(stmt.text(0));
  }
}

Result<d::DmarcAggregate> aggregate_in_transaction(Connection& c, const std::string& domain,
                                                   SystemTime begin, SystemTime end);

}  // namespace

Result<void> record_dmarc(Connection& c, const d::DmarcEvaluation& evaluation) {
  TERN_TRY_VOID(d::check_dmarc_evaluation(evaluation));
  const auto hour = d::report_hour(evaluation.time);
  TERN_TRY_VOID(
      c.run("INSERT INTO report_dmarc_rows (domain, hour, row, count) VALUES (?1, ?2, ?3, 1) "
            "ON CONFLICT (domain, hour, row) DO UPDATE SET count = count + 1",
            evaluation.policy.domain, hour, d::encode_dmarc_row(evaluation.row)));
  return c.run(
      "INSERT INTO report_dmarc_policies (domain, hour, policy) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (domain, hour) DO UPDATE SET policy = excluded.policy",
      evaluation.policy.domain, hour, d::encode_dmarc_policy(evaluation.policy));
}

Result<void> record_tls(Connection& c, const d::TlsSessionResult& result) {
  TERN_TRY_VOID(d::check_tls_result(result));
  return c.run(
      "INSERT INTO report_tls_rows (domain, hour, policy, detail, count) VALUES (?1, ?2, ?3, ?4, "
      "?5) "
      "ON CONFLICT (domain, hour, policy, detail) DO UPDATE SET count = count + excluded.count",
      result.policy_domain, d::report_hour(result.time), d::encode_tls_policy(result),
      d::encode_tls_detail(result), static_cast<std::int64_t>(result.sessions));
}

Result<bool> store_received(Connection& c, const d::ReceivedReport& report) {
  TERN_TRY_VOID(c.run(
      "INSERT INTO received_reports (kind, org_name, contact, report_id, policy_domain, policy, "
      "begin_time, end_time, received, messages, passed, rows) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (kind, org_name, report_id) DO NOTHING",
      static_cast<std::int64_t>(report.kind), report.org_name, report.contact, report.report_id,
      report.policy_domain, report.policy, to_unix_seconds(report.begin),
      to_unix_seconds(report.end), to_unix_seconds(report.received),
      static_cast<std::int64_t>(report.messages), static_cast<std::int64_t>(report.passed),
      d::encode_received_rows(report.rows)));
  return c.changes() > 0;
}

Result<void> set_cursor(Connection& c, const std::string& name, SystemTime value) {
  return c.run(
      "INSERT INTO report_cursors (name, value) VALUES (?1, ?2) "
      "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      name, to_unix_seconds(value));
}

Result<bool> compare_and_set_cursor(Connection& c, const std::string& name,
                                    std::optional<SystemTime> expected, SystemTime value) {
  if (!expected) {
    TERN_TRY_VOID(c.run(
        "INSERT INTO report_cursors (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        name, to_unix_seconds(value)));
  } else {
    TERN_TRY_VOID(c.run("UPDATE report_cursors SET value = ?3 WHERE name = ?1 AND value = ?2", name,
                        to_unix_seconds(*expected), to_unix_seconds(value)));
  }
  return c.changes() > 0;
}

Result<void> import_rows(Connection& c, const d::RecordedReportRows& rows) {
  for (const auto& r : rows.dmarc) {
    TERN_TRY_VOID(d::check_recorded_row(r.domain, r.count));
    TERN_TRY_VOID(
        c.run("INSERT INTO report_dmarc_rows (domain, hour, row, count) VALUES (?1, ?2, ?3, ?4) "
              "ON CONFLICT (domain, hour, row) DO UPDATE SET count = count + excluded.count",
              r.domain, r.hour, r.row, static_cast<std::int64_t>(r.count)));
  }
  for (const auto& p : rows.dmarc_policies) {
    TERN_TRY_VOID(d::check_recorded_row(p.domain, 1));
    TERN_TRY_VOID(
        c.run("INSERT INTO report_dmarc_policies (domain, hour, policy) VALUES (?1, ?2, ?3) "
              "ON CONFLICT (domain, hour) DO UPDATE SET policy = excluded.policy",
              p.domain, p.hour, p.policy));
  }
  for (const auto& t : rows.tls) {
    TERN_TRY_VOID(d::check_recorded_row(t.domain, t.count));
    TERN_TRY_VOID(c.run(
        "INSERT INTO report_tls_rows (domain, hour, policy, detail, count) "
        "VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (domain, hour, policy, detail) DO UPDATE SET count = count + excluded.count",
        t.domain, t.hour, t.policy, t.detail, static_cast<std::int64_t>(t.count)));
  }
  return ok();
}

Result<std::uint64_t> prune(Connection& c, SystemTime before) {
  const auto hour = d::report_hour(before);
  std::uint64_t removed = 0;
  for (const char* table : {"report_dmarc_rows", "report_dmarc_policies", "report_tls_rows"}) {
    TERN_TRY_VOID(c.run("DELETE FROM " + std::string(table) + " WHERE hour < ?1", hour));
    removed += static_cast<std::uint64_t>(c.changes());
  }
  TERN_TRY_VOID(c.run("DELETE FROM received_reports WHERE end_time < ?1", to_unix_seconds(before)));
  removed += static_cast<std::uint64_t>(c.changes());
  return removed;
}

Result<std::vector<std::string>> dmarc_domains(Connection& c, SystemTime begin, SystemTime end) {
  return domains(c, "report_dmarc_rows", begin, end);
}

Result<d::DmarcAggregate> dmarc_aggregate(Connection& c, const std::string& domain,
                                          SystemTime begin, SystemTime end) {
  // One read transaction, so the rows and the policy come from one snapshot.
  TERN_TRY_VOID(c.exec("BEGIN"));
  auto result = aggregate_in_transaction(c, domain, begin, end);
  (void)c.exec("COMMIT");
  return result;
}

namespace {

Result<d::DmarcAggregate> aggregate_in_transaction(Connection& c, const std::string& domain,
                                                   SystemTime begin, SystemTime end) {
  const auto first = d::report_hour(begin);
  const auto last = d::report_hour(end);
  TERN_TRY(auto stmt, c.query("SELECT row, SUM(count) FROM report_dmarc_rows "
                              "WHERE domain = ?1 AND hour >= ?2 AND hour < ?3 GROUP BY row",
                              domain, first, last));
  std::vector<d::CountedKey> rows;
  for (;;) {
    TERN_TRY(bool more, stmt.next());
    if (!more) {
      break;
    }
    rows.push_back({stmt.text(0), stmt.uint64(1)});
  }
  TERN_TRY(auto policy, c.query("SELECT policy FROM report_dmarc_policies "
                                "WHERE domain = ?1 AND hour >= ?2 AND hour < ?3 "
                                "ORDER BY hour DESC LIMIT 1",
                                domain, first, last));
  TERN_TRY(bool found, policy.next());
  if (rows.empty() || !found) {
    return fail(ErrorCode::kNotFound, "no DMARC data for " + domain);
  }
  return d::make_dmarc_aggregate(domain, policy.text(0), std::move(rows));
}

}  // namespace

Result<std::vector<std::string>> tls_domains(Connection& c, SystemTime begin, SystemTime end) {
  return domains(c, "report_tls_rows", begin, end);
}

Result<std::vector<d::TlsPolicySummary>> tls_summary(Connection& c, const std::string& domain,
                                                     SystemTime begin, SystemTime end) {
  TERN_TRY(auto stmt, c.query("SELECT policy, detail, SUM(count) FROM report_tls_rows "
                              "WHERE domain = ?1 AND hour >= ?2 AND hour < ?3 "
                              "GROUP BY policy, detail",
                              domain, d::report_hour(begin), d::report_hour(end)));
  std::vector<d::CountedTlsKey> rows;
  for (;;) {
    TERN_TRY(bool more, stmt.next());
    if (!more) {
      break;
    }
    rows.push_back({stmt.text(0), stmt.text(1), stmt.uint64(2)});
  }
  return d::make_tls_summary(domain, std::move(rows));
}

Result<std::vector<d::ReceivedReport>> received(Connection& c,
                                                const d::ReceivedReportQuery& query) {
  // NULL parameters match everything, so one statement serves every filter.
  std::string sql =
      "SELECT id, kind, org_name, contact, report_id, policy_domain, policy, begin_time, "
      "end_time, received, messages, passed, rows FROM received_reports "
      "WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR policy_domain = ?2) "
      "ORDER BY end_time DESC, id DESC LIMIT ?3";
  auto limit = static_cast<std::int64_t>(std::min<std::size_t>(query.limit, INT64_MAX));
  auto run = [&]() -> Result<Statement> {
    if (query.kind && query.policy_domain) {
      return c.query(sql, static_cast<std::int64_t>(*query.kind), *query.policy_domain, limit);
    }
    if (query.kind) {
      return c.query(sql, static_cast<std::int64_t>(*query.kind), std::nullopt, limit);
    }
    if (query.policy_domain) {
      return c.query(sql, std::nullopt, *query.policy_domain, limit);
    }
    return c.query(sql, std::nullopt, std::nullopt, limit);
  };
  TERN_TRY(auto stmt, run());
  std::vector<d::ReceivedReport> out;
  for (;;) {
    TERN_TRY(bool more, stmt.next());
    if (!more) {
      return out;
    }
    TERN_TRY(auto report,
             d::received_report_from({stmt.uint64(0), stmt.int64(1), stmt.text(2), stmt.text(3),
                                      stmt.text(4), stmt.text(5), stmt.text(6), stmt.int64(7),
                                      stmt.int64(8), stmt.int64(9), stmt.uint64(10),
                                      stmt.uint64(11), stmt.text(12)}));
    out.push_back(std::move(report));
  }
}

Result<std::optional<SystemTime>> cursor(Connection& c, const std::string& name) {
  TERN_TRY(auto value, c.scalar("SELECT value FROM report_cursors WHERE name = ?1", name));
  if (!value) {
    return std::optional<SystemTime>();
  }
  return std::optional<SystemTime>(from_unix_seconds(*value));
}

Result<d::RecordedReportRows> export_rows(Connection& c) {
  d::RecordedReportRows out;
  TERN_TRY(auto dmarc, c.query("SELECT domain, hour, row, count FROM report_dmarc_rows "
                               "ORDER BY domain, hour, row"));
  for (;;) {
    TERN_TRY(bool row, dmarc.next());
    if (!row) {
      break;
    }
    out.dmarc.push_back({dmarc.text(0), dmarc.int64(1), dmarc.text(2), dmarc.uint64(3)});
  }
  TERN_TRY(auto policies, c.query("SELECT domain, hour, policy FROM report_dmarc_policies "
                                  "ORDER BY domain, hour"));
  for (;;) {
    TERN_TRY(bool row, policies.next());
    if (!row) {
      break;
    }
    out.dmarc_policies.push_back({policies.text(0), policies.int64(1), policies.text(2)});
  }
  TERN_TRY(auto tls, c.query("SELECT domain, hour, policy, detail, count FROM report_tls_rows "
                             "ORDER BY domain, hour, policy, detail"));
  for (;;) {
    TERN_TRY(bool row, tls.next());
    if (!row) {
      break;
    }
    out.tls.push_back({tls.text(0), tls.int64(1), tls.text(2), tls.text(3), tls.uint64(4)});
  }
  return out;
}

Result<void> put_post(Connection& c, const d::ReportPost& post) {
  TERN_TRY_VOID(d::check_report_post(post));
  return c.run(
      "INSERT INTO report_posts (uri, report_id, policy_domain, document, queued, next_attempt, "
      "attempts, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT (uri, report_id) DO UPDATE SET policy_domain = excluded.policy_domain, "
      "document = excluded.document, queued = excluded.queued, "
      "next_attempt = excluded.next_attempt, attempts = excluded.attempts, "
      "last_error = excluded.last_error",
      post.uri, post.report_id, post.policy_domain, post.document, to_unix_seconds(post.queued),
      to_unix_seconds(post.next_attempt), static_cast<std::int64_t>(post.attempts),
      post.last_error);
}

Result<void> remove_post(Connection& c, const std::string& uri, const std::string& report_id) {
  return c.run("DELETE FROM report_posts WHERE uri = ?1 AND report_id = ?2", uri, report_id);
}

Result<std::vector<d::ReportPost>> due_posts(Connection& c, SystemTime now, std::size_t limit) {
  TERN_TRY(auto stmt,
           c.query("SELECT uri, report_id, policy_domain, document, queued, next_attempt, "
                   "attempts, last_error FROM report_posts WHERE next_attempt <= ?1 "
                   "ORDER BY next_attempt, uri, report_id LIMIT ?2",
                   to_unix_seconds(now),
                   static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX))));
  std::vector<d::ReportPost> out;
  for (;;) {
    TERN_TRY(bool row, stmt.next());
    if (!row) {
      return out;
    }
    d::ReportPost post;
    post.uri = stmt.text(0);
    post.report_id = stmt.text(1);
    post.policy_domain = stmt.text(2);
    post.document = stmt.text(3);
    post.queued = from_unix_seconds(stmt.int64(4));
    post.next_attempt = from_unix_seconds(stmt.int64(5));
    post.attempts = static_cast<std::uint32_t>(stmt.int64(6));
    post.last_error = stmt.text(7);
    out.push_back(std::move(post));
  }
}

Result<std::vector<d::ReportPost>> claim_posts(Connection& c, SystemTime now, std::size_t limit,
                                               std::chrono::seconds lease) {
  TERN_TRY(auto due, due_posts(c, now, limit));
  const auto until = now + lease;
  for (auto& post : due) {
    TERN_TRY_VOID(
        c.run("UPDATE report_posts SET next_attempt = ?3 WHERE uri = ?1 AND report_id = ?2",
              post.uri, post.report_id, to_unix_seconds(until)));
    post.next_attempt = from_unix_seconds(to_unix_seconds(until));
  }
  return due;
}

}  // namespace tern::store::sqlite::reports
