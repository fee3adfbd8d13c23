// SPDX-License-Identifier: Apache-2.0
// ARC sealing (RFC 8617 §5.1): the ARC Set a forwarding ADMD adds — an
// ARC-Authentication-Results copy of its own Authentication-Results, an
// ARC-Message-Signature over the message and an ARC-Seal over the chain.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/dkim_crypto.hpp"

namespace tern::mailauth {

struct ArcSealOptions {
  std::string domain;       // d=
  std::string selector;     // s=
  std::string authserv_id;  // whose Authentication-Results fields the AAR copies
  // AMS h=, in this order (any case). Empty: the fields of
  // default_signed_headers() that the message has.
  std::vector<std::string> headers;
  std::uint64_t timestamp = 0;  // t=
  // The chain validation status of the message as received (ArcVerifier's
  // result, RFC 8617 §5.2), which becomes cv=.
  ArcChainStatus chain_status = ArcChainStatus::kNone;
};

// The three fields of a new ARC Set, each "Name: value\r\n", to be put at the
// top of the header in the order seal, message_signature, results.
struct ArcSetFields {
  std::string seal;
  std::string message_signature;
  std::string results;
};

// Seals `message` (CRLF or LF). The tag lists are written in the standardized
// form of the ARC test suite and dkimpy (tags sorted, no folding).
// Returns nullopt — nothing to add — when the newest ARC-Seal already says
// cv=fail (§5.1 step 2), when a chain exists but `chain_status` is none, or when
// the message has no Authentication-Results from `authserv_id` to copy.
// Errors: kInvalidInput for cv= other than none on a message without a chain, a
// chain with an incomplete set (unless chain_status is fail), or a bad d=/s=;
// kLimitExceeded past 50 sets; kInternal if signing fails.
Result<std::optional<ArcSetFields>> arc_seal(std::string_view message, const DkimPrivateKey& key,
                                             const ArcSealOptions& options);

}  // namespace tern::mailauth
