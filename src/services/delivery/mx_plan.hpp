// SPDX-License-Identifier: Apache-2.0
// Where a message for a destination goes: the ordered MX hosts (RFC 5321 §5.1,
// RFC 7505 null MX) and their addresses, resolved through the dns::Resolver port.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "base/clock.hpp"
#include "dns/resolver.hpp"
#include "domain/outbound.hpp"

namespace tern::services::delivery {

// A failure that applies to every recipient of the attempt.
struct PlanFailure {
  domain::DeliveryStatus status = domain::DeliveryStatus::kDeferred;
  std::string enhanced;  // RFC 3463
  std::string text;      // "4.4.3 DNS lookup of MX for example.org: temporary failure (servfail)"
};

// Orders MX records: ascending preference, records of equal preference shuffled
// with `random` (RFC 5321 §5.1: "randomized to spread the load"). Duplicate
// exchanges keep their first (best) position.
std::vector<std::string> order_mx(std::vector<dns::MxRecord> records, Random& random);

// The hosts to try for `name`, best first. NODATA (the name exists, no MX) is
// the implicit MX: `name` itself (RFC 5321 §5.1). Failures: NXDOMAIN → kFailed
// 5.1.2; a null MX (RFC 7505 §3) → kFailed 5.1.10; a temporary or malformed answer
// → kDeferred 4.4.3.
struct MxHosts {
  std::vector<std::string> hosts;
  std::optional<PlanFailure> failure;
  // The MX answer (or, for the implicit MX, the NODATA answer) was DNSSEC-validated;
  // RFC 8689 §4.2.1 requires it for REQUIRETLS messages (MTA-STS is the other way).
  bool dnssec_secure = false;
  // Where the MX answer's CNAME chain ended when `name` is an alias ("" when it
  // is not): RFC 7672 §3.2.2 names this expanded next-hop domain as a DANE-TA
  // reference identifier.
  std::string canonical_name;
};

asio::awaitable<MxHosts> resolve_mx(dns::Resolver& resolver, std::string name, Random& random);

// The addresses of one host, IPv6 first then IPv4 (every address of a host is
// tried before the next host, RFC 5321 §5.1). An IP literal is its own address.
// `temporary` is set when a lookup failed temporarily, so that "no address"
// can be told apart from "could not find out".
struct HostAddresses {
  std::vector<dns::IpAddress> addresses;
  bool temporary = false;
  std::string error;  // the lookups' trouble, for the failure text
  // Every answer that gave addresses was DNSSEC-validated (and at least one did),
  // CNAME chain included (a resolver marks an answer secure only when every link
  // is); RFC 7672 §2.2.2 looks up TLSA records only for such hosts (or, for an
  // alias, when its first link is secure: see lookup_dane()).
  bool dnssec_secure = false;
  // When `host` is a CNAME alias (RFC 7672 §2.2.2 "If the A and/or AAAA lookup of
  // the initial name yields a CNAME"): the fully expanded name the address answers
  // came from; "" when the host is no alias, or when the AAAA and A answers end
  // at different names (then only the host's own name is trusted).
  std::string canonical_name;
};

asio::awaitable<HostAddresses> resolve_host(dns::Resolver& resolver, std::string host);

}  // namespace tern::services::delivery
