// SPDX-License-Identifier: Apache-2.0
// Feeds arbitrary bytes to parse_http_response() as a whole and cut at every
// eighth offset (as reads would deliver them): it must never crash, never accept
// a body over the limit, and a response complete at a prefix must stay complete
// with the same body when more bytes follow.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/https_client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kLimit = 256;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (bool eof : {false, true}) {
    auto whole = tern::runtime::parse_http_response(input, eof, kLimit);
    if (whole && whole->body.size() > kLimit) {
      __builtin_trap();
    }
  }
  for (std::size_t cut = 0; cut < size; cut += 8) {
    auto prefix = tern::runtime::parse_http_response(input.substr(0, cut), false, kLimit);
    if (prefix && prefix->complete) {
      auto longer = tern::runtime::parse_http_response(input, false, kLimit);
      // Content-Length and chunked framing end where they end; only "until EOF"
      // bodies (never complete without eof) could grow.
      if (longer && longer->complete && longer->body != prefix->body) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
