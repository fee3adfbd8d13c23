// SPDX-License-Identifier: Apache-2.0
// SmtpTransport with the real resolver against real peers. Runs only when
// tests/integration/test_outbound_transport.py sets the environment (Knot, a
// second ternd, Postfix smtp-sink); otherwise it skips.
//   TERN_TEST_DELIVERY_CONFIG   a tern.toml with [server], [dns], [outbound], [[transport]]
//   TERN_TEST_DESTINATION       the destination domain
//   TERN_TEST_RECIPIENTS        comma-separated addresses
//   TERN_TEST_MESSAGES          how many messages (default 1), delivered in sequence
//   TERN_TEST_STS_CACHE_DIR     the MTA-STS policy cache directory (default: memory)
// Prints one "OUTCOME <message> <index> <status> <enhanced> <remote> | <reply>" line per
// recipient, one "TLSRPT <policy-type> <result> <mx or -> | <detail>" line per TLS
// attempt the transport reported, and "CONNECTIONS <n>", for the Python side to check.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "config/config_file.hpp"
#include "runtime/dns_resolver.hpp"
#include "runtime/system_clock.hpp"
#include "services/delivery/smtp_transport.hpp"

namespace tern::services::delivery {
namespace {

std::string env(const char* name, const char* fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

const char* status_name(domain::DeliveryStatus status) {
  switch (status) {
    case domain::DeliveryStatus::kDelivered:
      return "delivered";
    case domain::DeliveryStatus::kDeferred:
      return "deferred";
    case domain::DeliveryStatus::kFailed:
      return "failed";
  }
  return "?";
}

TEST(LiveDelivery, DeliversAsTheEnvironmentSays) {
  const std::string text = env("TERN_TEST_DELIVERY_CONFIG");
  if (text.empty()) {
    GTEST_SKIP() << "TERN_TEST_DELIVERY_CONFIG not set (run by "
                    "tests/integration/test_outbound_transport.py)";
  }
  auto settings = config::parse_config(text, "live.toml", "/");
  ASSERT_TRUE(settings) << settings.error().message;
  runtime::DnsResolverOptions dns_options;
  dns_options.servers = settings->dns.servers;
  dns_options.trust_anchor_file = settings->dns.trust_anchor_file;
  dns_options.query_timeout = settings->dns.timeout;
  // The context outlives the resolver, whose thread completes the lookups the
  // transport's coroutines await on it.
  asio::io_context io;
  auto resolver = runtime::UnboundResolver::create(dns_options);
  ASSERT_TRUE(resolver) << resolver.error().message;

  auto work = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  runtime::SystemRandom random;
  TransportOptions options;
  options.outbound = settings->outbound;
  options.routes = settings->transports;
  options.helo_name = settings->outbound.helo_name.empty() ? settings->server.hostname
                                                           : settings->outbound.helo_name;
  options.sts_cache_dir = env("TERN_TEST_STS_CACHE_DIR");
  options.tls_reporter = [](TlsAttempt attempt) {
    std::printf("TLSRPT %s %s %s | %s\n", attempt.policy_type.c_str(), attempt.result.c_str(),
                attempt.receiving_mx_hostname.empty() ? "-" : attempt.receiving_mx_hostname.c_str(),
                attempt.failure_reason_code.c_str());
  };
  auto transport = SmtpTransport::create(io, **resolver, random, options, {});
  ASSERT_TRUE(transport) << transport.error().message;

  std::vector<std::string> recipients;
  std::string list = env("TERN_TEST_RECIPIENTS");
  for (std::size_t pos = 0; pos <= list.size();) {
    const auto comma = std::min(list.find(',', pos), list.size());
    if (comma > pos) {
      recipients.push_back(list.substr(pos, comma - pos));
    }
    pos = comma + 1;
  }
  const int messages = std::atoi(env("TERN_TEST_MESSAGES", "1").c_str());
  for (int m = 0; m < messages; ++m) {
    domain::DeliveryRequest request;
    request.queue_id = static_cast<domain::QueueId>(m + 1);
    request.destination = env("TERN_TEST_DESTINATION");
    request.sender = env("TERN_TEST_SENDER", "sender@origin.test");
    request.raw = "From: <" + request.sender + ">\r\nTo: <" + recipients.at(0) +
                  ">\r\nSubject: tern live " + std::to_string(m) + "\r\nMessage-ID: <live" +
                  std::to_string(m) +
                  "@origin.test>\r\n\r\nHello from the outbound transport.\r\n.leading dot\r\n";
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      request.recipients.push_back({i, recipients[i], "", ""});
    }
    auto report = (*transport)->deliver(std::move(request)).get();
    ASSERT_TRUE(report) << report.error().message;
    for (const auto& r : report->recipients) {
      std::printf("OUTCOME %d %zu %s %s %s | %s\n", m, r.index, status_name(r.status),
                  r.enhanced_status.c_str(), r.remote_host.empty() ? "-" : r.remote_host.c_str(),
                  r.reply.c_str());
    }
  }
  std::printf("CONNECTIONS %zu\n", (*transport)->connections_opened_for_test());
  std::fflush(stdout);
  (*transport)->close_idle();
  work.reset();
  thread.join();
}

}  // namespace
}  // namespace tern::services::delivery
