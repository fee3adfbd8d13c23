// SPDX-License-Identifier: Apache-2.0
// mime::facts::Facts: what IMAP and JMAP serve about a message, computed once at
// delivery from the MIME tree and stored beside the message (domain::NewMessage::facts)
// so FETCH never re-parses the blob. Pure: no I/O, no clocks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mime/message.hpp"

namespace tern::mime::facts {

// One MIME entity of the message, in the numbering model of RFC 9051 §6.4.5: the
// same pre-order as mime::MessageTree::parts() (part 0 is the message; a
// message/rfc822 part has one child, the encapsulated message). Offsets are into the
// raw message the facts were computed from.
struct PartFacts {
  static constexpr std::uint32_t kNoParent = 0xffffffffu;

  std::uint32_t parent = kNoParent;  // index into Facts::parts; kNoParent for part 0
  PartKind kind = PartKind::kLeaf;
  TransferEncoding encoding = TransferEncoding::k7Bit;

  // header = [header_begin, body_begin) (ends with the blank line when there is one),
  // body = [body_begin, body_end).
  std::uint64_t header_begin = 0;
  std::uint64_t body_begin = 0;
  std::uint64_t body_end = 0;

  // Lines in the body as IMAP counts them for text/* and message/rfc822 parts (the
  // number of LF octets; RFC 9051 §7.5.2 body-fld-lines).
  std::uint64_t body_lines = 0;

  // RFC 3516 BINARY.SIZE: octets of the body after Content-Transfer-Encoding
  // decoding. Meaningful only when `binary_decodable`.
  std::uint64_t binary_size = 0;

  // False for an encoding tern cannot undo (RFC 3516 §4.3: the server answers BINARY
  // with the UNKNOWN-CTE response code).
  bool binary_decodable = true;

  // Children in order, derived from `parent` (not stored separately).
  std::vector<std::uint32_t> children;

  std::uint64_t body_size() const { return body_end - body_begin; }

  bool operator==(const PartFacts&) const = default;
};

// The facts record. Every string is exactly what the IMAP server sends after the
// FETCH item name (RFC 9051 §7.5.2), on one line except where a literal is needed.
struct Facts {
  std::uint64_t size = 0;   // RFC822.SIZE: octets of the raw message
  std::uint64_t lines = 0;  // LF octets in the whole message

  std::string envelope;       // "(date subject from sender ... message-id)"
  std::string body;           // BODY: the non-extensible body structure
  std::string bodystructure;  // BODYSTRUCTURE: with extension data
  std::string preview;        // RFC 8970 preview: UTF-8, at most 256 characters

  std::vector<PartFacts> parts;  // never empty for computed facts

  // What IMAP SEARCH matches (RFC 9051 §6.4.4), so a search reads the facts instead
  // of parsing every message. Both are UTF-8 and Unicode case-folded (fold_case()),
  // so a search folds only its key. search_headers: make_search_headers();
  // search_text: extract_search_text(). `has_search` is false for a record of
  // version 1, which has neither; the reader then derives them from the message.
  std::string search_headers;
  std::string search_text;
  bool has_search = false;

  // What SORT and THREAD compare: encode_order_keys() of the message's order keys
  // (order.hpp). `has_order` is false for a record before version 3.
  std::string order;
  bool has_order = false;

  bool operator==(const Facts&) const = default;
};

// Computes the facts of `raw` (the message exactly as stored). Never fails: any byte
// string has facts (a message that is not MIME is one text/plain part). Time and
// memory are linear in the size of `raw`, bounded by `limits` for the tree.
Facts compute_facts(std::string_view raw, const ParseLimits& limits = {});

// The same from an already parsed tree. Requires: `tree` was parsed from its raw().
Facts compute_facts(const MessageTree& tree);

// Serialises `facts` in the versioned binary format documented in README.md
// ("Facts encoding"): a magic, a version, varint-framed fields and a CRC-32.
std::string encode_facts(const Facts& facts);

// Decodes what encode_facts() produced. Returns kCorrupt (never crashes, never
// allocates more than a small multiple of `bytes.size()`) for a wrong magic, an
// unknown version, a checksum mismatch, a truncated or overlong field, or offsets
// that do not form a valid part tree inside `size`. With `search_fields` false the
// search strings are checked but not copied (left empty, has_search as stored):
// FETCH needs the rest, and the search text is as large as the message's text.
Result<Facts> decode_facts(std::string_view bytes, bool search_fields = true);

// A facts record cut into the parts a store keeps apart (domain::MessageSummary),
// so that FETCH ENVELOPE reads only envelopes and SEARCH SUBJECT only the folded
// header fields, never the search text (as large as the message's text).
struct SplitFacts {
  // The record without its search fields: a version 1 record (decode_facts() gives
  // has_search false). What FETCH needs for BODY[STRUCTURE] and sections.
  std::string record;
  std::string envelope;        // Facts::envelope
  std::string search_headers;  // Facts::search_headers; empty unless has_search
  std::string search_text;     // Facts::search_text; empty unless has_search
  bool has_search = false;     // false: the input was a version 1 record
  std::string order;           // Facts::order; empty unless has_order
  bool has_order = false;      // false: the input was a record before version 3
};

// Splits a record encode_facts() produced. kCorrupt as decode_facts() does; a store
// then keeps the bytes whole and readers fall back to the message itself.
Result<SplitFacts> split_facts(std::string_view record);

// Appends the CRC-32 trailer of the facts encoding to `body`, so a fuzzer can reach
// decode_facts()'s structural checks with arbitrary bytes. Tests only.
std::string seal_facts_record_for_test(std::string_view body);

// The version encode_facts() writes. Readers accept every version up to this one:
// version 1 (before the search fields; decoded with has_search false) and version
// 2 (before the order keys; has_order false). A newer release that
// changes the format bumps it and recomputes facts from the blob when
// decode_facts() reports kCorrupt.
inline constexpr std::uint8_t kFactsVersion = 3;

}  // namespace tern::mime::facts
