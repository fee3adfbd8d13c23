// SPDX-License-Identifier: Apache-2.0
// Fuzz target mime_facts: compute the facts of any byte string, serialise and
// decode them (the round trip must be exact), split them as a store does (the parts
// must be the facts' own), answer every section the part table has, and decode and
// split the input itself as a facts record (corrupt records must fail cleanly,
// never crash). The envelope reader must read every envelope the facts render, and
// fail cleanly on the input itself; the i;unicode-casemap key is UTF-8. The order
// keys of every message decode to what the ENVELOPE gives, re-encode to the same
// bytes, and the input itself as order keys decodes or fails cleanly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mime/charset.hpp"
#include "mime/facts/facts.hpp"
#include "mime/facts/imap_string.hpp"
#include "mime/facts/order.hpp"
#include "mime/facts/section.hpp"
#include "mime/facts/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mime::facts;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const Facts facts = compute_facts(raw);
  const auto decoded = decode_facts(encode_facts(facts));
  if (!decoded || !(*decoded == facts)) {
    std::abort();
  }
  const auto split = split_facts(encode_facts(facts));
  if (!split || split->envelope != facts.envelope || split->search_text != facts.search_text ||
      split->search_headers != facts.search_headers || !decode_facts(split->record) ||
      split->order != facts.order || !split->has_order) {
    std::abort();
  }
  const auto keys = decode_order_keys(facts.order);
  if (!keys || encode_order_keys(*keys) != facts.order) {
    std::abort();
  }
  // Varints need not be minimal, so the input's keys re-encode to themselves
  // after one round, not necessarily to the input.
  if (auto again = decode_order_keys(raw)) {
    auto round = decode_order_keys(encode_order_keys(*again));
    if (!round || !(*round == *again)) {
      std::abort();
    }
  }
  for (std::string_view spec : {"", "1", "1.MIME", "2.HEADER", "1.1.TEXT", "HEADER",
                                "HEADER.FIELDS (FROM TO)", "2.HEADER.FIELDS.NOT (SUBJECT)"}) {
    if (auto section = parse_section(spec)) {
      (void)body_section(raw, facts, *section);
      (void)binary_section(raw, facts, section->part);
      (void)binary_size(facts, section->part);
    }
  }
  // The input as a stored record: whatever it holds, decoding must not crash, and
  // sections served from a record that decoded must stay inside `raw`.
  // With a valid checksum the structural checks are what stands between a damaged
  // record and the section code.
  for (const std::string& record : {std::string(raw), seal_facts_record_for_test(raw)}) {
    // A record that splits leaves a record that decodes.
    if (auto parts = split_facts(record); parts && !decode_facts(parts->record)) {
      std::abort();
    }
    if (auto stored = decode_facts(record)) {
      for (std::string_view spec : {"1.2.TEXT", "1.MIME", "2.1.HEADER.FIELDS (A)"}) {
        if (auto section = parse_section(spec)) {
          (void)body_section(raw, *stored, *section);
          (void)binary_section(raw, *stored, section->part);
        }
      }
    }
  }
  (void)parse_section(raw);
  if (!read_envelope(facts.envelope)) {
    std::abort();
  }
  (void)read_envelope(raw);
  if (!tern::mime::is_utf8(unicode_casemap(raw))) {
    std::abort();
  }
  return 0;
}
