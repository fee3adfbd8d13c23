// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/tls_report.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "domain/reports/compression.hpp"
#include "mime/charset.hpp"

namespace tern::domain::reports {
namespace {

using Json = nlohmann::json;

// nlohmann's dump() throws on bytes that are not UTF-8; recorded strings come from
// peers (HELO names) and DNS, so they are cleaned first.
std::string utf8(std::string_view s) {
  return mime::is_utf8(s) ? std::string(s) : mime::sanitize_utf8(s);
}

Json string_array(const std::vector<std::string>& values) {
  Json out = Json::array();
  for (const auto& v : values) {
    out.push_back(utf8(v));
  }
  return out;
}

void put_if(Json& object, const char* key, const std::string& value) {
  if (!value.empty()) {
    object[key] = utf8(value);
  }
}

// A JSON string member or "" (a missing member or another type).
std::string string_at(const Json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t count_at(const Json& object, const char* key) {
  if (!object.is_object()) {
    return 0;
  }
  auto it = object.find(key);
  if (it == object.end()) {
    return 0;
  }
  if (it->is_number_unsigned()) {
    return it->get<std::uint64_t>();
  }
  if (it->is_number_integer()) {
    auto v = it->get<std::int64_t>();
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
  }
  return 0;
}

const Json& member(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

bool digits(std::string_view text, std::size_t at, std::size_t n, int& out) {
  if (at + n > text.size()) {
    return false;
  }
  auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + n, out);
  return ec == std::errc() && end == text.data() + at + n;
}

}  // namespace

std::string tls_report_id(std::string_view policy_domain, const Period& period,
                          std::string_view submitter) {
  return dmarc_report_id(policy_domain, period, submitter);
}

std::string format_rfc3339(SystemTime time) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto day = std::chrono::floor<std::chrono::days>(seconds);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{seconds - day};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()));
  return buffer;
}

std::optional<SystemTime> parse_rfc3339(std::string_view text) {
  // RFC 3339 §5.6: date-time = full-date "T" full-time; full-time ends in Z or ±hh:mm.
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !digits(text, 0, 4, year) || text[4] != '-' ||
      !digits(text, 5, 2, month) || text[7] != '-' || !digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(text, 11, 2, hour) ||
      text[13] != ':' || !digits(text, 14, 2, minute) || text[16] != ':' ||
      !digits(text, 17, 2, second)) {
    return std::nullopt;
  }
  std::size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      ++at;
    }
  }
  int offset_minutes = 0;
  const auto zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int h = 0, m = 0;
    if (!digits(zone, 1, 2, h) || !digits(zone, 4, 2, m)) {
      return std::nullopt;
    }
    offset_minutes = (zone[0] == '-' ? -1 : 1) * (h * 60 + m);
  } else {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  // SystemTime counts nanoseconds in 64 bits (about 1678..2262): years outside
  // 1970..2200 are refused rather than overflowed.
  if (!ymd.ok() || year < 1970 || year > 2200 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const auto days = std::chrono::sys_days(ymd);
  return SystemTime(days + std::chrono::hours(hour) + std::chrono::minutes(minute) +
                    std::chrono::seconds(second) - std::chrono::minutes(offset_minutes));
}

std::string build_tls_json(const std::vector<TlsPolicySummary>& policies, const Reporter& reporter,
                           const Period& period) {
  const std::string domain = policies.empty() ? std::string() : policies.front().policy_domain;
  Json report;
  report["organization-name"] = utf8(reporter.org_name);
  report["date-range"] = {{"start-datetime", format_rfc3339(period.begin)},
                          {"end-datetime", format_rfc3339(period.end)}};
  report["contact-info"] = utf8(reporter.email);
  report["report-id"] = utf8(tls_report_id(domain, period, reporter.submitter));
  Json list = Json::array();
  for (const auto& summary : policies) {
    Json policy;
    policy["policy-type"] = std::string(tls_policy_type_name(summary.policy_type));
    if (!summary.policy_strings.empty()) {
      policy["policy-string"] = string_array(summary.policy_strings);
    }
    policy["policy-domain"] = utf8(summary.policy_domain);
    if (!summary.mx_hosts.empty()) {
      policy["mx-host"] = string_array(summary.mx_hosts);
    }
    Json entry;
    entry["policy"] = std::move(policy);
    entry["summary"] = {{"total-successful-session-count", summary.successes},
                        {"total-failure-session-count", summary.failures}};
    if (!summary.failure_details.empty()) {
      Json details = Json::array();
      for (const auto& d : summary.failure_details) {
        Json detail;
        detail["result-type"] = std::string(tls_result_type_name(d.result));
        put_if(detail, "sending-mta-ip", d.sending_mta_ip);
        put_if(detail, "receiving-mx-hostname", d.receiving_mx_hostname);
        put_if(detail, "receiving-mx-helo", d.receiving_mx_helo);
        put_if(detail, "receiving-ip", d.receiving_ip);
        detail["failed-session-count"] = d.count;
        put_if(detail, "additional-information", d.additional_information);
        put_if(detail, "failure-reason-code", d.failure_reason_code);
        details.push_back(std::move(detail));
      }
      entry["failure-details"] = std::move(details);
    }
    list.push_back(std::move(entry));
  }
  report["policies"] = std::move(list);
  return report.dump(2) + "\n";
}

Result<ReceivedReport> parse_tls_json(std::string_view json) {
  if (json.size() > kMaxReportBytes) {
    return fail(ErrorCode::kLimitExceeded, "report too large");
  }
  // The non-throwing parse; a discarded value is malformed JSON. The walk below
  // reads members only through type-checked helpers, so it cannot throw either.
  const Json report = Json::parse(json.begin(), json.end(), nullptr, false);
  if (report.is_discarded() || !report.is_object()) {
    return fail(ErrorCode::kInvalidInput, "not a TLS report (not a JSON object)");
  }
  ReceivedReport out;
  out.kind = ReportKind::kTlsRpt;
  out.org_name = string_at(report, "organization-name");
  out.contact = string_at(report, "contact-info");
  out.report_id = string_at(report, "report-id");
  const Json& range = member(report, "date-range");
  auto begin = parse_rfc3339(string_at(range, "start-datetime"));
  auto end = parse_rfc3339(string_at(range, "end-datetime"));
  const Json& policies = member(report, "policies");
  if (out.org_name.empty() || out.report_id.empty() || !begin || !end || !policies.is_array()) {
    return fail(ErrorCode::kInvalidInput,
                "not a TLS report (missing organization-name, report-id, date-range or policies)");
  }
  out.begin = *begin;
  out.end = *end;
  std::string types;
  for (const Json& entry : policies) {
    const Json& policy = member(entry, "policy");
    const std::string type = string_at(policy, "policy-type");
    if (out.policy_domain.empty()) {
      out.policy_domain = string_at(policy, "policy-domain");
    }
    if (!type.empty() && types.find(type) == std::string::npos) {
      types += (types.empty() ? "" : " ") + type;
    }
    const Json& summary = member(entry, "summary");
    const auto successes = count_at(summary, "total-successful-session-count");
    const auto failures = count_at(summary, "total-failure-session-count");
    out.messages += successes + failures;
    out.passed += successes;
    if (successes > 0) {
      out.rows.push_back({type, successes, "success", "", "", ""});
    }
    const Json& details = member(entry, "failure-details");
    if (!details.is_array()) {
      continue;
    }
    for (const Json& detail : details) {
      std::string source = string_at(detail, "receiving-mx-hostname");
      if (source.empty()) {
        source = string_at(detail, "receiving-ip");
      }
      out.rows.push_back({std::move(source), count_at(detail, "failed-session-count"),
                          string_at(detail, "result-type"), "", "", ""});
    }
  }
  out.policy = types;
  return out;
}

}  // namespace tern::domain::reports
