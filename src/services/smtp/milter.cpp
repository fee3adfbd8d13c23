// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/milter.hpp"

#include <array>
#include <memory>

#include "smtp/reply.hpp"

namespace tern::services::smtp {

namespace {

// Drives `client` over `filter` to its end; `heard` tells whether the filter
// sent anything (a kept connection that fails before that was closed by the
// filter while idle).
asio::awaitable<Result<void>> exchange(runtime::Connection& filter, milter::Client& client,
                                       runtime::Duration timeout, bool& heard) {
  std::array<char, 16384> buffer;
  for (;;) {
    if (std::string out = client.take_output(); !out.empty()) {
      auto written = co_await filter.write_all(out, timeout);
      if (!written && client.state() == milter::Client::State::kNeedInput) {
        co_return Error{ErrorCode::kTemporary, "write failed: " + written.error().message};
      }
    }
    if (client.state() == milter::Client::State::kDone) {
      co_return ok();
    }
    if (client.state() == milter::Client::State::kFailed) {
      co_return Error{ErrorCode::kTemporary, client.error()};
    }
    auto n = co_await filter.read_some(buffer, timeout);
    if (!n || *n == 0) {
      co_return Error{ErrorCode::kTemporary,
                      n ? std::string("closed the connection") : n.error().message};
    }
    heard = true;
    client.receive(std::string_view(buffer.data(), *n));
  }
}

}  // namespace

asio::awaitable<Result<milter::Outcome>> run_milter(const MilterOptions& options,
                                                    MilterConnection& kept, std::string session,
                                                    const milter::Envelope& envelope,
                                                    std::string_view message,
                                                    std::size_t max_message_bytes,
                                                    const log::Logger& logger) {
  if (kept.connection && kept.session != session) {
    // A new EHLO, TLS or user since: the filter hears the session from the start.
    (void)co_await kept.connection->write_all(milter::quit(), options.timeout);
    kept.connection.reset();
  }
  for (int attempt = 0;; ++attempt) {
    const bool reusing = kept.connection != nullptr;
    if (!reusing) {
      auto connected = co_await runtime::connect_socket(options.unix_path, options.tcp,
                                                        options.timeout, "milter", logger);
      if (!connected) {
        co_return Error{ErrorCode::kTemporary,
                        "milter " + options.name + ": " + connected.error().message};
      }
      kept.connection = std::move(*connected);
    }
    milter::Client client(envelope, message, max_message_bytes,
                          reusing ? std::optional(kept.negotiated) : std::nullopt);
    bool heard = false;
    auto done = co_await exchange(*kept.connection, client, options.timeout, heard);
    if (done) {
      if (client.reusable()) {
        kept.negotiated = client.negotiated();
        kept.session = std::move(session);
      } else {
        kept.connection.reset();  // its QUIT went out
      }
      co_return client.outcome();
    }
    kept.connection.reset();
    if (!reusing || heard || attempt > 0) {
      co_return Error{ErrorCode::kTemporary,
                      "milter " + options.name + ": " + done.error().message};
    }
    // The filter closed the kept connection while it was idle: a new one.
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
