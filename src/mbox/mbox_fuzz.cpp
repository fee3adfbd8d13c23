// SPDX-License-Identifier: Apache-2.0
// Fuzz target mbox_reader: the mbox readers on any bytes return or fail cleanly;
// without_status() only removes lines, so it never grows the message, and what it
// leaves has no status left to read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mbox/mbox.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mbox;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)separator_date(in);
  if (unquote(in).size() + 1 < in.size()) {
    std::abort();
  }
  (void)read_status(in);
  const std::string stripped = without_status(in);
  const Status left = read_status(stripped);
  if (stripped.size() > in.size() || left.seen || left.answered || left.flagged || left.deleted ||
      left.draft || !left.keywords.empty()) {
    std::abort();
  }
  return 0;
}
