// SPDX-License-Identifier: Apache-2.0
// What IMAP SORT and THREAD compare of a message (RFC 5256, RFC 5957), computed once
// at delivery and stored beside the ENVELOPE, so that sorting or threading a large
// mailbox reads a short record per message instead of decoding its ENVELOPE, parsing
// its Date and reading the message for its References (as Dovecot's index cache
// keeps the sort fields). Pure: no I/O, no clocks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mime/facts/imap_string.hpp"

namespace tern::mime::facts {

// The order keys of one message. Text keys are i;unicode-casemap keys (RFC 5051),
// so two messages collate as their keys compare octet by octet.
struct OrderKeys {
  // RFC 5256 §2.2: the Date field in UTC seconds; none without a readable one (SORT
  // then uses the INTERNALDATE).
  std::optional<std::int64_t> sent;
  std::string subject;                  // RFC 5256 §2.1: the base subject's key
  bool reply_or_forward = false;        // the subject was a reply or forward (§2.1 (6))
  std::string from, to, cc;             // RFC 5256 §3: the first address's addr-mailbox key
  std::string display_from;             // RFC 5957 §3: what a client shows for the first From
  std::string display_to;               // ... and for the first To
  std::string message_id;               // the first id of Message-ID, as written ("" for none)
  std::vector<std::string> references;  // RFC 5256 §3 REFERENCES: the References ids,
                                        // else the first In-Reply-To id

  bool operator==(const OrderKeys&) const = default;
};

// The keys of a message whose ENVELOPE is `envelope` and whose first References
// field is `references` (none when it has none). Delivery and the fallback for a
// message stored without keys both go through here, so both give the same order.
OrderKeys order_keys(const Envelope& envelope, std::optional<std::string_view> references);

// The keys as stored: a version byte, then varint-framed fields (README.md
// "Order keys"). Not checksummed: the record lives in the store's own pages, and a
// reader that fails to decode one derives the keys from the message instead.
std::string encode_order_keys(const OrderKeys& keys);

// Decodes what encode_order_keys() produced. kCorrupt for an unknown version, a
// truncated or overlong field or trailing bytes; never reads past `bytes` and
// allocates no more than a small multiple of its size.
Result<OrderKeys> decode_order_keys(std::string_view bytes);

}  // namespace tern::mime::facts
