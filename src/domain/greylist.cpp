// SPDX-License-Identifier: Apache-2.0
#include "domain/greylist.hpp"

#include <cstdio>

#include "base/ascii.hpp"
#include "dns/records.hpp"

namespace tern::domain {

namespace {

std::string client_network(const dns::IpAddress& ip) {
  auto b = ip.bytes();
  char out[40];
  if (ip.is_v4()) {
    std::snprintf(out, sizeof out, "%u.%u.%u", b[0], b[1], b[2]);
  } else {
    std::snprintf(out, sizeof out, "%x:%x:%x:%x", (b[0] << 8) | b[1], (b[2] << 8) | b[3],
                  (b[4] << 8) | b[5], (b[6] << 8) | b[7]);
  }
  return out;
}

std::string normalized_sender(std::string_view sender) {
  std::string out;
  const std::size_t at = sender.rfind('@');
  std::string_view local = at == std::string_view::npos ? sender : sender.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? "" : sender.substr(at);
  if (auto plus = local.find('+'); plus != std::string_view::npos) {
    local = local.substr(0, plus);
  }
  bool in_digits = false;
  for (char c : local) {
    if (c >= '0' && c <= '9') {
      if (!in_digits) {
        out += '#';
      }
      in_digits = true;
      continue;
    }
    in_digits = false;
    out += ascii::to_lower(c);
  }
  out += ascii::lower(domain);
  return out;
}

}  // namespace

std::optional<GreylistTriplet> greylist_triplet(std::string_view client_ip, std::string_view sender,
                                                std::string_view recipient) {
  auto ip = dns::IpAddress::parse(client_ip);
  if (!ip) {
    return std::nullopt;
  }
  return GreylistTriplet{client_network(ip->mapped_v4().value_or(*ip)), normalized_sender(sender),
                         ascii::lower(recipient)};
}

GreylistDecision decide_greylist(const std::optional<GreylistRecord>& record,
                                 std::uint64_t client_passes, const GreylistPolicy& policy,
                                 std::int64_t now) {
  auto pass = [&](std::int64_t first_seen) {
    return GreylistDecision{{true, 0}, {first_seen, now, true}};
  };
  auto defer_from = [&](std::int64_t first_seen) {
    std::int64_t waited = now - first_seen;
    return GreylistDecision{{false, policy.delay_seconds - waited}, {first_seen, now, false}};
  };
  if (policy.auto_allow_after > 0 && client_passes >= policy.auto_allow_after) {
    return pass(record ? record->first_seen : now);
  }
  if (!record) {
    return defer_from(now);
  }
  if (record->passed) {
    // Forgotten after max_age unseen: the triplet starts over.
    return now - record->last_seen > policy.max_age_seconds ? defer_from(now)
                                                            : pass(record->first_seen);
  }
  const std::int64_t waited = now - record->first_seen;
  if (waited > policy.retry_window_seconds) {
    return defer_from(now);  // not retried in time: start over
  }
  if (waited >= policy.delay_seconds) {
    return pass(record->first_seen);
  }
  return defer_from(record->first_seen);
}

}  // namespace tern::domain
