// SPDX-License-Identifier: Apache-2.0
// Mail filters ([[milter]]): the session replays each received message, at the
// end of DATA/BDAT and before it is delivered, to each configured filter in
// turn over the Sendmail 8 milter protocol (milter/milter.hpp), and each filter
// sees the message as the ones before it left it. This is the I/O: connecting
// (a UNIX socket or TCP), the timeouts, and the reading of the filter's replies;
// what the session does with an outcome is service.cpp's.
// docs/adr/0027-milter-client.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "base/log.hpp"
#include "base/result.hpp"
#include "milter/milter.hpp"
#include "runtime/connection.hpp"
#include "smtp/server_engine.hpp"

namespace tern::services::smtp {

struct MilterOptions {
  std::string name;  // for the logs ("opendkim")
  // Where the filter listens: a UNIX socket (`unix_path`), else `tcp`.
  std::string unix_path;
  asio::ip::tcp::endpoint tcp;
  // What a filter that cannot be reached or breaks the protocol means for the
  // message (Postfix's milter_default_action): defer it (451 4.7.1), go on
  // without this filter, or refuse it (550 5.7.1).
  enum class OnFailure { kTempfail, kAccept, kReject };
  OnFailure on_failure = OnFailure::kTempfail;
  // For the connect, and for each write and read (Postfix's milter_*_timeout).
  runtime::Duration timeout = std::chrono::seconds(30);
};

// One filter's connection, kept by the SMTP session for its next message, as
// Postfix keeps one per session: the filter then hears no second negotiation,
// CONNECT or HELO. Closed with the session.
struct MilterConnection {
  std::unique_ptr<runtime::Connection> connection;
  milter::Negotiated negotiated;
  // What the filter was told of the session (HELO name, TLS, user); a message
  // with another starts on a new connection.
  std::string session;
};

// Runs one message past one filter, on `kept` when it holds a connection for
// `session` (a kept connection the filter has closed meanwhile is replaced
// once), and leaves in `kept` what the next message may reuse. An error when
// the filter cannot be reached, times out or breaks the protocol (the caller
// applies on_failure).
asio::awaitable<Result<milter::Outcome>> run_milter(const MilterOptions& options,
                                                    MilterConnection& kept, std::string session,
                                                    const milter::Envelope& envelope,
                                                    std::string_view message,
                                                    std::size_t max_message_bytes,
                                                    const log::Logger& logger);

// The reply of a filter's refusal: its own ("550 5.7.1 text", any lines) when
// well-formed, else Postfix's wording for `verdict` (550 5.7.1 Command
// rejected; 451 4.7.1 Service unavailable - try again later).
tern::smtp::Reply milter_reply(milter::Outcome::Verdict verdict, std::string_view text);

}  // namespace tern::services::smtp
