// SPDX-License-Identifier: Apache-2.0
// The 8BITMIME downgrade of RFC 6152 §3: a message with 8-bit body parts, relayed
// to a server without 8BITMIME, is re-encoded to 7-bit MIME first.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tern::services::delivery {

// Returns `raw` with every leaf body that holds 8-bit bytes re-encoded as
// quoted-printable (its Content-Transfer-Encoding field replaced or added), and
// "8bit"/"binary" on multipart and message/* parts relabelled "7bit" (RFC 2046
// §5.1, §5.2.1: a composite entity's encoding names its content's). Everything
// else is copied byte for byte. nullopt when the message cannot be downgraded: a
// header (of the message or an embedded message) with 8-bit bytes, which needs
// SMTPUTF8 instead, or an 8-bit body labelled binary, base64 or quoted-printable
// (already broken; re-encoding would change its meaning).
std::optional<std::string> downgrade_to_7bit(std::string_view raw);

}  // namespace tern::services::delivery
