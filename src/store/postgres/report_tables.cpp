// SPDX-License-Identifier: Apache-2.0
#include "store/postgres/report_tables.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <tuple>

namespace tern::store::postgres::reports {

namespace d = tern::domain;

namespace {

Result<std::vector<std::string>> domains(Connection& c, const std::string& table, SystemTime begin,
                                         SystemTime end) {
  TERN_TRY(
      auto result,
      c.query("SELECT domain FROM " + table +
                  " WHERE hour >= $1 AND hour < $2 GROUP BY domain ORDER BY domain COLLATE \"C\"",
              static_cast<std::int64_t>(d::report_hour(begin)),
              static_cast<std::int64_t>(d::report_hour(end))));
  std::vector<std::string> out;
  for (int i = 0; i < result.size(); ++i) {
    out.push_back(result.text(i, 0));
  }
  return out;
}

}  // namespace

Result<void> record_dmarc(Connection& c, const d::DmarcEvaluation& evaluation) {
  TERN_TRY_VOID(d::check_dmarc_evaluation(evaluation));
  const auto hour = static_cast<std::int64_t>(d::report_hour(evaluation.time));
  const auto row = d::encode_dmarc_row(evaluation.row);
  const auto policy = d::encode_dmarc_policy(evaluation.policy);
  TERN_TRY_VOID(c.query("INSERT INTO report_dmarc_rows (domain, hour, row, count) "
                        "VALUES ($1, $2, $3, 1) ON CONFLICT (domain, hour, row) "
                        "DO UPDATE SET count = report_dmarc_rows.count + 1",
                        evaluation.policy.domain, hour, Bytes{row})
                    .transform([](const Rows&) {}));
  return c
      .query(
          "INSERT INTO report_dmarc_policies (domain, hour, policy) VALUES ($1, $2, $3) "
          "ON CONFLICT (domain, hour) DO UPDATE SET policy = excluded.policy",
          evaluation.policy.domain, hour, Bytes{policy})
      .transform([](const Rows&) {});
}

Result<void> record_tls(Connection& c, const d::TlsSessionResult& result) {
  TERN_TRY_VOID(d::check_tls_result(result));
  const auto policy = d::encode_tls_policy(result);
  const auto detail = d::encode_tls_detail(result);
  return c
      .query(
          "INSERT INTO report_tls_rows (domain, hour, policy, detail, count) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, hour, policy, detail) "
          "DO UPDATE SET count = report_tls_rows.count + excluded.count",
          result.policy_domain, static_cast<std::int64_t>(d::report_hour(result.time)),
          Bytes{policy}, Bytes{detail}, result.sessions)
      .transform([](const Rows&) {});
}

Result<bool> store_received(Connection& c, const d::ReceivedReport& report) {
  const auto rows = d::encode_received_rows(report.rows);
  TERN_TRY(auto result,
           c.query("INSERT INTO received_reports (kind, org_name, contact, report_id, "
                   "policy_domain, policy, begin_time, end_time, received, messages, passed, rows) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                   "ON CONFLICT (kind, org_name, report_id) DO NOTHING",
                   static_cast<int>(report.kind), report.org_name, report.contact, report.report_id,
                   report.policy_domain, report.policy,
                   static_cast<std::int64_t>(to_unix_seconds(report.begin)),
                   static_cast<std::int64_t>(to_unix_seconds(report.end)),
                   static_cast<std::int64_t>(to_unix_seconds(report.received)), report.messages,
                   report.passed, Bytes{rows}));
  return result.affected() > 0;
}

Result<void> set_cursor(Connection& c, const std::string& name, SystemTime value) {
  return c
      .query(
          "INSERT INTO report_cursors (name, value) VALUES ($1, $2) "
          "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
          name, static_cast<std::int64_t>(to_unix_seconds(value)))
      .transform([](const Rows&) {});
}

Result<bool> compare_and_set_cursor(Connection& c, const std::string& name,
                                    std::optional<SystemTime> expected, SystemTime value) {
  if (!expected) {
    TERN_TRY(auto inserted, c.query("INSERT INTO report_cursors (name, value) VALUES ($1, $2) "
                                    "ON CONFLICT (name) DO NOTHING",
                                    name, static_cast<std::int64_t>(to_unix_seconds(value))));
    return inserted.affected() > 0;
  }
  TERN_TRY(auto updated,
           c.query("UPDATE report_cursors SET value = $3 WHERE name = $1 AND value = $2", name,
                   static_cast<std::int64_t>(to_unix_seconds(*expected)),
                   static_cast<std::int64_t>(to_unix_seconds(value))));
  return updated.affected() > 0;
}

Result<void> import_rows(Connection& c, const d::RecordedReportRows& rows) {
  for (const auto& r : rows.dmarc) {
    TERN_TRY_VOID(d::check_recorded_row(r.domain, r.count));
    TERN_TRY_VOID(
        c.query("INSERT INTO report_dmarc_rows (domain, hour, row, count) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (domain, hour, row) "
                "DO UPDATE SET count = report_dmarc_rows.count + excluded.count",
                r.domain, r.hour, Bytes{r.row}, static_cast<std::int64_t>(r.count)));
  }
  for (const auto& p : rows.dmarc_policies) {
    TERN_TRY_VOID(d::check_recorded_row(p.domain, 1));
    TERN_TRY_VOID(
        c.query("INSERT INTO report_dmarc_policies (domain, hour, policy) "
                "VALUES ($1, $2, $3) ON CONFLICT (domain, hour) "
                "DO UPDATE SET policy = excluded.policy",
                p.domain, p.hour, Bytes{p.policy}));
  }
  for (const auto& t : rows.tls) {
    TERN_TRY_VOID(d::check_recorded_row(t.domain, t.count));
    TERN_TRY_VOID(c.query(
        "INSERT INTO report_tls_rows (domain, hour, policy, detail, count) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain, hour, policy, detail) "
        "DO UPDATE SET count = report_tls_rows.count + excluded.count",
        t.domain, t.hour, Bytes{t.policy}, Bytes{t.detail}, static_cast<std::int64_t>(t.count)));
  }
  return ok();
}

Result<d::RecordedReportRows> export_rows(Connection& c) {
  d::RecordedReportRows out;
  TERN_TRY(auto dmarc, c.query("SELECT domain, hour, row, count FROM report_dmarc_rows "
                               "ORDER BY domain COLLATE \"C\", hour, row"));
  for (int i = 0; i < dmarc.size(); ++i) {
    out.dmarc.push_back(
        {dmarc.text(i, 0), dmarc.int64(i, 1), dmarc.bytes(i, 2), dmarc.uint64(i, 3)});
  }
  TERN_TRY(auto policies, c.query("SELECT domain, hour, policy FROM report_dmarc_policies "
                                  "ORDER BY domain COLLATE \"C\", hour"));
  for (int i = 0; i < policies.size(); ++i) {
    out.dmarc_policies.push_back({policies.text(i, 0), policies.int64(i, 1), policies.bytes(i, 2)});
  }
  TERN_TRY(auto tls, c.query("SELECT domain, hour, policy, detail, count FROM report_tls_rows "
                             "ORDER BY domain COLLATE \"C\", hour, policy, detail"));
  for (int i = 0; i < tls.size(); ++i) {
    out.tls.push_back(
        {tls.text(i, 0), tls.int64(i, 1), tls.bytes(i, 2), tls.bytes(i, 3), tls.uint64(i, 4)});
  }
  return out;
}

Result<std::uint64_t> prune(Connection& c, SystemTime before) {
  const auto hour = static_cast<std::int64_t>(d::report_hour(before));
  std::uint64_t removed = 0;
  for (const char* table : {"report_dmarc_rows", "report_dmarc_policies", "report_tls_rows"}) {
    TERN_TRY(auto result, c.query("DELETE FROM " + std::string(table) + " WHERE hour < $1", hour));
    removed += result.affected();
  }
  TERN_TRY(auto result, c.query("DELETE FROM received_reports WHERE end_time < $1",
                                static_cast<std::int64_t>(to_unix_seconds(before))));
  return removed + result.affected();
}

Result<std::vector<std::string>> dmarc_domains(Connection& c, SystemTime begin, SystemTime end) {
  return domains(c, "report_dmarc_rows", begin, end);
}

Result<d::DmarcAggregate> dmarc_aggregate(Connection& c, const std::string& domain,
                                          SystemTime begin, SystemTime end) {
  const auto first = static_cast<std::int64_t>(d::report_hour(begin));
  const auto last = static_cast<std::int64_t>(d::report_hour(end));
  TERN_TRY(auto counted, c.query("SELECT row, sum(count) FROM report_dmarc_rows "
                                 "WHERE domain = $1 AND hour >= $2 AND hour < $3 GROUP BY row",
                                 domain, first, last));
  std::vector<d::CountedKey> rows;
  for (int i = 0; i < counted.size(); ++i) {
    rows.push_back({counted.bytes(i, 0), counted.uint64(i, 1)});
  }
  TERN_TRY(auto policy, c.query("SELECT policy FROM report_dmarc_policies "
                                "WHERE domain = $1 AND hour >= $2 AND hour < $3 "
                                "ORDER BY hour DESC LIMIT 1",
                                domain, first, last));
  if (rows.empty() || policy.empty()) {
    return Error{ErrorCode::kNotFound, "no DMARC data for " + domain};
  }
  return d::make_dmarc_aggregate(domain, policy.bytes(0, 0), std::move(rows));
}

Result<std::vector<std::string>> tls_domains(Connection& c, SystemTime begin, SystemTime end) {
  return domains(c, "report_tls_rows", begin, end);
}

Result<std::vector<d::TlsPolicySummary>> tls_summary(Connection& c, const std::string& domain,
                                                     SystemTime begin, SystemTime end) {
  TERN_TRY(auto counted, c.query("SELECT policy, detail, sum(count) FROM report_tls_rows "
                                 "WHERE domain = $1 AND hour >= $2 AND hour < $3 "
                                 "GROUP BY policy, detail",
                                 domain, static_cast<std::int64_t>(d::report_hour(begin)),
                                 static_cast<std::int64_t>(d::report_hour(end))));
  std::vector<d::CountedTlsKey> rows;
  for (int i = 0; i < counted.size(); ++i) {
    rows.push_back({counted.bytes(i, 0), counted.bytes(i, 1), counted.uint64(i, 2)});
  }
  return d::make_tls_summary(domain, std::move(rows));
}

Result<std::vector<d::ReceivedReport>> received(Connection& c,
                                                const d::ReceivedReportQuery& query) {
  // NULL parameters match everything, so one prepared statement serves every filter.
  Params params;
  if (query.kind) {
    params.add(static_cast<int>(*query.kind));
  } else {
    params.add(std::nullopt);
  }
  if (query.policy_domain) {
    params.add(*query.policy_domain);
  } else {
    params.add(std::nullopt);
  }
  params.add(static_cast<std::int64_t>(
      std::min<std::size_t>(query.limit, static_cast<std::size_t>(INT64_MAX))));
  TERN_TRY(auto result,
           c.exec("SELECT id, kind, org_name, contact, report_id, policy_domain, policy, "
                  "begin_time, end_time, received, messages, passed, rows FROM received_reports "
                  "WHERE ($1::smallint IS NULL OR kind = $1) AND ($2::text IS NULL OR "
                  "policy_domain = $2) ORDER BY end_time DESC, id DESC LIMIT $3",
                  params));
  std::vector<d::ReceivedReport> out;
  for (int i = 0; i < result.size(); ++i) {
    // rows is bytea (its encoding may hold any byte), hence bytes() for it.
    TERN_TRY(auto report,
             d::received_report_from({result.uint64(i, 0), result.int64(i, 1), result.text(i, 2),
                                      result.text(i, 3), result.text(i, 4), result.text(i, 5),
                                      result.text(i, 6), result.int64(i, 7), result.int64(i, 8),
                                      result.int64(i, 9), result.uint64(i, 10),
                                      result.uint64(i, 11), result.bytes(i, 12)}));
    out.push_back(std::move(report));
  }
  return out;
}

Result<std::optional<SystemTime>> cursor(Connection& c, const std::string& name) {
  TERN_TRY(auto result, c.query("SELECT value FROM report_cursors WHERE name = $1", name));
  if (result.empty()) {
    return std::optional<SystemTime>();
  }
  return std::optional<SystemTime>(from_unix_seconds(result.int64(0, 0)));
}

Result<void> put_post(Connection& c, const d::ReportPost& post) {
  TERN_TRY_VOID(d::check_report_post(post));
  return c
      .query(
          "INSERT INTO report_posts (uri, report_id, policy_domain, document, queued, "
          "next_attempt, attempts, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
          "ON CONFLICT (uri, report_id) DO UPDATE SET policy_domain = excluded.policy_domain, "
          "document = excluded.document, queued = excluded.queued, "
          "next_attempt = excluded.next_attempt, attempts = excluded.attempts, "
          "last_error = excluded.last_error",
          post.uri, post.report_id, post.policy_domain, post.document,
          static_cast<std::int64_t>(to_unix_seconds(post.queued)),
          static_cast<std::int64_t>(to_unix_seconds(post.next_attempt)),
          static_cast<std::int64_t>(post.attempts), post.last_error)
      .transform([](const Rows&) {});
}

Result<void> remove_post(Connection& c, const std::string& uri, const std::string& report_id) {
  return c.query("DELETE FROM report_posts WHERE uri = $1 AND report_id = $2", uri, report_id)
      .transform([](const Rows&) {});
}

namespace {

constexpr std::string_view kPostColumns =
    "uri, report_id, policy_domain, document, queued, next_attempt, attempts, last_error";

std::vector<d::ReportPost> posts_from(const Rows& result) {
  std::vector<d::ReportPost> out;
  for (int i = 0; i < result.size(); ++i) {
    d::ReportPost post;
    post.uri = result.text(i, 0);
    post.report_id = result.text(i, 1);
    post.policy_domain = result.text(i, 2);
    post.document = result.text(i, 3);
    post.queued = from_unix_seconds(result.int64(i, 4));
    post.next_attempt = from_unix_seconds(result.int64(i, 5));
    post.attempts = static_cast<std::uint32_t>(result.int64(i, 6));
    post.last_error = result.text(i, 7);
    out.push_back(std::move(post));
  }
  return out;
}

bool post_before(const d::ReportPost& a, const d::ReportPost& b) {
  return std::tie(a.next_attempt, a.uri, a.report_id) <
         std::tie(b.next_attempt, b.uri, b.report_id);
}

}  // namespace

Result<std::vector<d::ReportPost>> due_posts(Connection& c, SystemTime now, std::size_t limit) {
  TERN_TRY(auto result,
           c.query("SELECT " + std::string(kPostColumns) +
                       " FROM report_posts WHERE next_attempt <= $1 "
                       "ORDER BY next_attempt, uri COLLATE \"C\", report_id COLLATE \"C\" LIMIT $2",
                   static_cast<std::int64_t>(to_unix_seconds(now)),
                   static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX))));
  return posts_from(result);
}

Result<std::vector<d::ReportPost>> claim_posts(Connection& c, SystemTime now, std::size_t limit,
                                               std::chrono::seconds lease) {
  // As QueueStore::claim_due: SKIP LOCKED leaves the rows another node is
  // claiming right now to it, and the UPDATE moves the claimed ones past `now`
  // in the same statement, so no later claim sees them until the lease ends.
  TERN_TRY(auto result,
           c.query("WITH due AS (SELECT uri, report_id FROM report_posts WHERE next_attempt <= $1 "
                   "ORDER BY next_attempt, uri COLLATE \"C\", report_id COLLATE \"C\" LIMIT $2 "
                   "FOR UPDATE SKIP LOCKED) UPDATE report_posts p SET next_attempt = $3 FROM due "
                   "WHERE p.uri = due.uri AND p.report_id = due.report_id RETURNING p.uri, "
                   "p.report_id, p.policy_domain, p.document, p.queued, p.next_attempt, "
                   "p.attempts, p.last_error",
                   static_cast<std::int64_t>(to_unix_seconds(now)),
                   static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)),
                   static_cast<std::int64_t>(to_unix_seconds(now + lease))));
  auto out = posts_from(result);
  // RETURNING has no order; the port promises due_report_posts()'s (byte order,
  // as COLLATE "C" sorts).
  std::sort(out.begin(), out.end(), post_before);
  return out;
}

}  // namespace tern::store::postgres::reports
