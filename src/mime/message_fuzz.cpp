// SPDX-License-Identifier: Apache-2.0
// Parses arbitrary bytes as a message, with default and with tiny limits, and checks
// every structural invariant of the tree; then decodes every part's header values
// and body. Must never crash, hang or break an invariant.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mime/charset.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"
#include "mime/tree_check.hpp"

namespace {

void exercise(std::string_view raw, const tern::mime::ParseLimits& limits) {
  tern::mime::MessageTree tree = tern::mime::parse_message(raw, limits);
  if (tern::mime::find_inconsistency(tree)) {
    __builtin_trap();
  }
  for (const auto& part : tree.parts()) {
    for (const auto& field : part.fields) {
      std::string decoded = tern::mime::decode_words(field.value.in(raw));
      if (!tern::mime::is_utf8(decoded)) {
        __builtin_trap();
      }
    }
    if (part.kind == tern::mime::PartKind::kLeaf) {
      (void)tern::mime::decode_transfer(part.body.in(raw), part.encoding);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  exercise(raw, {});
  tern::mime::ParseLimits tiny;
  tiny.max_depth = 3;
  tiny.max_parts = 5;
  tiny.max_header_bytes = 64;
  tiny.max_field_bytes = 32;
  tiny.max_fields = 4;
  exercise(raw, tiny);
  return 0;
}
