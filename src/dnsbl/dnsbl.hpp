// SPDX-License-Identifier: Apache-2.0
// dnsbl: DNS blocklists and allowlists of client addresses (RFC 5782), pure. A
// site is written as Postfix's postscreen_dnsbl_sites writes it, so a Postfix
// configuration carries over:
//
//   zen.spamhaus.org                      listed by any 127.0.0.0/8 answer
//   zen.spamhaus.org=127.0.0.[2..11]*3    only these answers, weight 3
//   list.dnswl.org=127.0.[0..255].[1..3]*-5   an allowlist: a negative weight
//
// The client is listed when the weights of the sites that list it add up to the
// threshold. The queries (query_name) and the answers are the caller's
// (services/smtp: at the start of an MX session, applied at RCPT).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "dns/records.hpp"

namespace tern::dnsbl {

// One octet of an answer pattern: "7", "[2..11]" or "[2;4;8]".
struct OctetSet {
  std::array<bool, 256> allowed{};
  bool operator==(const OctetSet&) const = default;
};

struct Site {
  std::string zone;  // normalised, no trailing dot
  // Answers that count; nullopt: any 127.0.0.0/8 answer but 127.255.255.0/24
  // (the "query refused" and error codes of Spamhaus and others).
  std::optional<std::array<OctetSet, 4>> pattern;
  int weight = 1;
  std::string text;  // as written, for logs

  bool operator==(const Site&) const = default;
};

// Parses "zone[=pattern][*weight]". Errors (kInvalidInput) say what is wrong:
// an invalid zone, a pattern that is not four octets, a range out of 0..255 or
// backwards, a weight that is not an integer in -1000..1000.
Result<Site> parse_site(std::string_view text);

// The name to look up (type A) for `client` on `zone`: the address's octets
// reversed (RFC 5782 §2.1), or its 32 nibbles reversed for IPv6 (§2.4), then the
// zone. An IPv4-mapped IPv6 address is asked as its IPv4 address.
std::string query_name(const dns::IpAddress& client, std::string_view zone);

// Whether `answer` (to query_name's A lookup) says `site` lists the client.
// Anything but kOk with a matching address is not listed: a list that does not
// answer never blocks (fail open, as Postfix).
bool lists(const Site& site, const dns::Answer& answer);

struct Verdict {
  int score = 0;                       // the summed weights of the sites that list
  std::vector<std::string> listed_by;  // their zones with positive weights, in site order
};

// Combines the answers, `answers[i]` being the one for `sites[i]`.
// Requires: the spans have the same size.
Verdict evaluate(std::span<const Site> sites, std::span<const dns::Answer> answers);

// The list's own words on a listing (RFC 5782 §2.1: a TXT record at the same
// name, often a URL to look the address up), for the refusal's text as Postfix's
// $rbl_reason: the first record's strings joined, anything but printable ASCII
// as a space, at most kMaxReasonBytes. "" when the answer has none.
std::string reason(const dns::Answer& txt);

inline constexpr std::size_t kMaxReasonBytes = 200;

}  // namespace tern::dnsbl
