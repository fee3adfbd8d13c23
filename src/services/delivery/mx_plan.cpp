// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/mx_plan.hpp"

#include <algorithm>
#include <array>

#include "runtime/io.hpp"

namespace tern::services::delivery {

namespace {

std::uint64_t random_u64(Random& random) {
  std::array<std::uint8_t, 8> bytes{};
  random.fill(bytes);
  std::uint64_t value = 0;
  for (auto b : bytes) {
    value = (value << 8) | b;
  }
  return value;
}

}  // namespace

std::vector<std::string> order_mx(std::vector<dns::MxRecord> records, Random& random) {
  // Shuffle first (Fisher-Yates), then a stable sort keeps the shuffled order
  // within each preference.
  for (std::size_t i = records.size(); i > 1; --i) {
    std::swap(records[i - 1], records[random_u64(random) % i]);
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  std::vector<std::string> hosts;
  for (auto& record : records) {
    if (std::find(hosts.begin(), hosts.end(), record.exchange) == hosts.end()) {
      hosts.push_back(std::move(record.exchange));
    }
  }
  return hosts;
}

asio::awaitable<MxHosts> resolve_mx(dns::Resolver& resolver, std::string name, Random& random) {
  MxHosts out;
  dns::Answer answer = co_await runtime::await(resolver.lookup(name, dns::RecordType::kMx));
  out.dnssec_secure = answer.dnssec == dns::DnssecState::kSecure;
  if (!answer.canonical_name.empty() &&
      answer.canonical_name != dns::normalize_name(name).value_or(name)) {
    out.canonical_name = answer.canonical_name;
  }
  switch (answer.status) {
    case dns::LookupStatus::kOk:
      break;
    case dns::LookupStatus::kNoData:
      out.hosts.push_back(name);  // RFC 5321 §5.1: the implicit MX
      co_return out;
    case dns::LookupStatus::kNxDomain:
      out.failure = PlanFailure{domain::DeliveryStatus::kFailed, "5.1.2",
                                "5.1.2 domain " + name + " does not exist (NXDOMAIN)"};
      co_return out;
    case dns::LookupStatus::kTemporary:
    case dns::LookupStatus::kMalformed:
      out.failure = PlanFailure{
          domain::DeliveryStatus::kDeferred, "4.4.3",
          "4.4.3 DNS lookup of MX for " + name + " failed temporarily (" + answer.error + ")"};
      co_return out;
  }
  // RFC 7505 §3: a null MX (preference 0, exchange ".") says the domain takes
  // no mail; §4.2: the sender gets 5.1.10 at once.
  for (const auto& mx : answer.mx) {
    if (mx.exchange.empty()) {
      out.failure = PlanFailure{domain::DeliveryStatus::kFailed, "5.1.10",
                                "5.1.10 domain " + name + " accepts no mail (null MX)"};
      co_return out;
    }
  }
  out.hosts = order_mx(std::move(answer.mx), random);
  co_return out;
}

asio::awaitable<HostAddresses> resolve_host(dns::Resolver& resolver, std::string host) {
  HostAddresses out;
  if (auto literal = dns::IpAddress::parse(host)) {
    out.addresses.push_back(*literal);
    co_return out;
  }
  const std::string self = dns::normalize_name(host).value_or(host);
  bool all_secure = true;
  std::optional<std::string> canonical;  // where the first answer with addresses ended
  bool canonical_agrees = true;
  for (dns::RecordType type : {dns::RecordType::kAaaa, dns::RecordType::kA}) {
    dns::Answer answer = co_await runtime::await(resolver.lookup(host, type));
    if (answer.ok()) {
      all_secure = all_secure && answer.dnssec == dns::DnssecState::kSecure;
      // The resolver followed any CNAME chain (RFC 1034 §3.6.2) and says where it
      // ended; "" (unknown) counts as the host itself.
      const std::string end = answer.canonical_name.empty() ? self : answer.canonical_name;
      if (!canonical) {
        canonical = end;
      } else if (*canonical != end) {
        canonical_agrees = false;
      }
      out.addresses.insert(out.addresses.end(), answer.addresses.begin(), answer.addresses.end());
    } else if (answer.status == dns::LookupStatus::kTemporary ||
               answer.status == dns::LookupStatus::kMalformed) {
      out.temporary = true;
      out.error = std::string(dns::record_type_name(type)) + " lookup of " + host + ": " +
                  (answer.error.empty() ? "temporary failure" : answer.error);
    } else if (out.error.empty()) {
      out.error = std::string(dns::record_type_name(type)) + " lookup of " + host + ": " +
                  std::string(dns::lookup_status_name(answer.status));
    }
  }
  out.dnssec_secure = all_secure && !out.addresses.empty();
  if (canonical && canonical_agrees && *canonical != self) {
    out.canonical_name = *canonical;
  }
  co_return out;
}

}  // namespace tern::services::delivery
