// SPDX-License-Identifier: Apache-2.0
#include "runtime/https_client.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "base/ascii.hpp"
#include "runtime/connection.hpp"
#include "runtime/io.hpp"
#include "runtime/tls_client.hpp"

namespace tern::runtime {

namespace {

constexpr std::size_t kMaxHeader = 16 * 1024;  // status line and fields together

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, ended by
// a zero-size chunk and the (ignored) trailer section.
Result<ParsedHttpResponse> decode_chunked(std::string_view bytes, std::size_t max_body,
                                          ParsedHttpResponse out) {
  for (;;) {
    const std::size_t eol = bytes.find("\r\n");
    if (eol == std::string_view::npos) {
      if (bytes.size() > 1024) {
        return fail(ErrorCode::kInvalidInput, "chunk size line too long");
      }
      return out;  // incomplete
    }
    std::string_view size_text = bytes.substr(0, eol);
    size_text = size_text.substr(0, size_text.find(';'));
    size_text = trim(size_text);
    std::size_t size = 0;
    auto [end, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || ec != std::errc() || end != size_text.data() + size_text.size()) {
      return fail(ErrorCode::kInvalidInput, "bad chunk size");
    }
    if (size > max_body || out.body.size() + size > max_body) {
      return fail(ErrorCode::kLimitExceeded,
                  "response body over " + std::to_string(max_body) + " bytes");
    }
    bytes.remove_prefix(eol + 2);
    if (size == 0) {
      // The trailer section (ignored) ends with an empty line.
      out.complete = bytes.starts_with("\r\n") || bytes.find("\r\n\r\n") != std::string_view::npos;
      return out;
    }
    if (bytes.size() < size + 2) {
      return out;  // incomplete
    }
    if (bytes.substr(size, 2) != "\r\n") {
      return fail(ErrorCode::kInvalidInput, "chunk not followed by CRLF");
    }
    out.body.append(bytes.substr(0, size));
    bytes.remove_prefix(size + 2);
  }
}

}  // namespace

Result<ParsedHttpResponse> parse_http_response(std::string_view bytes, bool at_eof,
                                               std::size_t max_body) {
  ParsedHttpResponse out;
  const std::size_t header_end = bytes.find("\r\n\r\n");
  if (header_end == std::string_view::npos) {
    if (bytes.size() > kMaxHeader) {
      return fail(ErrorCode::kLimitExceeded, "response header over 16384 bytes");
    }
    if (at_eof) {
      return fail(ErrorCode::kInvalidInput, "response ended inside the header");
    }
    return out;
  }
  if (header_end > kMaxHeader) {
    return fail(ErrorCode::kLimitExceeded, "response header over 16384 bytes");
  }
  std::string_view head = bytes.substr(0, header_end);
  std::string_view body = bytes.substr(header_end + 4);
  // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
  const std::size_t eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return fail(ErrorCode::kInvalidInput, "not an HTTP/1.x status line");
  }
  const std::string_view code = status_line.substr(9, 3);
  auto [end, ec] = std::from_chars(code.data(), code.data() + 3, out.status);
  if (ec != std::errc() || end != code.data() + 3 || out.status < 100 ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    return fail(ErrorCode::kInvalidInput, "bad status code");
  }
  std::optional<std::size_t> content_length;
  bool chunked = false;
  std::string_view fields =
      eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!fields.empty()) {
    const std::size_t next = fields.find("\r\n");
    const std::string_view line = fields.substr(0, next);
    fields = next == std::string_view::npos ? std::string_view() : fields.substr(next + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fail(ErrorCode::kInvalidInput, "malformed header field");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (ascii::iequals(name, "content-type")) {
      out.content_type = std::string(value);
    } else if (ascii::iequals(name, "content-length")) {
      std::size_t length = 0;
      auto [e, err] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || err != std::errc() || e != value.data() + value.size() ||
          (content_length && *content_length != length)) {
        return fail(ErrorCode::kInvalidInput, "bad Content-Length");
      }
      content_length = length;
    } else if (ascii::iequals(name, "transfer-encoding")) {
      // Only "chunked" is meaningful to a client that asked for no codings.
      if (!ascii::iequals(value, "chunked")) {
        return fail(ErrorCode::kInvalidInput,
                    "unsupported Transfer-Encoding '" + std::string(value) + "'");
      }
      chunked = true;
    }
  }
  if (chunked) {
    auto decoded = decode_chunked(body, max_body, std::move(out));
    if (decoded && !decoded->complete && at_eof) {
      return fail(ErrorCode::kInvalidInput, "response ended inside a chunk");
    }
    return decoded;
  }
  if (content_length) {
    if (*content_length > max_body) {
      return fail(ErrorCode::kLimitExceeded,
                  "response body over " + std::to_string(max_body) + " bytes");
    }
    if (body.size() < *content_length) {
      if (at_eof) {
        return fail(ErrorCode::kInvalidInput, "response shorter than its Content-Length");
      }
      return out;
    }
    out.body = std::string(body.substr(0, *content_length));
    out.complete = true;
    return out;
  }
  // RFC 9112 §6.3 (8): no length given, the body ends with the connection.
  if (body.size() > max_body) {
    return fail(ErrorCode::kLimitExceeded,
                "response body over " + std::to_string(max_body) + " bytes");
  }
  if (at_eof) {
    out.body = std::string(body);
    out.complete = true;
  }
  return out;
}

namespace {

// The exchange both methods share: resolve, connect, TLS with the certificate
// checked, send `head` (the request line and fields) and the body, read the
// response.
asio::awaitable<HttpsResult> exchange(dns::Resolver& resolver, const HttpsRequest& request,
                                      std::string head, log::Logger logger) {
  using Failure = HttpsResult::Failure;
  HttpsResult result;
  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  auto remaining = [&]() -> Duration {
    return std::max<Duration>(deadline - std::chrono::steady_clock::now(), Duration::zero());
  };
  auto failed = [&](Failure failure, std::string error) {
    result.failure = failure;
    result.error = std::move(error);
    return result;
  };

  std::vector<dns::IpAddress> addresses;
  std::string dns_error;
  for (dns::RecordType type : {dns::RecordType::kAaaa, dns::RecordType::kA}) {
    dns::Answer answer = co_await await(resolver.lookup(request.host, type));
    if (answer.ok()) {
      addresses.insert(addresses.end(), answer.addresses.begin(), answer.addresses.end());
    } else if (dns_error.empty()) {
      dns_error = std::string(dns::record_type_name(type)) + " lookup of " + request.host + ": " +
                  (answer.error.empty() ? std::string(dns::lookup_status_name(answer.status))
                                        : answer.error);
    }
  }
  if (addresses.empty()) {
    co_return failed(Failure::kDns, dns_error);
  }

  std::unique_ptr<Connection> connection;
  std::string connect_error;
  ConnectionIds ids;
  for (const auto& address : addresses) {
    if (remaining() == Duration::zero()) {
      co_return failed(Failure::kTimeout, "timed out connecting to " + request.host);
    }
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(address.format()), request.port);
    const Duration budget = std::min<Duration>(remaining(), request.connect_timeout);
    auto connected = co_await connect_tcp(endpoint, budget, ids.next(), logger);
    if (connected) {
      connection = std::move(*connected);
      break;
    }
    connect_error = connected.error().message;
  }
  if (!connection) {
    co_return failed(Failure::kConnect, connect_error);
  }

  auto check = std::make_shared<TlsPeerCheck>();
  TlsClientSettings settings;
  settings.ca_file = request.ca_file;
  auto context = build_checking_client_context(settings, request.host, check);
  if (!context) {
    co_return failed(Failure::kTls, context.error().message);
  }
  // RFC 8461 §7.1: SNI names the policy host.
  std::string sni = request.host;
  auto handshake = co_await connection->start_tls_client(*context, std::move(sni), remaining());
  if (!handshake) {
    co_return failed(
        handshake.error().code == ErrorCode::kTimeout ? Failure::kTimeout : Failure::kTls,
        "TLS handshake with " + request.host + ": " + handshake.error().message);
  }
  if (!check->called) {
    connection->close();
    co_return failed(Failure::kCertificate, request.host + " sent no certificate");
  }
  if (check->pkix_error != 0) {
    // RFC 8461 §3.3: the policy host's certificate must chain to a trusted root,
    // name it, and be unexpired; nothing is sent to a host that fails this.
    connection->close();
    co_return failed(Failure::kCertificate,
                     "certificate of " + request.host + ": " + check->pkix_error_text());
  }

  // One write for the head and the body: report bodies are small (bounded by the
  // caller), and a single buffer keeps the exchange to one round trip.
  head += request.body;
  auto written = co_await connection->write_all(head, remaining());
  if (!written) {
    co_return failed(
        written.error().code == ErrorCode::kTimeout ? Failure::kTimeout : Failure::kHttp,
        written.error().message);
  }
  std::string received;
  std::array<char, 8192> buffer{};
  for (;;) {
    auto n = co_await connection->read_some(buffer, remaining());
    if (!n) {
      connection->close();
      co_return failed(n.error().code == ErrorCode::kTimeout ? Failure::kTimeout : Failure::kHttp,
                       "reading from " + request.host + ": " + n.error().message);
    }
    const bool eof = *n == 0;
    received.append(buffer.data(), *n);
    auto parsed = parse_http_response(received, eof, request.max_body);
    if (!parsed) {
      connection->close();
      co_return failed(Failure::kHttp, parsed.error().message);
    }
    if (parsed->complete) {
      connection->close();
      result.status = parsed->status;
      result.content_type = std::move(parsed->content_type);
      result.body = std::move(parsed->body);
      co_return result;
    }
    // The raw bytes are bounded too: header limit plus body limit plus chunk framing.
    if (received.size() > kMaxHeader + 2 * request.max_body + 4096) {
      connection->close();
      co_return failed(Failure::kHttp, "response too large");
    }
  }
}

// RFC 9110 §7.2: the port is part of Host when it is not the scheme's default.
std::string host_field(const HttpsRequest& request) {
  return request.port == 443 ? request.host : request.host + ":" + std::to_string(request.port);
}

}  // namespace

asio::awaitable<HttpsResult> https_get(dns::Resolver& resolver, HttpsRequest request,
                                       log::Logger logger) {
  std::string head = "GET " + request.path + " HTTP/1.1\r\nHost: " + host_field(request) +
                     "\r\nAccept: text/plain\r\nConnection: close\r\n"
                     "User-Agent: tern\r\n\r\n";
  request.body.clear();
  co_return co_await exchange(resolver, request, std::move(head), std::move(logger));
}

asio::awaitable<HttpsResult> https_post(dns::Resolver& resolver, HttpsRequest request,
                                        log::Logger logger) {
  std::string head = "POST " + request.path + " HTTP/1.1\r\nHost: " + host_field(request) +
                     "\r\nContent-Type: " + request.content_type +
                     "\r\nContent-Length: " + std::to_string(request.body.size()) +
                     "\r\nConnection: close\r\nUser-Agent: tern\r\n\r\n";
  co_return co_await exchange(resolver, request, std::move(head), std::move(logger));
}

}  // namespace tern::runtime
