// SPDX-License-Identifier: Apache-2.0
// Fuzz target sasl_scram: the SCRAM-SHA-256(-PLUS) server fed arbitrary client
// messages. The input is split at NUL bytes: byte 0 picks the options (PLUS,
// advertised, credential known), then client-first, client-final, ack.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/fixed_random.hpp"
#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/scram.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::sasl;
  if (size == 0) {
    return 0;
  }
  std::uint8_t selector = data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ServerOptions options;
  options.plus_advertised = (selector & 2) != 0;
  options.channel_bindings.tls_exporter = "exporter-data";
  tern::FixedRandom random;
  auto mech = make_server_mechanism((selector & 1) != 0 ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256",
                                    options, random);
  static const ScramCredential credential = [] {
    return *derive_scram_credential("pencil", "salt", kMinScramIterations);
  }();
  std::size_t pos = 0;
  bool started = false;
  while (pos <= input.size()) {
    std::size_t nul = input.find('\0', pos);
    std::string_view part = input.substr(pos, nul == std::string_view::npos ? nul : nul - pos);
    StepResult r = started ? mech->step(part) : mech->start(part);
    started = true;
    if (r.kind == StepKind::kNeedScramCredential) {
      r = mech->supply_scram_credential((selector & 4) != 0 ? std::optional(credential)
                                                            : std::nullopt);
    }
    if (r.kind == StepKind::kFailure || r.kind == StepKind::kSuccess ||
        nul == std::string_view::npos) {
      break;
    }
    pos = nul + 1;
  }
  // The base64 codec on the same bytes: decode, and re-encode what decodes.
  if (auto decoded = base64_decode(input)) {
    if (base64_encode(*decoded) != input) {
      __builtin_trap();
    }
  }
  return 0;
}
