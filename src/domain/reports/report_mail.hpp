// SPDX-License-Identifier: Apache-2.0
// Report documents as mail: the messages that carry the reports we send (DMARC
// RFC 9990 §3.5.2, TLS-RPT RFC 8460 §5.3), and finding and reading the report
// attachments in mail we receive.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "domain/report_model.hpp"
#include "domain/reports/dmarc_report.hpp"

namespace tern::domain::reports {

// One report to send by mail.
struct ReportMessage {
  ReportKind kind = ReportKind::kDmarcAggregate;
  std::string policy_domain;
  std::string report_id;
  std::string from;             // the reporter's address (Reporter::email)
  std::vector<std::string> to;  // the mailto: addresses
  std::string filename;         // report_filename()
  std::string compressed;       // the gzipped document
  SystemTime now{};
};

// "<submitter>!<policy-domain>!<begin>!<end>.xml.gz" (RFC 9990 §3.5.2) or
// "....json.gz" (RFC 8460 §5.1).
std::string report_filename(ReportKind kind, std::string_view submitter,
                            std::string_view policy_domain, const Period& period);

// The whole message (CRLF, RFC 5322 + MIME), given the reporter's submitter domain:
//   DMARC: multipart/mixed, a text/plain note and the application/gzip attachment,
//          Subject "Report Domain: <d> Submitter: <s> Report-ID: <<id>>".
//   TLS:   multipart/report; report-type="tlsrpt" with application/tlsrpt+gzip,
//          TLS-Report-Domain and TLS-Report-Submitter fields, the same Subject form.
// The Message-ID carries the report id, so a re-sent report is recognisable.
std::string compose_report_message(const ReportMessage& message, std::string_view submitter);

// Reads one report file as received: gzip or zip containers are opened (bounded),
// then JSON is read as a TLS report and XML as a DMARC aggregate report.
// kInvalidInput when the bytes are neither.
Result<ReceivedReport> parse_report_file(std::string_view bytes);

// The reports in a message: every leaf part whose media type or file name says
// report (XML, JSON, gzip, zip, application/tlsrpt+*), decoded and read with
// parse_report_file(), the first 8 such parts at most. Parts that fail to read are
// skipped; kInvalidInput when the message holds no readable report at all.
Result<std::vector<ReceivedReport>> parse_report_message(std::string_view raw);

}  // namespace tern::domain::reports
