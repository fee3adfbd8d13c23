// SPDX-License-Identifier: Apache-2.0
// Fuzz target dkim_canonicalization: split a message, canonicalise every header
// field both ways, and check that the streaming body canonicaliser gives the
// same bytes whole and split at an input-chosen offset.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailauth/canonicalization.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  if (size == 0) {
    return 0;
  }
  std::size_t split_at = data[0] % size;
  std::string_view message(reinterpret_cast<const char*>(data + 1), size - 1);
  SplitMessage split = split_message(message);
  for (const RawHeaderField& field : split.fields) {
    (void)canonicalize_header(Canonicalization::kSimple, field.raw);
    (void)canonicalize_header(Canonicalization::kRelaxed, field.raw, false);
  }
  for (Canonicalization c : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
    std::string whole = canonicalize_body(c, split.body);
    BodyCanonicalizer canon(c);
    std::string pieces;
    std::size_t at = split_at < split.body.size() ? split_at : split.body.size();
    canon.feed(split.body.substr(0, at), pieces);
    canon.feed(split.body.substr(at), pieces);
    canon.finish(pieces);
    if (pieces != whole) {
      __builtin_trap();
    }
  }
  return 0;
}
