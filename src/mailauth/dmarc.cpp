// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dmarc.hpp"

#include <algorithm>
#include <charconv>

#include "base/ascii.hpp"
#include "mailauth/tag_list.hpp"

namespace tern::mailauth {
namespace {

// RFC 1035 §2.3.4: a name of more octets cannot be asked.
constexpr std::size_t kMaxNameOctets = 253;
constexpr std::string_view kPrefix = "_dmarc.";

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

// RFC 9989 §4.8 dmarc-urilist: comma-separated URIs, white space around items
// ignored; RFC 7489's "!size" suffix stays part of the text (reports read it).
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
  return std::any_of(uris.begin(), uris.end(), [](const std::string& uri) {
    return uri.size() > 7 && ascii::iequals(std::string_view(uri).substr(0, 7), "mailto:");
  });
}

std::optional<std::uint32_t> parse_uint(std::string_view value) {
  std::uint32_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    return std::nullopt;
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

// RFC 9989 §4.7 t=y: "one level below the specified policy".
DmarcPolicy one_step_lower(DmarcPolicy policy) {
  return policy == DmarcPolicy::kReject ? DmarcPolicy::kQuarantine : DmarcPolicy::kNone;
}

std::size_t label_count(std::string_view domain) {
  return domain.empty()
             ? 0
             : static_cast<std::size_t>(std::count(domain.begin(), domain.end(), '.')) + 1;
}

// The `count` right-most labels of `domain` (all of it when it has fewer).
std::string_view right_labels(std::string_view domain, std::size_t count) {
  std::size_t total = label_count(domain);
  std::size_t pos = 0;
  for (std::size_t i = 0; count < total && i < total - count; ++i) {
    pos = domain.find('.', pos) + 1;
  }
  return domain.substr(pos);
}

std::string_view top_label(std::string_view domain) {
  std::size_t dot = domain.rfind('.');
  return dot == std::string_view::npos ? domain : domain.substr(dot + 1);
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
  if (text.empty() || text[0] != 'v') {
    return false;
  }
  auto tags = parse_tag_list(text);
  return tags && !tags->empty() && (*tags)[0].name == "v" && (*tags)[0].value == "DMARC1";
}

Result<DmarcRecord> parse_dmarc_record(std::string_view text) {
  TERN_TRY(std::vector<Tag> tags, parse_tag_list(text));
  // RFC 9989 §4.7: v= first, exactly "DMARC1" (case-sensitive).
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
  // §4.10.1: a missing or invalid p=, or an invalid sp= or np=, makes the record
  // "p=none" when rua= holds a usable URI, and no DMARC processing otherwise.
  std::optional<DmarcPolicy> policy;
  if (auto p = find_tag(tags, "p")) {
    policy = parse_policy(p->value);
  }
  bool unusable = !policy;
  if (auto sp = find_tag(tags, "sp")) {
    record.subdomain_policy = parse_policy(sp->value);
    unusable = unusable || !record.subdomain_policy;
  }
  if (auto np = find_tag(tags, "np")) {
    record.nonexistent_policy = parse_policy(np->value);
    unusable = unusable || !record.nonexistent_policy;
  }
  if (unusable) {
    if (!has_mailto(record.aggregate_uris)) {
      return invalid("p= is missing or invalid, or sp=/np= is invalid, and rua= has no mailto:");
    }
    policy = DmarcPolicy::kNone;
    record.subdomain_policy.reset();
    record.nonexistent_policy.reset();
  }
  record.policy = *policy;
  // §4.8: syntax errors in the other tags fall back to their defaults.
  if (auto t = find_tag(tags, "t")) {
    if (t->value == "y" || t->value == "n") {
      record.testing = t->value == "y";
    }
  }
  if (auto psd = find_tag(tags, "psd")) {
    record.psd = psd->value == "y"   ? DmarcPsd::kYes
                 : psd->value == "n" ? DmarcPsd::kNo
                                     : DmarcPsd::kUnknown;
  }
  if (auto pct = find_tag(tags, "pct")) {
    // RFC 7489 §6.3 (removed by RFC 9989 appendix C.5.2; kept for appendix A.6).
    if (auto n = parse_uint(pct->value); n && *n <= 100) {
      record.percent = static_cast<int>(*n);
    }
  }
  if (auto adkim = find_tag(tags, "adkim")) {
    record.dkim_alignment =
        adkim->value == "s" ? DmarcAlignment::kStrict : DmarcAlignment::kRelaxed;
  }
  if (auto aspf = find_tag(tags, "aspf")) {
    record.spf_alignment = aspf->value == "s" ? DmarcAlignment::kStrict : DmarcAlignment::kRelaxed;
  }
  if (auto fo = find_tag(tags, "fo")) {
    record.failure_options = std::string(fo->value);
  }
  if (auto ri = find_tag(tags, "ri")) {
    record.report_interval = parse_uint(ri->value).value_or(record.report_interval);
  }
  return record;
}

bool dmarc_testing(const DmarcRecord& record, std::uint32_t sample) {
  if (record.testing) {
    return *record.testing;
  }
  // RFC 7489 §6.6.4 sampling; appendix A.6 of RFC 9989 maps pct=0 to t=y.
  return static_cast<int>(sample % 100) >= record.percent;
}

// ----- the DNS Tree Walk

std::vector<std::string> dmarc_tree_walk_names(std::string_view domain) {
  std::vector<std::string> names;
  const std::size_t x = label_count(domain);
  if (x == 0) {
    return names;
  }
  // §4.10 step 4: below 8 labels drop one; from 8 on, keep the right-most 7.
  names.emplace_back(domain);
  for (std::size_t n = std::min(x - 1, kDmarcMaxWalkQueries - 1); n >= 1; --n) {
    names.emplace_back(right_labels(domain, n));
  }
  return names;
}

std::string select_organizational_domain(std::string_view start,
                                         const std::vector<DmarcFound>& found) {
  // §4.10.2, longest to shortest. The walk stops at psd=y/n, so only the last
  // record can carry either.
  for (const DmarcFound& f : found) {
    if (f.record.psd == DmarcPsd::kNo) {
      return f.domain;
    }
    if (f.record.psd == DmarcPsd::kYes && f.domain != start) {
      return std::string(right_labels(start, label_count(f.domain) + 1));
    }
  }
  return found.empty() ? std::string(start) : found.back().domain;
}

DmarcLookup classify_dmarc_texts(const std::vector<std::string>& texts) {
  const std::string* only = nullptr;
  std::size_t count = 0;
  for (const std::string& text : texts) {
    if (is_dmarc_record(text)) {
      only = &text;
      ++count;
    }
  }
  DmarcLookup lookup;
  if (count != 1) {
    // §4.10 step 2: several records are all discarded.
    lookup.problem = count == 0 ? "no DMARC record" : "more than one DMARC record";
    return lookup;
  }
  auto record = parse_dmarc_record(*only);
  if (!record) {
    lookup.kind = DmarcLookup::Kind::kUnusable;
    lookup.problem = record.error().message;
    return lookup;
  }
  lookup.kind = DmarcLookup::Kind::kRecord;
  lookup.record = std::move(*record);
  return lookup;
}

DmarcLookup classify_dmarc_answer(const dns::Answer& answer) {
  if (answer.status == dns::LookupStatus::kTemporary ||
      answer.status == dns::LookupStatus::kMalformed) {
    DmarcLookup lookup;
    lookup.kind = DmarcLookup::Kind::kTempError;
    lookup.problem = answer.error.empty() ? "DNS failure" : "DNS failure: " + answer.error;
    return lookup;
  }
  std::vector<std::string> texts;
  for (const dns::TxtRecord& txt : answer.txt) {
    // §4.5: the strings of one record are concatenated.
    texts.push_back(txt.joined());
  }
  return classify_dmarc_texts(texts);
}

DmarcTreeWalk::DmarcTreeWalk(std::string_view start) : start_(start) {
  if (auto name = dns::normalize_name(start)) {
    start_ = std::move(*name);
    names_ = dmarc_tree_walk_names(start_);
  }
  skip_unaskable();
}

std::optional<DnsQuery> DmarcTreeWalk::pending_query() const {
  if (done()) {
    return std::nullopt;
  }
  return DnsQuery{std::string(kPrefix) + names_[next_], dns::RecordType::kTxt};
}

void DmarcTreeWalk::provide(const dns::Answer& answer) {
  provide(classify_dmarc_answer(answer));
}

void DmarcTreeWalk::provide(const DmarcLookup& lookup) {
  if (done()) {
    return;
  }
  const std::string& name = names_[next_];
  if (next_ == 0) {
    start_lookup_ = lookup;
  }
  ++next_;
  switch (lookup.kind) {
    case DmarcLookup::Kind::kTempError:
      failed_ = true;
      stopped_ = true;
      problem_ = std::string(kPrefix) + name + ": " + lookup.problem;
      return;
    case DmarcLookup::Kind::kRecord:
      found_.push_back({name, *lookup.record});
      // §4.10 steps 2 and 6: psd=y or psd=n ends the walk.
      stopped_ = lookup.record->psd != DmarcPsd::kUnknown;
      break;
    case DmarcLookup::Kind::kUnusable:
      // Not a valid record: the walk goes on past it, but the reason is kept
      // for a walk that finds nothing better.
      if (problem_.empty()) {
        problem_ = std::string(kPrefix) + name + ": " + lookup.problem;
      }
      break;
    case DmarcLookup::Kind::kNone:
      break;
  }
  skip_unaskable();
}

void DmarcTreeWalk::skip_unaskable() {
  while (!done() && kPrefix.size() + names_[next_].size() > kMaxNameOctets) {
    if (next_ == 0) {
      start_lookup_ = DmarcLookup{DmarcLookup::Kind::kNone, std::nullopt, "name too long"};
    }
    ++next_;
  }
}

std::string DmarcTreeWalk::organizational_domain() const {
  return select_organizational_domain(start_, found_);
}

// ----- evaluation

DmarcEvaluator::DmarcEvaluator(DmarcInput input) : input_(std::move(input)) {
  auto from = dns::normalize_name(input_.from_domain);
  if (!from || from->empty() || from->find('.') == std::string::npos) {
    finish(AuthResult::kNone, "no usable RFC5322.From domain");
    return;
  }
  input_.from_domain = *from;
  walks_.emplace(*from, DmarcTreeWalk(*from));
  advance();
}

bool DmarcEvaluator::wanted(const DmarcTreeWalk& walk) const {
  return need_author_walk_ || walk.start() != input_.from_domain;
}

std::vector<DnsQuery> DmarcEvaluator::pending_queries() const {
  std::vector<DnsQuery> out;
  if (stage_ == Stage::kDone) {
    return out;
  }
  auto add = [&](const DnsQuery& q) {
    if (!answers_.contains(q.name) && std::find(out.begin(), out.end(), q) == out.end()) {
      out.push_back(q);
    }
  };
  for (const auto& [domain, walk] : walks_) {
    if (auto q = walk.pending_query(); q && wanted(walk)) {
      add(*q);
    }
  }
  if (existence_query_) {
    add(*existence_query_);
  }
  return out;
}

std::optional<DnsQuery> DmarcEvaluator::pending_query() const {
  std::vector<DnsQuery> all = pending_queries();
  if (all.empty()) {
    return std::nullopt;
  }
  return all.front();
}

void DmarcEvaluator::provide(const dns::Answer& answer) {
  if (auto q = pending_query()) {
    provide_for(q->name, answer);
  }
}

void DmarcEvaluator::provide_for(std::string_view name, const dns::Answer& answer) {
  std::vector<DnsQuery> open = pending_queries();
  if (std::none_of(open.begin(), open.end(), [&](const DnsQuery& q) { return q.name == name; })) {
    return;
  }
  answers_.emplace(std::string(name), answer);
  advance();
}

// Feeds the walks what is answered, then lets the stage decide; repeats while
// anything moves (one answer may serve several walks).
void DmarcEvaluator::advance() {
  while (stage_ != Stage::kDone) {
    bool moved = feed_walks();
    switch (stage_) {
      case Stage::kPolicy:
        moved = decide_policy() || moved;
        break;
      case Stage::kAlignment:
        moved = decide_alignment() || moved;
        break;
      case Stage::kExistence:
        moved = decide_existence() || moved;
        break;
      case Stage::kDone:
        break;
    }
    if (!moved) {
      return;
    }
  }
}

bool DmarcEvaluator::feed_walks() {
  bool moved = false;
  for (auto& [domain, walk] : walks_) {
    while (wanted(walk)) {
      auto q = walk.pending_query();
      auto found = q ? answers_.find(q->name) : answers_.end();
      if (found == answers_.end()) {
        break;
      }
      walk.provide(found->second);
      moved = true;
    }
  }
  return moved;
}

// RFC 9989 §4.10.1: the record at the Author Domain, else the one at its
// organizational domain, else its PSD's.
bool DmarcEvaluator::decide_policy() {
  const std::string& author = input_.from_domain;
  const DmarcTreeWalk& walk = walks_.at(author);
  const std::optional<DmarcLookup>& first = walk.start_lookup();
  if (!first) {
    return false;
  }
  const DmarcFound* chosen = nullptr;
  switch (first->kind) {
    case DmarcLookup::Kind::kTempError:
      finish(AuthResult::kTempError, walk.problem());
      return true;
    case DmarcLookup::Kind::kUnusable:
      // "Otherwise, the Mail Receiver applies no DMARC processing."
      finish(AuthResult::kNone, walk.problem());
      return true;
    case DmarcLookup::Kind::kRecord:
      chosen = &walk.found().front();
      // The policy is known; the rest of this walk only matters for alignment.
      need_author_walk_ = false;
      break;
    case DmarcLookup::Kind::kNone: {
      if (!walk.done()) {
        return false;
      }
      if (walk.failed()) {
        finish(AuthResult::kTempError, walk.problem());
        return true;
      }
      const std::string org = walk.organizational_domain();
      for (const DmarcFound& f : walk.found()) {
        if (f.domain == org) {
          chosen = &f;
        }
      }
      // An organizational domain one below a psd=y record may have none of its
      // own: the PSD's record applies.
      if (chosen == nullptr && !walk.found().empty() &&
          walk.found().back().record.psd == DmarcPsd::kYes) {
        chosen = &walk.found().back();
      }
      if (chosen == nullptr) {
        finish(AuthResult::kNone, walk.problem().empty() ? "no DMARC record" : walk.problem());
        return true;
      }
      break;
    }
  }
  result_.record = chosen->record;
  result_.policy_domain = chosen->domain;
  const DmarcRecord& record = *result_.record;
  // §4.10.1: p= at the Author Domain; sp= (or p=) for a subdomain of the policy
  // domain. np= needs the existence answer and is settled in decide_existence().
  result_.policy =
      chosen->domain == author ? record.policy : record.subdomain_policy.value_or(record.policy);

  // §4.10.2: identical identifiers and strict mode need no walk; names without a
  // common top label cannot share an organizational domain.
  auto check = [&](std::string_view identifier, DmarcAlignment mode, bool dkim) {
    auto id = dns::normalize_name(identifier);
    if (!id || id->empty()) {
      return false;
    }
    if (*id == author) {
      return true;
    }
    if (mode == DmarcAlignment::kRelaxed && top_label(*id) == top_label(author)) {
      bool known = std::any_of(comparisons_.begin(), comparisons_.end(), [&](const Comparison& c) {
        return c.identifier == *id && c.dkim == dkim;
      });
      std::size_t dkim_walks = static_cast<std::size_t>(std::count_if(
          comparisons_.begin(), comparisons_.end(), [](const Comparison& c) { return c.dkim; }));
      if (!known && (!dkim || dkim_walks < kDmarcMaxDkimWalks)) {
        comparisons_.push_back({*id, dkim});
      }
    }
    return false;
  };
  if (input_.spf == AuthResult::kPass) {
    result_.spf_aligned = check(input_.spf_domain, record.spf_alignment, false);
  }
  for (const DkimResult& dkim : input_.dkim) {
    if (dkim.result == AuthResult::kPass &&
        dns::normalize_name(dkim.domain).value_or("") == author) {
      result_.dkim_aligned = true;
    }
  }
  for (const DkimResult& dkim : input_.dkim) {
    if (!result_.dkim_aligned && dkim.result == AuthResult::kPass) {
      check(dkim.domain, record.dkim_alignment, true);
    }
  }
  for (const Comparison& c : comparisons_) {
    walks_.try_emplace(c.identifier, DmarcTreeWalk(c.identifier));
    need_author_walk_ = true;
  }
  stage_ = Stage::kAlignment;
  return true;
}

// §4.10.2: relaxed alignment holds when both walks give one organizational domain.
bool DmarcEvaluator::decide_alignment() {
  const DmarcTreeWalk& author = walks_.at(input_.from_domain);
  std::string problem;
  for (const Comparison& c : comparisons_) {
    const DmarcTreeWalk& walk = walks_.at(c.identifier);
    if (!walk.done() || !author.done()) {
      return false;
    }
    if (walk.failed() || author.failed()) {
      problem = walk.failed() ? walk.problem() : author.problem();
      continue;
    }
    if (walk.organizational_domain() == author.organizational_domain()) {
      (c.dkim ? result_.dkim_aligned : result_.spf_aligned) = true;
    }
  }
  if (result_.dkim_aligned || result_.spf_aligned) {
    finish(AuthResult::kPass, "");
    return true;
  }
  if (!problem.empty()) {
    // RFC 9989 §5.3.6: without the answers the message neither passes nor fails.
    finish(AuthResult::kTempError, problem);
    return true;
  }
  const DmarcRecord& record = *result_.record;
  if (result_.policy_domain != input_.from_domain && record.nonexistent_policy) {
    // Appendix A.4: any record, or none of the type, means the name exists;
    // NXDOMAIN means it does not. TXT is what SPF asks at the MAIL FROM domain,
    // so the inbound driver often has this answer already.
    existence_query_ = DnsQuery{input_.from_domain, dns::RecordType::kTxt};
    stage_ = Stage::kExistence;
    return true;
  }
  finish_failure();
  return true;
}

bool DmarcEvaluator::decide_existence() {
  auto found = answers_.find(existence_query_->name);
  if (found == answers_.end()) {
    return false;
  }
  switch (found->second.status) {
    case dns::LookupStatus::kTemporary:
    case dns::LookupStatus::kMalformed:
      finish(AuthResult::kTempError,
             "DNS failure for " + input_.from_domain + " (np= depends on whether it exists)");
      return true;
    case dns::LookupStatus::kNxDomain:
      result_.author_domain_exists = false;
      result_.policy = *result_.record->nonexistent_policy;
      break;
    case dns::LookupStatus::kOk:
    case dns::LookupStatus::kNoData:
      break;
  }
  finish_failure();
  return true;
}

void DmarcEvaluator::finish_failure() {
  // §4.7 t=y (or RFC 7489 pct= sampling): one step below the policy.
  result_.testing =
      result_.policy != DmarcPolicy::kNone && dmarc_testing(*result_.record, input_.sample);
  result_.disposition =
      disposition_of(result_.testing ? one_step_lower(result_.policy) : result_.policy);
  finish(AuthResult::kFail, "");
}

void DmarcEvaluator::finish(AuthResult result, std::string problem) {
  result_.result = result;
  result_.problem = std::move(problem);
  auto author = walks_.find(input_.from_domain);
  if (author != walks_.end() && author->second.done() && !author->second.failed()) {
    result_.organizational_domain = author->second.organizational_domain();
  }
  existence_query_.reset();
  stage_ = Stage::kDone;
}

}  // namespace tern::mailauth
