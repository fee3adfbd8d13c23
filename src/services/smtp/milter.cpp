// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/milter.hpp"

#include <array>
#include <memory>

#include "smtp/reply.hpp"

namespace tern::services::smtp {

asio::awaitable<Result<milter::Outcome>> run_milter(const MilterOptions& options,
                                                    milter::Envelope envelope,
                                                    std::string_view message,
                                                    std::size_t max_message_bytes,
                                                    const log::Logger& logger) {
  auto connected = co_await runtime::connect_socket(options.unix_path, options.tcp, options.timeout,
                                                    "milter", logger);
  if (!connected) {
    co_return Error{ErrorCode::kTemporary,
                    "milter " + options.name + ": " + connected.error().message};
  }
  runtime::Connection& filter = **connected;
  milter::Client client(std::move(envelope), message, max_message_bytes);
  std::array<char, 16384> buffer;
  for (;;) {
    if (std::string out = client.take_output(); !out.empty()) {
      auto written = co_await filter.write_all(out, options.timeout);
      if (!written && client.state() == milter::Client::State::kNeedInput) {
        co_return Error{ErrorCode::kTemporary,
                        "milter " + options.name + ": write failed: " + written.error().message};
      }
    }
    if (client.state() == milter::Client::State::kDone) {
      co_return client.outcome();  // the QUIT went out above (or the filter had gone)
    }
    if (client.state() == milter::Client::State::kFailed) {
      co_return Error{ErrorCode::kTemporary, "milter " + options.name + ": " + client.error()};
    }
    auto n = co_await filter.read_some(buffer, options.timeout);
    if (!n || *n == 0) {
      co_return Error{ErrorCode::kTemporary,
                      "milter " + options.name + ": " +
                          (n ? std::string("closed the connection") : n.error().message)};
    }
    client.receive(std::string_view(buffer.data(), *n));
  }
}

tern::smtp::Reply milter_reply(milter::Outcome::Verdict verdict, std::string_view text) {
  const bool temporary = verdict == milter::Outcome::Verdict::kTempfail;
  if (!text.empty()) {
    tern::smtp::ReplyParser parser;
    parser.receive(text);
    parser.receive("\r\n");
    auto parsed = parser.next();
    if (parsed && *parsed && (*parsed)->code / 100 == (temporary ? 4 : 5)) {
      return **parsed;
    }
  }
  // Postfix's words for a filter's reject and tempfail.
  return temporary ? tern::smtp::Reply::of(451, "4.7.1", "Service unavailable - try again later")
                   : tern::smtp::Reply::of(550, "5.7.1", "Command rejected");
}

}  // namespace tern::services::smtp
