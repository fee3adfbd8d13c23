// SPDX-License-Identifier: Apache-2.0
// Feeds arbitrary bytes to http::ServerEngine, answering every request, in two
// chunks split at a point chosen by the first byte. The engine must never crash,
// assert, or produce output without a status line.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "http/server_engine.hpp"

namespace {

void drive(tern::http::ServerEngine& engine) {
  for (int steps = 0; steps < 10000; ++steps) {
    auto event = engine.next();
    if (auto* request = std::get_if<tern::http::Request>(&event)) {
      tern::http::Response response;
      response.status = request->body.empty() ? 200 : 201;
      response.body = request->target;
      engine.answer(response);
    } else {
      break;
    }
  }
  auto out = engine.output();
  if (!out.empty() && !out.starts_with("HTTP/1.1 ")) {
    __builtin_trap();
  }
  engine.consume_output(out.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t split = input.empty() ? 0 : static_cast<unsigned char>(input[0]) % (input.size() + 1);
  tern::http::Limits limits;
  limits.max_request_line_bytes = 256;
  limits.max_header_bytes = 1024;
  limits.max_header_count = 16;
  limits.max_body_bytes = 4096;
  tern::http::ServerEngine engine(limits);
  engine.receive(std::span<const char>(input.data(), split));
  drive(engine);
  engine.receive(std::span<const char>(input.data() + split, input.size() - split));
  drive(engine);
  return 0;
}
