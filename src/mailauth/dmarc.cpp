// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dmarc.hpp"

#include <charconv>

#include <libpsl.h>

#include "base/ascii.hpp"
#include "mailauth/tag_list.hpp"

namespace tern::mailauth {
namespace {

Error invalid(std::string message) {
  return fail(ErrorCode::kInvalidInput, std::move(message));
}

std::optional<DmarcPolicy> parse_policy(std::string_view text) {
  if (ascii::iequals(text, "none")) {
    return DmarcPolicy::kNone;
  }
  if (ascii::iequals(text, "quarantine")) {
    return DmarcPolicy::kQuarantine;
  }
  if (ascii::iequals(text, "reject")) {
    return DmarcPolicy::kReject;
  }
  return std::nullopt;
}

// RFC 7489 §6.4: a comma-separated list of URIs, each optionally followed by
// "!" size; white space around items is ignored.
std::vector<std::string> parse_uris(std::string_view value) {
  std::vector<std::string> uris;
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t end = value.find(',', pos);
    end = end == std::string_view::npos ? value.size() : end;
    std::string uri = strip_fws(value.substr(pos, end - pos));
    if (!uri.empty()) {
      uris.push_back(std::move(uri));
    }
    pos = end + 1;
  }
  return uris;
}

bool has_mailto(const std::vector<std::string>& uris) {
  for (const std::string& uri : uris) {
    if (uri.size() > 7 && ascii::iequals(std::string_view(uri).substr(0, 7), "mailto:")) {
      return true;
    }
  }
  return false;
}

Result<std::uint32_t> parse_uint(std::string_view name, std::string_view value) {
  std::uint32_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    return invalid(std::string(name) + "= is not a number");
  }
  return n;
}

DmarcDisposition disposition_of(DmarcPolicy policy) {
  switch (policy) {
    case DmarcPolicy::kReject:
      return DmarcDisposition::kReject;
    case DmarcPolicy::kQuarantine:
      return DmarcDisposition::kQuarantine;
    case DmarcPolicy::kNone:
      return DmarcDisposition::kNone;
  }
  return DmarcDisposition::kNone;
}

}  // namespace

std::string_view dmarc_policy_name(DmarcPolicy policy) {
  switch (policy) {
    case DmarcPolicy::kNone:
      return "none";
    case DmarcPolicy::kQuarantine:
      return "quarantine";
    case DmarcPolicy::kReject:
      return "reject";
  }
  return "none";
}

bool is_dmarc_record(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && is_fws_char(text[i])) {
    ++i;
  }
  text.remove_prefix(i);
  if (text.size() < 1 || text[0] != 'v') {
    return false;
  }
  auto tags = parse_tag_list(text);
  return tags && !tags->empty() && (*tags)[0].name == "v" && (*tags)[0].value == "DMARC1";
}

Result<DmarcRecord> parse_dmarc_record(std::string_view text) {
  TERN_TRY(std::vector<Tag> tags, parse_tag_list(text));
  // RFC 7489 §6.4: v= first, exactly "DMARC1".
  if (tags.empty() || tags[0].name != "v" || tags[0].value != "DMARC1") {
    return invalid("record does not start with v=DMARC1");
  }
  DmarcRecord record;
  if (auto rua = find_tag(tags, "rua")) {
    record.aggregate_uris = parse_uris(rua->value);
  }
  if (auto ruf = find_tag(tags, "ruf")) {
    record.failure_uris = parse_uris(ruf->value);
  }
  // §6.6.3: without a valid p=, a record with a usable rua= acts as p=none.
  std::optional<DmarcPolicy> policy;
  if (auto p = find_tag(tags, "p")) {
    policy = parse_policy(p->value);
  }
  if (!policy) {
    if (!has_mailto(record.aggregate_uris)) {
      return invalid("p= is missing or invalid");
    }
    policy = DmarcPolicy::kNone;
  }
  record.policy = *policy;
  if (auto sp = find_tag(tags, "sp")) {
    record.subdomain_policy = parse_policy(sp->value);
    if (!record.subdomain_policy && !has_mailto(record.aggregate_uris)) {
      return invalid("sp= is invalid");
    }
  }
  if (auto pct = find_tag(tags, "pct")) {
    TERN_TRY(std::uint32_t n, parse_uint("pct", pct->value));
    if (n > 100) {
      return invalid("pct= is over 100");
    }
    record.percent = static_cast<int>(n);
  }
  if (auto adkim = find_tag(tags, "adkim")) {
    record.dkim_alignment =
        ascii::iequals(adkim->value, "s") ? DmarcAlignment::kStrict : DmarcAlignment::kRelaxed;
  }
  if (auto aspf = find_tag(tags, "aspf")) {
    record.spf_alignment =
        ascii::iequals(aspf->value, "s") ? DmarcAlignment::kStrict : DmarcAlignment::kRelaxed;
  }
  if (auto fo = find_tag(tags, "fo")) {
    record.failure_options = std::string(fo->value);
  }
  if (auto ri = find_tag(tags, "ri")) {
    TERN_TRY(record.report_interval, parse_uint("ri", ri->value));
  }
  return record;
}

std::string organizational_domain(std::string_view domain) {
  std::string name = ascii::lower(domain);
  while (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  // psl_builtin(): the list compiled into libpsl from Debian's publicsuffix
  // package; no file access, so this stays L1.
  const psl_ctx_t* psl = psl_builtin();
  const char* registrable = psl != nullptr ? psl_registrable_domain(psl, name.c_str()) : nullptr;
  return registrable != nullptr ? std::string(registrable) : name;
}

bool is_aligned(std::string_view a, std::string_view b, DmarcAlignment mode) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.back() == '.') {
      s.remove_suffix(1);
    }
    return s;
  };
  a = trim(a);
  b = trim(b);
  if (a.empty() || b.empty()) {
    return false;
  }
  if (mode == DmarcAlignment::kStrict) {
    return ascii::iequals(a, b);
  }
  return organizational_domain(a) == organizational_domain(b);
}

DmarcEvaluator::DmarcEvaluator(DmarcInput input) : input_(std::move(input)) {
  auto from = dns::normalize_name(input_.from_domain);
  if (!from || from->empty() || from->find('.') == std::string::npos) {
    result_.result = AuthResult::kNone;
    result_.problem = "no usable RFC5322.From domain";
    return;
  }
  input_.from_domain = *from;
  org_domain_ = organizational_domain(*from);
  pending_ = DnsQuery{"_dmarc." + *from, dns::RecordType::kTxt};
}

void DmarcEvaluator::provide(const dns::Answer& answer) {
  if (!pending_) {
    return;
  }
  bool at_org = asked_org_;
  std::string policy_domain = at_org ? org_domain_ : input_.from_domain;
  pending_.reset();
  if (answer.status == dns::LookupStatus::kTemporary ||
      answer.status == dns::LookupStatus::kMalformed) {
    result_.result = AuthResult::kTempError;
    result_.problem = "DNS failure for _dmarc." + policy_domain;
    return;
  }
  // §6.6.3: records that do not start with v=DMARC1 are ignored; more than one
  // DMARC record means none.
  std::vector<std::string> texts;
  for (const dns::TxtRecord& txt : answer.txt) {
    std::string joined = txt.joined();
    if (is_dmarc_record(joined)) {
      texts.push_back(std::move(joined));
    }
  }
  if (texts.size() == 1) {
    auto record = parse_dmarc_record(texts.front());
    if (record) {
      apply(*record, policy_domain, at_org);
      return;
    }
    result_.problem = record.error().message;
  }
  if (!at_org && org_domain_ != input_.from_domain) {
    asked_org_ = true;
    pending_ = DnsQuery{"_dmarc." + org_domain_, dns::RecordType::kTxt};
    return;
  }
  result_.result = AuthResult::kNone;
  if (result_.problem.empty()) {
    result_.problem = texts.size() > 1 ? "more than one DMARC record" : "no DMARC record";
  }
}

void DmarcEvaluator::apply(const DmarcRecord& record, std::string policy_domain,
                           bool at_org_domain) {
  result_.policy_domain = std::move(policy_domain);
  result_.record = record;
  // §6.6.3: a record found at the organizational domain for a subdomain sender
  // applies sp= when it has one.
  result_.policy =
      at_org_domain && record.subdomain_policy ? *record.subdomain_policy : record.policy;
  for (const DkimResult& dkim : input_.dkim) {
    if (dkim.result == AuthResult::kPass &&
        is_aligned(dkim.domain, input_.from_domain, record.dkim_alignment)) {
      result_.dkim_aligned = true;
    }
  }
  result_.spf_aligned = input_.spf == AuthResult::kPass &&
                        is_aligned(input_.spf_domain, input_.from_domain, record.spf_alignment);
  if (result_.dkim_aligned || result_.spf_aligned) {
    result_.result = AuthResult::kPass;
    return;
  }
  result_.result = AuthResult::kFail;
  // §6.6.4: outside the pct= sample the policy is lowered one step.
  DmarcPolicy applied = result_.policy;
  if (static_cast<int>(input_.sample % 100) >= record.percent) {
    applied = applied == DmarcPolicy::kReject ? DmarcPolicy::kQuarantine : DmarcPolicy::kNone;
  }
  result_.disposition = disposition_of(applied);
}

}  // namespace tern::mailauth
