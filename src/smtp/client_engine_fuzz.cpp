// SPDX-License-Identifier: Apache-2.0
// Fuzz target smtp_client_engine: arbitrary server bytes against the client
// engine sending two messages. The first byte picks the options (SMTP or LMTP,
// TLS wish, AUTH) and where the input is split; the engine must never crash,
// loop, or report a different number of results than recipients.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "base/fixed_random.hpp"
#include "smtp/client_engine.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::smtp;
  if (size == 0) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  tern::FixedRandom random(0x42);
  ClientOptions options;
  options.mode = (flags & 1) != 0 ? ClientMode::kLmtp : ClientMode::kSmtp;
  options.tls = (flags & 2) != 0 ? TlsWant::kRequired : TlsWant::kMay;
  if ((flags & 4) != 0) {
    options.auth = ClientAuth{"user", "pw", true};
    options.random = &random;
  }
  options.max_chunk_bytes = 7;
  ClientEngine engine(options);

  OutgoingMessage message;
  message.sender = "a@example.org";
  message.envid = "e+1";
  message.ret = "HDRS";
  message.eight_bit = (flags & 8) != 0;
  message.smtputf8 = (flags & 16) != 0;
  message.requiretls = (flags & 32) != 0;
  message.recipients = {{"b@example.net", "SUCCESS", "rfc822;b@example.net"}, {"c@x", "", ""}};
  message.content = "Subject: x\r\n\r\n.line\r\ncaf\xc3\xa9\r\n";

  const std::size_t split = input.empty() ? 0 : (flags >> 6) * input.size() / 3;
  const std::string_view parts[] = {input.substr(0, split), input.substr(split)};
  std::size_t next_part = 0;
  int messages = 0;
  for (int steps = 0; steps < 100000; ++steps) {
    ClientEvent event = engine.next();
    engine.consume_output(engine.output().size());
    if (std::holds_alternative<NeedInput>(event)) {
      if (next_part < 2) {
        engine.receive(parts[next_part++]);
      } else {
        engine.abort("4.4.2", "eof");
      }
    } else if (std::holds_alternative<StartTls>(event)) {
      engine.tls_started();
    } else if (std::holds_alternative<Ready>(event)) {
      if (messages++ < 2) {
        engine.send(message);
      } else {
        engine.quit();
      }
    } else if (auto* done = std::get_if<MessageDone>(&event)) {
      if (done->recipients.size() != message.recipients.size()) {
        __builtin_trap();
      }
    } else if (std::holds_alternative<Closed>(event)) {
      return 0;
    }
  }
  __builtin_trap();  // the engine looped
}
