// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/report_mail.hpp"

#include <algorithm>

#include "domain/reports/compression.hpp"
#include "domain/reports/tls_report.hpp"
#include "mime/builder.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"

namespace tern::domain::reports {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Does this part look like a report attachment? Media types reporters use (and
// mislabel: application/octet-stream with a .xml.gz name is common), or the name.
bool is_report_part(const mime::Part& part) {
  const auto& type = part.content_type;
  const std::string media = type.type + "/" + type.subtype;
  static constexpr std::string_view kTypes[] = {
      "application/gzip",  "application/x-gzip",           "application/zip",
      "application/x-zip", "application/x-zip-compressed", "text/xml",
      "application/xml",   "application/tlsrpt+json",      "application/tlsrpt+gzip"};
  if (std::find(std::begin(kTypes), std::end(kTypes), media) != std::end(kTypes)) {
    return true;
  }
  std::string name;
  if (part.disposition) {
    if (const auto* f = part.disposition->param("filename")) {
      name = lower(*f);
    }
  }
  if (name.empty()) {
    if (const auto* n = type.param("name")) {
      name = lower(*n);
    }
  }
  for (std::string_view ext : {".xml", ".xml.gz", ".zip", ".json", ".json.gz", ".gz"}) {
    if (ends_with(name, ext)) {
      return true;
    }
  }
  return false;
}

std::string_view skip_space(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n' ||
          s.front() == '\xef' || s.front() == '\xbb' || s.front() == '\xbf')) {
    s.remove_prefix(1);
  }
  return s;
}

}  // namespace

std::string report_filename(ReportKind kind, std::string_view submitter,
                            std::string_view policy_domain, const Period& period) {
  return std::string(submitter) + "!" + std::string(policy_domain) + "!" +
         std::to_string(to_unix_seconds(period.begin)) + "!" +
         std::to_string(to_unix_seconds(period.end)) +
         (kind == ReportKind::kTlsRpt ? ".json.gz" : ".xml.gz");
}

std::string compose_report_message(const ReportMessage& message, std::string_view submitter) {
  const bool tls = message.kind == ReportKind::kTlsRpt;
  // Base64 never contains "-" or "_", so this boundary cannot occur in the parts.
  const std::string boundary = "=_tern_report_" + std::to_string(to_unix_seconds(message.now));
  std::string raw;
  raw += mime::fold_field("From", message.from);
  std::string to;
  for (const auto& address : message.to) {
    to += (to.empty() ? "" : ", ") + address;
  }
  raw += mime::fold_field("To", to);
  raw += mime::fold_field("Date", mime::format_date(to_unix_seconds(message.now)));
  // RFC 9990 §3.5.2 / RFC 8460 §5.3 Subject; the Report-ID in angle brackets.
  raw += mime::fold_field("Subject", "Report Domain: " + message.policy_domain +
                                         " Submitter: " + std::string(submitter) + " Report-ID: <" +
                                         message.report_id + ">");
  raw += mime::fold_field("Message-ID", "<" + message.report_id + ">");
  if (tls) {
    raw += mime::fold_field("TLS-Report-Domain", message.policy_domain);
    raw += mime::fold_field("TLS-Report-Submitter", submitter);
  }
  raw += "MIME-Version: 1.0\r\n";
  raw += mime::fold_field(
      "Content-Type",
      std::string(tls ? "multipart/report; report-type=\"tlsrpt\"" : "multipart/mixed") +
          "; boundary=\"" + boundary + "\"");
  raw += "\r\n";
  raw += "This is a multipart message in MIME format.\r\n";
  raw += "--" + boundary + "\r\n";
  raw += "Content-Type: text/plain; charset=us-ascii\r\n";
  raw += "Content-Transfer-Encoding: 7bit\r\n\r\n";
  raw += std::string(tls ? "This is an aggregate TLS report from "
                         : "This is a DMARC aggregate report from ") +
         std::string(submitter) + " about " + message.policy_domain + ".\r\n";
  raw += "--" + boundary + "\r\n";
  raw += mime::fold_field("Content-Type",
                          std::string(tls ? "application/tlsrpt+gzip" : "application/gzip") +
                              "; name=\"" + message.filename + "\"");
  raw += "Content-Transfer-Encoding: base64\r\n";
  raw +=
      mime::fold_field("Content-Disposition", "attachment; filename=\"" + message.filename + "\"");
  raw += "\r\n";
  raw += mime::encode_base64(message.compressed);
  raw += "--" + boundary + "--\r\n";
  return raw;
}

Result<ReceivedReport> parse_report_file(std::string_view bytes) {
  std::string opened;
  if (is_gzip(bytes)) {
    TERN_TRY(opened, gunzip(bytes));
    bytes = opened;
  } else if (is_zip(bytes)) {
    TERN_TRY(opened, unzip_first(bytes));
    bytes = opened;
  }
  const auto start = skip_space(bytes);
  if (!start.empty() && start.front() == '{') {
    return parse_tls_json(bytes);
  }
  if (!start.empty() && start.front() == '<') {
    return parse_dmarc_xml(bytes);
  }
  return fail(ErrorCode::kInvalidInput, "not a DMARC or TLS report");
}

Result<std::vector<ReceivedReport>> parse_report_message(std::string_view raw) {
  const auto tree = mime::parse_message(raw);
  std::vector<ReceivedReport> out;
  std::string last_error = "no report attachment";
  // Each report part may inflate to kMaxReportBytes; a message gets a few of them,
  // not one per part of a crafted thousand-part message.
  constexpr std::size_t kMaxReportParts = 8;
  std::size_t tried = 0;
  for (const auto& part : tree.parts()) {
    if (part.kind != mime::PartKind::kLeaf || !is_report_part(part)) {
      continue;
    }
    if (++tried > kMaxReportParts) {
      break;
    }
    const auto body = raw.substr(part.body.begin, part.body.end - part.body.begin);
    auto report = parse_report_file(mime::decode_transfer(body, part.encoding));
    if (report) {
      out.push_back(std::move(*report));
    } else {
      last_error = report.error().message;
    }
  }
  if (out.empty()) {
    return fail(ErrorCode::kInvalidInput, "no readable report in the message: " + last_error);
  }
  return out;
}

}  // namespace tern::domain::reports
