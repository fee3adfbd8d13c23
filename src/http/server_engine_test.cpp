// SPDX-License-Identifier: Apache-2.0
#include "http/server_engine.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tern::http {
namespace {

// What a driver sees: every event, and the bytes the engine wanted sent.
struct Transcript {
  std::vector<Event> events;  // NeedInput events are not recorded
  std::string output;
};

// Answers every request with 200 and the target (and body size) as the body.
Response echo_response(const Request& request) {
  Response response;
  response.headers.add("Content-Type", "text/plain");
  response.body = request.method + " " + request.target + " " + std::to_string(request.body.size());
  return response;
}

void drain_events(ServerEngine& engine, Transcript& transcript) {
  for (;;) {
    Event event = engine.next();
    if (std::holds_alternative<NeedInput>(event)) {
      break;
    }
    transcript.events.push_back(event);
    if (auto* request = std::get_if<Request>(&event)) {
      engine.answer(echo_response(*request));
      continue;
    }
    break;  // Close
  }
  transcript.output += engine.output();
  engine.consume_output(engine.output().size());
}

Transcript run_chunks(const std::vector<std::string>& chunks, Limits limits = {}) {
  ServerEngine engine(limits);
  Transcript transcript;
  for (const auto& chunk : chunks) {
    engine.receive(chunk);
    drain_events(engine, transcript);
    if (engine.is_closed()) {
      break;
    }
  }
  return transcript;
}

Transcript run(const std::string& input, Limits limits = {}) {
  return run_chunks({input}, limits);
}

// Beast's parsegrind idea (model-codebases.md B11): the same events and output
// for every split point and for byte-by-byte feeding.
void expect_same_for_every_split(const std::string& input, Limits limits = {}) {
  Transcript whole = run(input, limits);
  for (std::size_t split = 0; split <= input.size(); ++split) {
    Transcript parts = run_chunks({input.substr(0, split), input.substr(split)}, limits);
    ASSERT_EQ(parts.events, whole.events) << "split at " << split;
    ASSERT_EQ(parts.output, whole.output) << "split at " << split;
  }
  std::vector<std::string> bytes;
  for (char c : input) {
    bytes.emplace_back(1, c);
  }
  Transcript byte_by_byte = run_chunks(bytes, limits);
  EXPECT_EQ(byte_by_byte.events, whole.events);
  EXPECT_EQ(byte_by_byte.output, whole.output);
}

const Request& request_at(const Transcript& t, std::size_t i) {
  return std::get<Request>(t.events.at(i));
}

TEST(HttpServerEngine, ParsesASimpleGet) {
  auto t = run("GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88\r\n\r\n");
  ASSERT_EQ(t.events.size(), 1u);
  const Request& r = request_at(t, 0);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/healthz");
  EXPECT_EQ(r.version, (Version{1, 1}));
  EXPECT_EQ(r.headers.find("user-agent"), "curl/7.88");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(t.output,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
            "GET /healthz 0");
}

TEST(HttpServerEngine, HeaderNamesAreCaseInsensitive) {
  Headers headers;
  headers.add("Content-Type", "text/plain");
  EXPECT_EQ(headers.find("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(headers.count("content-type"), 1u);
  EXPECT_FALSE(headers.find("Content-Length"));
}

TEST(HttpServerEngine, ServesPipelinedRequestsInOrder) {
  auto t =
      run("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
          "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
          "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
          "GET /ignored HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(t.events.size(), 4u);
  EXPECT_EQ(request_at(t, 0).target, "/a");
  EXPECT_EQ(request_at(t, 1).body, "hello");
  EXPECT_FALSE(request_at(t, 2).keep_alive);
  EXPECT_EQ(t.events[3], Event(Close{}));
  EXPECT_NE(t.output.find("Connection: close\r\n"), std::string::npos);
}

TEST(HttpServerEngine, DecodesChunkedBodiesAndDropsTrailers) {
  auto t =
      run("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  ASSERT_EQ(t.events.size(), 1u);
  EXPECT_EQ(request_at(t, 0).body, "hello world");
}

TEST(HttpServerEngine, Http10ClosesUnlessKeepAliveIsAsked) {
  auto closing = run("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(closing.events.size(), 2u);
  EXPECT_EQ(closing.events[1], Event(Close{}));
  EXPECT_NE(closing.output.find("Connection: close"), std::string::npos);

  auto kept = run("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(kept.events.size(), 1u);
  EXPECT_NE(kept.output.find("Connection: keep-alive\r\n"), std::string::npos);
}

TEST(HttpServerEngine, HeadResponsesKeepTheLengthButNotTheBody) {
  auto t = run("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(t.output, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n");
}

TEST(HttpServerEngine, ResponseHeadersCannotBeSplit) {
  ServerEngine engine;
  engine.receive(std::string_view("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(std::holds_alternative<Request>(engine.next()));
  Response response;
  response.status = 404;
  response.headers.add("X-Echo", "a\r\nSet-Cookie: evil");
  response.headers.add("Content-Length", "999");
  engine.answer(response);
  EXPECT_EQ(engine.output(),
            "HTTP/1.1 404 Not Found\r\nX-Echo: a  Set-Cookie: evil\r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpServerEngine, ExpectContinueGetsAnInterimResponse) {
  ServerEngine engine;
  engine.receive(std::string_view(
      "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  EXPECT_TRUE(std::holds_alternative<NeedInput>(engine.next()));
  EXPECT_EQ(engine.output(), "HTTP/1.1 100 Continue\r\n\r\n");
  engine.consume_output(engine.output().size());
  engine.receive(std::string_view("abc"));
  auto event = engine.next();
  ASSERT_TRUE(std::holds_alternative<Request>(event));
  EXPECT_EQ(std::get<Request>(event).body, "abc");
}

struct ErrorCase {
  const char* name;
  std::string input;
  int status;
};

class HttpServerEngineErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(HttpServerEngineErrors, AnswersWithAnErrorAndCloses) {
  Limits limits;
  limits.max_request_line_bytes = 64;
  limits.max_header_bytes = 128;
  limits.max_header_count = 4;
  limits.max_body_bytes = 16;
  auto t = run(GetParam().input, limits);
  ASSERT_FALSE(t.events.empty());
  EXPECT_EQ(t.events.back(), Event(Close{}));
  std::string status_line = "HTTP/1.1 " + std::to_string(GetParam().status) + " ";
  EXPECT_EQ(t.output.rfind(status_line, 0), 0u) << t.output;
  EXPECT_NE(t.output.find("Connection: close\r\n"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HttpServerEngineErrors,
    ::testing::Values(
        ErrorCase{"garbage", "hello\r\n\r\n", 400},
        ErrorCase{"double_space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"lower_case_version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"http2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        ErrorCase{"missing_host", "GET / HTTP/1.1\r\n\r\n", 400},
        ErrorCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        ErrorCase{"space_before_colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        ErrorCase{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},
        ErrorCase{"bare_cr", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
        ErrorCase{"long_target", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", 414},
        ErrorCase{"long_headers",
                  "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(200, 'v') + "\r\n\r\n", 431},
        ErrorCase{"many_headers",
                  "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
        ErrorCase{"big_body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", 413},
        ErrorCase{"big_chunks",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n",
                  413},
        ErrorCase{"bad_length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400},
        ErrorCase{"conflicting_lengths",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                  400},
        ErrorCase{"length_and_chunked",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400},
        ErrorCase{"gzip_chunked",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        ErrorCase{"chunked_not_last",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        ErrorCase{"te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        ErrorCase{"bad_chunk_size",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        ErrorCase{"missing_chunk_crlf",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n",
                  400},
        ErrorCase{"expect_other", "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(HttpServerEngine, SameEventsForEverySplit) {
  expect_same_for_every_split(
      "\r\nGET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Many: 1, 2\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
      "3\r\nabc\r\nA;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n"
      "GET /d HTTP/1.0\nConnection: keep-alive\n\n"
      "GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

TEST(HttpServerEngine, SameErrorsForEverySplit) {
  Limits limits;
  limits.max_request_line_bytes = 32;
  limits.max_header_bytes = 64;
  expect_same_for_every_split("GET /" + std::string(40, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
                              limits);
  expect_same_for_every_split(
      "GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(70, 'v') + "\r\n\r\n", limits);
  expect_same_for_every_split("GET / HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n", limits);
}

TEST(HttpServerEngine, IgnoresInputAfterClose) {
  ServerEngine engine;
  engine.receive(std::string_view("nonsense\r\n"));
  EXPECT_EQ(engine.next(), Event(Close{}));
  engine.receive(std::string_view("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(engine.next(), Event(Close{}));
  EXPECT_TRUE(engine.is_closed());
}

}  // namespace
}  // namespace tern::http
