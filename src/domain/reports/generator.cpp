// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/generator.hpp"

#include <algorithm>
#include <charconv>

#include "domain/reports/compression.hpp"
#include "domain/reports/report_mail.hpp"
#include "domain/reports/report_posts.hpp"
#include "domain/reports/tls_report.hpp"
#include "mailauth/dmarc.hpp"

namespace tern::domain::reports {
namespace {

constexpr const char* kCursor = "reports";
// Whose turn it is to run (see run_due_reports): the time the running node's
// lease ends, or a past time when no run is under way.
constexpr const char* kLeaseCursor = "reports.lease";
// Longer than a run takes (a period's DNS lookups and queueing, a few seconds),
// so a lease never ends under a live run; a node that dies mid-run delays the
// reports by this at most.
constexpr std::chrono::seconds kRunLease{1800};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = s.find(separator);
    out.push_back(trim(s.substr(0, at)));
    if (at == std::string_view::npos) {
      return out;
    }
    s.remove_prefix(at + 1);
  }
}

// RFC 3986 §2.1 percent-decoding of the address part of a mailto: URI.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int value = 0;
    if (i + 2 >= s.size() ||
        std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16).ptr != s.data() + i + 3) {
      return std::nullopt;
    }
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::string domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(address.substr(at + 1));
}

// The organizational domain of `domain` by RFC 9989's DNS Tree Walk (§4.10.2),
// the one DMARC evaluation uses. A temporary DNS failure is an error.
Result<std::string> organizational_domain(TxtLookup& dns, const std::string& domain) {
  mailauth::DmarcTreeWalk walk(domain);
  while (auto query = walk.pending_query()) {
    TERN_TRY(auto texts, dns.txt(query->name));
    walk.provide(mailauth::classify_dmarc_texts(texts));
  }
  return walk.organizational_domain();
}

// RFC 9990 §3.5: a destination outside the policy domain's organizational
// domain must agree to take its reports.
Result<bool> destination_verified(TxtLookup& dns, const std::string& policy_domain,
                                  const std::string& rua_domain) {
  if (rua_domain == policy_domain) {
    return true;
  }
  TERN_TRY(std::string rua_org, organizational_domain(dns, rua_domain));
  TERN_TRY(std::string policy_org, organizational_domain(dns, policy_domain));
  if (rua_org == policy_org) {
    return true;
  }
  TERN_TRY(auto records, dns.txt(policy_domain + "._report._dmarc." + rua_domain));
  for (const auto& record : records) {
    if (mailauth::is_dmarc_record(record)) {
      return true;
    }
  }
  return false;
}

PreparedReport new_report(ReportKind kind, const std::string& domain, const Period& period) {
  PreparedReport report;
  report.kind = kind;
  report.domain = domain;
  report.period = period;
  return report;
}

// A TLS report's https: destination (RFC 8460 §3): kept when `body_size` (the
// gzip body POSTed) is within its !size.
void add_post_uri(PreparedReport& report, const std::string& uri, const HttpsUri& https,
                  std::uint64_t body_size) {
  if (https.max_bytes && body_size > *https.max_bytes) {
    report.skipped.push_back(uri + ": report of " + std::to_string(body_size) +
                             " bytes exceeds the URI's size limit");
    return;
  }
  if (std::find(report.post_uris.begin(), report.post_uris.end(), https.uri) ==
      report.post_uris.end()) {
    report.post_uris.push_back(https.uri);
  }
}

// Fills the report's addresses from `uris`, the message size deciding a mailto:
// URI's !size and the gzip body's size an https: one's.
void address_report(PreparedReport& report, const std::vector<std::string>& uris,
                    std::uint64_t size, std::uint64_t body_size, TxtLookup* verify) {
  for (const auto& uri : uris) {
    auto mailto = parse_mailto_uri(uri);
    if (!mailto) {
      // RFC 8460 §3 allows https: for TLS reports; RFC 9990 §3.5 only mailto:.
      auto https = report.kind == ReportKind::kTlsRpt ? parse_https_uri(uri) : std::nullopt;
      if (https) {
        add_post_uri(report, uri, *https, body_size);
      } else {
        report.skipped.push_back(uri + (report.kind == ReportKind::kTlsRpt
                                            ? ": not a usable mailto: or https: URI"
                                            : ": not a mailto: URI"));
      }
      continue;
    }
    if (mailto->max_bytes && size > *mailto->max_bytes) {
      report.skipped.push_back(uri + ": report of " + std::to_string(size) +
                               " bytes exceeds the URI's size limit");
      continue;
    }
    if (verify != nullptr) {
      auto verified = destination_verified(*verify, report.domain, domain_of(mailto->address));
      if (!verified) {
        report.skipped.push_back(uri + ": verification lookup failed: " + verified.error().message);
        continue;
      }
      if (!*verified) {
        report.skipped.push_back(uri + ": external destination not verified (no " + report.domain +
                                 "._report._dmarc record)");
        continue;
      }
    }
    if (std::find(report.recipients.begin(), report.recipients.end(), mailto->address) ==
        report.recipients.end()) {
      report.recipients.push_back(mailto->address);
    }
  }
}

void finish(PreparedReport& report, const ReportSettings& settings,
            const std::vector<std::string>& uris, TxtLookup* verify, SystemTime now) {
  const auto& submitter = settings.reporter.submitter;
  const auto compressed = gzip(report.document);
  report.filename = report_filename(report.kind, submitter, report.domain, report.period);
  ReportMessage message{report.kind, report.domain,   report.report_id, settings.reporter.email,
                        {},          report.filename, compressed,       now};
  // The limit applies to the message as sent: compose once to measure it.
  const auto size = compose_report_message(message, submitter).size();
  address_report(report, uris, size, compressed.size(), verify);
  if (!report.recipients.empty()) {
    message.to = report.recipients;
    report.message = compose_report_message(message, submitter);
  }
}

Result<std::vector<PreparedReport>> prepare_dmarc(ReportStore& store,
                                                  const ReportSettings& settings, TxtLookup& dns,
                                                  const Period& period, SystemTime now) {
  std::vector<PreparedReport> out;
  TERN_TRY(auto domains, store.dmarc_domains(period.begin, period.end).get());
  for (const auto& domain : domains) {
    auto aggregate = store.dmarc_aggregate(domain, period.begin, period.end).get();
    if (!aggregate) {
      if (aggregate.error().code == ErrorCode::kNotFound) {
        continue;
      }
      return aggregate.error();
    }
    if (aggregate->policy.rua.empty()) {
      continue;  // the domain asked for no aggregate reports
    }
    auto report = new_report(ReportKind::kDmarcAggregate, domain, period);
    report.report_id = dmarc_report_id(domain, period, settings.reporter.submitter);
    report.document = build_dmarc_xml(*aggregate, settings.reporter, period);
    finish(report, settings, aggregate->policy.rua, &dns, now);
    out.push_back(std::move(report));
  }
  return out;
}

Result<std::vector<PreparedReport>> prepare_tls(ReportStore& store, const ReportSettings& settings,
                                                TxtLookup& dns, const Period& period,
                                                SystemTime now) {
  std::vector<PreparedReport> out;
  TERN_TRY(auto domains, store.tls_domains(period.begin, period.end).get());
  for (const auto& domain : domains) {
    TERN_TRY(auto summaries, store.tls_summary(domain, period.begin, period.end).get());
    if (summaries.empty()) {
      continue;
    }
    // RFC 8460 §3: the policy is published at _smtp._tls.<policy domain>.
    auto records = dns.txt("_smtp._tls." + domain);
    if (!records) {
      auto skipped = new_report(ReportKind::kTlsRpt, domain, period);
      skipped.skipped.push_back("_smtp._tls." + domain + ": " + records.error().message);
      out.push_back(std::move(skipped));
      continue;
    }
    std::optional<std::vector<std::string>> uris;
    for (const auto& record : *records) {
      if ((uris = parse_tlsrpt_record(record))) {
        break;
      }
    }
    if (!uris) {
      continue;  // the domain asked for no TLS reports
    }
    auto report = new_report(ReportKind::kTlsRpt, domain, period);
    report.report_id = tls_report_id(domain, period, settings.reporter.submitter);
    report.document = build_tls_json(summaries, settings.reporter, period);
    // RFC 8460 has no external-destination verification.
    finish(report, settings, *uris, nullptr, now);
    out.push_back(std::move(report));
  }
  return out;
}

}  // namespace

std::optional<MailtoUri> parse_mailto_uri(std::string_view uri) {
  uri = trim(uri);
  if (uri.size() < 7 || lower(uri.substr(0, 7)) != "mailto:") {
    return std::nullopt;
  }
  uri.remove_prefix(7);
  MailtoUri out;
  // RFC 7489 §6.2: "!" size suffix; "!" cannot appear in the URI itself unescaped.
  if (!take_uri_size(uri, out.max_bytes)) {
    return std::nullopt;
  }
  uri = uri.substr(0, uri.find('?'));  // hfields (RFC 6068) carry nothing for reports
  auto address = percent_decode(uri);
  if (!address || address->empty() || address->find('@') == std::string::npos ||
      address->find_first_of(" \t\r\n<>,") != std::string::npos) {
    return std::nullopt;
  }
  out.address = std::move(*address);
  return out;
}

std::optional<std::vector<std::string>> parse_tlsrpt_record(std::string_view record) {
  auto tags = split(record, ';');
  // RFC 8460 §3: v=TLSRPTv1 first.
  if (tags.empty() || tags.front() != "v=TLSRPTv1") {
    return std::nullopt;
  }
  for (const auto& tag : tags) {
    const auto eq = tag.find('=');
    if (eq == std::string_view::npos || trim(tag.substr(0, eq)) != "rua") {
      continue;
    }
    std::vector<std::string> uris;
    for (auto uri : split(tag.substr(eq + 1), ',')) {
      if (!uri.empty()) {
        uris.emplace_back(uri);
      }
    }
    return uris;
  }
  return std::nullopt;  // rua is required
}

Result<std::vector<PreparedReport>> prepare_reports(ReportStore& store,
                                                    const ReportSettings& settings, TxtLookup& dns,
                                                    const Period& period, SystemTime now) {
  std::vector<PreparedReport> out;
  if (settings.dmarc) {
    TERN_TRY(out, prepare_dmarc(store, settings, dns, period, now));
  }
  if (settings.tls) {
    TERN_TRY(auto tls, prepare_tls(store, settings, dns, period, now));
    std::move(tls.begin(), tls.end(), std::back_inserter(out));
  }
  return out;
}

Result<QueuedReports> queue_reports(QueueStore& queue, ReportStore& store,
                                    const ReportSettings& settings,
                                    const std::vector<PreparedReport>& reports, SystemTime now) {
  QueuedReports queued;
  const auto from_domain = domain_of(settings.reporter.email);
  for (const auto& report : reports) {
    for (const auto& uri : report.post_uris) {
      ReportPost post;
      post.uri = uri;
      post.report_id = report.report_id;
      post.policy_domain = report.domain;
      post.document = report.document;
      post.queued = now;
      post.next_attempt = now;
      TERN_TRY_VOID(store.put_report_post(std::move(post)).get());
      ++queued.posts;
    }
    if (report.message.empty()) {
      continue;
    }
    NewQueuedMessage message;
    message.raw = report.message;
    // RFC 9990 §3.5.2 / RFC 8460 §5.3: report mail should pass DMARC aligned,
    // so it is signed for the From: domain whenever [[dkim]] has a key for it.
    if (settings.dkim && settings.dkim->signs_for(from_domain)) {
      TERN_TRY(auto signature,
               settings.dkim->sign(message.raw, from_domain,
                                   static_cast<std::uint64_t>(to_unix_seconds(now))));
      message.raw = signature + message.raw;
    }
    message.sender = settings.reporter.email;
    for (const auto& to : report.recipients) {
      QueueRecipient recipient;
      recipient.address = to;
      // Reports are not worth a bounce storm: failures are logged, not notified.
      recipient.notify = "NEVER";
      message.recipients.push_back(std::move(recipient));
    }
    message.now = now;
    TERN_TRY_VOID(queue.enqueue(std::move(message)).get());
    ++queued.messages;
  }
  return queued;
}

namespace {
std::int64_t period_length(const ReportSettings& settings) {
  return std::max<std::int64_t>(3600, settings.interval.count());
}
}  // namespace

SystemTime next_period_end(const ReportSettings& settings, SystemTime now) {
  const auto length = period_length(settings);
  return from_unix_seconds((to_unix_seconds(now) / length + 1) * length);
}

std::vector<Period> due_periods(std::optional<SystemTime> cursor, const ReportSettings& settings,
                                SystemTime now) {
  const auto length = period_length(settings);
  const auto last_end = to_unix_seconds(now) / length * length;
  auto begin = cursor ? to_unix_seconds(*cursor) / length * length : last_end - length;
  begin = std::max(begin, last_end - length * std::max(1, settings.max_catch_up));
  std::vector<Period> out;
  for (; begin + length <= last_end; begin += length) {
    out.push_back({from_unix_seconds(begin), from_unix_seconds(begin + length)});
  }
  return out;
}

namespace {

Result<void> run_periods(Storage& storage, const ReportSettings& settings, TxtLookup& dns,
                         SystemTime now, RunSummary& summary) {
  TERN_TRY(auto cursor, storage.reports().report_cursor(kCursor).get());
  for (const auto& period : due_periods(cursor, settings, now)) {
    TERN_TRY(auto prepared, prepare_reports(storage.reports(), settings, dns, period, now));
    TERN_TRY(auto queued,
             queue_reports(storage.queue(), storage.reports(), settings, prepared, now));
    // The cursor moves only after the period's reports are queued: a crash in
    // between sends them again on restart (same Report-ID, so receivers dedupe)
    // rather than never.
    TERN_TRY_VOID(storage.reports().set_report_cursor(kCursor, period.end).get());
    ++summary.periods;
    summary.reports += prepared.size();
    summary.queued += queued.messages;
    summary.posts += queued.posts;
    for (const auto& report : prepared) {
      for (const auto& note : report.skipped) {
        summary.notes.push_back(std::string(report_kind_name(report.kind)) + " report for " +
                                report.domain + ": " + note);
      }
    }
  }
  return ok();
}

}  // namespace

Result<RunSummary> run_due_reports(Storage& storage, const ReportSettings& settings, TxtLookup& dns,
                                   SystemTime now) {
  RunSummary summary;
  // Nodes sharing one store (issue #9) would otherwise both read the cursor,
  // both queue the period's reports and both move the cursor: the lease cursor
  // is taken by compare-and-set first, so one run at a time reads the cursor and
  // the others find the period reported. A lease that has ended (its node died)
  // or lies implausibly far ahead (a clock that went back) is taken over.
  TERN_TRY(auto lease, storage.reports().report_cursor(kLeaseCursor).get());
  if (lease && *lease > now && *lease <= now + kRunLease) {
    summary.busy = true;
    return summary;
  }
  const auto until = now + kRunLease;
  TERN_TRY(bool mine,
           storage.reports().compare_and_set_report_cursor(kLeaseCursor, lease, until).get());
  if (!mine) {
    summary.busy = true;
    return summary;
  }
  auto ran = run_periods(storage, settings, dns, now, summary);
  // Handed back (unless it was taken over meanwhile), so the next run here or on
  // another node need not wait for it to end.
  auto released = storage.reports().compare_and_set_report_cursor(kLeaseCursor, until, now).get();
  TERN_TRY_VOID(ran);
  TERN_TRY_VOID(released);
  TERN_TRY(summary.pruned, storage.reports().prune_reports(now - settings.retention).get());
  return summary;
}

}  // namespace tern::domain::reports
