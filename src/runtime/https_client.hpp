// SPDX-License-Identifier: Apache-2.0
// A minimal HTTPS client for small exchanges with a named host: GET of the
// MTA-STS policy (RFC 8461 §3.3) and POST of TLS reports (RFC 8460 §5.4). One
// request per connection, no redirects, no caching, bounded in size and time; the
// certificate is checked against the CA store and the host name, and a failure
// there is reported apart from others.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <asio.hpp>

#include "base/log.hpp"
#include "dns/resolver.hpp"

namespace tern::runtime {

struct HttpsRequest {
  std::string host;  // a DNS name: resolved, sent as SNI and Host, and verified
  std::uint16_t port = 443;
  std::string path = "/";                             // absolute path, sent as is
  std::string ca_file;                                // PEM CAs; "" = the system store
  std::size_t max_body = 64 * 1024;                   // of the response; RFC 8461 §3.3: 64 KB
  std::chrono::milliseconds timeout{60'000};          // the whole exchange; §3.3: one minute
  std::chrono::milliseconds connect_timeout{15'000};  // per address
  // For https_post: the request body, sent with Content-Length, and its type.
  std::string content_type;
  std::string body;
};

using HttpsGetRequest = HttpsRequest;

struct HttpsResult {
  enum class Failure {
    kNone,         // a response came: see status
    kDns,          // the host has no address, or the lookup failed
    kConnect,      // no address could be connected to
    kCertificate,  // TLS came up, but the certificate failed PKIX or the name check
    kTls,          // the handshake failed
    kHttp,         // a malformed response, too large, or cut short
    kTimeout,      // `timeout` passed
  };
  Failure failure = Failure::kNone;
  std::string error;  // why, for logs: "certificate has expired", "response over 65536 bytes"
  int status = 0;     // the HTTP status code
  std::string content_type;  // the Content-Type field value, as sent
  std::string body;          // decoded (chunked transfer coding removed)
};

using HttpsGetResult = HttpsResult;

// Resolves `request.host` (AAAA then A through `resolver`), connects to each
// address in turn, does TLS with SNI = host, sends "GET path HTTP/1.1" with
// "Connection: close" and reads the response. 3xx answers are returned as they
// are (never followed). Never throws; every trouble is a Failure.
asio::awaitable<HttpsResult> https_get(dns::Resolver& resolver, HttpsRequest request,
                                       log::Logger logger);

// The same exchange as https_get with "POST path HTTP/1.1", `request.body` as the
// content (Content-Length, Content-Type: request.content_type). The response is
// returned whatever its status; the caller decides what success is (RFC 8460
// §5.4: a 2xx). Nothing is sent to a host whose certificate fails the check.
asio::awaitable<HttpsResult> https_post(dns::Resolver& resolver, HttpsRequest request,
                                        log::Logger logger);

// Parses a complete HTTP/1.x response (status line, fields, body per
// Content-Length, chunked coding, or up to the end), for https_get and its
// tests. `complete` is false when `bytes` ends before the response does and
// more may come. Errors: kInvalidInput for a malformed response, kLimitExceeded
// for a body over `max_body`.
struct ParsedHttpResponse {
  bool complete = false;
  int status = 0;
  std::string content_type;
  std::string body;
};

Result<ParsedHttpResponse> parse_http_response(std::string_view bytes, bool at_eof,
                                               std::size_t max_body);

}  // namespace tern::runtime
