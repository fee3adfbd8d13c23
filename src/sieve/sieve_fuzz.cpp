// SPDX-License-Identifier: Apache-2.0
// Fuzz target sieve_script: any bytes as a script either fail to compile with a
// "line N: ..." error or compile and run on a fixed message, with tight limits,
// to an outcome that always delivers somewhere or says why not: never a crash,
// a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sieve/sieve.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::sieve;
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kMessage =
      "From: A <a@example.org>\r\nTo: b+x@example.com, c@example.net\r\nSubject: =?utf-8?q?hi?=\r\n"
      "Date: Mon, 3 Jun 2024 11:59:58 +0200\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
      "--z\r\nContent-Type: text/plain\r\n\r\nbody text\r\n--z--\r\n";
  CompileLimits limits;
  limits.max_commands = 2000;
  auto compiled = compile(script, limits);
  if (!compiled) {
    if (compiled.error().message.rfind("line ", 0) != 0) {
      std::abort();
    }
    return 0;
  }
  Environment environment;
  environment.max_steps = 20000;
  environment.mailbox_exists = [](std::string_view name) { return name == "INBOX"; };
  // spamtest: not tested for one input in three, else a score from the length.
  if (size % 3 != 0) {
    environment.spam_score = static_cast<double>(size % 101) / 100.0;
  }
  Outcome outcome =
      run(*compiled, kMessage, Envelope{"a@example.org", "b+x@example.com", ""}, environment);
  if (outcome.actions.empty()) {
    std::abort();  // something always happens: a store, a redirect or a discard
  }
  if (outcome.error && (outcome.actions.size() != 1 || outcome.actions[0].mailbox != "INBOX")) {
    std::abort();
  }
  return 0;
}
