// SPDX-License-Identifier: Apache-2.0
// The MTA-STS policy tern publishes for its own domains (RFC 8461 §3.2), as pure
// text: the HTTP service serves it and `tern dns records` derives the `_mta-sts`
// TXT id from the same bytes, so the id changes exactly when the policy does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::services::http {

// The policy fields. Values are not validated here; config/ has checked them.
struct MtaStsPolicy {
  std::string mode = "testing";  // "testing", "enforce" or "none"
  // MX host patterns ("mail.example.org", "*.example.org"), in order; the
  // renderer drops repeats.
  std::vector<std::string> mx;
  std::uint32_t max_age = 604800;  // seconds, at most 31557600
  friend bool operator==(const MtaStsPolicy&, const MtaStsPolicy&) = default;
};

// The policy body (RFC 8461 §3.2): "version: STSv1", "mode: ...", one "mx: ..."
// line per distinct pattern, "max_age: ...", each line ending in CRLF.
std::string render_mta_sts_policy(const MtaStsPolicy& policy);

// The path of the policy resource (RFC 8461 §3.3).
inline constexpr std::string_view kMtaStsPath = "/.well-known/mta-sts.txt";

// The policy domain a request Host names: "mta-sts.example.org" or
// "MTA-STS.Example.org:8443" gives "example.org" (lower case, port and a trailing
// dot removed). nullopt when the host does not start with "mta-sts." or nothing
// (or nothing sensible: empty labels, a bracketed IP) follows it.
std::optional<std::string> mta_sts_host_domain(std::string_view host);

}  // namespace tern::services::http
