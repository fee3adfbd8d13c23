// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/antivirus.hpp"

#include <algorithm>
#include <array>
#include <memory>

namespace tern::services::smtp {

namespace {

clamd::ScanResult failed(std::string detail) {
  return {clamd::ScanResult::Kind::kError, std::move(detail)};
}

}  // namespace

asio::awaitable<clamd::ScanResult> scan_with_clamd(const AntivirusOptions& options,
                                                   std::string_view content,
                                                   const log::Logger& logger) {
  auto connected = co_await runtime::connect_socket(options.unix_path, options.tcp, options.timeout,
                                                    "clamd", logger);
  if (!connected) {
    co_return failed(connected.error().message);
  }
  runtime::Connection& clamd = **connected;

  // The command, then chunks of kChunkBytes each led by its length, then an
  // empty chunk: one write a chunk.
  std::string frame(clamd::kInstream);
  std::optional<std::string> write_error;
  for (std::size_t at = 0;; at += clamd::kChunkBytes) {
    std::size_t n = std::min(clamd::kChunkBytes, content.size() - std::min(at, content.size()));
    auto header = clamd::chunk_header(static_cast<std::uint32_t>(n));
    frame.append(header.data(), header.size());
    frame.append(content.substr(std::min(at, content.size()), n));
    auto written = co_await clamd.write_all(frame, options.timeout);
    if (!written) {
      write_error = written.error().message;
      break;
    }
    frame.clear();
    if (n == 0) {
      break;
    }
  }

  std::string reply;
  std::array<char, 256> buffer;
  while (reply.find('\0') == std::string::npos && reply.size() <= clamd::kMaxReplyBytes) {
    auto n = co_await clamd.read_some(buffer, options.timeout);
    if (!n || *n == 0) {
      if (reply.empty()) {
        co_return failed(write_error ? "clamd write failed: " + *write_error
                         : !n        ? "clamd read failed: " + n.error().message
                                     : "clamd closed the connection without a reply");
      }
      break;
    }
    reply.append(buffer.data(), *n);
  }
  co_return clamd::parse_reply(reply.substr(0, reply.find('\0')));
}

std::optional<tern::smtp::Reply> antivirus_refusal(const clamd::ScanResult& result,
                                                   const AntivirusOptions& options) {
  switch (result.kind) {
    case clamd::ScanResult::Kind::kClean:
      return std::nullopt;
    case clamd::ScanResult::Kind::kInfected:
      // RFC 3463 §3.8: X.7.1, delivery not authorized, message refused.
      return tern::smtp::Reply::of(554, "5.7.1",
                                   "message refused: virus found (" + result.detail + ")");
    case clamd::ScanResult::Kind::kError:
      break;
  }
  if (!options.defer_on_failure) {
    return std::nullopt;
  }
  return tern::smtp::Reply::of(451, "4.3.0", "virus scan unavailable, try again later");
}

}  // namespace tern::services::smtp
