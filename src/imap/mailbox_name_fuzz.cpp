// SPDX-License-Identifier: Apache-2.0
// Fuzz target imap_mailbox_name: decode arbitrary bytes as modified UTF-7; whatever
// decodes must re-encode to the same bytes (the encoding is canonical), and every
// valid UTF-8 input must survive encode → decode.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "imap/mailbox_name.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto decoded = tern::imap::decode_mutf7(input)) {
    auto again = tern::imap::encode_mutf7(*decoded);
    if (!again || *again != input) {
      std::abort();
    }
  }
  if (tern::imap::is_valid_utf8(input)) {
    auto encoded = tern::imap::encode_mutf7(input);
    if (!encoded) {
      std::abort();
    }
    auto decoded = tern::imap::decode_mutf7(*encoded);
    if (!decoded || *decoded != input) {
      std::abort();
    }
  }
  return 0;
}
