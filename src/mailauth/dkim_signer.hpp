// SPDX-License-Identifier: Apache-2.0
// DKIM signing (RFC 6376 §5) with RSA-SHA256 or Ed25519-SHA256 (RFC 8463):
// header selection with over-signing, canonicalisation, body hash, signature,
// and the DKIM-Signature field to prepend. Pure: the key and the time are inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_signature.hpp"

namespace tern::mailauth {

struct DkimSignOptions {
  std::string domain;    // d=
  std::string selector;  // s=
  Canonicalization header_canon = Canonicalization::kRelaxed;
  Canonicalization body_canon = Canonicalization::kRelaxed;
  // Field names to sign when present (any case). Empty means
  // default_signed_headers().
  std::vector<std::string> headers;
  // Field names to over-sign: listed in h= once more than they occur, so a field
  // of that name added later breaks the signature (RFC 6376 §8.15). Empty means
  // default_oversigned_headers().
  std::vector<std::string> oversign;
  std::optional<std::uint64_t> timestamp;   // t=, seconds since the epoch
  std::optional<std::uint64_t> expiration;  // x=; Requires: > timestamp when both set
  std::optional<std::string> identity;      // i=
  bool include_body_length = false;         // l= (discouraged, RFC 6376 §8.2)
};

// From, Reply-To, Subject, Date, To, Cc, Message-ID, In-Reply-To, References,
// MIME-Version, Content-Type, Content-Transfer-Encoding, Content-Disposition,
// Resent-*, List-*: the fields RFC 6376 §5.4.1 suggests.
const std::vector<std::string>& default_signed_headers();

// From, To, Cc, Subject, Date, Reply-To, Message-ID, MIME-Version, Content-Type:
// the fields whose later addition would change what a reader sees.
const std::vector<std::string>& default_oversigned_headers();

// Signs `message` (CRLF or LF line ends) and returns the complete field to put
// at the top of the header: "DKIM-Signature: v=1; a=...\r\n", folded at 78
// columns. Errors: kInvalidInput when the message has no From field (RFC 6376
// §5.4 requires it to be signed) or when d=/s= are not valid names; kInternal if
// the signature operation fails.
Result<std::string> dkim_sign(std::string_view message, const DkimPrivateKey& key,
                              const DkimSignOptions& options);

}  // namespace tern::mailauth
