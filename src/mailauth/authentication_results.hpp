// SPDX-License-Identifier: Apache-2.0
// The Authentication-Results header field (RFC 8601): one field per message
// carrying every method's result, built from the evaluators' results, and the
// test that finds fields claiming our authserv-id, which a receiver removes from
// incoming mail before adding its own (§5).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dns/records.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/auth_result.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/dmarc.hpp"
#include "mailauth/iprev.hpp"
#include "mailauth/spf_evaluator.hpp"

namespace tern::mailauth {

// One resinfo (§2.2): "method=result reason=... ptype.property=value ...".
struct MethodResult {
  std::string method;  // "spf", "dkim", "dmarc", "arc", "iprev"
  AuthResult result = AuthResult::kNone;
  std::string reason;  // written as reason="..." when not empty
  std::vector<std::pair<std::string, std::string>> properties;  // "header.d", "example.com"
};

// spf=<result> smtp.mailfrom=<domain> (or smtp.helo=<name> for the HELO
// identity), §2.7.2. Requires: `spf.pending_query()` is nullopt.
MethodResult spf_method_result(const SpfEvaluator& spf);

// One dkim= per signature with header.d, header.s, header.a and the first 8
// characters of header.b (RFC 6008 §4); "dkim=none" when there is none.
std::vector<MethodResult> dkim_method_results(const std::vector<DkimResult>& results);

// dmarc=<result> header.from=<domain> with policy.dmarc=<p> when a record was
// found (RFC 7489 §11.2).
MethodResult dmarc_method_result(const DmarcResult& dmarc, std::string_view from_domain);

// arc=<result> (RFC 8617 §4.4) with the chain length as arc.chain (as a comment-free
// property) when there is a chain.
MethodResult arc_method_result(const ArcResult& arc);

// iprev=<result> policy.iprev=<ip> (§3, §2.7.3).
MethodResult iprev_method_result(const IprevResult& iprev, const dns::IpAddress& ip);

// The complete field, "Authentication-Results: <authserv-id>;\r\n\t<resinfo>;...\r\n",
// one result per line; "none" when `results` is empty (§2.2). Values that are not
// RFC 2045 tokens (or local-part@domain forms) are quoted.
std::string format_authentication_results(std::string_view authserv_id,
                                          const std::vector<MethodResult>& results);

// True if an Authentication-Results field value names `authserv_id` (case-
// insensitive, ignoring a version number and comments), i.e. claims to come
// from us. RFC 8601 §5: such fields arriving from outside must be removed.
bool claims_authserv_id(std::string_view field_value, std::string_view authserv_id);

}  // namespace tern::mailauth
