// SPDX-License-Identifier: Apache-2.0
#include "mailauth/spf_evaluator.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "mailauth/spf_record.hpp"

namespace tern::mailauth {
namespace {

using Answers = std::map<std::pair<std::string, dns::RecordType>, dns::Answer>;

struct Outcome {
  AuthResult result = AuthResult::kNone;
  std::string explanation;
  std::string problem;
  std::string mechanism;
};

Outcome error(AuthResult result, std::string problem) {
  Outcome o;
  o.result = result;
  o.problem = std::move(problem);
  return o;
}

enum class Match : std::uint8_t { kNo, kYes, kTempError, kPermError };

// RFC 7208 §4.3: a domain that is not a multi-label name with labels of 1-63
// octets is not checked at all ("none").
bool is_checkable_domain(std::string_view d) {
  if (d.ends_with('.')) {
    d.remove_suffix(1);
  }
  if (d.empty() || d.size() > 253 || d.front() == '[' || d.find('.') == std::string_view::npos) {
    return false;
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t dot = d.find('.', pos);
    std::size_t len = (dot == std::string_view::npos ? d.size() : dot) - pos;
    if (len == 0 || len > 63) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    pos = dot + 1;
  }
}

std::string_view result_qualifier_char(SpfQualifier q) {
  switch (q) {
    case SpfQualifier::kPass:
      return "+";
    case SpfQualifier::kFail:
      return "-";
    case SpfQualifier::kSoftFail:
      return "~";
    case SpfQualifier::kNeutral:
      return "?";
  }
  return "";
}

AuthResult result_of(SpfQualifier q) {
  switch (q) {
    case SpfQualifier::kPass:
      return AuthResult::kPass;
    case SpfQualifier::kFail:
      return AuthResult::kFail;
    case SpfQualifier::kSoftFail:
      return AuthResult::kSoftFail;
    case SpfQualifier::kNeutral:
      return AuthResult::kNeutral;
  }
  return AuthResult::kNeutral;
}

bool is_subdomain_or_same(std::string_view name, std::string_view domain) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  if (domain.ends_with('.')) {
    domain.remove_suffix(1);
  }
  if (ascii::iequals(name, domain)) {
    return true;
  }
  return name.size() > domain.size() && name[name.size() - domain.size() - 1] == '.' &&
         ascii::iequals(name.substr(name.size() - domain.size()), domain);
}

// One evaluation pass over the answers known so far. Every DNS-using step calls
// lookup(); when it returns nullptr the pass is suspended and unwinds, and the
// question is reported as pending.
class Run {
 public:
  Run(const dns::IpAddress& ip, const std::string& sender, const std::string& helo,
      const SpfOptions& options, const Answers& answers)
      : ip_(ip.mapped_v4().value_or(ip)),
        sender_(sender),
        helo_(helo),
        options_(options),
        answers_(answers) {}

  bool suspended() const { return pending_.has_value(); }

  const std::optional<DnsQuery>& pending() const { return pending_; }

  Outcome check_host(const std::string& domain);

 private:
  const dns::Answer* lookup(std::string name, dns::RecordType type);

  dns::RecordType address_type() const {
    return ip_.is_v4() ? dns::RecordType::kA : dns::RecordType::kAaaa;
  }

  // Expands a domain-spec for `domain`; nullopt when suspended.
  std::optional<std::string> expand(const std::string& spec, const std::string& domain,
                                    SpfMacroContextKind kind);
  std::optional<std::string> validated_name(const std::string& domain);
  Match evaluate(const SpfMechanism& m, const std::string& domain, std::string& problem);
  Match address_match(const std::string& name, const SpfMechanism& m, bool primary,
                      std::string& problem);
  bool count_lookup(std::string& problem);
  bool count_void(const dns::Answer& answer, std::string& problem);
  std::optional<Match> screen(const dns::Answer& answer, const std::string& name, bool primary,
                              std::string& problem);
  std::string explain(const SpfRecord& record, const std::string& domain);

  dns::IpAddress ip_;
  const std::string& sender_;
  const std::string& helo_;
  const SpfOptions& options_;
  const Answers& answers_;
  std::optional<DnsQuery> pending_;
  int lookups_ = 0;
  int voids_ = 0;
};

const dns::Answer* Run::lookup(std::string name, dns::RecordType type) {
  if (suspended()) {
    return nullptr;
  }
  auto normalized = dns::normalize_name(name);
  if (!normalized || !is_checkable_domain(*normalized)) {
    // A name no DNS server could hold is answered here, as a non-existent one.
    static const dns::Answer kNxDomain = dns::Answer::failure(dns::LookupStatus::kNxDomain);
    return &kNxDomain;
  }
  auto it = answers_.find({*normalized, type});
  if (it != answers_.end()) {
    return &it->second;
  }
  pending_ = DnsQuery{std::move(*normalized), type};
  return nullptr;
}

bool Run::count_lookup(std::string& problem) {
  // §4.6.4: at most 10 mechanisms and modifiers that cause DNS queries.
  if (++lookups_ > options_.max_dns_mechanisms) {
    problem = "more than " + std::to_string(options_.max_dns_mechanisms) + " DNS lookups";
    return false;
  }
  return true;
}

bool Run::count_void(const dns::Answer& answer, std::string& problem) {
  bool is_void = answer.status == dns::LookupStatus::kNxDomain ||
                 answer.status == dns::LookupStatus::kNoData ||
                 (answer.status == dns::LookupStatus::kOk && answer.addresses.empty() &&
                  answer.mx.empty() && answer.names.empty() && answer.txt.empty());
  // §4.6.4: more than two void lookups is a permerror.
  if (is_void && ++voids_ > options_.max_void_lookups) {
    problem = "more than " + std::to_string(options_.max_void_lookups) + " void lookups";
    return false;
  }
  return true;
}

// A temporary DNS failure is temperror; an empty answer to a mechanism's own
// query is a void lookup (§4.6.4). nullopt: go on with the records.
std::optional<Match> Run::screen(const dns::Answer& answer, const std::string& name, bool primary,
                                 std::string& problem) {
  if (answer.status == dns::LookupStatus::kTemporary ||
      answer.status == dns::LookupStatus::kMalformed) {
    problem = "DNS failure for " + name;
    return Match::kTempError;
  }
  if (primary && !count_void(answer, problem)) {
    return Match::kPermError;
  }
  return std::nullopt;
}

std::optional<std::string> Run::validated_name(const std::string& domain) {
  // §7.3 (%{p}) and §5.5: a PTR name counts only if it resolves back to <ip>.
  const dns::Answer* ptr = lookup(ip_.reverse_name(), dns::RecordType::kPtr);
  if (ptr == nullptr) {
    return std::nullopt;
  }
  std::string best;
  int best_rank = 0;
  std::size_t n =
      std::min<std::size_t>(ptr->names.size(), static_cast<std::size_t>(options_.max_ptr_names));
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& name = ptr->names[i];
    const dns::Answer* a = lookup(name, address_type());
    if (a == nullptr) {
      return std::nullopt;
    }
    if (std::find(a->addresses.begin(), a->addresses.end(), ip_) == a->addresses.end()) {
      continue;
    }
    int rank = ascii::iequals(name, domain) ? 3 : is_subdomain_or_same(name, domain) ? 2 : 1;
    if (rank > best_rank) {
      best = name;
      best_rank = rank;
    }
  }
  return best_rank == 0 ? std::string("unknown") : best;
}

std::optional<std::string> Run::expand(const std::string& spec, const std::string& domain,
                                       SpfMacroContextKind kind) {
  SpfMacroValues values;
  values.sender = sender_;
  std::size_t at = sender_.rfind('@');
  values.local_part = sender_.substr(0, at);
  values.sender_domain = sender_.substr(at + 1);
  values.domain = domain;
  values.ip = ip_;
  values.helo = helo_;
  values.receiver = options_.receiver;
  values.timestamp = options_.timestamp;
  if (uses_validated_name(spec)) {
    auto p = validated_name(domain);
    if (!p) {
      return std::nullopt;
    }
    values.validated_name = *p;
  }
  return expand_macro_string(spec, values, kind);
}

Match Run::address_match(const std::string& name, const SpfMechanism& m, bool primary,
                         std::string& problem) {
  const dns::Answer* a = lookup(name, address_type());
  if (a == nullptr) {
    return Match::kNo;
  }
  if (auto stop = screen(*a, name, primary, problem)) {
    return *stop;
  }
  int prefix = ip_.is_v4() ? m.cidr4 : m.cidr6;
  for (const dns::IpAddress& address : a->addresses) {
    if (dns::in_network(ip_, address, prefix)) {
      return Match::kYes;
    }
  }
  return Match::kNo;
}

Match Run::evaluate(const SpfMechanism& m, const std::string& domain, std::string& problem) {
  switch (m.kind) {
    case SpfMechanismKind::kAll:
      return Match::kYes;
    case SpfMechanismKind::kIp4:
    case SpfMechanismKind::kIp6:
      return dns::in_network(ip_, m.network, m.kind == SpfMechanismKind::kIp4 ? m.cidr4 : m.cidr6)
                 ? Match::kYes
                 : Match::kNo;
    default:
      break;
  }
  if (!count_lookup(problem)) {
    return Match::kPermError;
  }
  auto target = m.domain_spec.empty()
                    ? std::optional<std::string>(domain)
                    : expand(m.domain_spec, domain, SpfMacroContextKind::kDomainSpec);
  if (!target) {
    return Match::kNo;
  }
  switch (m.kind) {
    case SpfMechanismKind::kInclude: {
      // §5.2: pass matches; fail, softfail and neutral do not; temperror stays;
      // permerror and none (no record there) are permerror.
      Outcome inner = check_host(*target);
      if (suspended()) {
        return Match::kNo;
      }
      switch (inner.result) {
        case AuthResult::kPass:
          return Match::kYes;
        case AuthResult::kTempError:
          problem = inner.problem;
          return Match::kTempError;
        case AuthResult::kPermError:
          problem = inner.problem;
          return Match::kPermError;
        case AuthResult::kNone:
          problem = "include:" + *target + " has no SPF record";
          return Match::kPermError;
        default:
          return Match::kNo;
      }
    }
    case SpfMechanismKind::kA:
      return address_match(*target, m, true, problem);
    case SpfMechanismKind::kMx: {
      const dns::Answer* mx = lookup(*target, dns::RecordType::kMx);
      if (mx == nullptr) {
        return Match::kNo;
      }
      if (auto stop = screen(*mx, *target, true, problem)) {
        return *stop;
      }
      // §4.6.4: an "mx" may look at no more than 10 MX names.
      if (mx->mx.size() > static_cast<std::size_t>(options_.max_mx_names)) {
        problem =
            "more than " + std::to_string(options_.max_mx_names) + " MX records at " + *target;
        return Match::kPermError;
      }
      for (const dns::MxRecord& record : mx->mx) {
        if (record.exchange.empty()) {
          continue;  // null MX (RFC 7505)
        }
        Match match = address_match(record.exchange, m, false, problem);
        if (match != Match::kNo || suspended()) {
          return match;
        }
      }
      return Match::kNo;
    }
    case SpfMechanismKind::kPtr: {
      // §5.5: DNS errors make "ptr" not match; only the first 10 names count.
      const dns::Answer* ptr = lookup(ip_.reverse_name(), dns::RecordType::kPtr);
      if (ptr == nullptr || !ptr->ok()) {
        if (ptr != nullptr && !count_void(*ptr, problem)) {
          return Match::kPermError;
        }
        return Match::kNo;
      }
      std::size_t n = std::min<std::size_t>(ptr->names.size(),
                                            static_cast<std::size_t>(options_.max_ptr_names));
      for (std::size_t i = 0; i < n; ++i) {
        const std::string& name = ptr->names[i];
        if (!is_subdomain_or_same(name, *target)) {
          continue;
        }
        const dns::Answer* a = lookup(name, address_type());
        if (a == nullptr) {
          return Match::kNo;
        }
        if (std::find(a->addresses.begin(), a->addresses.end(), ip_) != a->addresses.end()) {
          return Match::kYes;
        }
      }
      return Match::kNo;
    }
    case SpfMechanismKind::kExists: {
      // §5.7: an A query whatever the client's address family.
      const dns::Answer* a = lookup(*target, dns::RecordType::kA);
      if (a == nullptr) {
        return Match::kNo;
      }
      if (auto stop = screen(*a, *target, true, problem)) {
        return *stop;
      }
      return a->addresses.empty() ? Match::kNo : Match::kYes;
    }
    default:
      return Match::kNo;
  }
}

std::string Run::explain(const SpfRecord& record, const std::string& domain) {
  // §6.2: any trouble with exp= leaves the default explanation.
  if (!record.explanation) {
    return options_.default_explanation;
  }
  auto name = expand(*record.explanation, domain, SpfMacroContextKind::kDomainSpec);
  if (!name) {
    return {};
  }
  const dns::Answer* txt = lookup(*name, dns::RecordType::kTxt);
  if (txt == nullptr) {
    return {};
  }
  if (!txt->ok() || txt->txt.size() != 1) {
    return options_.default_explanation;
  }
  std::string text = txt->txt.front().joined();
  if (!validate_macro_string(text, SpfMacroContextKind::kExplanation)) {
    return options_.default_explanation;
  }
  auto expanded = expand(text, domain, SpfMacroContextKind::kExplanation);
  if (!expanded) {
    return {};
  }
  return *expanded;
}

Outcome Run::check_host(const std::string& domain) {
  if (!is_checkable_domain(domain)) {
    return error(AuthResult::kNone, "\"" + domain + "\" is not a domain SPF can check");
  }
  // §4.4: the SPF record is a TXT record at the domain.
  const dns::Answer* txt = lookup(domain, dns::RecordType::kTxt);
  if (txt == nullptr) {
    return {};
  }
  if (txt->status == dns::LookupStatus::kTemporary ||
      txt->status == dns::LookupStatus::kMalformed) {
    return error(AuthResult::kTempError, "DNS failure for TXT " + domain);
  }
  // §4.5: exactly one record must start with "v=spf1".
  std::optional<std::string> text;
  for (const dns::TxtRecord& record : txt->txt) {
    std::string joined = record.joined();
    if (!is_spf_record(joined)) {
      continue;
    }
    if (text) {
      return error(AuthResult::kPermError, "more than one SPF record at " + domain);
    }
    text = std::move(joined);
  }
  if (!text) {
    return error(AuthResult::kNone, "no SPF record at " + domain);
  }
  auto record = parse_spf_record(*text);
  if (!record) {
    return error(AuthResult::kPermError, record.error().message);
  }
  bool has_all = false;
  for (const SpfMechanism& m : record->mechanisms) {
    has_all = has_all || m.kind == SpfMechanismKind::kAll;
    std::string problem;
    Match match = evaluate(m, domain, problem);
    if (suspended()) {
      return {};
    }
    if (match == Match::kTempError) {
      return error(AuthResult::kTempError, problem);
    }
    if (match == Match::kPermError) {
      return error(AuthResult::kPermError, problem);
    }
    if (match == Match::kYes) {
      Outcome o;
      o.result = result_of(m.qualifier);
      o.mechanism = std::string(result_qualifier_char(m.qualifier)) +
                    std::string(spf_mechanism_name(m.kind)) +
                    (m.domain_spec.empty() ? "" : ":" + m.domain_spec);
      if (o.result == AuthResult::kFail) {
        o.explanation = explain(*record, domain);
      }
      return o;
    }
  }
  // §6.1: redirect= applies only when no mechanism matched and there is no "all".
  if (record->redirect && !has_all) {
    std::string problem;
    if (!count_lookup(problem)) {
      return error(AuthResult::kPermError, problem);
    }
    auto target = expand(*record->redirect, domain, SpfMacroContextKind::kDomainSpec);
    if (!target) {
      return {};
    }
    Outcome inner = check_host(*target);
    if (inner.result == AuthResult::kNone && !suspended()) {
      return error(AuthResult::kPermError, "redirect=" + *target + " has no SPF record");
    }
    return inner;
  }
  Outcome o;
  o.result = AuthResult::kNeutral;
  return o;
}

}  // namespace

SpfEvaluator::SpfEvaluator(const dns::IpAddress& ip, std::string domain, std::string sender,
                           std::string helo, SpfOptions options)
    : ip_(ip),
      domain_(std::move(domain)),
      sender_(std::move(sender)),
      helo_(std::move(helo)),
      options_(std::move(options)) {
  run();
}

SpfEvaluator SpfEvaluator::for_mail_from(const dns::IpAddress& ip, std::string_view mail_from,
                                         std::string_view helo, SpfOptions options) {
  if (mail_from.empty()) {
    return for_helo(ip, helo, std::move(options));
  }
  std::size_t at = mail_from.rfind('@');
  std::string local = at == std::string_view::npos ? "" : std::string(mail_from.substr(0, at));
  std::string domain(at == std::string_view::npos ? mail_from : mail_from.substr(at + 1));
  // §4.3: an empty local-part becomes "postmaster".
  if (local.empty()) {
    local = "postmaster";
  }
  return SpfEvaluator(ip, domain, local + "@" + domain, std::string(helo), std::move(options));
}

SpfEvaluator SpfEvaluator::for_helo(const dns::IpAddress& ip, std::string_view helo,
                                    SpfOptions options) {
  SpfEvaluator spf(ip, std::string(helo), "postmaster@" + std::string(helo), std::string(helo),
                   std::move(options));
  spf.identity_ = SpfIdentity::kHelo;
  return spf;
}

void SpfEvaluator::provide(const dns::Answer& answer) {
  if (!pending_) {
    return;
  }
  answers_[{pending_->name, pending_->type}] = answer;
  run();
}

void SpfEvaluator::run() {
  Run pass(ip_, sender_, helo_, options_, answers_);
  Outcome outcome = pass.check_host(domain_);
  pending_ = pass.pending();
  if (pending_) {
    return;
  }
  result_.result = outcome.result;
  result_.explanation = std::move(outcome.explanation);
  result_.problem = std::move(outcome.problem);
  result_.mechanism = std::move(outcome.mechanism);
}

}  // namespace tern::mailauth
