// SPDX-License-Identifier: Apache-2.0
#include "http/server_engine.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "base/assert.hpp"

namespace tern::http {
namespace {

// Longest chunk-size line accepted (size, extensions, CRLF excluded). Extensions
// carry nothing we use; the bound keeps a peer from streaming one forever.
constexpr std::size_t kMaxChunkLineBytes = 1024;

// RFC 9110 §5.6.2: tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP and HTAB.
bool is_field_value_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls `fn(element)` for each non-empty element of a comma-separated list
// (RFC 9110 §5.6.1), trimmed of whitespace.
template <class Fn>
void for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) {
      fn(element);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
}

bool parse_decimal(std::string_view s, std::size_t& out) {
  // 18 digits cannot overflow 64 bits; anything longer exceeds every limit anyway.
  if (s.empty() || s.size() > 18) {
    return false;
  }
  std::size_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<std::size_t>(c - '0');
  }
  out = value;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = ascii::to_lower(c);
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

void append_sanitized(std::string& out, std::string_view text) {
  for (char c : text) {
    out += (c == '\r' || c == '\n') ? ' ' : c;
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return ascii::iequals(a, b);
}

void Headers::add(std::string name, std::string value) {
  fields_.push_back(Header{std::move(name), std::move(value)});
}

std::optional<std::string_view> Headers::find(std::string_view name) const {
  for (const auto& field : fields_) {
    if (iequals(field.name, name)) {
      return std::string_view(field.value);
    }
  }
  return std::nullopt;
}

std::size_t Headers::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      fields_.begin(), fields_.end(), [&](const Header& h) { return iequals(h.name, name); }));
}

void Headers::remove(std::string_view name) {
  std::erase_if(fields_, [&](const Header& h) { return iequals(h.name, name); });
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

ServerEngine::ServerEngine(Limits limits) : limits_(limits) {}

void ServerEngine::receive(std::span<const char> bytes) {
  if (state_ == State::kClosed) {
    return;
  }
  in_.append(bytes.data(), bytes.size());
}

std::string_view ServerEngine::output() const {
  return std::string_view(out_).substr(out_pos_);
}

void ServerEngine::consume_output(std::size_t n) {
  TERN_ASSERT(n <= out_.size() - out_pos_, "consume_output beyond output()");
  out_pos_ += n;
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

void ServerEngine::compact_input() {
  // Shift only when the consumed prefix dominates, so byte-by-byte input stays linear.
  if (pos_ > 0 && pos_ * 2 >= in_.size()) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
}

ServerEngine::LineStatus ServerEngine::take_line(std::size_t limit, std::string_view& line) {
  std::string_view rest = std::string_view(in_).substr(pos_);
  auto lf = rest.find('\n', scanned_);
  if (lf == std::string_view::npos) {
    scanned_ = rest.size();
    // A CR may still be followed by its LF, so allow one byte of slack.
    return rest.size() > limit + 1 ? LineStatus::kTooLong : LineStatus::kNeedMore;
  }
  line = rest.substr(0, lf);
  pos_ += lf + 1;
  scanned_ = 0;
  // RFC 9112 §2.2: a bare LF is accepted as a line terminator; a CR anywhere else
  // is invalid (it is how request smuggling starts).
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (line.size() > limit) {
    return LineStatus::kTooLong;
  }
  if (line.find('\r') != std::string_view::npos) {
    return LineStatus::kInvalid;
  }
  return LineStatus::kLine;
}

Event ServerEngine::fail(int status) {
  Response response;
  response.status = status;
  response.body = std::string(reason_phrase(status)) + "\n";
  response.headers.add("Content-Type", "text/plain; charset=utf-8");
  response.close = true;
  state_ = State::kAwaitingAnswer;
  head_request_ = false;
  answer_http10_ = false;
  answer(response);
  in_.clear();
  pos_ = 0;
  scanned_ = 0;
  return Close{};
}

bool ServerEngine::parse_request_line(std::string_view line, int& error_status) {
  // RFC 9112 §3: method SP request-target SP HTTP-version, single spaces.
  error_status = 400;
  auto first = line.find(' ');
  if (first == std::string_view::npos) {
    return false;
  }
  auto second = line.find(' ', first + 1);
  if (second == std::string_view::npos) {
    return false;
  }
  std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  std::string_view version = line.substr(second + 1);
  if (!is_token(method) || target.empty()) {
    return false;
  }
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return false;
    }
  }
  // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return false;
  }
  int major = version[5] - '0';
  int minor = version[7] - '0';
  if (major != 1) {
    error_status = 505;
    return false;
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  request_.version = Version{major, minor};
  return true;
}

bool ServerEngine::parse_header_line(std::string_view line) {
  // RFC 9112 §5.2: obs-fold is rejected with 400 in requests.
  if (line.front() == ' ' || line.front() == '\t') {
    return false;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  // RFC 9112 §5.1: no whitespace between the field name and the colon.
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    return false;
  }
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (!std::all_of(value.begin(), value.end(), is_field_value_char)) {
    return false;
  }
  request_.headers.add(std::string(name), std::string(value));
  return true;
}

int ServerEngine::finish_headers() {
  const Headers& headers = request_.headers;
  bool http11 = request_.version.minor >= 1;

  // RFC 9112 §3.2: a 1.1 request without exactly one Host gets 400.
  std::size_t hosts = headers.count("Host");
  if ((http11 && hosts == 0) || hosts > 1) {
    return 400;
  }

  // RFC 9112 §9.3: persistence.
  bool close = false;
  bool keep_alive = false;
  for (const auto& field : headers.all()) {
    if (iequals(field.name, "Connection")) {
      for_each_element(field.value, [&](std::string_view option) {
        close = close || iequals(option, "close");
        keep_alive = keep_alive || iequals(option, "keep-alive");
      });
    }
  }
  request_.keep_alive = http11 ? !close : (keep_alive && !close);

  bool has_transfer_encoding = headers.count("Transfer-Encoding") > 0;
  bool has_content_length = headers.count("Content-Length") > 0;
  body_remaining_ = 0;
  chunked_ = false;
  if (has_transfer_encoding) {
    // RFC 9112 §6.1: TE in a 1.0 request means faulty framing; §6.3: TE with
    // Content-Length is a smuggling attempt until proven otherwise. Both 400.
    if (!http11 || has_content_length) {
      return 400;
    }
    std::vector<std::string_view> codings;
    for (const auto& field : headers.all()) {
      if (iequals(field.name, "Transfer-Encoding")) {
        for_each_element(field.value, [&](std::string_view c) { codings.push_back(c); });
      }
    }
    // RFC 9112 §6.3 rule 4: chunked must be the final coding, else 400; other
    // codings are not implemented (501, §6.1).
    if (codings.empty() || !iequals(codings.back(), "chunked")) {
      return 400;
    }
    if (codings.size() > 1) {
      return 501;
    }
    chunked_ = true;
  } else if (has_content_length) {
    // RFC 9112 §6.3 rule 5: every Content-Length value must agree.
    std::optional<std::size_t> length;
    bool valid = true;
    for (const auto& field : headers.all()) {
      if (!iequals(field.name, "Content-Length")) {
        continue;
      }
      for_each_element(field.value, [&](std::string_view v) {
        std::size_t n = 0;
        if (!parse_decimal(v, n) || (length && *length != n)) {
          valid = false;
        }
        length = n;
      });
    }
    if (!valid || !length) {
      return 400;
    }
    if (*length > limits_.max_body_bytes) {
      return 413;
    }
    body_remaining_ = *length;
  }

  if (auto expect = headers.find("Expect")) {
    if (!iequals(*expect, "100-continue")) {
      return 417;
    }
    // RFC 9110 §10.1.1: tell a waiting client to send the body, unless it
    // already started (then the interim response is pointless).
    bool body_expected = chunked_ || body_remaining_ > 0;
    if (http11 && body_expected && pos_ == in_.size()) {
      out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    }
  }
  return 0;
}

Event ServerEngine::emit_request() {
  state_ = State::kAwaitingAnswer;
  head_request_ = request_.method == "HEAD";
  answer_keep_alive_ = request_.keep_alive;
  answer_http10_ = request_.version.minor == 0;
  compact_input();
  return std::move(request_);
}

Event ServerEngine::next() {
  TERN_ASSERT(state_ != State::kAwaitingAnswer, "answer() the request before calling next()");
  for (;;) {
    std::string_view line;
    switch (state_) {
      case State::kClosed:
        return Close{};

      case State::kAwaitingAnswer:
        return NeedInput{};  // unreachable: asserted above

      case State::kRequestLine: {
        auto status = take_line(limits_.max_request_line_bytes, line);
        if (status == LineStatus::kNeedMore) {
          compact_input();
          return NeedInput{};
        }
        if (status == LineStatus::kTooLong) {
          return fail(414);
        }
        if (status == LineStatus::kInvalid) {
          return fail(400);
        }
        // RFC 9112 §2.2: ignore empty lines before the request line (a client
        // may send a CRLF after a POST body).
        if (line.empty()) {
          continue;
        }
        request_ = Request{};
        int error_status = 400;
        if (!parse_request_line(line, error_status)) {
          return fail(error_status);
        }
        header_bytes_ = 0;
        state_ = State::kHeaders;
        continue;
      }

      case State::kHeaders:
      case State::kTrailers: {
        std::size_t budget =
            limits_.max_header_bytes > header_bytes_ ? limits_.max_header_bytes - header_bytes_ : 0;
        auto status = take_line(budget, line);
        if (status == LineStatus::kNeedMore) {
          compact_input();
          return NeedInput{};
        }
        if (status == LineStatus::kTooLong) {
          return fail(431);
        }
        if (status == LineStatus::kInvalid) {
          return fail(400);
        }
        header_bytes_ += line.size() + 2;
        if (state_ == State::kTrailers) {
          // RFC 9112 §7.1.2: trailer fields are not merged into the header
          // section; nothing tern serves needs them, so they are dropped.
          if (line.empty()) {
            return emit_request();
          }
          continue;
        }
        if (line.empty()) {
          if (int error_status = finish_headers(); error_status != 0) {
            return fail(error_status);
          }
          if (chunked_) {
            state_ = State::kChunkSize;
            continue;
          }
          if (body_remaining_ == 0) {
            return emit_request();
          }
          state_ = State::kBody;
          continue;
        }
        if (request_.headers.all().size() >= limits_.max_header_count) {
          return fail(431);
        }
        if (!parse_header_line(line)) {
          return fail(400);
        }
        continue;
      }

      case State::kBody:
      case State::kChunkData: {
        std::size_t available = std::min(in_.size() - pos_, body_remaining_);
        request_.body.append(in_, pos_, available);
        pos_ += available;
        body_remaining_ -= available;
        if (body_remaining_ > 0) {
          compact_input();
          return NeedInput{};
        }
        if (state_ == State::kBody) {
          return emit_request();
        }
        state_ = State::kChunkDataEnd;
        continue;
      }

      case State::kChunkSize: {
        auto status = take_line(kMaxChunkLineBytes, line);
        if (status == LineStatus::kNeedMore) {
          compact_input();
          return NeedInput{};
        }
        if (status != LineStatus::kLine) {
          return fail(400);
        }
        // RFC 9112 §7.1: chunk-size [ chunk-ext ]; extensions are ignored.
        std::string_view digits = line.substr(0, line.find_first_of(" \t;"));
        if (digits.empty() || digits.size() > 15) {
          return fail(digits.empty() ? 400 : 413);
        }
        std::size_t size = 0;
        for (char c : digits) {
          int v = hex_value(c);
          if (v < 0) {
            return fail(400);
          }
          size = size * 16 + static_cast<std::size_t>(v);
        }
        if (size > limits_.max_body_bytes - request_.body.size()) {
          return fail(413);
        }
        if (size == 0) {
          header_bytes_ = 0;
          state_ = State::kTrailers;
          continue;
        }
        body_remaining_ = size;
        state_ = State::kChunkData;
        continue;
      }

      case State::kChunkDataEnd: {
        auto status = take_line(0, line);
        if (status == LineStatus::kNeedMore) {
          compact_input();
          return NeedInput{};
        }
        if (status != LineStatus::kLine) {
          return fail(400);
        }
        state_ = State::kChunkSize;
        continue;
      }
    }
  }
}

void ServerEngine::answer(const Response& response) {
  TERN_ASSERT(state_ == State::kAwaitingAnswer, "answer() follows a Request from next()");
  TERN_ASSERT(response.status >= 200 && response.status <= 999, "final status codes only");
  bool close = response.close || !answer_keep_alive_;

  out_ += "HTTP/1.1 ";
  out_ += std::to_string(response.status);
  out_ += ' ';
  append_sanitized(out_, response.reason.empty() ? reason_phrase(response.status)
                                                 : std::string_view(response.reason));
  out_ += "\r\n";
  for (const auto& field : response.headers.all()) {
    if (iequals(field.name, "Content-Length") || iequals(field.name, "Connection")) {
      continue;
    }
    append_sanitized(out_, field.name);
    out_ += ": ";
    append_sanitized(out_, field.value);
    out_ += "\r\n";
  }
  // RFC 9110 §8.6: no Content-Length in 204 and 304 responses; RFC 9110 §9.3.2:
  // a HEAD response carries GET's length but no body.
  bool no_content = response.status == 204 || response.status == 304;
  if (!no_content) {
    out_ += "Content-Length: ";
    out_ += std::to_string(response.body.size());
    out_ += "\r\n";
  }
  if (close) {
    out_ += "Connection: close\r\n";
  } else if (answer_http10_) {
    out_ += "Connection: keep-alive\r\n";
  }
  out_ += "\r\n";
  if (!no_content && !head_request_) {
    out_ += response.body;
  }

  request_ = Request{};
  head_request_ = false;
  if (close) {
    state_ = State::kClosed;
    in_.clear();
    pos_ = 0;
    scanned_ = 0;
  } else {
    state_ = State::kRequestLine;
  }
}

}  // namespace tern::http
