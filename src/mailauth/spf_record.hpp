// SPDX-License-Identifier: Apache-2.0
// SPF records (RFC 7208 §4.5, §5, §6, §12 ABNF) and macro strings (§7): parsed
// and checked for syntax before anything is evaluated (§4.6: a syntax error
// anywhere makes the whole record "permerror").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "dns/records.hpp"

namespace tern::mailauth {

// RFC 7208 §4.6.2: "+" pass, "-" fail, "~" softfail, "?" neutral.
enum class SpfQualifier : std::uint8_t { kPass, kFail, kSoftFail, kNeutral };

enum class SpfMechanismKind : std::uint8_t { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

// "all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists".
std::string_view spf_mechanism_name(SpfMechanismKind kind);

struct SpfMechanism {
  SpfQualifier qualifier = SpfQualifier::kPass;
  SpfMechanismKind kind = SpfMechanismKind::kAll;
  // The domain-spec macro string (include, a, mx, ptr, exists); empty means the
  // current domain (a, mx, ptr).
  std::string domain_spec;
  // ip4/ip6: the network; a/mx/ip4/ip6: the prefix lengths (§5.6).
  dns::IpAddress network;
  int cidr4 = 32;
  int cidr6 = 128;
};

struct SpfRecord {
  std::vector<SpfMechanism> mechanisms;
  std::optional<std::string> redirect;     // redirect= domain-spec (§6.1)
  std::optional<std::string> explanation;  // exp= domain-spec (§6.2)
};

// True if the TXT text is an SPF record: "v=spf1" (any case) followed by a space
// or nothing (RFC 7208 §4.5).
bool is_spf_record(std::string_view text);

// Parses a record that is_spf_record() accepted. Errors (kInvalidInput, the
// message naming the bad term): a character outside printable ASCII and SP, an
// unknown mechanism, a malformed domain-spec, macro string, IP network or CIDR
// length, redirect= or exp= given twice.
Result<SpfRecord> parse_spf_record(std::string_view text);

// Where a macro string appears: domain-specs and modifiers, or an explanation
// (the TXT text exp= points at), which also allows SP and the c, r, t letters.
enum class SpfMacroContextKind : std::uint8_t { kDomainSpec, kExplanation };

// Checks macro-string syntax (§7.1). Errors: kInvalidInput for a lone "%", an
// unknown letter (or c/r/t outside an explanation), a zero digit transformer, an
// unterminated "%{", or a character outside the allowed range.
Result<void> validate_macro_string(std::string_view text, SpfMacroContextKind kind);

// True if a domain-spec ends as RFC 7208 §7.1 requires: "." toplabel ["."], or a
// macro-expand.
bool is_valid_domain_end(std::string_view domain_spec);

// True if the macro string uses %{p} (the evaluator must then find the validated
// name with DNS before expanding).
bool uses_validated_name(std::string_view text);

// The values macros expand to (§7.2).
struct SpfMacroValues {
  std::string sender;           // s: <sender>, "local@domain"
  std::string local_part;       // l
  std::string sender_domain;    // o
  std::string domain;           // d: the current domain
  dns::IpAddress ip;            // i, c, v
  std::string validated_name;   // p: "unknown" when none
  std::string helo;             // h
  std::string receiver;         // r: "unknown" if not configured
  std::uint64_t timestamp = 0;  // t
};

// Expands a macro string that validate_macro_string() accepted. Domain-spec
// results over 253 octets lose left-hand labels until they fit (§7.3).
std::string expand_macro_string(std::string_view text, const SpfMacroValues& values,
                                SpfMacroContextKind kind);

}  // namespace tern::mailauth
