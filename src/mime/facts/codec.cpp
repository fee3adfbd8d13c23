// SPDX-License-Identifier: Apache-2.0
// The facts encoding (README.md "Facts encoding"). Compact (varints, no field
// names), versioned (a reader refuses versions it does not know rather than guess)
// and checked (CRC-32 over the record), because facts live in the store for years
// and a flipped bit must read as kCorrupt, not as a wrong BODYSTRUCTURE.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include <zlib.h>

#include "mime/facts/facts.hpp"
#include "mime/facts/record_io.hpp"

namespace tern::mime::facts {
namespace {

using record_io::put_string;
using record_io::put_varint;
using record_io::Reader;

constexpr char kMagic0 = 'T';
constexpr char kMagic1 = 'F';
constexpr std::size_t kTrailerBytes = 4;  // CRC-32, little endian
// The smallest encoded part: parent, kind, encoding, flags and five one-byte varints.
constexpr std::size_t kMinPartBytes = 9;

// CRC-32 (IEEE 802.3), zlib's.
std::uint32_t crc32(std::string_view bytes) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  // zlib takes a uInt length: feed huge records in pieces.
  while (!bytes.empty()) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(bytes.size(), 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(bytes.data()), n);
    bytes.remove_prefix(n);
  }
  return static_cast<std::uint32_t>(c);
}

Error corrupt(std::string_view what) {
  return fail(ErrorCode::kCorrupt, "facts record: " + std::string(what));
}

void put_crc(std::string& out) {
  const std::uint32_t crc = crc32(out);
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((crc >> (8 * i)) & 0xffu));
  }
}

}  // namespace

std::string seal_facts_record_for_test(std::string_view body) {
  std::string out(body);
  put_crc(out);
  return out;
}

namespace {

// Version 3 adds the order keys after the search fields, version 2 carries the
// search fields; version 1 is the same record without either.
std::string encode_record(const Facts& facts, std::uint8_t version) {
  std::string out;
  out.reserve(64 + facts.envelope.size() + facts.body.size() + facts.bodystructure.size() +
              facts.preview.size() + facts.parts.size() * 16 + facts.search_headers.size() +
              facts.search_text.size() + facts.order.size());
  out.push_back(kMagic0);
  out.push_back(kMagic1);
  out.push_back(static_cast<char>(version));
  put_varint(out, facts.size);
  put_varint(out, facts.lines);
  put_string(out, facts.envelope);
  put_string(out, facts.body);
  put_string(out, facts.bodystructure);
  put_string(out, facts.preview);
  put_varint(out, facts.parts.size());
  for (const PartFacts& p : facts.parts) {
    // parent + 1 so that "no parent" is 0 and fits one byte.
    put_varint(out, p.parent == PartFacts::kNoParent ? 0 : std::uint64_t{p.parent} + 1);
    out.push_back(static_cast<char>(p.kind));
    out.push_back(static_cast<char>(p.encoding));
    out.push_back(static_cast<char>(p.binary_decodable ? 1 : 0));
    put_varint(out, p.header_begin);
    put_varint(out, p.body_begin - p.header_begin);
    put_varint(out, p.body_end - p.body_begin);
    put_varint(out, p.body_lines);
    put_varint(out, p.binary_size);
  }
  if (version >= 2) {
    // Version 2: the search fields.
    put_string(out, facts.search_headers);
    put_string(out, facts.search_text);
  }
  if (version >= 3) {
    put_string(out, facts.order);
  }
  put_crc(out);
  return out;
}

}  // namespace

std::string encode_facts(const Facts& facts) {
  return encode_record(facts, kFactsVersion);
}

Result<SplitFacts> split_facts(std::string_view record) {
  TERN_TRY(auto facts, decode_facts(record));
  SplitFacts out;
  // Version 1 is the layout of version 3 minus the trailing search strings and
  // order keys, so the remaining record stays readable by every decode_facts()
  // since version 1.
  out.record = encode_record(facts, 1);
  out.has_search = facts.has_search;
  out.envelope = std::move(facts.envelope);
  out.search_headers = std::move(facts.search_headers);
  out.search_text = std::move(facts.search_text);
  out.has_order = facts.has_order;
  out.order = std::move(facts.order);
  return out;
}

Result<Facts> decode_facts(std::string_view bytes, bool search_fields) {
  if (bytes.size() < 3 + kTrailerBytes || bytes[0] != kMagic0 || bytes[1] != kMagic1) {
    return corrupt("bad magic");
  }
  const auto version = static_cast<std::uint8_t>(bytes[2]);
  if (version < 1 || version > kFactsVersion) {
    return corrupt("unknown version " + std::to_string(static_cast<unsigned char>(bytes[2])));
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kTrailerBytes);
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < kTrailerBytes; ++i) {
    stored |= std::uint32_t{static_cast<unsigned char>(bytes[body.size() + i])} << (8 * i);
  }
  if (crc32(body) != stored) {
    return corrupt("checksum mismatch");
  }

  Reader in(body.substr(3));
  Facts facts;
  std::uint64_t count = 0;
  if (!in.varint(facts.size) || !in.varint(facts.lines) || !in.string(facts.envelope) ||
      !in.string(facts.body) || !in.string(facts.bodystructure) || !in.string(facts.preview) ||
      !in.varint(count)) {
    return corrupt("truncated header");
  }
  // Bound the allocation by what the record can actually hold.
  if (count == 0 || count > in.remaining() / kMinPartBytes) {
    return corrupt("bad part count");
  }
  facts.parts.resize(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < facts.parts.size(); ++i) {
    PartFacts& p = facts.parts[i];
    std::uint64_t parent = 0;
    std::uint8_t kind = 0;
    std::uint8_t encoding = 0;
    std::uint8_t flags = 0;
    std::uint64_t header_size = 0;
    std::uint64_t body_size = 0;
    if (!in.varint(parent) || !in.byte(kind) || !in.byte(encoding) || !in.byte(flags) ||
        !in.varint(p.header_begin) || !in.varint(header_size) || !in.varint(body_size) ||
        !in.varint(p.body_lines) || !in.varint(p.binary_size)) {
      return corrupt("truncated part");
    }
    if (kind > static_cast<std::uint8_t>(PartKind::kMessage) ||
        encoding > static_cast<std::uint8_t>(TransferEncoding::kUnknown) || flags > 1) {
      return corrupt("bad part type");
    }
    p.kind = static_cast<PartKind>(kind);
    p.encoding = static_cast<TransferEncoding>(encoding);
    p.binary_decodable = flags == 1;
    // Pre-order: part 0 alone has no parent, every other parent comes earlier and
    // is a container.
    if ((i == 0) != (parent == 0) || parent > i) {
      return corrupt("bad parent");
    }
    if (header_size > facts.size || body_size > facts.size ||
        p.header_begin > facts.size - header_size ||
        p.header_begin + header_size > facts.size - body_size) {
      return corrupt("part outside the message");
    }
    p.body_begin = p.header_begin + header_size;
    p.body_end = p.body_begin + body_size;
    if (i > 0) {
      p.parent = static_cast<std::uint32_t>(parent - 1);
      PartFacts& up = facts.parts[p.parent];
      if (up.kind == PartKind::kLeaf || (up.kind == PartKind::kMessage && !up.children.empty())) {
        return corrupt("bad parent kind");
      }
      if (p.header_begin < up.body_begin || p.body_end > up.body_end) {
        return corrupt("part outside its parent");
      }
      up.children.push_back(static_cast<std::uint32_t>(i));
    }
  }
  if (version >= 2) {
    bool read = search_fields ? in.string(facts.search_headers) && in.string(facts.search_text)
                              : in.skip_string() && in.skip_string();
    if (!read) {
      return corrupt("truncated search fields");
    }
    facts.has_search = true;
  }
  if (version >= 3) {
    if (!in.string(facts.order)) {
      return corrupt("truncated order keys");
    }
    facts.has_order = true;
  }
  if (in.remaining() != 0) {
    return corrupt("trailing bytes");
  }
  return facts;
}

}  // namespace tern::mime::facts
