// SPDX-License-Identifier: Apache-2.0
// DANE matching (RFC 7672 §3.1, RFC 6698 §2.1) with certificates made in the test,
// the HTTP response parser of the HTTPS client, and https_post() against a TLS
// server in the test (the request as sent, the certificate check).
#include "runtime/tls_client.hpp"

#include <array>
#include <future>

#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dns/fake_resolver.hpp"
#include "runtime/https_client.hpp"
#include "runtime/io.hpp"
#include "runtime/testing.hpp"

namespace tern::runtime {
namespace {

using testing::issue_certificate;
using testing::IssuedCertificate;

// The TLSA association data for `der` with `selector` and `matching` (computed
// here independently: SPKI via d2i/i2d, digests with EVP).
dns::TlsaRecord tlsa_for(const std::string& der, std::uint8_t usage, std::uint8_t selector,
                         std::uint8_t matching) {
  std::string selected = der;
  if (selector == 1) {
    const auto* in = reinterpret_cast<const unsigned char*>(der.data());
    X509* cert = d2i_X509(nullptr, &in, static_cast<long>(der.size()));
    unsigned char* spki = nullptr;
    const int length = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
    selected.assign(reinterpret_cast<char*>(spki), static_cast<std::size_t>(length));
    OPENSSL_free(spki);
    X509_free(cert);
  }
  if (matching != 0) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(selected.data(), selected.size(), digest, &length,
               matching == 1 ? EVP_sha256() : EVP_sha512(), nullptr);
    selected.assign(reinterpret_cast<char*>(digest), length);
  }
  return dns::TlsaRecord{usage, selector, matching, selected};
}

class DaneVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = issue_certificate("Test CA", {}, nullptr, true);
    intermediate_ = issue_certificate("Test Intermediate", {}, &ca_, true);
    leaf_ = issue_certificate("mx.example.org", {"mx.example.org"}, &intermediate_);
    other_ = issue_certificate("mx.example.org", {"mx.example.org"}, &intermediate_);
    ASSERT_FALSE(leaf_.der.empty());
  }

  IssuedCertificate ca_, intermediate_, leaf_, other_;
};

TEST_F(DaneVerify, DaneEeMatchesTheLeafInEveryForm) {
  const std::vector<std::string> chain{leaf_.der, intermediate_.der};
  for (std::uint8_t selector : {0, 1}) {
    for (std::uint8_t matching : {0, 1, 2}) {
      auto result = dane_verify(chain, {tlsa_for(leaf_.der, 3, selector, matching)}, {"x"});
      EXPECT_EQ(result.outcome, DaneOutcome::kMatched)
          << int(selector) << " " << int(matching) << " " << result.detail;
    }
  }
  // DANE-EE ignores names and dates (RFC 7672 §3.1.1).
  auto expired = issue_certificate("old", {"elsewhere.example"}, nullptr, false, -7200, -3600);
  EXPECT_EQ(
      dane_verify({expired.der}, {tlsa_for(expired.der, 3, 1, 1)}, {"mx.example.org"}).outcome,
      DaneOutcome::kMatched);
}

TEST_F(DaneVerify, DaneEeMismatchIsNoMatch) {
  auto result = dane_verify({leaf_.der}, {tlsa_for(other_.der, 3, 1, 1)}, {"mx.example.org"});
  EXPECT_EQ(result.outcome, DaneOutcome::kNoMatch);
  // A record naming the intermediate as EE does not authenticate the leaf.
  EXPECT_EQ(dane_verify({leaf_.der, intermediate_.der}, {tlsa_for(intermediate_.der, 3, 0, 1)},
                        {"mx.example.org"})
                .outcome,
            DaneOutcome::kNoMatch);
  EXPECT_EQ(dane_verify({}, {tlsa_for(leaf_.der, 3, 1, 1)}, {"x"}).outcome,
            DaneOutcome::kNoCertificate);
}

TEST_F(DaneVerify, PkixUsagesAreNotUsableForSmtp) {
  // RFC 7672 §3.1.3: 0 and 1 are ignored even when they match.
  EXPECT_FALSE(tlsa_usable(tlsa_for(leaf_.der, 1, 1, 1)));
  EXPECT_FALSE(tlsa_usable(tlsa_for(ca_.der, 0, 1, 1)));
  EXPECT_FALSE(tlsa_usable(dns::TlsaRecord{3, 2, 1, "x"}));
  EXPECT_FALSE(tlsa_usable(dns::TlsaRecord{3, 1, 3, "x"}));
  EXPECT_TRUE(tlsa_usable(dns::TlsaRecord{2, 0, 0, "x"}));
  EXPECT_EQ(dane_verify({leaf_.der}, {tlsa_for(leaf_.der, 1, 1, 1)}, {"mx.example.org"}).outcome,
            DaneOutcome::kNoMatch);
}

TEST_F(DaneVerify, DaneTaChecksChainAndName) {
  const std::vector<std::string> chain{leaf_.der, intermediate_.der};
  // The intermediate as trust anchor (it is in the chain, §3.1.2).
  for (std::uint8_t selector : {0, 1}) {
    auto ok = dane_verify(chain, {tlsa_for(intermediate_.der, 2, selector, 1)},
                          {"mx.example.org", "example.org"});
    EXPECT_EQ(ok.outcome, DaneOutcome::kMatched) << ok.detail;
  }
  // The destination domain is a reference name too (§3.2.2).
  auto named_by_domain = issue_certificate("example.org", {"example.org"}, &intermediate_);
  EXPECT_EQ(dane_verify({named_by_domain.der, intermediate_.der},
                        {tlsa_for(intermediate_.der, 2, 1, 1)}, {"mx.example.org", "example.org"})
                .outcome,
            DaneOutcome::kMatched);
  // Wrong name.
  auto wrong = dane_verify(chain, {tlsa_for(intermediate_.der, 2, 1, 1)},
                           {"mail.example.net", "example.net"});
  EXPECT_EQ(wrong.outcome, DaneOutcome::kNameMismatch) << wrong.detail;
  // A trust anchor the chain does not contain: no match.
  EXPECT_EQ(
      dane_verify({leaf_.der}, {tlsa_for(intermediate_.der, 2, 1, 1)}, {"mx.example.org"}).outcome,
      DaneOutcome::kNoMatch);
  // A leaf not issued by the matched anchor: chain verification fails.
  auto stranger = issue_certificate("mx.example.org", {"mx.example.org"}, &ca_);
  EXPECT_NE(dane_verify({stranger.der, intermediate_.der}, {tlsa_for(intermediate_.der, 2, 1, 1)},
                        {"mx.example.org"})
                .outcome,
            DaneOutcome::kMatched);
  // Expired leaf under DANE-TA.
  auto expired =
      issue_certificate("mx.example.org", {"mx.example.org"}, &intermediate_, false, -7200, -3600);
  EXPECT_EQ(dane_verify({expired.der, intermediate_.der}, {tlsa_for(intermediate_.der, 2, 0, 2)},
                        {"mx.example.org"})
                .outcome,
            DaneOutcome::kExpired);
}

TEST(HttpResponse, ContentLengthChunkedAndEof) {
  auto plain = parse_http_response(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", false, 64);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->complete);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->content_type, "text/plain");
  EXPECT_EQ(plain->body, "hello");
  auto partial = parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false, 64);
  ASSERT_TRUE(partial);
  EXPECT_FALSE(partial->complete);
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true, 64));
  auto chunked = parse_http_response(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
      false, 64);
  ASSERT_TRUE(chunked);
  EXPECT_TRUE(chunked->complete);
  EXPECT_EQ(chunked->body, "abcde");
  auto until_eof = parse_http_response("HTTP/1.0 404 Not Found\r\n\r\nnope", true, 64);
  ASSERT_TRUE(until_eof);
  EXPECT_EQ(until_eof->status, 404);
  EXPECT_EQ(until_eof->body, "nope");
}

TEST(HttpResponse, LimitsAndMalformedInput) {
  auto big = parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", false, 64);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kLimitExceeded);
  auto big_chunk = parse_http_response(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfff\r\n", false, 64);
  ASSERT_FALSE(big_chunk);
  EXPECT_EQ(big_chunk.error().code, ErrorCode::kLimitExceeded);
  EXPECT_FALSE(parse_http_response(std::string(20000, 'a'), false, 64));
  EXPECT_FALSE(parse_http_response("SMTP 220 hi\r\n\r\n", false, 64));
  EXPECT_FALSE(parse_http_response("HTTP/1.1 2x0 OK\r\n\r\n", true, 64));
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", true, 64));
  EXPECT_FALSE(parse_http_response(
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", true, 64));
  EXPECT_FALSE(
      parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", true, 64));
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                   false, 64));
}

// Every split of a response gives the same result once the last byte is in.
TEST(HttpResponse, SplitAtEveryOffset) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nab\r\n\r\n3\r\ncde\r\n0\r\n\r\n";
  for (std::size_t cut = 0; cut < response.size(); ++cut) {
    auto head = parse_http_response(response.substr(0, cut), false, 64);
    ASSERT_TRUE(head) << cut;
    EXPECT_FALSE(head->complete) << cut;
  }
  auto whole = parse_http_response(response, false, 64);
  ASSERT_TRUE(whole);
  EXPECT_TRUE(whole->complete);
  EXPECT_EQ(whole->body, "ab\r\ncde");
}

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

// A one-shot HTTPS server on 127.0.0.1: reads one request (head and
// Content-Length body) and answers `response`; `received` holds what came.
struct OneShotServer {
  OneShotServer(asio::io_context& io, const std::string& cert_file, const std::string& key_file,
                std::string response_text)
      : acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        tls(asio::ssl::context::tls_server),
        response(std::move(response_text)) {
    tls.use_certificate_chain_file(cert_file);
    tls.use_private_key_file(key_file, asio::ssl::context::pem);
    asio::co_spawn(io, serve(), [this](std::exception_ptr) { finished.set_value(); });
  }

  // The server coroutine uses this object: wait for it before destruction.
  ~OneShotServer() {
    // Closed on the I/O thread (the acceptor is not thread-safe), and waited for,
    // so nothing posted here outlives the object.
    std::promise<void> closed;
    asio::post(acceptor.get_executor(), [this, &closed] {
      acceptor.close();
      closed.set_value();
    });
    closed.get_future().wait();
    finished.get_future().wait();
  }

  asio::awaitable<void> serve() {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      co_return;
    }
    asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), tls);
    auto [handshake] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (handshake) {
      co_return;  // the client refused our certificate
    }
    std::array<char, 4096> buffer{};
    for (;;) {
      auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(buffer), kUseTuple);
      received.append(buffer.data(), n);
      const auto end = received.find("\r\n\r\n");
      const auto length = received.find("Content-Length: ");
      if (read_ec || (end != std::string::npos && length != std::string::npos &&
                      received.size() >= end + 4 + std::stoul(received.substr(length + 16)))) {
        break;
      }
    }
    (void)co_await asio::async_write(stream, asio::buffer(response), kUseTuple);
    (void)co_await stream.async_shutdown(kUseTuple);
  }

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  asio::ip::tcp::acceptor acceptor;
  asio::ssl::context tls;
  std::string response;
  std::string received;
  std::promise<void> finished;
};

class HttpsPost : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = issue_certificate("test CA", {}, nullptr, true);
    ca_file_ = dir_.path() + "/ca.pem";
    testing::write_text_file(ca_file_, ca_.cert_pem);
    resolver_.add_a("reports.example", "127.0.0.1");
    io_.start();
  }

  // Writes a leaf certificate for `names` issued by the CA (or self-signed).
  std::pair<std::string, std::string> leaf(const std::vector<std::string>& names, bool by_ca) {
    auto cert = issue_certificate(names[0], names, by_ca ? &ca_ : nullptr);
    const auto stem = dir_.path() + "/" + names[0] + (by_ca ? "" : "-self");
    testing::write_text_file(stem + ".crt", cert.cert_pem);
    testing::write_text_file(stem + ".key", cert.key_pem);
    return {stem + ".crt", stem + ".key"};
  }

  HttpsRequest request(std::uint16_t port) const {
    HttpsRequest r;
    r.host = "reports.example";
    r.port = port;
    r.path = "/v1/tlsrpt?x=1";
    r.ca_file = ca_file_;
    r.timeout = std::chrono::seconds(10);
    r.content_type = "application/tlsrpt+gzip";
    r.body = std::string("\x1f\x8b\0binary\r\n\r\nbody\0", 18);
    return r;
  }

  testing::TempDir dir_;
  IssuedCertificate ca_;
  std::string ca_file_;
  dns::FakeResolver resolver_;
  IoThreads io_{1};
};

TEST_F(HttpsPost, SendsTheBodyAndReturnsTheStatus) {
  const auto [cert, key] = leaf({"reports.example"}, true);
  OneShotServer server(io_.context(), cert, key,
                       "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok");
  auto result = testing::run_for(io_.context(), https_post(resolver_, request(server.port()), {}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->failure, HttpsResult::Failure::kNone) << result->error;
  EXPECT_EQ(result->status, 202);
  EXPECT_EQ(result->body, "ok");
  const auto body = request(server.port()).body;
  EXPECT_EQ(server.received, "POST /v1/tlsrpt?x=1 HTTP/1.1\r\nHost: reports.example:" +
                                 std::to_string(server.port()) +
                                 "\r\nContent-Type: application/tlsrpt+gzip\r\n"
                                 "Content-Length: 18\r\nConnection: close\r\n"
                                 "User-Agent: tern\r\n\r\n" +
                                 body);
}

TEST_F(HttpsPost, NothingIsSentToAnUntrustedOrMisnamedCertificate) {
  for (const auto& [names, by_ca] : {std::pair{std::vector<std::string>{"reports.example"}, false},
                                     std::pair{std::vector<std::string>{"other.example"}, true}}) {
    const auto [cert, key] = leaf(names, by_ca);
    OneShotServer server(io_.context(), cert, key, "HTTP/1.1 200 OK\r\n\r\n");
    auto result =
        testing::run_for(io_.context(), https_post(resolver_, request(server.port()), {}));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->failure, HttpsResult::Failure::kCertificate) << names[0] << by_ca;
    EXPECT_NE(result->error.find("certificate of reports.example"), std::string::npos)
        << result->error;
    EXPECT_EQ(server.received, "");
  }
}

}  // namespace
}  // namespace tern::runtime
