// SPDX-License-Identifier: Apache-2.0
// Fuzz target smtp_server_engine: arbitrary client bytes against the engine in
// both modes, with a caller that accepts, rejects and authenticates by turns.
// The input is split into pieces at 0xff bytes, to exercise every framing state
// across receive() boundaries.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "smtp/server_engine.hpp"

namespace {

void run(std::string_view input, tern::smtp::Mode mode) {
  tern::smtp::Options options;
  options.mode = mode;
  options.hostname = "mx.example.org";
  options.starttls = true;
  options.auth_mechanisms = {"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};
  options.auth_requires_tls = false;
  options.requiretls = true;
  options.limits.max_message_bytes = 4096;
  options.limits.max_recipients = 5;
  tern::smtp::ServerEngine engine(options);
  std::size_t turn = 0;
  std::size_t steps = 0;
  while (steps++ < 100000) {
    auto event = engine.next();
    engine.consume_output(engine.output().size());
    ++turn;
    if (std::holds_alternative<tern::smtp::NeedInput>(event)) {
      if (input.empty()) {
        return;
      }
      auto cut = input.find('\xff');
      std::string_view piece = input.substr(0, cut);
      input.remove_prefix(cut == std::string_view::npos ? input.size() : cut + 1);
      engine.receive(piece);
    } else if (std::holds_alternative<tern::smtp::MailFrom>(event) ||
               std::holds_alternative<tern::smtp::RcptTo>(event)) {
      engine.answer(turn % 3 == 0 ? tern::smtp::Reply::of(550, "5.1.1", "no")
                                  : tern::smtp::Reply::of(250, "2.1.0", "Ok"));
    } else if (auto* message = std::get_if<tern::smtp::Message>(&event)) {
      engine.answer_message(
          {message->recipients.size(), tern::smtp::Reply::of(250, "2.0.0", "Ok")});
    } else if (std::holds_alternative<tern::smtp::AuthStart>(event)) {
      engine.auth_challenge("challenge");
    } else if (std::holds_alternative<tern::smtp::AuthResponse>(event)) {
      engine.auth_finish(turn % 2 == 0 ? tern::smtp::Reply::of(235, "2.7.0", "ok")
                                       : tern::smtp::Reply::of(535, "5.7.8", "bad"));
    } else if (std::holds_alternative<tern::smtp::StartTls>(event)) {
      engine.tls_started();
    } else if (std::holds_alternative<tern::smtp::Close>(event)) {
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  run(input, tern::smtp::Mode::kSmtp);
  run(input, tern::smtp::Mode::kLmtp);
  return 0;
}
