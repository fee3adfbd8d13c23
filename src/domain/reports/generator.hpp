// SPDX-License-Identifier: Apache-2.0
// The report use-cases: build a period's DMARC aggregate reports (RFC 9990) and
// TLS reports (RFC 8460) from the ReportStore, address them (rua= mailto: URIs,
// size limits, external-destination verification), queue them as outbound mail,
// and run that for every period that has come due. Synchronous over the ports
// (they get() the futures), like the other domain use-cases: run them on the
// blocking pool, in the CLI or in tests. DNS comes in through TxtLookup; time is a
// parameter.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/ports.hpp"
#include "domain/reports/dmarc_report.hpp"
#include "domain/reports/report_posts.hpp"
#include "mailauth/dkim_keyring.hpp"

namespace tern::domain::reports {

// TXT lookups the generator needs (`_smtp._tls.<domain>`, external-destination
// records). The caller implements it over the resolver; tests over a map.
class TxtLookup {
 public:
  virtual ~TxtLookup() = default;
  // The TXT records at `name`, each record's strings joined; empty for NXDOMAIN or
  // no TXT. An error for a temporary failure (the report is then not sent for
  // that destination this time).
  virtual Result<std::vector<std::string>> txt(const std::string& name) = 0;
};

struct ReportSettings {
  Reporter reporter;
  bool dmarc = true;
  bool tls = true;
  // The period length; a whole number of hours dividing a day is usual (RFC 9990
  // §3.1.1.4: typically one UTC day from 00:00). Periods are aligned to the epoch.
  std::chrono::seconds interval{86400};
  // How many past periods one run catches up on after downtime.
  int max_catch_up = 7;
  // Recorded data and received reports older than this are pruned after a run.
  std::chrono::hours retention{24 * 31};
  // Keys to DKIM-sign report mail with, for the domain of reporter.email: RFC 9990
  // §3.5.2 wants report mail to pass DMARC aligned. nullptr or no key for that
  // domain: sent unsigned.
  std::shared_ptr<const mailauth::DkimKeyring> dkim;
};

// A mailto: reporting URI (RFC 7489 §6.2 / RFC 9989 §4.7): the address, and the
// size limit after "!" (k, m, g, t suffixes; bytes without one).
struct MailtoUri {
  std::string address;
  std::optional<std::uint64_t> max_bytes;
};

// nullopt for another scheme or a malformed URI (RFC 9990 §3.5: ignored).
std::optional<MailtoUri> parse_mailto_uri(std::string_view uri);

// The rua= URIs of a TLSRPT record (RFC 8460 §3: "v=TLSRPTv1; rua=..."), or
// nullopt when `record` is not a TLSRPTv1 record.
std::optional<std::vector<std::string>> parse_tlsrpt_record(std::string_view record);

// One report ready to queue.
struct PreparedReport {
  ReportKind kind = ReportKind::kDmarcAggregate;
  std::string domain;
  Period period;
  std::string report_id;
  std::string filename;
  std::string document;                 // the XML or JSON before compression
  std::vector<std::string> recipients;  // addresses that will get it
  std::vector<std::string> post_uris;   // TLS reports: https: URIs to POST it to
  std::vector<std::string> skipped;     // "uri: why" for destinations left out
  std::string message;                  // the whole message; "" when no recipient
};

// The reports for `period`: one per DMARC policy domain with recorded evaluations
// whose policy has rua= mailto: URIs, and one per TLS policy domain that publishes
// a TLSRPT record with mailto: or https: URIs (RFC 8460 §3; https: ones go to
// post_uris when the gzip body is within their !size).
// A rua address outside the policy domain's organizational domain is used only
// when `<policy-domain>._report._dmarc.<rua-domain>` has a v=DMARC1 TXT record
// (RFC 9990 §3.5 / RFC 7489 §7.1); a URI whose !size is below the message is left
// out. `now` dates the messages.
Result<std::vector<PreparedReport>> prepare_reports(ReportStore& store,
                                                    const ReportSettings& settings, TxtLookup& dns,
                                                    const Period& period, SystemTime now);

struct QueuedReports {
  std::size_t messages = 0;  // report messages queued as mail
  std::size_t posts = 0;     // HTTPS posts stored as pending (ReportPost)
};

// The one way prepared reports leave, for ternd's timer and `tern report
// --send-now` alike: every report with recipients is queued as mail from
// settings.reporter.email, DKIM-signed with settings.dkim when it has a key for
// that address's domain; every post_uris entry becomes a pending ReportPost
// (next_attempt = now; deliver_report_posts() sends it). A report queued again
// (same Report-ID) replaces its pending posts.
Result<QueuedReports> queue_reports(QueueStore& queue, ReportStore& store,
                                    const ReportSettings& settings,
                                    const std::vector<PreparedReport>& reports, SystemTime now);

// The periods that have ended by `now` and were not reported yet according to the
// cursor `name` ("reports"): from the cursor (or, without one, only the last
// complete period), at most settings.max_catch_up of them, oldest first.
std::vector<Period> due_periods(std::optional<SystemTime> cursor, const ReportSettings& settings,
                                SystemTime now);

// The end of the period that holds `now` (when the next one becomes due).
SystemTime next_period_end(const ReportSettings& settings, SystemTime now);

struct RunSummary {
  std::size_t periods = 0;
  std::size_t reports = 0;         // reports prepared (with or without recipients)
  std::size_t queued = 0;          // messages queued
  std::size_t posts = 0;           // HTTPS posts stored (deliver_report_posts sends them)
  std::uint64_t pruned = 0;        // rows pruned
  bool busy = false;               // another run (here or on another node) holds the turn
  std::vector<std::string> notes;  // skipped destinations, for the log
};

// The scheduler's step: prepares and queues the due periods' reports, advances the
// cursor "reports" after each period, and prunes data past the retention. One run
// at a time per store: a run first takes the turn through the cursor
// "reports.lease" (ReportStore::compare_and_set_report_cursor, held for at most
// 30 minutes, handed back at the end), so nodes sharing a store never queue a
// period twice; a run that finds the turn taken does nothing and says `busy`.
Result<RunSummary> run_due_reports(Storage& storage, const ReportSettings& settings, TxtLookup& dns,
                                   SystemTime now);

}  // namespace tern::domain::reports
