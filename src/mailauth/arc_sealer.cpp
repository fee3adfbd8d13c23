// SPDX-License-Identifier: Apache-2.0
#include "mailauth/arc_sealer.hpp"

#include <map>

#include "base/ascii.hpp"
#include "mailauth/canonicalization.hpp"
#include "mailauth/dkim_signer.hpp"
#include "sasl/base64.hpp"

namespace tern::mailauth {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view chain_status_name(ArcChainStatus status) {
  switch (status) {
    case ArcChainStatus::kNone:
      return "none";
    case ArcChainStatus::kPass:
      return "pass";
    case ArcChainStatus::kFail:
      return "fail";
  }
  return "none";
}

struct ExistingSet {
  const RawHeaderField* results = nullptr;
  const RawHeaderField* message_signature = nullptr;
  const RawHeaderField* seal = nullptr;
  ArcChainStatus seal_status = ArcChainStatus::kNone;
};

// Signs `field` (ending in "b=") over `prefix` + the field, relaxed, and returns
// the field with b= filled in and its CRLF.
Result<std::string> finish_field(const DkimPrivateKey& key, std::string prefix,
                                 const std::string& field, const std::string& after_b) {
  prefix += canonicalize_header(Canonicalization::kRelaxed, field + after_b, false);
  TERN_TRY(std::string signature, key.sign(prefix));
  return field + sasl::base64_encode(signature) + after_b + "\r\n";
}

}  // namespace

Result<std::optional<ArcSetFields>> arc_seal(std::string_view message, const DkimPrivateKey& key,
                                             const ArcSealOptions& options) {
  const std::string domain = ascii::lower(options.domain);
  const std::string selector = ascii::lower(options.selector);
  if (!is_dkim_domain_name(domain) || !is_dkim_domain_name(selector)) {
    return fail(ErrorCode::kInvalidInput, "sealing domain or selector is not a valid name");
  }
  SplitMessage split = split_message(message);

  // The existing chain, by instance.
  std::map<int, ExistingSet> sets;
  std::vector<std::string> results;
  for (const RawHeaderField& field : split.fields) {
    std::string_view value = field.raw.substr(field.raw.find(':') + 1);
    if (ascii::iequals(field.name, "ARC-Authentication-Results")) {
      if (auto i = parse_arc_results_instance(value)) {
        sets[*i].results = &field;
      }
    } else if (ascii::iequals(field.name, "ARC-Message-Signature")) {
      if (auto sig = parse_arc_signature(value, ArcFieldKind::kMessageSignature)) {
        sets[sig->instance].message_signature = &field;
      }
    } else if (ascii::iequals(field.name, "ARC-Seal")) {
      if (auto sig = parse_arc_signature(value, ArcFieldKind::kSeal)) {
        sets[sig->instance].seal = &field;
        sets[sig->instance].seal_status = sig->chain_status;
      }
    } else if (ascii::iequals(field.name, "Authentication-Results")) {
      // RFC 8617 §4.1.1: the AAR is a copy of this ADMD's results; several
      // fields for it are merged, one result per ";".
      std::string_view rest = value;
      std::size_t semicolon = rest.find(';');
      if (!ascii::iequals(trim(rest.substr(0, semicolon)), options.authserv_id) ||
          semicolon == std::string_view::npos) {
        continue;
      }
      rest.remove_prefix(semicolon + 1);
      while (!rest.empty()) {
        std::size_t end = rest.find(';');
        std::string_view item = trim(rest.substr(0, end));
        if (!item.empty()) {
          results.emplace_back(item);
        }
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      }
    }
  }
  const int existing = sets.empty() ? 0 : sets.rbegin()->first;
  // §5.1 step 2: a chain already marked failed is not sealed again.
  if (existing > 0 && sets.rbegin()->second.seal != nullptr &&
      sets.rbegin()->second.seal_status == ArcChainStatus::kFail) {
    return std::optional<ArcSetFields>();
  }
  if (existing > 0 && options.chain_status == ArcChainStatus::kNone) {
    return std::optional<ArcSetFields>();  // cv=none is only for i=1 (§4.1.3)
  }
  if (existing == 0 && options.chain_status != ArcChainStatus::kNone) {
    return fail(ErrorCode::kInvalidInput, "cv= must be none when the message has no chain");
  }
  if (results.empty()) {
    return std::optional<ArcSetFields>();
  }
  const int instance = existing + 1;
  if (instance > kMaxArcInstances) {
    return fail(ErrorCode::kLimitExceeded, "the chain already has 50 ARC Sets");
  }
  const std::string i = std::to_string(instance);
  const std::string t = std::to_string(options.timestamp);
  const std::string algorithm(dkim_algorithm_name(key.algorithm()));

  ArcSetFields out;
  out.results = "ARC-Authentication-Results: i=" + i + "; " + options.authserv_id + "; ";
  for (std::size_t n = 0; n < results.size(); ++n) {
    out.results += (n == 0 ? "" : ";\r\n  ") + results[n];
  }
  out.results += "\r\n";

  // ARC-Message-Signature (§4.1.2): relaxed/relaxed, tags in sorted order.
  std::vector<std::string> h;
  if (options.headers.empty()) {
    for (const RawHeaderField& field : split.fields) {
      for (const std::string& name : default_signed_headers()) {
        if (ascii::iequals(field.name, name)) {
          h.push_back(ascii::lower(name));
        }
      }
    }
  } else {
    for (const std::string& name : options.headers) {
      h.push_back(ascii::lower(name));
    }
  }
  std::string h_value;
  for (const std::string& name : h) {
    h_value += (h_value.empty() ? "" : ":") + name;
  }
  std::string body_hash =
      sasl::base64_encode(sha256(canonicalize_body(Canonicalization::kRelaxed, split.body)));
  TERN_TRY(out.message_signature,
           finish_field(key, select_signed_headers(split, h, Canonicalization::kRelaxed),
                        "ARC-Message-Signature: a=" + algorithm + "; b=",
                        "; bh=" + body_hash + "; c=relaxed/relaxed; d=" + domain +
                            "; h=" + h_value + "; i=" + i + "; s=" + selector + "; t=" + t));

  // ARC-Seal (§5.1.1): every set 1..N+1 in order AAR, AMS, AS — or, for a
  // failed chain, only the new set (§5.1.2).
  std::string chain;
  if (options.chain_status != ArcChainStatus::kFail) {
    for (int n = 1; n <= existing; ++n) {
      const ExistingSet& set = sets[n];
      if (set.results == nullptr || set.message_signature == nullptr || set.seal == nullptr) {
        return fail(ErrorCode::kInvalidInput,
                    "ARC Set " + std::to_string(n) + " is incomplete; the chain is not pass");
      }
      chain += canonicalize_header(Canonicalization::kRelaxed, set.results->raw);
      chain += canonicalize_header(Canonicalization::kRelaxed, set.message_signature->raw);
      chain += canonicalize_header(Canonicalization::kRelaxed, set.seal->raw);
    }
  }
  chain += canonicalize_header(Canonicalization::kRelaxed, out.results);
  chain += canonicalize_header(Canonicalization::kRelaxed, out.message_signature);
  TERN_TRY(out.seal,
           finish_field(key, chain, "ARC-Seal: a=" + algorithm + "; b=",
                        "; cv=" + std::string(chain_status_name(options.chain_status)) +
                            "; d=" + domain + "; i=" + i + "; s=" + selector + "; t=" + t));
  return std::optional<ArcSetFields>(std::move(out));
}

}  // namespace tern::mailauth
