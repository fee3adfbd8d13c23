// SPDX-License-Identifier: Apache-2.0
#include "services/http/mta_sts.hpp"

#include <algorithm>

namespace tern::services::http {

std::string render_mta_sts_policy(const MtaStsPolicy& policy) {
  // RFC 8461 §3.2: "version" must come first; fields are "key: value" lines
  // separated by CRLF. Receivers accept LF too, but CRLF is what the grammar
  // (sts-policy-term = CRLF) names.
  std::string out = "version: STSv1\r\nmode: " + policy.mode + "\r\n";
  std::vector<std::string> seen;
  for (const auto& mx : policy.mx) {
    if (mx.empty() || std::find(seen.begin(), seen.end(), mx) != seen.end()) {
      continue;
    }
    seen.push_back(mx);
    out += "mx: " + mx + "\r\n";
  }
  out += "max_age: " + std::to_string(policy.max_age) + "\r\n";
  return out;
}

std::optional<std::string> mta_sts_host_domain(std::string_view host) {
  // RFC 9110 §7.2: Host is uri-host [":" port]; an IP literal is never a policy host.
  if (host.empty() || host.front() == '[') {
    return std::nullopt;
  }
  host = host.substr(0, host.find(':'));
  if (host.ends_with('.')) {
    host.remove_suffix(1);
  }
  std::string name(host);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  });
  // RFC 8461 §3.3: the policy host is "mta-sts." prepended to the Policy Domain.
  constexpr std::string_view kPrefix = "mta-sts.";
  if (!name.starts_with(kPrefix)) {
    return std::nullopt;
  }
  name.erase(0, kPrefix.size());
  if (name.empty() || name.size() > 253 || name.front() == '.' ||
      name.find("..") != std::string::npos) {
    return std::nullopt;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) {
      return std::nullopt;
    }
  }
  return name;
}

}  // namespace tern::services::http
