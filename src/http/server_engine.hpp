// SPDX-License-Identifier: Apache-2.0
// http::ServerEngine: a sans-IO HTTP/1.1 server (RFC 9110, RFC 9112). Bytes in,
// requests out; responses in, bytes out. No sockets, no clocks, no threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::http {

// ASCII case-insensitive equality, for header names and tokens (RFC 9110 §5.1).
bool iequals(std::string_view a, std::string_view b);

struct Header {
  std::string name;
  std::string value;

  bool operator==(const Header&) const = default;
};

// Header fields in the order received. Lookups ignore the case of names.
class Headers {
 public:
  void add(std::string name, std::string value);

  // The first field named `name`, or nullopt. The view lives as long as this
  // object is not modified.
  std::optional<std::string_view> find(std::string_view name) const;

  // How many fields are named `name`.
  std::size_t count(std::string_view name) const;

  // Removes every field named `name`.
  void remove(std::string_view name);

  const std::vector<Header>& all() const { return fields_; }

  bool operator==(const Headers&) const = default;

 private:
  std::vector<Header> fields_;
};

struct Version {
  int major = 1;
  int minor = 1;

  bool operator==(const Version&) const = default;
};

// A complete request, body included (chunked bodies already decoded).
struct Request {
  std::string method;  // case-sensitive token (RFC 9110 §9.1): "GET", "POST"
  std::string target;  // the request-target as sent: "/metrics?x=1", "*", ...
  Version version;
  Headers headers;
  std::string body;
  // Whether the connection may carry another request after the response
  // (RFC 9112 §9.3): HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
  // "Connection: keep-alive".
  bool keep_alive = true;

  bool operator==(const Request&) const = default;
};

struct Response {
  int status = 200;
  std::string reason;  // empty: the standard phrase for `status`
  // Content-Length and Connection are written by the engine; fields with those
  // names given here are ignored. CR and LF in names or values become spaces, so
  // a value copied from a request cannot split the response.
  Headers headers;
  std::string body;    // for HEAD requests, the body GET would send (only its size is used)
  bool close = false;  // close the connection after this response
};

// The engine needs more bytes: read from the peer and receive() them.
struct NeedInput {
  bool operator==(const NeedInput&) const = default;
};

// Send what output() holds, then close the connection. Reached after a response
// that closes, or after a protocol error (whose response is already in output()).
struct Close {
  bool operator==(const Close&) const = default;
};

using Event = std::variant<NeedInput, Request, Close>;

struct Limits {
  // Request line without CRLF; longer gets 414 URI Too Long.
  std::size_t max_request_line_bytes = 8 * 1024;
  // All header field lines together (and, separately, trailer lines); more gets
  // 431 Request Header Fields Too Large.
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_header_count = 100;
  // Decoded body; a larger Content-Length or chunked total gets 413 Content Too Large.
  std::size_t max_body_bytes = 1024 * 1024;
};

// One HTTP/1.1 server connection.
//
// Protocol errors become a response in output() followed by Close: 400 for
// malformed syntax and ambiguous framing (Content-Length with Transfer-Encoding,
// conflicting Content-Lengths, obs-fold, missing Host in HTTP/1.1), 413, 414 and
// 431 for the limits above, 501 for transfer codings other than chunked, 505 for
// an HTTP major version other than 1, 417 for an Expect other than 100-continue.
// "Expect: 100-continue" gets an interim "100 Continue" in output() when the body
// has not started to arrive (RFC 9110 §10.1.1).
//
// Usage: loop { ev = next(); NeedInput → read, receive(); Request → answer();
// Close → flush output(), close }. Write output() whenever it is not empty.
// Pipelined requests are served in order, one answer() per Request.
//
// Never throws (apart from std::bad_alloc) and allocates within the limits: the
// input buffer holds at most one line over a limit, plus whatever the caller
// receive()s between calls to next().
class ServerEngine {
 public:
  explicit ServerEngine(Limits limits = {});

  // Appends bytes read from the peer. Ignored once the engine is closed.
  void receive(std::span<const char> bytes);

  // Parses as far as the buffered bytes allow.
  // Requires: the previous Request (if any) has been answered.
  Event next();

  // Serializes `response` to the last Request into output().
  // Requires: next() returned a Request that has not been answered yet;
  // 200 <= status <= 999 (interim responses are the engine's business).
  void answer(const Response& response);

  // Bytes to send, valid until the next call to a non-const member.
  std::string_view output() const;

  // Drops the first `n` bytes of output(), after they were written.
  // Requires: n <= output().size().
  void consume_output(std::size_t n);

  // True once next() has returned (or will return) Close.
  bool is_closed() const { return state_ == State::kClosed; }

 private:
  enum class State {
    kRequestLine,
    kHeaders,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kAwaitingAnswer,
    kClosed,
  };
  enum class LineStatus { kLine, kNeedMore, kTooLong, kInvalid };

  LineStatus take_line(std::size_t limit, std::string_view& line);
  Event fail(int status);
  bool parse_request_line(std::string_view line, int& error_status);
  bool parse_header_line(std::string_view line);
  // Decides framing after the header section; returns 0 or an error status.
  int finish_headers();
  Event emit_request();
  void compact_input();

  Limits limits_;
  State state_ = State::kRequestLine;
  std::string in_;
  std::size_t pos_ = 0;      // first unparsed byte of in_
  std::size_t scanned_ = 0;  // bytes after pos_ already searched for LF
  std::string out_;
  std::size_t out_pos_ = 0;

  Request request_;
  std::size_t header_bytes_ = 0;
  std::size_t body_remaining_ = 0;
  bool chunked_ = false;
  // What answer() needs from the request after it was moved out to the caller.
  bool head_request_ = false;
  bool answer_keep_alive_ = true;
  bool answer_http10_ = false;
};

// The standard reason phrase for `status` ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status);

}  // namespace tern::http
