// SPDX-License-Identifier: Apache-2.0
// The DKIM-Signature header field (RFC 6376 §3.5) and the DKIM key record
// (RFC 6376 §3.6.1, RFC 8463 §4): parsed, validated, and their vocabulary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::mailauth {

// Signing algorithms (RFC 6376 §3.3, RFC 8463 §3). rsa-sha1 is parsed so a
// verifier can name it, but RFC 8301 §3.1 forbids treating it as valid.
enum class DkimAlgorithm : std::uint8_t { kRsaSha256, kRsaSha1, kEd25519Sha256 };

// "rsa-sha256", "rsa-sha1", "ed25519-sha256".
std::string_view dkim_algorithm_name(DkimAlgorithm algorithm);

// Canonicalisation algorithms (RFC 6376 §3.4).
enum class Canonicalization : std::uint8_t { kSimple, kRelaxed };

std::string_view canonicalization_name(Canonicalization c);

// "simple" or "relaxed" (any case) as in a c= tag. Errors: kInvalidInput.
Result<Canonicalization> parse_canonicalization(std::string_view text);

// A parsed DKIM-Signature field value. Strings own their bytes.
struct DkimSignature {
  DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
  Canonicalization header_canon = Canonicalization::kSimple;
  Canonicalization body_canon = Canonicalization::kSimple;
  std::string signature;                     // b=, decoded
  std::string b_text;                        // b= as sent, folding white space removed (header.b)
  std::string body_hash;                     // bh=, decoded
  std::string domain;                        // d=, lower case
  std::string selector;                      // s=, lower case
  std::string identity;                      // i=, or "@" + d= when absent (§3.5)
  std::vector<std::string> signed_headers;   // h=, lower case, in order
  std::optional<std::uint64_t> body_length;  // l=
  std::optional<std::uint64_t> timestamp;    // t=
  std::optional<std::uint64_t> expiration;   // x=
};

// Parses a DKIM-Signature field value (everything after the colon, folding
// included). Errors (kInvalidInput, message naming the tag) follow RFC 6376 §6.1.1
// and make the signature "permerror": a malformed tag-list; v= other than "1";
// a missing a=, b=, bh=, d=, h= or s=; an unknown a=, c= or q= method; h= without
// "from"; an i= whose domain is not d= or a subdomain of it; d= or s= not a valid
// domain name; x= earlier than t=; a number too long.
Result<DkimSignature> parse_dkim_signature(std::string_view value);

// Key types of the k= tag (RFC 6376 §3.6.1, RFC 8463 §4).
enum class DkimKeyType : std::uint8_t { kRsa, kEd25519 };

// A parsed DKIM key record (the TXT record at <selector>._domainkey.<domain>).
struct DkimKeyRecord {
  DkimKeyType key_type = DkimKeyType::kRsa;
  std::string public_key;        // p=, decoded; empty means the key was revoked (§3.6.1)
  bool testing = false;          // t=y: the domain is testing DKIM
  bool strict_identity = false;  // t=s: i= must use exactly d=, not a subdomain
  // h=: acceptable hash algorithms, lower case; empty means all.
  std::vector<std::string> hash_algorithms;
};

// Parses the text of a key record. Errors (kInvalidInput) make the signature
// "permerror" (RFC 6376 §6.1.2): a malformed tag-list, v= present but not first or
// not "DKIM1", a missing p=, p= not base64, an unknown k=, or an s= service list
// naming neither "*" nor "email" (e.g. a TLS-RPT-only key, RFC 8460 §3).
Result<DkimKeyRecord> parse_dkim_key_record(std::string_view text);

// True if `name` is a syntactically valid domain name for d= and s= purposes:
// dot-separated labels of letters, digits, hyphens (and underscores, which
// selectors use in practice), none empty, none starting or ending with a hyphen.
bool is_dkim_domain_name(std::string_view name);

}  // namespace tern::mailauth
