// SPDX-License-Identifier: Apache-2.0
#include "mime/facts/order.hpp"

#include <utility>

#include "mime/facts/record_io.hpp"
#include "mime/facts/text.hpp"
#include "mime/header.hpp"

namespace tern::mime::facts {
namespace {

using record_io::put_string;
using record_io::put_varint;
using record_io::Reader;

constexpr std::uint8_t kOrderVersion = 1;
constexpr std::uint8_t kHasSent = 1;
constexpr std::uint8_t kReplyOrForward = 2;

// The i;unicode-casemap key of the first address's addr-mailbox, "" for none
// (RFC 5256 §3: FROM, TO, CC).
std::string first_mailbox(const std::vector<EnvelopeAddress>& list) {
  if (list.empty() || !list.front().mailbox) {
    return "";
  }
  return unicode_casemap(*list.front().mailbox);
}

// RFC 5957 §3: the i;unicode-casemap key of what a client shows for the list's
// first address: its display name, RFC 2047-decoded, or without one its
// addr-spec; a group's name for a group.
std::string first_display(const std::vector<EnvelopeAddress>& list) {
  if (list.empty()) {
    return "";
  }
  const auto& a = list.front();
  std::string shown = a.name ? decode_words(*a.name) : std::string();
  if (shown.empty() && a.mailbox) {
    shown = *a.mailbox;
    if (a.host) {
      shown += "@" + *a.host;
    }
  }
  return unicode_casemap(shown);
}

std::string first_id(const std::optional<std::string>& field) {
  auto ids = field ? message_ids(*field) : std::vector<std::string>{};
  return ids.empty() ? std::string() : std::move(ids.front());
}

// Zigzag, so that dates before 1970 stay short.
std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

Error corrupt(std::string_view what) {
  return fail(ErrorCode::kCorrupt, "order keys: " + std::string(what));
}

}  // namespace

OrderKeys order_keys(const Envelope& envelope, std::optional<std::string_view> references) {
  OrderKeys keys;
  if (envelope.date) {
    if (auto date = parse_date_time(*envelope.date)) {
      keys.sent = date->unix_seconds();
    }
  }
  if (envelope.subject) {
    keys.subject =
        unicode_casemap(base_subject(decode_words(*envelope.subject), &keys.reply_or_forward));
  }
  keys.from = first_mailbox(envelope.from);
  keys.to = first_mailbox(envelope.to);
  keys.cc = first_mailbox(envelope.cc);
  keys.display_from = first_display(envelope.from);
  keys.display_to = first_display(envelope.to);
  keys.message_id = first_id(envelope.message_id);
  if (references) {
    keys.references = message_ids(*references);
  }
  if (keys.references.empty()) {
    if (auto parent = first_id(envelope.in_reply_to); !parent.empty()) {
      keys.references.push_back(std::move(parent));
    }
  }
  return keys;
}

std::string encode_order_keys(const OrderKeys& keys) {
  std::string out;
  out.push_back(static_cast<char>(kOrderVersion));
  out.push_back(static_cast<char>((keys.sent ? kHasSent : 0) |
                                  (keys.reply_or_forward ? kReplyOrForward : 0)));
  if (keys.sent) {
    put_varint(out, zigzag(*keys.sent));
  }
  for (const std::string* s : {&keys.subject, &keys.from, &keys.to, &keys.cc, &keys.display_from,
                               &keys.display_to, &keys.message_id}) {
    put_string(out, *s);
  }
  put_varint(out, keys.references.size());
  for (const auto& id : keys.references) {
    put_string(out, id);
  }
  return out;
}

Result<OrderKeys> decode_order_keys(std::string_view bytes) {
  Reader in(bytes);
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  if (!in.byte(version) || version != kOrderVersion) {
    return corrupt("unknown version");
  }
  if (!in.byte(flags) || (flags & ~(kHasSent | kReplyOrForward)) != 0) {
    return corrupt("bad flags");
  }
  OrderKeys keys;
  keys.reply_or_forward = (flags & kReplyOrForward) != 0;
  if ((flags & kHasSent) != 0) {
    std::uint64_t sent = 0;
    if (!in.varint(sent)) {
      return corrupt("truncated date");
    }
    keys.sent = unzigzag(sent);
  }
  for (std::string* s : {&keys.subject, &keys.from, &keys.to, &keys.cc, &keys.display_from,
                         &keys.display_to, &keys.message_id}) {
    if (!in.string(*s)) {
      return corrupt("truncated key");
    }
  }
  std::uint64_t count = 0;
  // Every id takes at least its length byte: bounds the allocation by the input.
  if (!in.varint(count) || count > in.remaining()) {
    return corrupt("bad reference count");
  }
  keys.references.resize(static_cast<std::size_t>(count));
  for (auto& id : keys.references) {
    if (!in.string(id)) {
      return corrupt("truncated reference");
    }
  }
  if (in.remaining() != 0) {
    return corrupt("trailing bytes");
  }
  return keys;
}

}  // namespace tern::mime::facts
