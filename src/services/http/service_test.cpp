// SPDX-License-Identifier: Apache-2.0
// The HTTP service on a real listener (127.0.0.1, port 0), fetched with curl and
// with a raw client for keep-alive.
#include "services/http/service.hpp"

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "runtime/io.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/testing.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::services::http {
namespace {

using namespace std::chrono_literals;

// Runs curl with a hard time limit and returns what it printed (headers with -i).
std::string curl(const std::string& args) {
  std::string command = "curl -s -i --max-time 5 " + args + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return "<popen failed>";
  }
  std::string out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.append(buffer, n);
  }
  ::pclose(pipe);
  return out;
}

bool have_curl() {
  return std::system("curl --version >/dev/null 2>&1") == 0;
}

class HttpServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { start(service_); }

  // Serves `service` on a listener at 127.0.0.1:<free port>, named "http".
  void start(Service& service) {
    io_.start();
    runtime::ListenerOptions options;
    options.name = "http";
    auto listener = runtime::Listener::bind(io_.context(), options, log::Logger(), &registry_);
    ASSERT_TRUE(listener) << listener.error().message;
    listener_ = std::move(*listener);
    listener_->start(service.handler());
    base_ = "http://127.0.0.1:" + std::to_string(listener_->port());
  }

  void TearDown() override {
    if (listener_) {
      runtime::testing::run_for(io_.context(), listener_->drain(1s));
    }
  }

  metrics::Registry registry_;
  runtime::SystemClock clock_;
  Service service_{Options{}, registry_, clock_, log::Logger()};
  runtime::IoThreads io_{2};
  std::unique_ptr<runtime::Listener> listener_;
  std::string base_;
};

TEST_F(HttpServiceTest, HealthzSaysOkWhileServing) {
  if (!have_curl()) {
    GTEST_SKIP() << "curl is not installed";
  }
  std::string out = curl(base_ + "/healthz");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nDate: "), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\nok\n")) << out;
}

TEST_F(HttpServiceTest, MetricsExposeConnectionCounters) {
  if (!have_curl()) {
    GTEST_SKIP() << "curl is not installed";
  }
  curl(base_ + "/healthz");
  std::string out = curl(base_ + "/metrics");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Type: text/plain; version=0.0.4\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE tern_connections_accepted_total counter\n"), std::string::npos);
  EXPECT_NE(out.find("tern_connections_accepted_total{listener=\"http\"} 2\n"), std::string::npos)
      << out;
  // 1 or 2: the first curl's connection may still be closing on the server.
  EXPECT_NE(out.find("tern_connections_open{listener=\"http\"} "), std::string::npos) << out;
  EXPECT_NE(out.find("tern_http_requests_total{code=\"200\"} 1\n"), std::string::npos) << out;
}

TEST_F(HttpServiceTest, UnknownPathsAre404AndWrongMethods405) {
  if (!have_curl()) {
    GTEST_SKIP() << "curl is not installed";
  }
  std::string missing = curl(base_ + "/nope");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << missing;
  std::string post = curl("-X POST -d x=1 " + base_ + "/metrics");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
}

TEST_F(HttpServiceTest, DrainingHealthzIs503AndClosesTheConnection) {
  if (!have_curl()) {
    GTEST_SKIP() << "curl is not installed";
  }
  service_.set_draining(true);
  std::string out = curl(base_ + "/healthz");
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
}

TEST_F(HttpServiceTest, ServesTwoRequestsOnOneConnection) {
  auto result = runtime::testing::run_for(
      io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
        auto client = co_await runtime::connect_tcp({asio::ip::make_address("127.0.0.1"), port}, 5s,
                                                    "client", log::Logger());
        if (!client) {
          co_return client.error().message;
        }
        std::string requests =
            "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        if (!co_await (*client)->write_all(requests, 5s)) {
          co_return "write failed";
        }
        std::string out;
        char buffer[1024];
        for (;;) {
          auto n = co_await (*client)->read_some(buffer, 5s);
          if (!n || *n == 0) {
            break;
          }
          out.append(buffer, *n);
        }
        co_return out;
      }(listener_->port()));
  ASSERT_TRUE(result);
  std::size_t first = result->find("HTTP/1.1 200 OK");
  ASSERT_NE(first, std::string::npos) << *result;
  EXPECT_NE(result->find("HTTP/1.1 200 OK", first + 1), std::string::npos) << *result;
  EXPECT_TRUE(result->ends_with("ok\n"));
}

TEST(HttpServiceRoute, IgnoresTheQueryString) {
  metrics::Registry registry;
  runtime::SystemClock clock;
  Service service(Options{}, registry, clock, log::Logger());
  tern::http::Request request;
  request.method = "HEAD";
  request.target = "/healthz?probe=1";
  EXPECT_EQ(service.route(request).status, 200);
}

// A service with an MTA-STS policy and example.org as the one local domain.
class MtaStsServiceTest : public HttpServiceTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(storage_.directory().add_domain("example.org").get());
    Options options;
    options.mta_sts = MtaStsPolicy{"enforce", {"mail.example.org", "*.example.net"}, 86400};
    options.directory = &storage_.directory();
    policy_service_ = std::make_unique<Service>(options, registry_, clock_, log::Logger());
    start(*policy_service_);
    url_ = base_ + "/.well-known/mta-sts.txt";
  }

  store::memory::MemoryStorage storage_;
  std::unique_ptr<Service> policy_service_;
  std::string url_;
};

TEST_F(MtaStsServiceTest, ServesThePolicyForALocalDomainOnly) {
  if (!have_curl()) {
    GTEST_SKIP() << "curl is not installed";
  }
  std::string out = curl("-H 'Host: MTA-STS.example.org:443' " + url_);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Type: text/plain\r\n"), std::string::npos) << out;
  EXPECT_TRUE(
      out.ends_with("\r\n\r\nversion: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\n"
                    "mx: *.example.net\r\nmax_age: 86400\r\n"))
      << out;
  std::string other = curl("-H 'Host: mta-sts.example.com' " + url_);
  EXPECT_EQ(other.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << other;
  std::string bare = curl("-H 'Host: example.org' " + url_);
  EXPECT_EQ(bare.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << bare;
  std::string post = curl("-X POST -d x=1 -H 'Host: mta-sts.example.org' " + url_);
  EXPECT_EQ(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << post;
}

TEST(HttpServiceRoute, NoPolicyWithoutALocalHost) {
  metrics::Registry registry;
  runtime::SystemClock clock;
  Options options;
  options.mta_sts = MtaStsPolicy{};
  Service service(options, registry, clock, log::Logger());
  tern::http::Request request;
  request.method = "GET";
  request.target = "/.well-known/mta-sts.txt";
  request.headers.add("Host", "mta-sts.example.org");
  // No directory: nothing is known to be local.
  EXPECT_FALSE(service.policy_domain(request));
  EXPECT_EQ(service.route(request).status, 404);
  EXPECT_EQ(service.route(request, true).status, 200);
}

TEST(MtaStsPolicy, RendersCrlfLinesWithoutRepeatedMx) {
  MtaStsPolicy policy{"testing", {"mx.example.org", "", "mx.example.org", "*.example.org"}, 604800};
  EXPECT_EQ(render_mta_sts_policy(policy),
            "version: STSv1\r\nmode: testing\r\nmx: mx.example.org\r\nmx: *.example.org\r\n"
            "max_age: 604800\r\n");
}

TEST(MtaStsPolicy, HostDomain) {
  EXPECT_EQ(mta_sts_host_domain("mta-sts.example.org"), "example.org");
  EXPECT_EQ(mta_sts_host_domain("MTA-STS.Example.ORG.:8443"), "example.org");
  EXPECT_FALSE(mta_sts_host_domain("example.org"));
  EXPECT_FALSE(mta_sts_host_domain("mta-sts."));
  EXPECT_FALSE(mta_sts_host_domain("mta-sts..org"));
  EXPECT_FALSE(mta_sts_host_domain("mta-sts.exa mple.org"));
  EXPECT_FALSE(mta_sts_host_domain("[::1]:443"));
  EXPECT_FALSE(mta_sts_host_domain(""));
}

TEST(HttpDate, IsAnImfFixdate) {
  EXPECT_EQ(format_http_date(from_unix_seconds(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");
}

}  // namespace
}  // namespace tern::services::http
