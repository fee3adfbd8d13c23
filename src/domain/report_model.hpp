// SPDX-License-Identifier: Apache-2.0
// The data behind DMARC aggregate reports (RFC 9990) and SMTP TLS reports
// (RFC 8460): what the MX records about every DMARC evaluation, what the outbound
// transport records about every TLS attempt, the per-period aggregates the
// ReportStore port (ports.hpp) answers, and the summaries of reports other
// organisations send us. Plain values; the helpers below are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace tern::domain {

// ----- DMARC (RFC 9990 §3 "policy_published" and "record")

// The DMARC policy record as published, in the words of the report schema. One
// copy goes into every report (<policy_published>); the store keeps the last one
// recorded in a period.
struct DmarcPolicyPublished {
  std::string domain;            // where the record was found (the policy domain)
  std::string p = "none";        // none | quarantine | reject
  std::string sp;                // "" when the record has no sp=
  std::string np;                // RFC 9989 np=; "" when absent
  std::optional<int> pct;        // RFC 7489 pct=; nullopt when absent
  std::string adkim = "r";       // r | s
  std::string aspf = "r";        // r | s
  std::string fo;                // "" when absent
  bool testing = false;          // RFC 9989 t=y
  std::vector<std::string> rua;  // the rua= URIs as written ("mailto:a@b!10m")
  friend bool operator==(const DmarcPolicyPublished&, const DmarcPolicyPublished&) = default;
};

// One DKIM signature's result (RFC 9990 <auth_results><dkim>).
struct DmarcDkimAuth {
  std::string domain;    // d=
  std::string selector;  // s=
  std::string result;    // none | pass | fail | policy | neutral | temperror | permerror
  friend bool operator==(const DmarcDkimAuth&, const DmarcDkimAuth&) = default;
};

// The SPF result DMARC used (RFC 9990 <auth_results><spf>).
struct DmarcSpfAuth {
  std::string domain;           // the MAIL FROM domain, or the HELO name
  std::string scope = "mfrom";  // mfrom | helo
  std::string result;           // none | neutral | pass | fail | softfail | temperror | permerror
  friend bool operator==(const DmarcSpfAuth&, const DmarcSpfAuth&) = default;
};

// Why the applied disposition differs from the policy (RFC 9990 <reason>).
struct DmarcOverride {
  std::string
      type;  // RFC 9990: local_policy | mailing_list | other | policy_test_mode | trusted_forwarder
  std::string comment;
  friend bool operator==(const DmarcOverride&, const DmarcOverride&) = default;
};

// Everything that identifies one <record> row of an aggregate report: messages
// with equal rows are counted together.
struct DmarcRow {
  std::string source_ip;                // the SMTP client's address, textual
  std::string header_from;              // RFC5322.From domain
  std::string envelope_from;            // RFC5321.MailFrom domain ("" for the null sender)
  std::string envelope_to;              // RFC5321.RcptTo domain (the first recipient's)
  std::string disposition = "none";     // applied: none | quarantine | reject
  std::string dkim_alignment = "fail";  // policy_evaluated dkim: pass | fail
  std::string spf_alignment = "fail";   // policy_evaluated spf: pass | fail
  std::vector<DmarcOverride> overrides;
  std::vector<DmarcDkimAuth> dkim;  // every signature, in header order
  std::vector<DmarcSpfAuth> spf;    // normally one
  friend bool operator==(const DmarcRow&, const DmarcRow&) = default;
};

// One DMARC evaluation of one incoming message, as the MX records it
// (ReportStore::record_dmarc). Record only evaluations that found a policy:
// a domain without a DMARC record gets no report.
struct DmarcEvaluation {
  SystemTime time{};
  DmarcPolicyPublished policy;
  DmarcRow row;
};

struct DmarcRowCount {
  DmarcRow row;
  std::uint64_t count = 0;
};

// One policy domain's evaluations over a period: what one aggregate report says.
struct DmarcAggregate {
  std::string domain;               // == policy.domain
  DmarcPolicyPublished policy;      // the last one recorded in the period
  std::vector<DmarcRowCount> rows;  // sorted by source_ip, then by encoded row
};

// ----- TLS-RPT (RFC 8460 §4)

enum class TlsPolicyType : std::uint8_t { kSts, kTlsa, kNoPolicyFound };

// RFC 8460 §4.3 result types; kSuccess for a session that negotiated TLS as the
// policy demanded.
enum class TlsResultType : std::uint8_t {
  kSuccess,
  // §4.3.1 negotiation failures
  kStarttlsNotSupported,
  kCertificateHostMismatch,
  kCertificateExpired,
  kCertificateNotTrusted,
  kValidationFailure,
  // §4.3.2.1 DANE policy failures
  kTlsaInvalid,
  kDnssecInvalid,
  kDaneRequired,
  // §4.3.2.2 MTA-STS policy failures
  kStsPolicyFetchError,
  kStsPolicyInvalid,
  kStsWebpkiInvalid,
};

// "sts" | "tlsa" | "no-policy-found" (RFC 8460 §4.4 "policy-type").
std::string_view tls_policy_type_name(TlsPolicyType type);
std::optional<TlsPolicyType> parse_tls_policy_type(std::string_view name);
// "starttls-not-supported", ...; "success" for kSuccess (not an RFC token).
std::string_view tls_result_type_name(TlsResultType type);
// Accepts the RFC 8460 tokens (and "success"); nullopt for anything else.
std::optional<TlsResultType> parse_tls_result_type(std::string_view name);

// The outcome of one outbound SMTP session's TLS (or its failure), as the
// transport records it (ReportStore::record_tls). The failure fields are ignored
// when result == kSuccess.
struct TlsSessionResult {
  SystemTime time{};
  std::string policy_domain;  // the recipient domain whose policy applied
  TlsPolicyType policy_type = TlsPolicyType::kNoPolicyFound;
  // STS: the policy file's lines ("version: STSv1", "mode: enforce", ...);
  // TLSA: each record in presentation form ("3 1 1 a1b2..."); empty otherwise.
  std::vector<std::string> policy_strings;
  std::vector<std::string> mx_hosts;  // STS: the policy's mx: patterns
  TlsResultType result = TlsResultType::kSuccess;
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  std::string failure_reason_code;
  std::string additional_information;  // a URI, per §4.4
  std::uint64_t sessions = 1;          // how many sessions this result stands for
};

// One failure-details entry of a report, with its count.
struct TlsFailureCount {
  TlsResultType result = TlsResultType::kValidationFailure;
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  std::string failure_reason_code;
  std::string additional_information;
  std::uint64_t count = 0;
};

// One "policies" entry of a TLS report: a policy with its session counts.
struct TlsPolicySummary {
  std::string policy_domain;
  TlsPolicyType policy_type = TlsPolicyType::kNoPolicyFound;
  std::vector<std::string> policy_strings;
  std::vector<std::string> mx_hosts;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::vector<TlsFailureCount> failure_details;  // sorted by encoded detail
};

// ----- reports received from others

enum class ReportKind : std::uint8_t { kDmarcAggregate, kTlsRpt };

std::string_view report_kind_name(ReportKind kind);  // "dmarc" | "tls"

// One summary row of a received report.
//   DMARC: source = source_ip, result = disposition, dkim/spf = policy_evaluated,
//          header_from = identifiers/header_from.
//   TLS:   source = receiving MX hostname (or IP), result = result-type
//          ("success" for a policy's successful-session total), dkim/spf/header_from
//          empty.
struct ReceivedReportRow {
  std::string source;
  std::uint64_t count = 0;
  std::string result;
  std::string dkim;
  std::string spf;
  std::string header_from;
  friend bool operator==(const ReceivedReportRow&, const ReceivedReportRow&) = default;
};

// A report another organisation sent us, reduced to what an operator looks at.
struct ReceivedReport {
  std::uint64_t id = 0;  // assigned by the store
  ReportKind kind = ReportKind::kDmarcAggregate;
  std::string org_name;
  std::string contact;    // DMARC email / TLS contact-info
  std::string report_id;  // unique per org_name and kind
  std::string policy_domain;
  // DMARC: "p=reject sp=none adkim=r aspf=r pct=100"; TLS: the policy types.
  std::string policy;
  SystemTime begin{};
  SystemTime end{};
  SystemTime received{};
  std::uint64_t messages = 0;  // DMARC: messages; TLS: sessions
  std::uint64_t passed = 0;    // DMARC: dkim or spf aligned pass; TLS: successful sessions
  std::vector<ReceivedReportRow> rows;
  friend bool operator==(const ReceivedReport&, const ReceivedReport&) = default;
};

struct ReceivedReportQuery {
  std::optional<ReportKind> kind;
  std::optional<std::string> policy_domain;
  std::size_t limit = 100;  // newest (by end, then id) first
};

// A TLS report waiting to be POSTed to an https: rua destination (RFC 8460 §5.4),
// kept in the store so that a report not yet delivered survives a restart and is
// retried on its schedule (§5.5: for up to 24 hours, with exponential backoff).
// (uri, report_id) is the key: the same report queued again replaces the row.
struct ReportPost {
  std::string uri;        // the https: URI as published (without a "!size" suffix)
  std::string report_id;  // RFC 8460 §4.4 report-id
  std::string policy_domain;
  std::string document;  // the JSON report; compressed when sent
  SystemTime queued{};   // the first attempt; retries stop 24 hours after it
  SystemTime next_attempt{};
  std::uint32_t attempts = 0;  // attempts made so far
  std::string last_error;      // why the last attempt failed; "" before the first
  friend bool operator==(const ReportPost&, const ReportPost&) = default;
};

// ----- codecs the backends share. Encodings are compact, deterministic text
// (equal rows encode to equal strings) so a backend can count rows by key.

std::string encode_dmarc_row(const DmarcRow& row);
Result<DmarcRow> decode_dmarc_row(std::string_view text);
std::string encode_dmarc_policy(const DmarcPolicyPublished& policy);
Result<DmarcPolicyPublished> decode_dmarc_policy(std::string_view text);
// The policy part of a TlsSessionResult (type, strings, mx hosts): the grouping key
// of a TlsPolicySummary.
std::string encode_tls_policy(const TlsSessionResult& result);
// The failure detail part (result type and the detail fields); "" for success.
std::string encode_tls_detail(const TlsSessionResult& result);
// Fill the policy or detail fields of `out` from the encodings above.
Result<void> decode_tls_policy(std::string_view text, TlsPolicySummary& out);
Result<TlsFailureCount> decode_tls_detail(std::string_view text);

// What a backend's counting gives back, turned into the port's answers: rows are
// decoded, summed by key and sorted (DMARC by source_ip then key, TLS policies by
// key and failure details by key). kCorrupt when a stored encoding is undecodable.
struct CountedKey {
  std::string key;
  std::uint64_t count = 0;
};

Result<DmarcAggregate> make_dmarc_aggregate(std::string domain, std::string_view policy,
                                            std::vector<CountedKey> rows);

struct CountedTlsKey {
  std::string policy;  // encode_tls_policy()
  std::string detail;  // encode_tls_detail(); "" counts successes
  std::uint64_t count = 0;
};

Result<std::vector<TlsPolicySummary>> make_tls_summary(std::string domain,
                                                       std::vector<CountedTlsKey> rows);

// The hour bucket of a point in time (seconds since the epoch / 3600, floored):
// the unit backends count by.
std::int64_t report_hour(SystemTime time);

std::string encode_received_rows(const std::vector<ReceivedReportRow>& rows);
Result<std::vector<ReceivedReportRow>> decode_received_rows(std::string_view text);

// ----- what every ReportStore checks before it records (kInvalidInput with the
// reason), so the backends refuse the same inputs with the same words.

// A DMARC evaluation needs its policy domain and the source IP (its row key).
Result<void> check_dmarc_evaluation(const DmarcEvaluation& evaluation);
// A TLS result needs its policy domain and at least one session.
Result<void> check_tls_result(const TlsSessionResult& result);
// A report post needs its key: the URI and the report id.
Result<void> check_report_post(const ReportPost& post);
// An imported recorded row (StoreImport::import_report_rows) needs its policy
// domain and a count of at least one.
Result<void> check_recorded_row(std::string_view domain, std::uint64_t count);

// A received report as the SQL backends keep it in their received_reports tables
// (sqlite 0007, postgres 0001): times in Unix seconds, the kind as its number,
// the rows as encode_received_rows(). Each backend reads its columns into one of
// these (the SQL text and the column access stay per backend).
struct StoredReceivedReport {
  std::uint64_t id = 0;
  std::int64_t kind = 0;
  std::string org_name;
  std::string contact;
  std::string report_id;
  std::string policy_domain;
  std::string policy;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t received = 0;
  std::uint64_t messages = 0;
  std::uint64_t passed = 0;
  std::string rows;
};

// The ReceivedReport a stored row holds. A kind number other than kTlsRpt's reads
// as kDmarcAggregate (the only other kind). kCorrupt when `rows` does not decode.
Result<ReceivedReport> received_report_from(StoredReceivedReport stored);

}  // namespace tern::domain
