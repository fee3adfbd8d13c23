// SPDX-License-Identifier: Apache-2.0
// ARC chain validation (RFC 8617 §5.2): the ARC Sets of a message (ARC-Seal,
// ARC-Message-Signature, ARC-Authentication-Results with one instance i= each)
// checked for structure, the newest AMS and every AS verified with keys the
// caller resolves (sans-IO, like DkimVerifier).
//
//   ArcVerifier arc(message);
//   while (auto q = arc.pending_query()) arc.provide(resolver.lookup(q->name, q->type));
//   arc.result().result  // kNone, kPass, kFail (kTempError on a DNS failure)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/records.hpp"
#include "mailauth/auth_result.hpp"
#include "mailauth/dkim_signature.hpp"

namespace tern::mailauth {

// RFC 8617 §4.2.1: a chain has at most 50 sets.
inline constexpr int kMaxArcInstances = 50;

// The chain validation status (RFC 8617 §4.4): "none", "pass" or "fail".
enum class ArcChainStatus : std::uint8_t { kNone, kPass, kFail };

// A parsed ARC-Seal or ARC-Message-Signature value.
struct ArcSignature {
  int instance = 0;  // i=, 1..50
  DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
  std::string signature;                                       // b=, decoded
  std::string body_hash;                                       // bh= (AMS only), decoded
  std::string domain;                                          // d=
  std::string selector;                                        // s=
  Canonicalization header_canon = Canonicalization::kRelaxed;  // AMS c= (default relaxed/relaxed)
  Canonicalization body_canon = Canonicalization::kRelaxed;
  std::vector<std::string> signed_headers;              // AMS h=
  ArcChainStatus chain_status = ArcChainStatus::kNone;  // AS cv=
};

enum class ArcFieldKind : std::uint8_t { kSeal, kMessageSignature };

// Parses an ARC-Seal (RFC 8617 §4.1.3) or ARC-Message-Signature (§4.1.2) value.
// Errors (kInvalidInput): a malformed tag-list; a missing i=, a=, b=, d=, s= (and
// bh=, h= for AMS, where h= may be empty; cv= for AS); i= outside 1..50; an unknown or rsa-sha1 a=;
// a bad c=; t= not a number; an AS with h=; an AMS whose h= names ARC-Seal.
Result<ArcSignature> parse_arc_signature(std::string_view value, ArcFieldKind kind);

// The instance of an ARC-Authentication-Results value ("i=N; authserv-id; ..."),
// or nullopt when it does not start with a valid i= tag (§4.1.1).
std::optional<int> parse_arc_results_instance(std::string_view value);

// The chain validation outcome: none (no ARC field at all), pass, fail (any
// structural, syntax, key or signature problem, or a newest seal saying
// cv=fail), temperror (a key lookup failed transiently).
struct ArcResult {
  AuthResult result = AuthResult::kNone;
  std::string problem;  // why it failed
  int instances = 0;    // the number of ARC Sets
  // d= of the newest ARC-Seal (lower case) once the chain's structure is sound;
  // who vouches for it, for a local policy that trusts some sealers (RFC 8617 §7.2).
  std::string sealer;
};

// Sans-IO like DkimVerifier: one TXT query per distinct key name (the newest
// AMS first, then every AS newest first); the result is known when no query is
// pending. Structure errors are found before any query is asked.
class ArcVerifier {
 public:
  // `message`: CRLF or LF line ends. Everything but the key lookups happens
  // here; the verifier keeps no reference to `message`.
  explicit ArcVerifier(std::string_view message);

  // The next key record to fetch, or nullopt when the result is known.
  std::optional<DnsQuery> pending_query() const;

  // Answers the query pending_query() returned; ignored when nothing is pending.
  void provide(const dns::Answer& answer);

  // Requires: pending_query() is nullopt.
  const ArcResult& result() const { return result_; }

 private:
  struct Check {
    std::string key_name;  // <s>._domainkey.<d>
    DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
    std::string signed_data;
    std::string signature;
    std::string what;  // "AMS(3)", "AS(2)" for the problem text
  };

  void fail_with(std::string problem);
  void finish();

  std::vector<Check> checks_;  // newest AMS first, then AS from newest to oldest
  std::map<std::string, dns::Answer> answers_;
  bool done_ = false;
  ArcResult result_;
};

}  // namespace tern::mailauth
