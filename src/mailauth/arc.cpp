// SPDX-License-Identifier: Apache-2.0
#include "mailauth/arc.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "mailauth/canonicalization.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/tag_list.hpp"

namespace tern::mailauth {
namespace {

Error invalid(std::string message) {
  return fail(ErrorCode::kInvalidInput, std::move(message));
}

std::optional<int> parse_instance(std::string_view text) {
  if (text.empty() || text.size() > 2 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int n = 0;
  for (char c : text) {
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > kMaxArcInstances) {
    return std::nullopt;
  }
  return n;
}

struct ArcSet {
  const RawHeaderField* results = nullptr;
  const RawHeaderField* message_signature = nullptr;
  const RawHeaderField* seal = nullptr;
  std::optional<ArcSignature> ams;
  std::optional<ArcSignature> as;
};

std::string_view value_of(const RawHeaderField& field) {
  return field.raw.substr(field.raw.find(':') + 1);
}

}  // namespace

Result<ArcSignature> parse_arc_signature(std::string_view value, ArcFieldKind kind) {
  TERN_TRY(std::vector<Tag> tags, parse_tag_list(value));
  const bool seal = kind == ArcFieldKind::kSeal;
  ArcSignature sig;
  auto required = [&](std::string_view name) -> Result<std::string_view> {
    auto tag = find_tag(tags, name);
    if (!tag || tag->value.empty()) {
      return invalid("missing or empty " + std::string(name) + "=");
    }
    return tag->value;
  };
  TERN_TRY(std::string_view instance, required("i"));
  auto n = parse_instance(instance);
  if (!n) {
    return invalid("i= is not 1..50");
  }
  sig.instance = *n;
  TERN_TRY(std::string_view algorithm, required("a"));
  // RFC 8617 §4.1.3 uses the DKIM algorithms; rsa-sha1 is not acceptable (RFC 8301).
  if (algorithm == "rsa-sha256") {
    sig.algorithm = DkimAlgorithm::kRsaSha256;
  } else if (algorithm == "ed25519-sha256") {
    sig.algorithm = DkimAlgorithm::kEd25519Sha256;
  } else {
    return invalid("a= is not rsa-sha256 or ed25519-sha256");
  }
  TERN_TRY(sig.signature, required_base64_tag(tags, "b"));
  TERN_TRY(std::string_view domain, required("d"));
  sig.domain = ascii::lower(domain);
  TERN_TRY(std::string_view selector, required("s"));
  sig.selector = ascii::lower(selector);
  if (!is_dkim_domain_name(sig.domain) || !is_dkim_domain_name(sig.selector)) {
    return invalid("d= or s= is not a domain name");
  }
  if (auto t = find_tag(tags, "t")) {
    TERN_TRY_VOID(parse_tag_number("t", t->value));
  }
  if (seal) {
    if (find_tag(tags, "h")) {
      // RFC 8617 §4.1.3: the AS signs the ARC Sets, never a header list.
      return invalid("ARC-Seal has h=");
    }
    TERN_TRY(std::string_view cv, required("cv"));
    if (cv == "none") {
      sig.chain_status = ArcChainStatus::kNone;
    } else if (cv == "pass") {
      sig.chain_status = ArcChainStatus::kPass;
    } else if (cv == "fail") {
      sig.chain_status = ArcChainStatus::kFail;
    } else {
      return invalid("cv= is not none, pass or fail");
    }
    return sig;
  }
  TERN_TRY(sig.body_hash, required_base64_tag(tags, "bh"));
  // h= may be empty or hold empty items (the ValiMail suite's ams_fields_h_empty
  // and ams_fields_h_mis_hdr pass, as with dkimpy): the AMS then covers itself.
  auto headers = find_tag(tags, "h");
  if (!headers) {
    return invalid("missing h=");
  }
  for (std::string& name : split_colon_list(headers->value)) {
    if (name.empty()) {
      continue;
    }
    name = ascii::lower(name);
    if (name == "arc-seal") {
      // RFC 8617 §4.1.2: ARC-Seal fields MUST NOT be in the AMS h= list.
      return invalid("AMS h= names ARC-Seal");
    }
    sig.signed_headers.push_back(std::move(name));
  }
  // Without c= the AMS is relaxed/relaxed: what RFC 8617 §4.1.2 sealers use
  // and what dkimpy and the ValiMail suite (ams_fields_c_na) expect.
  sig.header_canon = Canonicalization::kRelaxed;
  sig.body_canon = Canonicalization::kRelaxed;
  if (auto c = find_tag(tags, "c")) {
    sig.body_canon = Canonicalization::kSimple;
    std::size_t slash = c->value.find('/');
    TERN_TRY(sig.header_canon, parse_canonicalization(c->value.substr(0, slash)));
    if (slash != std::string_view::npos) {
      TERN_TRY(sig.body_canon, parse_canonicalization(c->value.substr(slash + 1)));
    }
  }
  return sig;
}

std::optional<int> parse_arc_results_instance(std::string_view value) {
  std::size_t pos = value.find_first_not_of(" \t\r\n");
  if (pos == std::string_view::npos || value[pos] != 'i') {
    return std::nullopt;
  }
  pos = value.find_first_not_of(" \t\r\n", pos + 1);
  if (pos == std::string_view::npos || value[pos] != '=') {
    return std::nullopt;
  }
  std::size_t semicolon = value.find(';', pos);
  if (semicolon == std::string_view::npos) {
    return std::nullopt;
  }
  return parse_instance(strip_fws(value.substr(pos + 1, semicolon - pos - 1)));
}

void ArcVerifier::fail_with(std::string problem) {
  result_.result = AuthResult::kFail;
  result_.problem = std::move(problem);
  checks_.clear();
  done_ = true;
}

ArcVerifier::ArcVerifier(std::string_view message) {
  SplitMessage split = split_message(message);
  // RFC 8617 §5.2 step 1: collect the ARC Sets; none means "none".
  std::map<int, ArcSet> sets;
  bool any = false;
  for (const RawHeaderField& field : split.fields) {
    bool is_aar = ascii::iequals(field.name, "ARC-Authentication-Results");
    bool is_ams = ascii::iequals(field.name, "ARC-Message-Signature");
    bool is_as = ascii::iequals(field.name, "ARC-Seal");
    if (!is_aar && !is_ams && !is_as) {
      continue;
    }
    any = true;
    std::optional<int> instance;
    if (is_aar) {
      instance = parse_arc_results_instance(value_of(field));
    } else {
      auto sig = parse_arc_signature(value_of(field),
                                     is_as ? ArcFieldKind::kSeal : ArcFieldKind::kMessageSignature);
      if (!sig) {
        fail_with(std::string(field.name) + ": " + sig.error().message);
        return;
      }
      instance = sig->instance;
      ArcSet& set = sets[*instance];
      (is_as ? set.as : set.ams) = std::move(*sig);
    }
    if (!instance) {
      fail_with(std::string(field.name) + " has no valid i=");
      return;
    }
    ArcSet& set = sets[*instance];
    const RawHeaderField*& slot = is_aar ? set.results : is_ams ? set.message_signature : set.seal;
    if (slot != nullptr) {
      fail_with("two " + std::string(field.name) + " fields with i=" + std::to_string(*instance));
      return;
    }
    slot = &field;
  }
  if (!any) {
    done_ = true;
    return;
  }
  // Step 2: the newest seal saying cv=fail ends it.
  const int n = sets.rbegin()->first;
  result_.instances = n;
  const ArcSet& newest = sets.rbegin()->second;
  if (newest.as && newest.as->chain_status == ArcChainStatus::kFail) {
    fail_with("the newest ARC-Seal says cv=fail");
    return;
  }
  // Step 3: every instance 1..N has exactly one of each field, and cv= is none
  // for i=1 and pass after it (§4.2.1, §5.1.1).
  for (int i = 1; i <= n; ++i) {
    auto it = sets.find(i);
    if (it == sets.end() || it->second.results == nullptr ||
        it->second.message_signature == nullptr || it->second.seal == nullptr) {
      fail_with("ARC Set " + std::to_string(i) + " is incomplete");
      return;
    }
    ArcChainStatus want = i == 1 ? ArcChainStatus::kNone : ArcChainStatus::kPass;
    if (it->second.as->chain_status != want) {
      fail_with("ARC-Seal i=" + std::to_string(i) + " has the wrong cv=");
      return;
    }
  }

  result_.sealer = ascii::lower(newest.as->domain);

  // Step 4: the newest AMS, like a DKIM signature (§5.2 step 5).
  const ArcSignature& ams = *newest.ams;
  BodyCanonicalizer body(ams.body_canon);
  std::string canonical_body;
  body.feed(split.body, canonical_body);
  body.finish(canonical_body);
  if (sha256(canonical_body) != ams.body_hash) {
    fail_with("ARC-Message-Signature i=" + std::to_string(n) + ": body hash did not verify");
    return;
  }
  auto ams_field = blank_b_value(newest.message_signature->raw);
  Check ams_check;
  ams_check.key_name = ams.selector + "._domainkey." + ams.domain;
  ams_check.algorithm = ams.algorithm;
  ams_check.signed_data = select_signed_headers(split, ams.signed_headers, ams.header_canon) +
                          canonicalize_header(ams.header_canon, *ams_field, false);
  ams_check.signature = ams.signature;
  ams_check.what = "ARC-Message-Signature i=" + std::to_string(n);
  checks_.push_back(std::move(ams_check));

  // Step 5: every AS, newest first; AS(k) signs sets 1..k, relaxed, in the order
  // AAR, AMS, AS, with its own b= empty (§5.1.1).
  for (int k = n; k >= 1; --k) {
    const ArcSignature& as = *sets[k].as;
    std::string data;
    for (int i = 1; i <= k; ++i) {
      const ArcSet& set = sets[i];
      data += canonicalize_header(Canonicalization::kRelaxed, set.results->raw);
      data += canonicalize_header(Canonicalization::kRelaxed, set.message_signature->raw);
      if (i < k) {
        data += canonicalize_header(Canonicalization::kRelaxed, set.seal->raw);
      } else {
        data +=
            canonicalize_header(Canonicalization::kRelaxed, *blank_b_value(set.seal->raw), false);
      }
    }
    Check check;
    check.key_name = as.selector + "._domainkey." + as.domain;
    check.algorithm = as.algorithm;
    check.signed_data = std::move(data);
    check.signature = as.signature;
    check.what = "ARC-Seal i=" + std::to_string(k);
    checks_.push_back(std::move(check));
  }
}

std::optional<DnsQuery> ArcVerifier::pending_query() const {
  if (done_) {
    return std::nullopt;
  }
  for (const Check& check : checks_) {
    if (answers_.find(check.key_name) == answers_.end()) {
      return DnsQuery{check.key_name, dns::RecordType::kTxt};
    }
  }
  return std::nullopt;
}

void ArcVerifier::provide(const dns::Answer& answer) {
  auto query = pending_query();
  if (!query) {
    return;
  }
  answers_[query->name] = answer;
  if (!pending_query()) {
    finish();
  }
}

void ArcVerifier::finish() {
  for (const Check& check : checks_) {
    DkimKeyLookup key = dkim_key_from_answer(answers_.at(check.key_name), check.algorithm);
    if (key.result == AuthResult::kTempError) {
      result_.result = AuthResult::kTempError;
      result_.problem = check.what + ": " + key.reason;
      done_ = true;
      return;
    }
    if (key.result != AuthResult::kPass) {
      return fail_with(check.what + ": " + key.reason);
    }
    if (!key.key->verify(check.algorithm, check.signed_data, check.signature)) {
      return fail_with(check.what + ": signature did not verify");
    }
  }
  result_.result = AuthResult::kPass;
  done_ = true;
}

}  // namespace tern::mailauth
