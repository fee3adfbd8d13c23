// SPDX-License-Identifier: Apache-2.0
// SMTP TLS report documents (RFC 8460 §4): the JSON we send about one policy domain
// and period, and the reading of the JSON others send us.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/report_model.hpp"
#include "domain/reports/dmarc_report.hpp"

namespace tern::domain::reports {

// "<begin>.<policy-domain>@<submitter>", as dmarc_report_id(), for the Subject's
// Report-ID (RFC 8460 §5.3) and the "report-id" field.
std::string tls_report_id(std::string_view policy_domain, const Period& period,
                          std::string_view submitter);

// RFC 3339 UTC date-time "2016-04-01T00:00:00Z", and back (a numeric offset and
// fractional seconds are accepted when reading; nullopt for anything else).
std::string format_rfc3339(SystemTime time);
std::optional<SystemTime> parse_rfc3339(std::string_view text);

// The report for `policies` (one policy domain's summaries, tls_summary()):
// organization-name, date-range, contact-info (reporter.email), report-id and one
// "policies" entry per summary with its failure-details (RFC 8460 §4.4).
std::string build_tls_json(const std::vector<TlsPolicySummary>& policies, const Reporter& reporter,
                           const Period& period);

// Reads a TLS report (RFC 8460 §4.4). Rows: per failure detail (source =
// receiving-mx-hostname or receiving-ip, result = result-type, count =
// failed-session-count) plus one "success" row per policy with successful sessions
// (source = the policy type). policy_domain is the first policy's domain.
// kInvalidInput when it is not JSON or lacks organization-name, report-id,
// date-range or policies; input above kMaxReportBytes is refused.
Result<ReceivedReport> parse_tls_json(std::string_view json);

}  // namespace tern::domain::reports
