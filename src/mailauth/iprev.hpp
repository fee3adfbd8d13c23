// SPDX-License-Identifier: Apache-2.0
// iprev (RFC 8601 §3, results §2.7.3): does the client's IP address map to a
// name that maps back to it? A sans-IO evaluator fed PTR and A/AAAA answers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "dns/records.hpp"
#include "mailauth/auth_result.hpp"

namespace tern::mailauth {

// The outcome, in RFC 8601 §2.7.3 terms: pass (a PTR name has an address
// record with the client's address), fail (none does, or the forward lookups
// found nothing), temperror (a lookup failed transiently and nothing passed),
// permerror (no PTR record at all). kNone only before the evaluation ends.
struct IprevResult {
  AuthResult result = AuthResult::kNone;
  std::string name;     // pass: the name that maps back to the address
  std::string problem;  // otherwise: why
};

// Sans-IO: ask pending_query(), answer with provide(), read result(). An
// IPv4-mapped IPv6 client is evaluated as its IPv4 address. Not thread-safe; one
// evaluator per connection.
class IprevEvaluator {
 public:
  // `max_names`: how many PTR names get a forward lookup (§3 asks for a limit;
  // 10 as RFC 7208 §4.6.4 chose).
  explicit IprevEvaluator(const dns::IpAddress& ip, std::size_t max_names = 10);

  // The PTR query first, then one A (IPv4) or AAAA (IPv6) query per name until a
  // name maps back; nullopt when the result is known.
  std::optional<DnsQuery> pending_query() const { return pending_; }

  // Answers the pending query; ignored when nothing is pending.
  void provide(const dns::Answer& answer);

  // Requires: pending_query() is nullopt.
  const IprevResult& result() const { return result_; }

 private:
  void next_name();

  dns::IpAddress ip_;
  std::size_t max_names_;
  std::vector<std::string> names_;
  std::size_t next_ = 0;
  bool saw_temporary_ = false;
  std::optional<DnsQuery> pending_;
  IprevResult result_;
};

}  // namespace tern::mailauth
