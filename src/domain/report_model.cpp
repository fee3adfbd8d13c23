// SPDX-License-Identifier: Apache-2.0
#include "domain/report_model.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <utility>

namespace tern::domain {
namespace {

// The encodings are sequences of netstring-like fields, "<length>:<bytes>", so any
// byte (a DKIM d= from a hostile message included) round-trips and equal values
// give equal strings, which is what lets a backend count rows by key.
class Writer {
 public:
  void field(std::string_view value) {
    out_ += std::to_string(value.size());
    out_ += ':';
    out_ += value;
  }

  void number(std::uint64_t value) { field(std::to_string(value)); }

  void list(const std::vector<std::string>& values) {
    number(values.size());
    for (const auto& v : values) {
      field(v);
    }
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool field(std::string& out) {
    const auto colon = text_.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) {
      return false;
    }
    std::size_t length = 0;
    const auto* first = text_.data();
    auto [end, ec] = std::from_chars(first, first + colon, length);
    if (ec != std::errc() || end != first + colon || length > text_.size() - colon - 1) {
      return false;
    }
    out.assign(text_.substr(colon + 1, length));
    text_.remove_prefix(colon + 1 + length);
    return true;
  }

  bool number(std::uint64_t& out) {
    std::string text;
    if (!field(text) || text.empty()) {
      return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
  }

  // A list's count is bounded by the bytes left (every item takes at least two),
  // so a corrupt count cannot make the caller reserve unbounded memory.
  bool count(std::size_t& out) {
    std::uint64_t n = 0;
    if (!number(n) || n > text_.size() / 2) {
      return false;
    }
    out = static_cast<std::size_t>(n);
    return true;
  }

  bool list(std::vector<std::string>& out) {
    std::size_t n = 0;
    if (!count(n)) {
      return false;
    }
    out.resize(n);
    for (auto& v : out) {
      if (!field(v)) {
        return false;
      }
    }
    return true;
  }

  bool done() const { return text_.empty(); }

 private:
  std::string_view text_;
};

Error corrupt(std::string_view what) {
  return Error{ErrorCode::kCorrupt, "undecodable " + std::string(what)};
}

constexpr std::array<std::pair<TlsResultType, std::string_view>, 12> kResultNames{{
    {TlsResultType::kSuccess, "success"},
    {TlsResultType::kStarttlsNotSupported, "starttls-not-supported"},
    {TlsResultType::kCertificateHostMismatch, "certificate-host-mismatch"},
    {TlsResultType::kCertificateExpired, "certificate-expired"},
    {TlsResultType::kCertificateNotTrusted, "certificate-not-trusted"},
    {TlsResultType::kValidationFailure, "validation-failure"},
    {TlsResultType::kTlsaInvalid, "tlsa-invalid"},
    {TlsResultType::kDnssecInvalid, "dnssec-invalid"},
    {TlsResultType::kDaneRequired, "dane-required"},
    {TlsResultType::kStsPolicyFetchError, "sts-policy-fetch-error"},
    {TlsResultType::kStsPolicyInvalid, "sts-policy-invalid"},
    {TlsResultType::kStsWebpkiInvalid, "sts-webpki-invalid"},
}};

}  // namespace

std::string_view tls_policy_type_name(TlsPolicyType type) {
  switch (type) {
    case TlsPolicyType::kSts:
      return "sts";
    case TlsPolicyType::kTlsa:
      return "tlsa";
    case TlsPolicyType::kNoPolicyFound:
      break;
  }
  return "no-policy-found";
}

std::optional<TlsPolicyType> parse_tls_policy_type(std::string_view name) {
  for (auto type : {TlsPolicyType::kSts, TlsPolicyType::kTlsa, TlsPolicyType::kNoPolicyFound}) {
    if (name == tls_policy_type_name(type)) {
      return type;
    }
  }
  return std::nullopt;
}

std::string_view tls_result_type_name(TlsResultType type) {
  for (const auto& [t, name] : kResultNames) {
    if (t == type) {
      return name;
    }
  }
  return "validation-failure";
}

std::optional<TlsResultType> parse_tls_result_type(std::string_view name) {
  for (const auto& [t, n] : kResultNames) {
    if (n == name) {
      return t;
    }
  }
  return std::nullopt;
}

std::string_view report_kind_name(ReportKind kind) {
  return kind == ReportKind::kTlsRpt ? "tls" : "dmarc";
}

std::string encode_dmarc_row(const DmarcRow& row) {
  Writer w;
  w.field(row.source_ip);
  w.field(row.header_from);
  w.field(row.envelope_from);
  w.field(row.envelope_to);
  w.field(row.disposition);
  w.field(row.dkim_alignment);
  w.field(row.spf_alignment);
  w.number(row.overrides.size());
  for (const auto& o : row.overrides) {
    w.field(o.type);
    w.field(o.comment);
  }
  w.number(row.dkim.size());
  for (const auto& d : row.dkim) {
    w.field(d.domain);
    w.field(d.selector);
    w.field(d.result);
  }
  w.number(row.spf.size());
  for (const auto& s : row.spf) {
    w.field(s.domain);
    w.field(s.scope);
    w.field(s.result);
  }
  return w.take();
}

Result<DmarcRow> decode_dmarc_row(std::string_view text) {
  Reader r(text);
  DmarcRow row;
  std::size_t n = 0;
  bool ok = r.field(row.source_ip) && r.field(row.header_from) && r.field(row.envelope_from) &&
            r.field(row.envelope_to) && r.field(row.disposition) && r.field(row.dkim_alignment) &&
            r.field(row.spf_alignment) && r.count(n);
  if (ok) {
    row.overrides.resize(n);
    for (auto& o : row.overrides) {
      ok = ok && r.field(o.type) && r.field(o.comment);
    }
  }
  ok = ok && r.count(n);
  if (ok) {
    row.dkim.resize(n);
    for (auto& d : row.dkim) {
      ok = ok && r.field(d.domain) && r.field(d.selector) && r.field(d.result);
    }
  }
  ok = ok && r.count(n);
  if (ok) {
    row.spf.resize(n);
    for (auto& s : row.spf) {
      ok = ok && r.field(s.domain) && r.field(s.scope) && r.field(s.result);
    }
  }
  if (!ok || !r.done()) {
    return corrupt("DMARC row");
  }
  return row;
}

std::string encode_dmarc_policy(const DmarcPolicyPublished& policy) {
  Writer w;
  w.field(policy.domain);
  w.field(policy.p);
  w.field(policy.sp);
  w.field(policy.np);
  w.field(policy.pct ? std::to_string(*policy.pct) : std::string());
  w.field(policy.adkim);
  w.field(policy.aspf);
  w.field(policy.fo);
  w.field(policy.testing ? "y" : "n");
  w.list(policy.rua);
  return w.take();
}

Result<DmarcPolicyPublished> decode_dmarc_policy(std::string_view text) {
  Reader r(text);
  DmarcPolicyPublished p;
  std::string pct;
  std::string testing;
  if (!(r.field(p.domain) && r.field(p.p) && r.field(p.sp) && r.field(p.np) && r.field(pct) &&
        r.field(p.adkim) && r.field(p.aspf) && r.field(p.fo) && r.field(testing) && r.list(p.rua) &&
        r.done())) {
    return corrupt("DMARC policy");
  }
  if (!pct.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(pct.data(), pct.data() + pct.size(), value);
    if (ec != std::errc() || end != pct.data() + pct.size()) {
      return corrupt("DMARC policy pct");
    }
    p.pct = value;
  }
  p.testing = testing == "y";
  return p;
}

std::string encode_tls_policy(const TlsSessionResult& result) {
  Writer w;
  w.field(tls_policy_type_name(result.policy_type));
  w.list(result.policy_strings);
  w.list(result.mx_hosts);
  return w.take();
}

std::string encode_tls_detail(const TlsSessionResult& result) {
  if (result.result == TlsResultType::kSuccess) {
    return {};
  }
  Writer w;
  w.field(tls_result_type_name(result.result));
  w.field(result.sending_mta_ip);
  w.field(result.receiving_mx_hostname);
  w.field(result.receiving_mx_helo);
  w.field(result.receiving_ip);
  w.field(result.failure_reason_code);
  w.field(result.additional_information);
  return w.take();
}

Result<void> decode_tls_policy(std::string_view text, TlsPolicySummary& out) {
  Reader r(text);
  std::string type;
  if (!(r.field(type) && r.list(out.policy_strings) && r.list(out.mx_hosts) && r.done())) {
    return corrupt("TLS policy");
  }
  auto parsed = parse_tls_policy_type(type);
  if (!parsed) {
    return corrupt("TLS policy type");
  }
  out.policy_type = *parsed;
  return {};
}

Result<TlsFailureCount> decode_tls_detail(std::string_view text) {
  Reader r(text);
  TlsFailureCount d;
  std::string type;
  if (!(r.field(type) && r.field(d.sending_mta_ip) && r.field(d.receiving_mx_hostname) &&
        r.field(d.receiving_mx_helo) && r.field(d.receiving_ip) && r.field(d.failure_reason_code) &&
        r.field(d.additional_information) && r.done())) {
    return corrupt("TLS failure detail");
  }
  auto parsed = parse_tls_result_type(type);
  if (!parsed || *parsed == TlsResultType::kSuccess) {
    return corrupt("TLS result type");
  }
  d.result = *parsed;
  return d;
}

Result<DmarcAggregate> make_dmarc_aggregate(std::string domain, std::string_view policy,
                                            std::vector<CountedKey> rows) {
  auto published = decode_dmarc_policy(policy);
  if (!published) {
    return published.error();
  }
  std::map<std::string, std::uint64_t> summed;
  for (auto& row : rows) {
    summed[std::move(row.key)] += row.count;
  }
  DmarcAggregate aggregate{std::move(domain), std::move(*published), {}};
  std::vector<std::pair<std::string, DmarcRowCount>> decoded;
  for (const auto& [key, count] : summed) {
    auto row = decode_dmarc_row(key);
    if (!row) {
      return row.error();
    }
    decoded.emplace_back(key, DmarcRowCount{std::move(*row), count});
  }
  std::stable_sort(decoded.begin(), decoded.end(), [](const auto& a, const auto& b) {
    return a.second.row.source_ip < b.second.row.source_ip;
  });
  for (auto& [key, row] : decoded) {
    aggregate.rows.push_back(std::move(row));
  }
  return aggregate;
}

Result<std::vector<TlsPolicySummary>> make_tls_summary(std::string domain,
                                                       std::vector<CountedTlsKey> rows) {
  // policy key -> detail key -> count; std::map keeps both levels sorted by key.
  std::map<std::string, std::map<std::string, std::uint64_t>> summed;
  for (auto& row : rows) {
    summed[std::move(row.policy)][std::move(row.detail)] += row.count;
  }
  std::vector<TlsPolicySummary> out;
  for (const auto& [policy, details] : summed) {
    TlsPolicySummary summary;
    summary.policy_domain = domain;
    if (auto decoded = decode_tls_policy(policy, summary); !decoded) {
      return decoded.error();
    }
    for (const auto& [detail, count] : details) {
      if (detail.empty()) {
        summary.successes += count;
        continue;
      }
      auto failure = decode_tls_detail(detail);
      if (!failure) {
        return failure.error();
      }
      failure->count = count;
      summary.failures += count;
      summary.failure_details.push_back(std::move(*failure));
    }
    out.push_back(std::move(summary));
  }
  return out;
}

std::int64_t report_hour(SystemTime time) {
  const auto seconds = to_unix_seconds(time);
  return seconds >= 0 ? seconds / 3600 : -((-seconds + 3599) / 3600);
}

std::string encode_received_rows(const std::vector<ReceivedReportRow>& rows) {
  Writer w;
  w.number(rows.size());
  for (const auto& row : rows) {
    w.field(row.source);
    w.number(row.count);
    w.field(row.result);
    w.field(row.dkim);
    w.field(row.spf);
    w.field(row.header_from);
  }
  return w.take();
}

Result<std::vector<ReceivedReportRow>> decode_received_rows(std::string_view text) {
  Reader r(text);
  std::size_t n = 0;
  if (!r.count(n)) {
    return corrupt("report rows");
  }
  std::vector<ReceivedReportRow> rows(n);
  for (auto& row : rows) {
    if (!(r.field(row.source) && r.number(row.count) && r.field(row.result) && r.field(row.dkim) &&
          r.field(row.spf) && r.field(row.header_from))) {
      return corrupt("report rows");
    }
  }
  if (!r.done()) {
    return corrupt("report rows");
  }
  return rows;
}

Result<void> check_dmarc_evaluation(const DmarcEvaluation& evaluation) {
  if (evaluation.policy.domain.empty() || evaluation.row.source_ip.empty()) {
    return fail(ErrorCode::kInvalidInput, "DMARC evaluation without policy domain or source");
  }
  return ok();
}

Result<void> check_tls_result(const TlsSessionResult& result) {
  if (result.policy_domain.empty() || result.sessions == 0) {
    return fail(ErrorCode::kInvalidInput, "TLS result without policy domain or sessions");
  }
  return ok();
}

Result<void> check_report_post(const ReportPost& post) {
  if (post.uri.empty() || post.report_id.empty()) {
    return fail(ErrorCode::kInvalidInput, "report post without uri or report id");
  }
  return ok();
}

Result<void> check_recorded_row(std::string_view domain, std::uint64_t count) {
  if (domain.empty() || count == 0) {
    return fail(ErrorCode::kInvalidInput, "recorded report row without policy domain or count");
  }
  return ok();
}

Result<ReceivedReport> received_report_from(StoredReceivedReport stored) {
  ReceivedReport r;
  r.id = stored.id;
  r.kind = stored.kind == static_cast<std::int64_t>(ReportKind::kTlsRpt)
               ? ReportKind::kTlsRpt
               : ReportKind::kDmarcAggregate;
  r.org_name = std::move(stored.org_name);
  r.contact = std::move(stored.contact);
  r.report_id = std::move(stored.report_id);
  r.policy_domain = std::move(stored.policy_domain);
  r.policy = std::move(stored.policy);
  r.begin = from_unix_seconds(stored.begin);
  r.end = from_unix_seconds(stored.end);
  r.received = from_unix_seconds(stored.received);
  r.messages = stored.messages;
  r.passed = stored.passed;
  TERN_TRY(r.rows, decode_received_rows(stored.rows));
  return r;
}

}  // namespace tern::domain
