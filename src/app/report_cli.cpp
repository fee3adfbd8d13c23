// SPDX-License-Identifier: Apache-2.0
#include "app/report_cli.hpp"

#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/dns_cli.hpp"
#include "app/settings_file.hpp"
#include "domain/reports/ingest.hpp"
#include "domain/reports/report_mail.hpp"
#include "domain/reports/tls_report.hpp"
#include "runtime/dns_resolver.hpp"
#include "runtime/https_client.hpp"
#include "runtime/system_clock.hpp"

namespace tern::app {

namespace r = tern::domain::reports;

const char* const kReportUsage =
    R"(  report dmarc|tls --print [--previous]   the reports of the current period so far
        (or the last complete one) as they would be sent, one document per domain
  report dmarc|tls --send-now [--previous]   queue those reports now, DKIM-signed
        with the [[dkim]] key of [reports] email's domain, and POST TLS reports to
        https: destinations (the daily timer of ternd sends each complete period
        once; a report sent again has the same Report-ID and file name, so
        receivers replace the earlier one; failed POSTs are retried by ternd)
  report dmarc|tls --list [DOMAIN]   reports received from others, newest first
  report posts   TLS reports waiting to be POSTed to https: destinations
  report import FILE...   store received reports from files (.xml, .xml.gz, .zip,
        .json, .json.gz, or whole messages .eml)
  report ingest [ADDRESS]   read new reports in the INBOX of ADDRESS ([reports] inbox)
)";

namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

int usage(std::string_view why) {
  fmt::print(stderr, "tern report: {}\n{}", why, kReportUsage);
  return kUsage;
}

int failed(const Error& error) {
  fmt::print(stderr, "tern report: {}\n", error.message);
  return kFailed;
}

std::string date_of(SystemTime t) {
  return r::format_rfc3339(t);
}

int list(domain::Storage& storage, domain::ReportKind kind, const std::vector<std::string>& rest) {
  domain::ReceivedReportQuery query;
  query.kind = kind;
  query.limit = 1000;
  if (!rest.empty()) {
    query.policy_domain = rest[0];
  }
  auto reports = storage.reports().received_reports(query).get();
  if (!reports) {
    return failed(reports.error());
  }
  for (const auto& report : *reports) {
    fmt::print("{} {} .. {}  {}  from {} <{}>  id {}\n", report.policy_domain,
               date_of(report.begin), date_of(report.end), report.policy, report.org_name,
               report.contact, report.report_id);
    fmt::print("  {} {}, {} passed\n", report.messages,
               kind == domain::ReportKind::kTlsRpt ? "sessions" : "messages", report.passed);
    for (const auto& row : report.rows) {
      if (kind == domain::ReportKind::kTlsRpt) {
        fmt::print("  {:>8}  {}  {}\n", row.count, row.result, row.source);
      } else {
        fmt::print("  {:>8}  {}  disposition={} dkim={} spf={} header_from={}\n", row.count,
                   row.source, row.result, row.dkim, row.spf, row.header_from);
      }
    }
  }
  if (reports->empty()) {
    fmt::print("no {} reports received\n", domain::report_kind_name(kind));
  }
  return kOk;
}

int list_posts(domain::Storage& storage) {
  runtime::SystemClock clock;
  auto posts = r::pending_report_posts(storage.reports(), clock.now(), 1000);
  if (!posts) {
    return failed(posts.error());
  }
  for (const auto& post : *posts) {
    fmt::print("{} {}  {}  attempts {}  next {}{}\n", post.policy_domain, post.report_id, post.uri,
               post.attempts, date_of(post.next_attempt),
               post.last_error.empty() ? std::string() : "  last error: " + post.last_error);
  }
  if (posts->empty()) {
    fmt::print("no TLS reports waiting for an HTTPS POST\n");
  }
  return kOk;
}

int generate(const config::Settings& settings, domain::Storage& storage, domain::ReportKind kind,
             bool send, bool previous) {
  // The keys ternd signs with, so mail queued here verifies the same way.
  auto dkim = load_dkim_keys("config", settings.dkim);
  if (!dkim) {
    return failed(dkim.error());
  }
  auto generator = report_settings(settings.reports, *dkim);
  generator.dmarc = kind == domain::ReportKind::kDmarcAggregate;
  generator.tls = kind == domain::ReportKind::kTlsRpt;
  auto resolver = cli_resolver(settings);
  if (!resolver) {
    return failed(resolver.error());
  }
  ResolverTxtLookup dns(**resolver);
  runtime::SystemClock clock;
  const auto now = clock.now();
  const auto length = generator.interval.count();
  auto begin = to_unix_seconds(now) / length * length;
  if (previous) {
    begin -= length;
  }
  const r::Period period{from_unix_seconds(begin), from_unix_seconds(begin + length)};
  auto prepared = r::prepare_reports(storage.reports(), generator, dns, period, now);
  if (!prepared) {
    return failed(prepared.error());
  }
  for (const auto& report : *prepared) {
    for (const auto& note : report.skipped) {
      fmt::print(stderr, "{}: skipped {}\n", report.domain, note);
    }
    if (!send) {
      fmt::print("{}", report.document);
      continue;
    }
    if (report.recipients.empty() && report.post_uris.empty()) {
      fmt::print("{}: no recipient, not sent\n", report.domain);
    }
  }
  int status = kOk;
  if (send) {
    auto queued = r::queue_reports(storage.queue(), storage.reports(), generator, *prepared, now);
    if (!queued) {
      return failed(queued.error());
    }
    for (const auto& report : *prepared) {
      if (!report.recipients.empty()) {
        fmt::print("queued {} for {}\n", report.filename, fmt::join(report.recipients, ", "));
      }
    }
    if (queued->posts > 0) {
      // The first attempt now; ternd retries what fails (RFC 8460 §5.5).
      HttpsReportPoster poster(**resolver, settings.outbound.ca_file, log::Logger());
      auto run = r::deliver_report_posts(storage.reports(), poster, now, queued->posts);
      if (!run) {
        return failed(run.error());
      }
      for (const auto& report : *prepared) {
        for (const auto& uri : report.post_uris) {
          fmt::print("posted {} to {}\n", report.report_id, uri);
        }
      }
      for (const auto& note : run->notes) {
        fmt::print(stderr, "{}\n", note);
      }
      fmt::print("{} delivered by HTTPS, {} to be retried by ternd, {} dropped\n", run->delivered,
                 run->retrying, run->abandoned);
      if (run->retrying > 0) {
        // ternd's report timer looks at the store within 5 minutes while reports
        // are enabled; a SIGHUP makes it look now (ReportTimer::wake()).
        fmt::print("a running ternd retries them {}; SIGHUP starts it now\n",
                   settings.reports.enabled ? "within 5 minutes" : "only when woken");
      }
      if (run->delivered < queued->posts) {
        status = kFailed;
      }
    }
  }
  if (prepared->empty()) {
    fmt::print(stderr, "no {} reports for this period\n", domain::report_kind_name(kind));
  }
  return status;
}

int import_files(domain::Storage& storage, const std::vector<std::string>& files) {
  runtime::SystemClock clock;
  int status = kOk;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      fmt::print(stderr, "tern report: cannot read {}\n", file);
      status = kFailed;
      continue;
    }
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    Result<std::vector<domain::ReceivedReport>> reports =
        file.ends_with(".eml") ? r::parse_report_message(bytes)
                               : r::parse_report_file(bytes).map([](auto report) {
                                   return std::vector<domain::ReceivedReport>{std::move(report)};
                                 });
    if (!reports) {
      fmt::print(stderr, "tern report: {}: {}\n", file, reports.error().message);
      status = kFailed;
      continue;
    }
    for (auto& report : *reports) {
      report.received = clock.now();
      const auto id = report.report_id;
      const auto org = report.org_name;
      auto stored = storage.reports().store_received_report(std::move(report)).get();
      if (!stored) {
        return failed(stored.error());
      }
      fmt::print("{}: {} report {} from {}\n", file, *stored ? "stored" : "already had", id, org);
    }
  }
  return status;
}

}  // namespace

Result<std::vector<std::string>> ResolverTxtLookup::txt(const std::string& name) {
  auto answer = resolver_.lookup(name, dns::RecordType::kTxt).get();
  if (answer.status == dns::LookupStatus::kNxDomain ||
      answer.status == dns::LookupStatus::kNoData) {
    return std::vector<std::string>();
  }
  if (!answer.ok()) {
    return fail(ErrorCode::kTemporary, "TXT " + name + ": " + answer.error);
  }
  std::vector<std::string> out;
  for (const auto& record : answer.txt) {
    out.push_back(record.joined());
  }
  return out;
}

Result<void> HttpsReportPoster::post(const r::HttpsUri& uri, std::string_view body) {
  runtime::HttpsRequest request;
  request.host = uri.host;
  request.port = uri.port;
  request.path = uri.target;
  request.ca_file = ca_file_;
  request.timeout = kPostTimeout;
  request.connect_timeout = std::chrono::seconds(10);
  request.max_body = 64 * 1024;  // the answer is read only for its status
  request.content_type = std::string(r::kTlsRptGzipType);
  request.body = std::string(body);
  // A private io_context: the caller is a blocking-pool thread or the CLI, and
  // the exchange is bounded by request.timeout.
  asio::io_context io;
  std::optional<runtime::HttpsResult> result;
  asio::co_spawn(io, runtime::https_post(resolver_, std::move(request), logger_),
                 [&result](std::exception_ptr error, runtime::HttpsResult answer) {
                   if (!error) {
                     result = std::move(answer);
                   }
                 });
  io.run();
  if (!result) {
    return fail(ErrorCode::kInternal, "HTTPS POST to " + uri.host + " ended without an answer");
  }
  using Failure = runtime::HttpsResult::Failure;
  switch (result->failure) {
    case Failure::kNone:
      break;
    case Failure::kTimeout:
      return fail(ErrorCode::kTimeout, result->error);
    case Failure::kCertificate:
      return fail(ErrorCode::kPermanent, result->error);
    default:
      return fail(ErrorCode::kTemporary, result->error);
  }
  // RFC 8460 §5.4: a "successful" response, typically 200 or 201.
  if (result->status < 200 || result->status > 299) {
    return fail(ErrorCode::kTemporary, "HTTP " + std::to_string(result->status));
  }
  return ok();
}

r::ReportSettings report_settings(const config::ReportsSettings& reports,
                                  std::shared_ptr<const mailauth::DkimKeyring> dkim) {
  r::ReportSettings out;
  out.dkim = std::move(dkim);
  out.reporter.org_name = reports.org_name;
  out.reporter.email = reports.email;
  out.reporter.extra_contact = reports.extra_contact;
  out.reporter.submitter = reports.submitter;
  out.dmarc = reports.dmarc;
  out.tls = reports.tls;
  out.interval = reports.interval;
  out.retention = std::chrono::hours(24) * reports.retention_days;
  return out;
}

int report_command(const std::vector<std::string>& words, const config::Settings& settings,
                   domain::Storage& storage) {
  if (words.empty()) {
    return usage("missing subcommand");
  }
  const std::string& first = words[0];
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  if (first == "import") {
    return rest.empty() ? usage("import needs FILE...") : import_files(storage, rest);
  }
  if (first == "ingest") {
    const std::string address = rest.empty() ? settings.reports.inbox : rest[0];
    if (address.empty() || rest.size() > 1) {
      return usage("ingest needs ADDRESS (or [reports] inbox)");
    }
    runtime::SystemClock clock;
    auto summary = r::ingest_inbox(storage, address, clock.now());
    if (!summary) {
      return failed(summary.error());
    }
    fmt::print("{} messages read, {} reports stored, {} already stored, {} without a report\n",
               summary->messages, summary->stored, summary->duplicates, summary->unreadable);
    return kOk;
  }
  if (first == "posts") {
    return rest.empty() ? list_posts(storage) : usage("posts takes no arguments");
  }
  if (first != "dmarc" && first != "tls") {
    return usage("unknown subcommand " + first);
  }
  const auto kind =
      first == "tls" ? domain::ReportKind::kTlsRpt : domain::ReportKind::kDmarcAggregate;
  if (rest.empty()) {
    return usage("missing --print, --send-now or --list");
  }
  if (rest[0] == "--list") {
    return rest.size() > 2 ? usage("--list takes at most one DOMAIN")
                           : list(storage, kind, {rest.begin() + 1, rest.end()});
  }
  if (rest[0] != "--print" && rest[0] != "--send-now") {
    return usage("unknown option " + rest[0]);
  }
  const bool previous = rest.size() == 2 && rest[1] == "--previous";
  if (rest.size() > 2 || (rest.size() == 2 && !previous)) {
    return usage("unexpected " + rest.back());
  }
  return generate(settings, storage, kind, rest[0] == "--send-now", previous);
}

}  // namespace tern::app
