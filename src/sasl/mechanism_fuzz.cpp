// SPDX-License-Identifier: Apache-2.0
// Fuzz target sasl_mechanisms: PLAIN and LOGIN servers fed client messages as the
// protocols carry them, base64-encoded (sasl/base64.hpp). Byte 0 picks the
// mechanism (bit 0), whether the first message is an initial response (bit 1) and
// whether a foreign authorization identity is allowed (bit 2); the rest is
// lines, each one message. A line that is not canonical base64 is sent decoded as
// it is, as if the client had encoded it. The codec's own promise is checked on
// every line: text that decodes encodes back to itself, and bytes encode to text
// that decodes back to them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "base/fixed_random.hpp"
#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"

namespace {

// The codec's round trips; aborts (a fuzzer finding) when one fails.
std::string decode_line(std::string_view line) {
  using namespace tern::sasl;
  if (base64_decode(base64_encode(line)) != std::string(line)) {
    std::abort();
  }
  if (auto decoded = base64_decode(line)) {
    if (base64_encode(*decoded) != line) {
      std::abort();
    }
    return *decoded;
  }
  return std::string(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::sasl;
  if (size == 0) {
    return 0;
  }
  const std::uint8_t selector = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ServerOptions options;
  options.allow_foreign_authzid = (selector & 4) != 0;
  tern::FixedRandom random;
  auto mech = make_server_mechanism((selector & 1) != 0 ? "LOGIN" : "PLAIN", options, random);
  if (!mech) {
    std::abort();
  }
  std::size_t pos = 0;
  bool started = false;
  while (pos <= input.size()) {
    const std::size_t end = input.find('\n', pos);
    const std::string message =
        decode_line(input.substr(pos, end == std::string_view::npos ? end : end - pos));
    StepResult r;
    if (!started && (selector & 2) == 0) {
      r = mech->start(std::nullopt);
      if (r.kind == StepKind::kChallenge) {
        r = mech->step(message);
      }
    } else {
      r = started ? mech->step(message) : mech->start(message);
    }
    started = true;
    if (r.kind == StepKind::kCheckPassword &&
        (r.identity.authcid.empty() || r.identity.password.empty())) {
      std::abort();  // the mechanisms promise a user name and a password here
    }
    if (r.kind != StepKind::kChallenge || end == std::string_view::npos) {
      break;
    }
    pos = end + 1;
  }
  return 0;
}
