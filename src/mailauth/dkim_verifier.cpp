// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dkim_verifier.hpp"

#include <algorithm>
#include <memory>

#include "base/ascii.hpp"
#include "mailauth/canonicalization.hpp"
#include "mailauth/dkim_crypto.hpp"

namespace tern::mailauth {

struct DkimVerifier::Pending {
  std::size_t index = 0;  // into results_
  DkimSignature signature;
  std::string signed_data;  // canonical headers + this field with b= blanked
  std::string query;        // <selector>._domainkey.<domain>
  bool answered = false;
  // Body accounting, filled by hash_bodies().
  std::string computed_body_hash;
  std::uint64_t canonical_body_bytes = 0;
};

namespace {

constexpr std::size_t kBodyChunk = 64 * 1024;

DkimResult failed(std::string reason) {
  DkimResult r;
  r.result = AuthResult::kPermError;
  r.reason = std::move(reason);
  return r;
}

DkimResult describe(const DkimSignature& sig) {
  DkimResult r;
  r.domain = sig.domain;
  r.selector = sig.selector;
  r.identity = sig.identity;
  r.b = sig.b_text;
  r.algorithm = std::string(dkim_algorithm_name(sig.algorithm));
  return r;
}

}  // namespace

DkimKeyLookup dkim_key_from_answer(const dns::Answer& answer, DkimAlgorithm algorithm) {
  DkimKeyLookup out;
  auto set = [&out](AuthResult result, std::string reason) {
    out.result = result;
    out.reason = std::move(reason);
    return std::move(out);
  };
  // RFC 6376 §6.1.2: a DNS failure is TEMPFAIL, no key is PERMFAIL.
  if (answer.status == dns::LookupStatus::kTemporary ||
      answer.status == dns::LookupStatus::kMalformed) {
    return set(AuthResult::kTempError, "key lookup failed");
  }
  if (answer.status != dns::LookupStatus::kOk || answer.txt.empty()) {
    return set(AuthResult::kPermError, "no key for signature");
  }
  // Several TXT records at the name: the first that parses is used (§3.6.2.2
  // leaves the choice to the verifier).
  Result<DkimKeyRecord> record = fail(ErrorCode::kInvalidInput, "no key record");
  for (const dns::TxtRecord& txt : answer.txt) {
    record = parse_dkim_key_record(txt.joined());
    if (record) {
      break;
    }
  }
  if (!record) {
    return set(AuthResult::kPermError, record.error().message);
  }
  out.record = *record;
  if (record->public_key.empty()) {
    return set(AuthResult::kPermError, "key revoked");
  }
  DkimKeyType wanted =
      algorithm == DkimAlgorithm::kEd25519Sha256 ? DkimKeyType::kEd25519 : DkimKeyType::kRsa;
  if (record->key_type != wanted) {
    return set(AuthResult::kPermError, "key type does not match a=");
  }
  if (!record->hash_algorithms.empty() &&
      std::find(record->hash_algorithms.begin(), record->hash_algorithms.end(), "sha256") ==
          record->hash_algorithms.end()) {
    return set(AuthResult::kPermError, "key h= does not allow sha256");
  }
  auto key = DkimPublicKey::load(record->key_type, record->public_key);
  if (!key) {
    return set(AuthResult::kPermError, key.error().message);
  }
  if (record->key_type == DkimKeyType::kRsa && key->bits() < 1024) {
    // RFC 8301 §3.2.
    return set(AuthResult::kFail, "RSA key shorter than 1024 bits");
  }
  out.key = std::move(*key);
  return out;
}

DkimVerifier::DkimVerifier(std::string_view message, DkimVerifyOptions options)
    : options_(options) {
  SplitMessage split = split_message(message);
  for (const RawHeaderField& field : split.fields) {
    if (!ascii::iequals(field.name, "DKIM-Signature")) {
      continue;
    }
    if (results_.size() >= options_.max_signatures) {
      results_.push_back(failed("too many signatures"));
      continue;
    }
    std::string_view value = field.raw.substr(field.raw.find(':') + 1);
    auto sig = parse_dkim_signature(value);
    if (!sig) {
      results_.push_back(failed(sig.error().message));
      continue;
    }
    DkimResult described = describe(*sig);
    if (sig->algorithm == DkimAlgorithm::kRsaSha1) {
      // RFC 8301 §3.1: verifiers MUST NOT consider rsa-sha1 signatures valid.
      described.result = AuthResult::kFail;
      described.reason = "rsa-sha1 is not acceptable (RFC 8301)";
      results_.push_back(std::move(described));
      continue;
    }
    if (options_.now && sig->expiration && *sig->expiration < *options_.now) {
      // RFC 6376 §6.1.1: PERMFAIL (signature expired).
      described.result = AuthResult::kPermError;
      described.reason = "signature expired";
      results_.push_back(std::move(described));
      continue;
    }
    auto blanked = blank_b_value(field.raw);
    if (!blanked) {
      described.result = AuthResult::kPermError;
      described.reason = "b= tag not found";
      results_.push_back(std::move(described));
      continue;
    }
    Pending p;
    p.index = results_.size();
    p.signed_data = select_signed_headers(split, sig->signed_headers, sig->header_canon);
    // RFC 6376 §3.7: the signature field itself, canonicalised, without its
    // trailing CRLF.
    p.signed_data += canonicalize_header(sig->header_canon, *blanked, false);
    p.query = sig->selector + "._domainkey." + sig->domain;
    p.signature = std::move(*sig);
    described.result = AuthResult::kTempError;
    described.reason = "key not looked up";
    results_.push_back(std::move(described));
    pending_.push_back(std::move(p));
  }
  if (!pending_.empty()) {
    hash_bodies(split.body);
  }
}

void DkimVerifier::hash_bodies(std::string_view body) {
  for (Canonicalization canon : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
    std::vector<Pending*> group;
    for (Pending& p : pending_) {
      if (p.signature.body_canon == canon) {
        group.push_back(&p);
      }
    }
    if (group.empty()) {
      continue;
    }
    std::vector<std::unique_ptr<Sha256>> hashes;
    for (std::size_t i = 0; i < group.size(); ++i) {
      hashes.push_back(std::make_unique<Sha256>());
    }
    BodyCanonicalizer canonicalizer(canon);
    std::string out;
    std::uint64_t total = 0;
    auto drain = [&] {
      for (std::size_t i = 0; i < group.size(); ++i) {
        std::string_view chunk = out;
        if (auto limit = group[i]->signature.body_length) {
          // RFC 6376 §3.4.5: only the first l= octets of the canonical body.
          std::uint64_t room = *limit > total ? *limit - total : 0;
          chunk = chunk.substr(
              0, static_cast<std::size_t>(std::min<std::uint64_t>(room, chunk.size())));
        }
        hashes[i]->update(chunk);
      }
      total += out.size();
      out.clear();
    };
    for (std::size_t pos = 0; pos < body.size(); pos += kBodyChunk) {
      canonicalizer.feed(body.substr(pos, kBodyChunk), out);
      drain();
    }
    canonicalizer.finish(out);
    drain();
    for (std::size_t i = 0; i < group.size(); ++i) {
      group[i]->computed_body_hash = hashes[i]->finish();
      group[i]->canonical_body_bytes = total;
    }
  }
}

DkimVerifier::~DkimVerifier() = default;

std::optional<DnsQuery> DkimVerifier::pending_query() const {
  for (const Pending& p : pending_) {
    if (!p.answered) {
      return DnsQuery{p.query, dns::RecordType::kTxt};
    }
  }
  return std::nullopt;
}

void DkimVerifier::provide(const dns::Answer& answer) {
  if (auto query = pending_query()) {
    provide_for(query->name, answer);
  }
}

std::vector<DnsQuery> DkimVerifier::pending_queries() const {
  std::vector<DnsQuery> out;
  for (const Pending& p : pending_) {
    if (!p.answered && std::none_of(out.begin(), out.end(),
                                    [&](const DnsQuery& q) { return q.name == p.query; })) {
      out.push_back(DnsQuery{p.query, dns::RecordType::kTxt});
    }
  }
  return out;
}

void DkimVerifier::provide_for(std::string_view name, const dns::Answer& answer) {
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (!pending_[i].answered && pending_[i].query == name) {
      pending_[i].answered = true;
      evaluate(i, answer);
    }
  }
}

void DkimVerifier::evaluate(std::size_t index, const dns::Answer& answer) {
  const Pending& p = pending_[index];
  const DkimSignature& sig = p.signature;
  DkimResult& r = results_[p.index];
  auto set = [&r](AuthResult result, std::string reason) {
    r.result = result;
    r.reason = std::move(reason);
  };
  DkimKeyLookup lookup = dkim_key_from_answer(answer, sig.algorithm);
  r.testing = lookup.record.testing;
  if (lookup.result != AuthResult::kPass) {
    return set(lookup.result, std::move(lookup.reason));
  }
  if (lookup.record.strict_identity) {
    std::string_view identity = sig.identity;
    if (!ascii::iequals(identity.substr(identity.rfind('@') + 1), sig.domain)) {
      return set(AuthResult::kPermError, "key t=s forbids a subdomain in i=");
    }
  }
  const DkimPublicKey& public_key = *lookup.key;
  if (sig.body_length && *sig.body_length > p.canonical_body_bytes) {
    return set(AuthResult::kFail, "body shorter than l=");
  }
  if (p.computed_body_hash != sig.body_hash) {
    return set(AuthResult::kFail, "body hash did not verify");
  }
  if (!public_key.verify(sig.algorithm, p.signed_data, sig.signature)) {
    return set(AuthResult::kFail, "signature did not verify");
  }
  if (sig.body_length) {
    bool appended = *sig.body_length < p.canonical_body_bytes;
    if (options_.body_length == BodyLengthPolicy::kPolicyAlways ||
        (options_.body_length == BodyLengthPolicy::kPolicyIfAppended && appended)) {
      return set(AuthResult::kPolicy,
                 appended ? "l= leaves appended content unsigned" : "l= is not accepted");
    }
  }
  set(AuthResult::kPass, "");
}

std::vector<DkimResult> DkimVerifier::results() const {
  return results_;
}

}  // namespace tern::mailauth
