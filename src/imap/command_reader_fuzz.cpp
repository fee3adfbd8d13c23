// SPDX-License-Identifier: Apache-2.0
// Fuzz target imap_command_reader: arbitrary client bytes, fed in two pieces at a
// split point taken from the input, with small limits so every limit path runs.
// Invariants: no crash, bounded buffering, and literal spans inside the command.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "imap/command_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  tern::imap::ReaderLimits limits;
  limits.max_line_bytes = 256;
  limits.max_literal_bytes = 512;
  limits.max_append_bytes = 2048;
  limits.max_command_bytes = 4096;
  limits.literal_minus = (data[0] & 0x80) != 0;
  tern::imap::CommandReader reader(limits);
  reader.set_line_mode((data[0] & 0x40) != 0);
  std::size_t cut = input.empty() ? 0 : data[0] % (input.size() + 1);
  for (std::string_view piece : {input.substr(0, cut), input.substr(cut)}) {
    reader.receive(piece);
    for (int guard = 0; guard < 100000; ++guard) {
      auto event = reader.next();
      if (std::holds_alternative<tern::imap::NeedInput>(event)) {
        break;
      }
      if (const auto* command = std::get_if<tern::imap::RawCommand>(&event)) {
        for (const auto& literal : command->literals) {
          if (literal.offset + literal.size > command->bytes.size()) {
            std::abort();
          }
        }
        if (command->bytes.size() > limits.max_append_bytes + limits.max_command_bytes) {
          std::abort();
        }
      }
    }
  }
  return 0;
}
