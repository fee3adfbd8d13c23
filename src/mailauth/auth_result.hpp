// SPDX-License-Identifier: Apache-2.0
// The result vocabulary of Authentication-Results (RFC 8601 §2.7) shared by the
// SPF, DKIM (and later DMARC, ARC) evaluators, and the DNS question they ask.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dns/records.hpp"

namespace tern::mailauth {

// RFC 8601 §2.7.1 (DKIM) and §2.7.2 (SPF, with RFC 7208 §2.6's softfail); the
// same words serve DMARC (RFC 7489 §11.2), ARC (RFC 8617 §4.4: none, pass, fail)
// and iprev (§2.7.3). Each evaluator documents which values it produces.
enum class AuthResult : std::uint8_t {
  kNone,  // nothing to evaluate (no signature, no SPF record)
  kPass,
  kFail,
  kSoftFail,  // SPF only
  kNeutral,
  kPolicy,     // DKIM: valid, but local policy does not accept it (e.g. l=)
  kTempError,  // a DNS failure that may go away
  kPermError,  // a syntax or semantic error that will not
};

// The RFC 8601 keyword: "none", "pass", "fail", "softfail", "neutral",
// "policy", "temperror", "permerror".
std::string_view auth_result_name(AuthResult result);

// One DNS question an evaluator asks: records of `type` at `name`
// (normalised, without the trailing dot). The caller resolves it with any
// dns::Resolver and feeds the dns::Answer back, status included: evaluators
// tell NXDOMAIN, NODATA and temporary failures apart (ARCHITECTURE.md §3).
struct DnsQuery {
  std::string name;
  dns::RecordType type = dns::RecordType::kTxt;

  friend bool operator==(const DnsQuery&, const DnsQuery&) = default;
};

}  // namespace tern::mailauth
