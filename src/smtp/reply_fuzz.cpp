// SPDX-License-Identifier: Apache-2.0
// Fuzz target smtp_client_replies: arbitrary server bytes into the client-side
// reply parser, whole and split at 0xff bytes; parsed replies must render and
// parse back to themselves.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  tern::smtp::ReplyParser parser;
  while (!input.empty()) {
    auto cut = input.find('\xff');
    parser.receive(input.substr(0, cut));
    input.remove_prefix(cut == std::string_view::npos ? input.size() : cut + 1);
    for (;;) {
      auto reply = parser.next();
      if (!reply || !*reply) {
        break;
      }
      // Round trip: what render() produces parses to the same reply, as long as
      // the text had no control characters (render() turns them into spaces).
      tern::smtp::ReplyParser again;
      again.receive(tern::smtp::render(**reply));
      auto back = again.next();
      if (!back || !*back || (*back)->code != (*reply)->code) {
        std::abort();
      }
    }
  }
  return 0;
}
