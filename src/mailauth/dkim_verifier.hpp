// SPDX-License-Identifier: Apache-2.0
// DkimVerifier: a sans-IO DKIM verifier (RFC 6376 §6, RFC 8301, RFC 8463). It
// parses every DKIM-Signature field, asks for the key records it needs, and is
// fed the answers; it never resolves names itself (ARCHITECTURE.md §3).
//
//   DkimVerifier v(message, options);
//   while (auto q = v.pending_query()) v.provide(resolver.lookup(q->name, q->type));
//   for (const DkimResult& r : v.results()) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/records.hpp"
#include "mailauth/auth_result.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_signature.hpp"

namespace tern::mailauth {

// What to do with a signature whose l= leaves part of the body unsigned. RFC 6376
// §8.2 calls l= a risk: content may be appended after signing.
enum class BodyLengthPolicy : std::uint8_t {
  kAccept,            // honour l=: a valid signature passes
  kPolicyIfAppended,  // "policy" when the body has content beyond l= (default)
  kPolicyAlways,      // "policy" for any signature that uses l=
};

struct DkimVerifyOptions {
  BodyLengthPolicy body_length = BodyLengthPolicy::kPolicyIfAppended;
  // Verification time (seconds since the epoch) for x= (RFC 6376 §3.5); nullopt
  // skips the expiry check.
  std::optional<std::uint64_t> now;
  // Signatures beyond this count are not evaluated (permerror), so a message
  // cannot make the verifier do unbounded crypto and DNS work.
  std::size_t max_signatures = 10;
};

// The outcome for one DKIM-Signature field, in message order.
struct DkimResult {
  AuthResult result = AuthResult::kNone;
  std::string reason;     // why, for the Authentication-Results comment
  std::string domain;     // header.d (empty if the field did not parse)
  std::string selector;   // header.s
  std::string identity;   // header.i
  std::string b;          // header.b: the full b= value; RFC 6008 §3 prefixes suffice
  std::string algorithm;  // header.a
  bool testing = false;   // the key record says t=y
};

// A key record answer checked for a signature of `algorithm` (RFC 6376 §6.1.2,
// RFC 8301 §3.2). Shared by the DKIM and ARC verifiers.
struct DkimKeyLookup {
  // kPass when `key` is usable; otherwise the signature's result: temperror for a
  // DNS failure; permerror for no key, a record that does not parse, a revoked or
  // malformed key, a key type or h= that does not fit `algorithm`; fail for an
  // RSA key under 1024 bits.
  AuthResult result = AuthResult::kPass;
  std::string reason;
  std::optional<DkimPublicKey> key;
  DkimKeyRecord record;
};

DkimKeyLookup dkim_key_from_answer(const dns::Answer& answer, DkimAlgorithm algorithm);

class DkimVerifier {
 public:
  // `message` is the whole message, header and body, CRLF or LF line ends. All
  // hashing happens here; the verifier keeps no reference to `message`.
  explicit DkimVerifier(std::string_view message, DkimVerifyOptions options = {});
  ~DkimVerifier();
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;

  // The next key record to fetch (a TXT query), or nullopt when every signature
  // has what it needs. Asking twice without provide() returns the same query.
  std::optional<DnsQuery> pending_query() const;

  // Answers the query pending_query() returned. Other signatures naming the same
  // key share the answer.
  void provide(const dns::Answer& answer);

  // Every key record still to fetch, each name once, in message order: the
  // signatures are independent, so a caller may ask for all of them at once and
  // answer with provide_for() in any order.
  std::vector<DnsQuery> pending_queries() const;

  // Answers the TXT query for `name` (one of pending_queries()), for every
  // signature naming that key; ignored for any other name.
  void provide_for(std::string_view name, const dns::Answer& answer);

  // Per-signature results in message order; empty when the message carries no
  // DKIM-Signature (RFC 8601 "dkim=none"). Requires: pending_query() is nullopt
  // (signatures still waiting for a key are reported as temperror).
  std::vector<DkimResult> results() const;

 private:
  struct Pending;
  void evaluate(std::size_t index, const dns::Answer& answer);
  void hash_bodies(std::string_view body);

  DkimVerifyOptions options_;
  std::vector<DkimResult> results_;
  std::vector<Pending> pending_;
};

}  // namespace tern::mailauth
