// SPDX-License-Identifier: Apache-2.0
// Virus scanning of received messages with ClamAV's clamd ([antivirus]). The
// session scans a message at the end of DATA/BDAT, before it is delivered:
// infected messages are refused with 554 5.7.1, so nothing is stored and the
// sender (not us) owns the bounce; when clamd cannot answer, the message is
// deferred (451 4.3.0) or accepted unscanned, as configured. The framing and the
// replies are clamd/clamd.hpp's; this is the I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "base/log.hpp"
#include "clamd/clamd.hpp"
#include "runtime/connection.hpp"
#include "smtp/server_engine.hpp"

namespace tern::services::smtp {

struct AntivirusOptions {
  // Where clamd listens: a UNIX socket (`unix_path`), else `tcp`.
  std::string unix_path;
  asio::ip::tcp::endpoint tcp;
  // When clamd cannot be reached or cannot scan: true defers the message
  // (451), false delivers it unscanned.
  bool defer_on_failure = true;
  // Larger messages are delivered unscanned (clamav-milter's MaxFileSize).
  std::size_t max_message_bytes = 25 * 1024 * 1024;
  // For the connect, and for each write and read.
  runtime::Duration timeout = std::chrono::seconds(30);
};

// Sends `content` to clamd with INSTREAM and reads its verdict. Runs on the
// calling coroutine's executor; never throws for network errors (they are a
// kError result). clamd's reply is read even after a failed write, since clamd
// answers a stream over its StreamMaxLength and closes before it has read all.
asio::awaitable<clamd::ScanResult> scan_with_clamd(const AntivirusOptions& options,
                                                   std::string_view content,
                                                   const log::Logger& logger);

// What the session answers for a message scan: nullopt to go on delivering,
// else the refusal for every recipient (554 5.7.1 infected; 451 4.3.0 when the
// scan failed and failures defer).
std::optional<tern::smtp::Reply> antivirus_refusal(const clamd::ScanResult& result,
                                                   const AntivirusOptions& options);

}  // namespace tern::services::smtp
