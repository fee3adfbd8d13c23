// SPDX-License-Identifier: Apache-2.0
// Fuzzes the command parser behind the reader, then the whole engine: any bytes must
// give events or protocol errors, never a crash, a throw or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "imap/command.hpp"
#include "imap/command_reader.hpp"
#include "imap/server_engine.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  tern::imap::ReaderLimits limits;
  limits.max_line_bytes = 4096;
  limits.max_literal_bytes = 4096;
  limits.max_append_bytes = 8192;
  limits.max_command_bytes = 16384;

  tern::imap::CommandReader reader(limits);
  reader.receive(input);
  for (int i = 0; i < 1000; ++i) {
    auto event = reader.next();
    if (std::holds_alternative<tern::imap::NeedInput>(event)) {
      break;
    }
    if (auto* raw = std::get_if<tern::imap::RawCommand>(&event)) {
      auto command = tern::imap::parse_command(*raw);
      if (command) {
        (void)tern::imap::command_name(*command);
      }
    }
  }

  // The engine, answering every command OK so all states are reached; AUTHENTICATE
  // and IDLE get a continuation so their line modes are exercised.
  tern::imap::EngineLimits engine_limits;
  engine_limits.reader = limits;
  tern::imap::ServerEngine engine(engine_limits);
  engine.receive(input);
  for (int i = 0; i < 1000; ++i) {
    auto event = engine.next();
    if (std::holds_alternative<tern::imap::NeedInput>(event) ||
        std::holds_alternative<tern::imap::CloseConnection>(event)) {
      break;
    }
    if (auto* ready = std::get_if<tern::imap::CommandReady>(&event)) {
      if (std::holds_alternative<tern::imap::AuthenticateCommand>(ready->command) ||
          std::holds_alternative<tern::imap::IdleCommand>(ready->command)) {
        engine.continuation("");
      } else {
        engine.complete(tern::imap::Status::kOk, "", "done");
      }
    } else if (std::holds_alternative<tern::imap::AuthResponse>(event) ||
               std::holds_alternative<tern::imap::IdleEnded>(event)) {
      if (!engine.current_tag().empty()) {
        engine.complete(tern::imap::Status::kOk, "", "done");
      }
    } else if (std::holds_alternative<tern::imap::BeginTls>(event)) {
      engine.tls_started();
    }
    engine.consume_output(engine.output().size());
  }
  return 0;
}
