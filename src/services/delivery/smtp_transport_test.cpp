// SPDX-License-Identifier: Apache-2.0
// SmtpTransport against scripted SMTP/LMTP servers on loopback addresses
// (127.0.0.x), with DNS answers from dns::FakeResolver.
#include "services/delivery/smtp_transport.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "runtime/system_clock.hpp"
#include "sasl/base64.hpp"
#include "services/delivery/test_tcp_server.hpp"

namespace tern::services::delivery {
namespace {

using domain::DeliveryStatus;

// A small line-based SMTP/LMTP server: one thread per connection, replies chosen
// by the test. Records what it received.
class FakeServer {
 public:
  struct Script {
    bool lmtp = false;
    std::string greeting = "220 fake ESMTP";
    std::string capabilities = "250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 DSN";
    std::map<std::string, std::string> rcpt_replies;  // address → reply; default 250
    std::string data_reply = "250 2.0.0 queued";
    std::string expect_auth;             // the base64 PLAIN response required, "" = no AUTH
    bool hang_up_after_message = false;  // close without 221 once a message is in
  };

  FakeServer(const std::string& ip, std::uint16_t port, Script script)
      : script_(std::move(script)),
        server_(ip, port, [this](asio::ip::tcp::socket socket) { serve(std::move(socket)); }) {}

  std::uint16_t port() const { return server_.port(); }

  std::size_t connections() const { return server_.connections(); }

  std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

  std::string transcript() const {
    std::lock_guard lock(mutex_);
    return transcript_;
  }

 private:
  void serve(asio::ip::tcp::socket socket) {
    asio::error_code ec;
    auto send = [&](const std::string& text) {
      asio::write(socket, asio::buffer(text + "\r\n"), ec);
    };
    std::string buffer;
    auto read_line = [&](std::string& line) {
      for (;;) {
        auto end = buffer.find("\r\n");
        if (end != std::string::npos) {
          line = buffer.substr(0, end);
          buffer.erase(0, end + 2);
          return true;
        }
        char chunk[4096];
        std::size_t n = socket.read_some(asio::buffer(chunk), ec);
        if (ec || n == 0) {
          return false;
        }
        buffer.append(chunk, n);
      }
    };
    send(script_.greeting);
    if (!script_.greeting.starts_with("220")) {
      return;
    }
    std::string line;
    std::size_t accepted = 0;
    while (read_line(line)) {
      {
        std::lock_guard lock(mutex_);
        transcript_ += line + "\n";
      }
      const std::string verb = line.substr(0, 4);
      if (verb == "EHLO" || verb == "LHLO") {
        send(script_.capabilities);
      } else if (verb == "AUTH") {
        send(line == "AUTH PLAIN " + script_.expect_auth ? "235 2.7.0 ok" : "535 5.7.8 no");
      } else if (verb == "MAIL") {
        accepted = 0;
        send("250 2.1.0 ok");
      } else if (verb == "RCPT") {
        const auto open = line.find('<');
        const std::string address = line.substr(open + 1, line.find('>') - open - 1);
        auto it = script_.rcpt_replies.find(address);
        const std::string reply = it == script_.rcpt_replies.end() ? "250 2.1.5 ok" : it->second;
        accepted += reply.starts_with("2") ? 1 : 0;
        send(reply);
      } else if (verb == "DATA") {
        send("354 go ahead");
        std::string content;
        while (read_line(line) && line != ".") {
          // RFC 5321 §4.5.2: remove the stuffed dot.
          content += (line.starts_with(".") ? line.substr(1) : line) + "\r\n";
        }
        {
          std::lock_guard lock(mutex_);
          messages_.push_back(content);
        }
        for (std::size_t i = 0; i < (script_.lmtp ? accepted : 1); ++i) {
          send(script_.data_reply);
        }
        if (script_.hang_up_after_message) {
          return;
        }
      } else if (verb == "RSET" || verb == "NOOP") {
        send("250 2.0.0 ok");
      } else if (verb == "QUIT") {
        send("221 2.0.0 bye");
        return;
      } else {
        send("502 5.5.2 unknown");
      }
    }
  }

  Script script_;
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
  std::string transcript_;
  testing::TestTcpServer server_;  // last: its threads stop before the members above go
};

class SmtpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (transport_) {
      transport_->close_idle();
    }
    work_.reset();
    thread_.join();
  }

  // Starts a server on 127.0.0.`host` at the shared MX port.
  FakeServer& server(int host, FakeServer::Script script = {}) {
    servers_.push_back(
        std::make_unique<FakeServer>("127.0.0." + std::to_string(host), port_, std::move(script)));
    port_ = servers_.back()->port();
    return *servers_.back();
  }

  SmtpTransport& transport(std::vector<config::TransportSettings> routes = {}) {
    TransportOptions options;
    options.outbound.mx_port = port_;
    options.outbound.tls = config::OutboundTls::kMay;
    options.outbound.connect_timeout = std::chrono::seconds(5);
    options.outbound.command_timeout = std::chrono::seconds(5);
    options.routes = std::move(routes);
    options.helo_name = "client.test";
    auto created = SmtpTransport::create(io_, resolver_, random_, options, {});
    EXPECT_TRUE(created) << created.error().message;
    transport_ = *created;
    return *transport_;
  }

  domain::DeliveryReport deliver(std::string destination, std::vector<std::string> recipients,
                                 bool requiretls = false) {
    domain::DeliveryRequest request;
    request.destination = std::move(destination);
    request.requiretls = requiretls;
    request.sender = "alice@origin.test";
    request.raw = "Subject: test\r\n\r\nhello\r\n.dot\r\n";
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      request.recipients.push_back({i + 10, recipients[i], "", ""});
    }
    auto result = transport_->deliver(std::move(request)).get();
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : domain::DeliveryReport{};
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  dns::FakeResolver resolver_;
  runtime::SystemRandom random_;
  std::uint16_t port_ = 0;
  std::vector<std::unique_ptr<FakeServer>> servers_;
  std::shared_ptr<SmtpTransport> transport_;
};

TEST_F(SmtpTransportTest, DeliversToTheBestMxAndReusesTheSession) {
  FakeServer& mx1 = server(2);
  FakeServer& mx2 = server(3);
  resolver_.add_mx("example.test", 20, "mx2.example.test");
  resolver_.add_mx("example.test", 10, "mx1.example.test");
  resolver_.add_a("mx1.example.test", "127.0.0.2");
  resolver_.add_a("mx2.example.test", "127.0.0.3");
  transport();
  for (int i = 0; i < 3; ++i) {
    auto report = deliver("example.test", {"bob@example.test", "carol@example.test"});
    ASSERT_EQ(report.recipients.size(), 2U);
    for (const auto& r : report.recipients) {
      EXPECT_EQ(r.status, DeliveryStatus::kDelivered) << r.reply;
      EXPECT_EQ(r.remote_host, "mx1.example.test[127.0.0.2]");
      EXPECT_TRUE(r.dsn_passed_on);  // the fake announces DSN: it owes the notices
    }
    EXPECT_EQ(report.recipients[1].index, 11U);
  }
  EXPECT_EQ(mx1.messages().size(), 3U);
  EXPECT_EQ(mx1.messages()[0], "Subject: test\r\n\r\nhello\r\n.dot\r\n");  // unstuffed again
  EXPECT_EQ(mx1.connections(), 1U);
  EXPECT_EQ(transport_->connections_opened_for_test(), 1U);
  EXPECT_EQ(mx2.connections(), 0U);
  EXPECT_NE(mx1.transcript().find("RSET"), std::string::npos);
}

TEST_F(SmtpTransportTest, FallsBackToTheNextMxWhenTheFirstIsDownOrRefuses) {
  FakeServer::Script busy;
  busy.greeting = "421 4.3.2 busy";
  server(3, busy);
  FakeServer& mx3 = server(4);
  resolver_.add_mx("example.test", 10, "down.example.test");
  resolver_.add_mx("example.test", 20, "busy.example.test");
  resolver_.add_mx("example.test", 30, "mx3.example.test");
  resolver_.add_a("down.example.test", "127.0.0.9");  // nothing listens there
  resolver_.add_a("busy.example.test", "127.0.0.3");
  resolver_.add_a("mx3.example.test", "127.0.0.4");
  transport();
  auto report = deliver("example.test", {"bob@example.test"});
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered) << report.recipients[0].reply;
  EXPECT_EQ(report.recipients[0].remote_host, "mx3.example.test[127.0.0.4]");
  EXPECT_EQ(mx3.messages().size(), 1U);
}

TEST_F(SmtpTransportTest, TriesEveryAddressOfAHostIpv6FirstBeforeTheNextHost) {
  FakeServer& v4 = server(10);
  FakeServer& backup = server(11);
  resolver_.add_mx("dual.test", 10, "mx.dual.test");
  resolver_.add_mx("dual.test", 20, "backup.dual.test");
  resolver_.add_a("mx.dual.test", "::1");  // nothing listens on [::1] at this port
  resolver_.add_a("mx.dual.test", "127.0.0.10");
  resolver_.add_a("backup.dual.test", "127.0.0.11");
  transport();
  auto report = deliver("dual.test", {"bob@dual.test"});
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered) << report.recipients[0].reply;
  EXPECT_EQ(report.recipients[0].remote_host, "mx.dual.test[127.0.0.10]");
  EXPECT_EQ(v4.messages().size(), 1U);
  EXPECT_EQ(backup.connections(), 0U);
  EXPECT_EQ(resolver_.lookups_for_test("mx.dual.test", dns::RecordType::kAaaa), 1U);
}

TEST_F(SmtpTransportTest, DefersWhenNoHostAnswersAndSaysWhy) {
  resolver_.add_mx("example.test", 10, "down.example.test");
  resolver_.add_a("down.example.test", "127.0.0.9");
  port_ = 1;  // nothing listens on port 1
  transport();
  auto report = deliver("example.test", {"bob@example.test"});
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDeferred);
  EXPECT_EQ(report.recipients[0].enhanced_status, "4.4.1");
  EXPECT_NE(report.recipients[0].reply.find("connect to down.example.test[127.0.0.9]:1"),
            std::string::npos)
      << report.recipients[0].reply;
}

TEST_F(SmtpTransportTest, MapsDnsOutcomes) {
  resolver_.add_mx("null.test", 0, ".");
  resolver_.set("broken.test", dns::RecordType::kMx,
                dns::Answer::failure(dns::LookupStatus::kTemporary, "servfail"));
  resolver_.add_txt("noaddress.test", {"v=spf1 -all"});  // exists, no MX, no A
  transport();

  struct Case {
    const char* domain;
    DeliveryStatus status;
    const char* enhanced;
  };

  for (const Case& c : {Case{"null.test", DeliveryStatus::kFailed, "5.1.10"},
                        Case{"nowhere.test", DeliveryStatus::kFailed, "5.1.2"},
                        Case{"broken.test", DeliveryStatus::kDeferred, "4.4.3"},
                        Case{"noaddress.test", DeliveryStatus::kFailed, "5.4.4"}}) {
    auto report = deliver(c.domain, {std::string("x@") + c.domain});
    ASSERT_EQ(report.recipients.size(), 1U);
    EXPECT_EQ(report.recipients[0].status, c.status) << c.domain;
    EXPECT_EQ(report.recipients[0].enhanced_status, c.enhanced) << c.domain;
    EXPECT_EQ(report.recipients[0].index, 10U);
  }
}

// RFC 8689 §4.2.1: a REQUIRETLS message needs a DNSSEC-validated MX lookup and a
// verified TLS session with a server that announces REQUIRETLS.
TEST_F(SmtpTransportTest, RequireTlsRefusesAnMxLookupWithoutDnssec) {
  FakeServer& mx = server(2);
  resolver_.add_mx("example.test", 10, "mx1.example.test");
  resolver_.add_a("mx1.example.test", "127.0.0.2");
  transport();
  auto report = deliver("example.test", {"bob@example.test"}, true);
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kFailed);
  EXPECT_EQ(report.recipients[0].enhanced_status, "5.7.30");
  EXPECT_NE(report.recipients[0].reply.find("DNSSEC"), std::string::npos);
  EXPECT_EQ(mx.connections(), 0U);

  // The same message without REQUIRETLS goes through that MX.
  report = deliver("example.test", {"bob@example.test"});
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered);
}

TEST_F(SmtpTransportTest, RequireTlsNeverSendsWithoutTlsEvenWithASecureMx) {
  FakeServer& mx = server(2);  // no STARTTLS: policy "may" would send in plaintext
  resolver_.add_mx("example.test", 10, "mx1.example.test");
  resolver_.add_a("mx1.example.test", "127.0.0.2");
  resolver_.set_dnssec("example.test", dns::DnssecState::kSecure);
  transport();
  auto report = deliver("example.test", {"bob@example.test"}, true);
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_NE(report.recipients[0].status, DeliveryStatus::kDelivered) << report.recipients[0].reply;
  EXPECT_TRUE(mx.messages().empty());
  EXPECT_EQ(mx.transcript().find("MAIL FROM"), std::string::npos) << mx.transcript();
}

TEST_F(SmtpTransportTest, UsesTheImplicitMxAndReportsEachRecipient) {
  FakeServer::Script script;
  script.rcpt_replies["nobody@plain.test"] = "550 5.1.1 no such user";
  script.rcpt_replies["full@plain.test"] = "452 4.2.2 mailbox full";
  FakeServer& host = server(5, script);
  resolver_.add_a("plain.test", "127.0.0.5");  // no MX: RFC 5321 §5.1 implicit MX
  transport();
  auto report = deliver("plain.test", {"bob@plain.test", "nobody@plain.test", "full@plain.test"});
  ASSERT_EQ(report.recipients.size(), 3U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(report.recipients[1].status, DeliveryStatus::kFailed);
  EXPECT_EQ(report.recipients[1].enhanced_status, "5.1.1");
  EXPECT_EQ(report.recipients[1].reply, "550 5.1.1 no such user (in reply to RCPT TO command)");
  EXPECT_EQ(report.recipients[2].status, DeliveryStatus::kDeferred);
  EXPECT_EQ(report.recipients[2].enhanced_status, "4.2.2");
  EXPECT_EQ(host.messages().size(), 1U);
}

TEST_F(SmtpTransportTest, FollowsAnLmtpRoute) {
  FakeServer::Script script;
  script.lmtp = true;
  script.rcpt_replies["nobody@local.test"] = "550 5.1.1 unknown";
  FakeServer& lmtp = server(6, script);
  config::TransportSettings route;
  route.domain = "local.test";
  route.protocol = config::TransportSettings::Protocol::kLmtp;
  route.host = "127.0.0.6";
  route.port = lmtp.port();
  transport({route});
  auto report = deliver("local.test", {"a@local.test", "nobody@local.test", "b@local.test"});
  ASSERT_EQ(report.recipients.size(), 3U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered);
  EXPECT_EQ(report.recipients[1].status, DeliveryStatus::kFailed);
  EXPECT_EQ(report.recipients[2].status, DeliveryStatus::kDelivered);
  EXPECT_NE(lmtp.transcript().find("LHLO client.test"), std::string::npos);
  EXPECT_EQ(resolver_.total_lookups_for_test(), 0U);  // an IP route needs no DNS
}

TEST_F(SmtpTransportTest, RequireTlsEndsAtAnLmtpRoute) {
  // LMTP is the hand-off to the mailbox store (final delivery), like tern's own
  // local delivery: no STARTTLS or DNSSEC is demanded there, and the LMTP server
  // is not asked for REQUIRETLS.
  FakeServer::Script script;
  script.lmtp = true;
  FakeServer& lmtp = server(6, script);
  config::TransportSettings route;
  route.domain = "local.test";
  route.protocol = config::TransportSettings::Protocol::kLmtp;
  route.host = "127.0.0.6";
  route.port = lmtp.port();
  transport({route});
  auto report = deliver("local.test", {"a@local.test"}, true);
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered) << report.recipients[0].reply;
  EXPECT_EQ(lmtp.transcript().find("REQUIRETLS"), std::string::npos) << lmtp.transcript();
}

TEST_F(SmtpTransportTest, AuthenticatesToASmarthost) {
  FakeServer::Script script;
  script.capabilities = "250-relay\r\n250-PIPELINING\r\n250 AUTH PLAIN";
  script.expect_auth = sasl::base64_encode(std::string("\0relay\0s3cret", 13));
  FakeServer& relay = server(7, script);
  const auto dir =
      std::filesystem::temp_directory_path() / ("tern-delivery-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "pw") << "s3cret\n";
  config::TransportSettings route;
  route.domain = "far.test";
  route.host = "relay.test";
  route.port = relay.port();
  route.auth_user = "relay";
  route.auth_password_file = (dir / "pw").string();
  resolver_.add_a("relay.test", "127.0.0.7");
  transport({route});
  auto report = deliver("far.test", {"bob@far.test"});
  std::filesystem::remove_all(dir);
  ASSERT_EQ(report.recipients.size(), 1U);
  EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered) << report.recipients[0].reply;
  EXPECT_EQ(report.recipients[0].remote_host, "relay.test[127.0.0.7]");
  EXPECT_FALSE(report.recipients[0].dsn_passed_on);  // no DSN: we send "relayed"
  EXPECT_EQ(relay.messages().size(), 1U);
}

TEST_F(SmtpTransportTest, ReplacesACachedSessionThePeerClosed) {
  FakeServer::Script script;
  script.hang_up_after_message = true;
  FakeServer& mx = server(8, script);
  resolver_.add_a("hangup.test", "127.0.0.8");
  transport();
  for (int i = 0; i < 2; ++i) {
    auto report = deliver("hangup.test", {"bob@hangup.test"});
    ASSERT_EQ(report.recipients.size(), 1U);
    EXPECT_EQ(report.recipients[0].status, DeliveryStatus::kDelivered)
        << report.recipients[0].reply;
  }
  EXPECT_EQ(mx.messages().size(), 2U);
  EXPECT_EQ(mx.connections(), 2U);
}

TEST_F(SmtpTransportTest, RefusesAnUnreadablePasswordFile) {
  config::TransportSettings route;
  route.domain = "far.test";
  route.host = "relay.test";
  route.auth_user = "relay";
  route.auth_password_file = "/nonexistent/tern/pw";
  TransportOptions options;
  options.routes = {route};
  auto created = SmtpTransport::create(io_, resolver_, random_, options, {});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message.find("/nonexistent/tern/pw"), std::string::npos);
}

}  // namespace
}  // namespace tern::services::delivery
