// SPDX-License-Identifier: Apache-2.0
// Transport security end to end inside one process: SmtpTransport against a
// STARTTLS-capable scripted MX on 127.0.0.x, DNS (with DNSSEC states) from
// dns::FakeResolver, certificates made in the test, MTA-STS policies seeded in the
// policy cache directory. Plus the pure verdicts of judge_tls().
#include "services/delivery/transport_security.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <asio/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "dns/fake_resolver.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/testing.hpp"
#include "services/delivery/smtp_transport.hpp"
#include "services/delivery/test_tcp_server.hpp"
#include "store/memory/memory_reports.hpp"

namespace tern::services::delivery {
namespace {

using domain::DeliveryStatus;
using runtime::testing::issue_certificate;
using runtime::testing::IssuedCertificate;

// An SMTP server that offers STARTTLS (or not) with a given certificate chain.
class TlsMx {
 public:
  struct Script {
    bool starttls = true;
    std::string chain_pem;  // leaf first
    std::string key_pem;
  };

  TlsMx(const std::string& ip, std::uint16_t port, Script script)
      : script_(std::move(script)),
        server_(ip, port, [this](asio::ip::tcp::socket socket) { serve(std::move(socket)); }) {}

  std::uint16_t port() const { return server_.port(); }

  std::size_t connections() const { return server_.connections(); }

  std::size_t messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

  std::size_t tls_messages() const {
    std::lock_guard lock(mutex_);
    return tls_messages_;
  }

 private:
  void serve(asio::ip::tcp::socket socket) {
    asio::error_code ec;
    asio::ssl::context context(asio::ssl::context::tls_server);
    if (script_.starttls) {
      context.use_certificate_chain(asio::buffer(script_.chain_pem), ec);
      context.use_private_key(asio::buffer(script_.key_pem), asio::ssl::context::pem, ec);
    }
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls;
    auto send = [&](const std::string& text) {
      const std::string line = text + "\r\n";
      if (tls) {
        asio::write(*tls, asio::buffer(line), ec);
      } else {
        asio::write(socket, asio::buffer(line), ec);
      }
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
        std::size_t n = tls ? tls->read_some(asio::buffer(chunk), ec)
                            : socket.read_some(asio::buffer(chunk), ec);
        if (ec || n == 0) {
          return false;
        }
        buffer.append(chunk, n);
      }
    };
    send("220 tls-mx ESMTP");
    std::string line;
    while (read_line(line)) {
      const std::string verb = line.substr(0, 4);
      if (verb == "EHLO") {
        // RFC 8689 §2: REQUIRETLS is offered over TLS only.
        send(std::string("250-tls-mx\r\n") + (script_.starttls && !tls ? "250-STARTTLS\r\n" : "") +
             (tls ? "250-REQUIRETLS\r\n" : "") + "250 8BITMIME");
      } else if (verb == "STAR") {
        send("220 2.0.0 go ahead");
        tls = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket, context);
        tls->handshake(asio::ssl::stream_base::server, ec);
        buffer.clear();
        if (ec) {
          return;
        }
      } else if (verb == "DATA") {
        send("354 go ahead");
        while (read_line(line) && line != ".") {
        }
        {
          std::lock_guard lock(mutex_);
          ++messages_;
          tls_messages_ += tls ? 1 : 0;
        }
        send("250 2.0.0 queued");
      } else if (verb == "QUIT") {
        send("221 2.0.0 bye");
        return;
      } else {
        send("250 2.0.0 ok");
      }
    }
  }

  Script script_;
  mutable std::mutex mutex_;
  std::size_t messages_ = 0;
  std::size_t tls_messages_ = 0;
  testing::TestTcpServer server_;  // last: its threads stop before the members above go
};

dns::TlsaRecord tlsa_3_1_1(const std::string& der) {
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &in, static_cast<long>(der.size()));
  unsigned char* spki = nullptr;
  const int length = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  EVP_Digest(spki, static_cast<std::size_t>(length), digest, &digest_length, EVP_sha256(), nullptr);
  OPENSSL_free(spki);
  X509_free(cert);
  return dns::TlsaRecord{3, 1, 1, std::string(reinterpret_cast<char*>(digest), digest_length)};
}

// The fixture's FakeResolver, but with chosen (name, type) questions answered
// otherwise: the zone cannot express "the address answer came through a CNAME
// whose own lookup then fails".
class OverridingResolver final : public dns::Resolver {
 public:
  explicit OverridingResolver(dns::Resolver& inner) : inner_(inner) {}

  void override_answer(const std::string& name, dns::RecordType type, dns::Answer answer) {
    std::lock_guard lock(mutex_);
    overrides_[{name, type}] = std::move(answer);
  }

  Future<dns::Answer> lookup(std::string name, dns::RecordType type) override {
    {
      std::lock_guard lock(mutex_);
      if (auto it = overrides_.find({name, type}); it != overrides_.end()) {
        return make_ready_future(it->second);
      }
    }
    return inner_.lookup(std::move(name), type);
  }

 private:
  dns::Resolver& inner_;
  std::mutex mutex_;
  std::map<std::pair<std::string, dns::RecordType>, dns::Answer> overrides_;
};

// DANE-TA(2), full certificate, SHA-256 (RFC 6698 §2.1): pins a CA.
dns::TlsaRecord tlsa_2_0_1(const std::string& der) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  EVP_Digest(der.data(), der.size(), digest, &digest_length, EVP_sha256(), nullptr);
  return dns::TlsaRecord{2, 0, 1, std::string(reinterpret_cast<char*>(digest), digest_length)};
}

class TransportSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = issue_certificate("Test CA", {}, nullptr, true);
    good_ = issue_certificate("mx.example.org", {"mx.example.org"}, &ca_);
    wrong_name_ = issue_certificate("other.example.net", {"other.example.net"}, &ca_);
    ca_file_ = dir_.path() + "/ca.pem";
    runtime::testing::write_text_file(ca_file_, ca_.cert_pem);
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
    resolver_.add_mx("example.org", 10, "mx.example.org");
    resolver_.add_a("mx.example.org", "127.0.0.7");
  }

  void TearDown() override {
    if (transport_) {
      transport_->close_idle();
    }
    // The transport outlives the io thread: QUIT coroutines still use it.
    work_.reset();
    thread_.join();
  }

  TlsMx& mx(bool starttls, const IssuedCertificate& cert) {
    mx_ = std::make_unique<TlsMx>(
        "127.0.0.7", 0, TlsMx::Script{starttls, cert.cert_pem + ca_.cert_pem, cert.key_pem});
    return *mx_;
  }

  // A cached MTA-STS policy for example.org, with the matching TXT record.
  void sts_policy(const std::string& mode, const std::string& mx_pattern) {
    resolver_.add_txt("_mta-sts.example.org", {"v=STSv1; id=pol1"});
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::filesystem::create_directories(dir_.path() + "/mta-sts");
    runtime::testing::write_text_file(dir_.path() + "/mta-sts/example.org",
                                      "id pol1\nfetched " + std::to_string(now) +
                                          "\n\nversion: STSv1\r\nmode: " + mode +
                                          "\r\nmx: " + mx_pattern + "\r\nmax_age: 86400\r\n");
  }

  std::string tlsa_owner() const {
    return "_" + std::to_string(mx_->port()) + "._tcp.mx.example.org";
  }

  // DNSSEC-secure MX and address answers.
  void secure_zone() {
    resolver_.set_dnssec("example.org", dns::DnssecState::kSecure);
    resolver_.set_dnssec("mx.example.org", dns::DnssecState::kSecure);
  }

  std::string tlsa_owner(const std::string& base) const {
    return "_" + std::to_string(mx_->port()) + "._tcp." + base;
  }

  // example.org's MX is alias.example.org, a CNAME for mx.example.org (RFC 7672
  // §2.2.2); the MX answer and the alias are DNSSEC-`alias` (the CNAME link),
  // mx.example.org's address is DNSSEC-`target`.
  void alias_mx(dns::DnssecState alias, dns::DnssecState target) {
    dns::Answer mx;
    mx.status = dns::LookupStatus::kOk;
    mx.mx = {dns::MxRecord{10, "alias.example.org"}};
    resolver_.set("example.org", dns::RecordType::kMx, mx);
    resolver_.set_dnssec("example.org", dns::DnssecState::kSecure);
    resolver_.add_cname("alias.example.org", "mx.example.org");
    resolver_.set_dnssec("alias.example.org", alias);
    resolver_.set_dnssec("mx.example.org", target);
  }

  // A TLSA record at _<port>._tcp.<base>, DNSSEC-secure.
  void secure_tlsa(const std::string& base, dns::TlsaRecord record) {
    resolver_.add_tlsa(tlsa_owner(base), std::move(record));
    resolver_.set_dnssec(tlsa_owner(base), dns::DnssecState::kSecure);
  }

  void make_transport(const std::function<void(TransportOptions&)>& tweak = {}) {
    TransportOptions options;
    options.outbound.mx_port = mx_->port();
    options.outbound.tls = config::OutboundTls::kMay;
    options.outbound.ca_file = ca_file_;
    options.outbound.connect_timeout = std::chrono::seconds(5);
    options.outbound.command_timeout = std::chrono::seconds(5);
    options.outbound.connection_idle = std::chrono::seconds(0);
    options.helo_name = "client.test";
    options.sts_cache_dir = dir_.path() + "/mta-sts";
    options.tls_reporter = [this](TlsAttempt attempt) {
      std::lock_guard lock(mutex_);
      attempts_.push_back(std::move(attempt));
    };
    if (tweak) {
      tweak(options);
    }
    auto created = SmtpTransport::create(io_, overriding_, random_, options, {});
    ASSERT_TRUE(created) << created.error().message;
    if (transport_) {
      retired_.push_back(transport_);  // kept until the io thread has stopped
    }
    transport_ = *created;
  }

  domain::RecipientOutcome deliver(bool requiretls = false) {
    domain::DeliveryRequest request;
    request.requiretls = requiretls;
    request.destination = "example.org";
    request.sender = "alice@origin.test";
    request.raw = "Subject: test\r\n\r\nhello\r\n";
    request.recipients.push_back({0, "bob@example.org", "", ""});
    auto result = transport_->deliver(std::move(request)).get();
    EXPECT_TRUE(result) << result.error().message;
    if (!result || result->recipients.size() != 1) {
      return {};
    }
    return result->recipients.front();
  }

  std::vector<TlsAttempt> attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }

  // The one attempt reported so far (a failure, and an empty one, otherwise).
  TlsAttempt only_attempt() {
    auto seen = attempts();
    EXPECT_EQ(seen.size(), 1U);
    if (seen.size() == 1) {
      return seen.front();
    }
    TlsAttempt none;
    none.result = "(none or several)";
    return none;
  }

  runtime::testing::TempDir dir_;
  IssuedCertificate ca_, good_, wrong_name_;
  std::string ca_file_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  dns::FakeResolver resolver_;
  OverridingResolver overriding_{resolver_};
  runtime::SystemRandom random_;
  std::unique_ptr<TlsMx> mx_;
  std::shared_ptr<SmtpTransport> transport_;
  std::vector<std::shared_ptr<SmtpTransport>> retired_;
  std::mutex mutex_;
  std::vector<TlsAttempt> attempts_;
};

TEST_F(TransportSecurityTest, WithoutPolicyDeliversOpportunisticallyAndReports) {
  TlsMx& server = mx(true, wrong_name_);
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "no-policy-found");
  EXPECT_EQ(seen.result, "success");
  EXPECT_EQ(seen.receiving_mx_hostname, "mx.example.org");
  EXPECT_EQ(seen.receiving_ip, "127.0.0.7");
}

TEST_F(TransportSecurityTest, StsEnforceDeliversOverVerifiedTls) {
  TlsMx& server = mx(true, good_);
  sts_policy("enforce", "mx.example.org");
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "sts");
  EXPECT_EQ(seen.result, "success");
  EXPECT_EQ(seen.mx_hosts, std::vector<std::string>{"mx.example.org"});
  EXPECT_EQ(seen.policy_strings.at(1), "mode: enforce");
}

// RFC 8689 §4.2.1 (1): an enforced MTA-STS policy stands in for a DNSSEC-validated
// MX answer; without either, REQUIRETLS fails (5.7.30).
TEST_F(TransportSecurityTest, RequireTlsAcceptsAnEnforcedStsPolicy) {
  TlsMx& server = mx(true, good_);
  make_transport();
  auto refused = deliver(true);
  EXPECT_EQ(refused.status, DeliveryStatus::kFailed) << refused.reply;
  EXPECT_EQ(refused.enhanced_status, "5.7.30");
  sts_policy("enforce", "mx.example.org");
  make_transport();
  auto outcome = deliver(true);
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
}

TEST_F(TransportSecurityTest, StsEnforceBlocksPlaintextOnlyMx) {
  TlsMx& server = mx(false, good_);
  sts_policy("enforce", "*.example.org");
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_TRUE(outcome.enhanced_status.starts_with("4.7.")) << outcome.enhanced_status;
  EXPECT_EQ(server.messages(), 0U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "sts");
  EXPECT_EQ(seen.result, "starttls-not-supported");
}

TEST_F(TransportSecurityTest, StsEnforceBlocksWrongCertificateName) {
  TlsMx& server = mx(true, wrong_name_);
  sts_policy("enforce", "mx.example.org");
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(outcome.enhanced_status, "4.7.5");
  EXPECT_NE(outcome.reply.find("MTA-STS"), std::string::npos) << outcome.reply;
  EXPECT_EQ(server.messages(), 0U);
  EXPECT_EQ(server.connections(), 1U);  // no plaintext retry
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.result, "certificate-host-mismatch");
}

TEST_F(TransportSecurityTest, StsEnforceSkipsMxOutsideThePolicy) {
  TlsMx& server = mx(true, good_);
  sts_policy("enforce", "mail.example.org");
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(outcome.enhanced_status, "4.7.5");
  EXPECT_EQ(server.connections(), 0U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.result, "validation-failure");
}

TEST_F(TransportSecurityTest, StsTestingDeliversAndRecordsTheFailure) {
  TlsMx& server = mx(true, wrong_name_);
  sts_policy("testing", "mx.example.org");
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "sts");
  EXPECT_EQ(seen.result, "certificate-host-mismatch");
}

TEST_F(TransportSecurityTest, StsNoneModeIsNoPolicy) {
  TlsMx& server = mx(false, good_);
  sts_policy("none", "mail.example.org");
  make_transport();
  EXPECT_EQ(deliver().status, DeliveryStatus::kDelivered);
  EXPECT_EQ(server.messages(), 1U);
}

TEST_F(TransportSecurityTest, DaneEeMatchDeliversAndWinsOverSts) {
  auto self_signed = issue_certificate("whatever", {"unrelated.example"}, nullptr);
  TlsMx& server = mx(true, self_signed);
  secure_zone();
  resolver_.add_tlsa(tlsa_owner(), tlsa_3_1_1(self_signed.der));
  resolver_.set_dnssec(tlsa_owner(), dns::DnssecState::kSecure);
  // An enforced STS policy that would reject this MX: DANE applies instead.
  sts_policy("enforce", "mail.example.org");
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "tlsa");
  EXPECT_EQ(seen.result, "success");
  ASSERT_EQ(seen.policy_strings.size(), 1U);
  EXPECT_TRUE(seen.policy_strings[0].starts_with("3 1 1 ")) << seen.policy_strings[0];
}

TEST_F(TransportSecurityTest, DaneMismatchDefersWithoutPlaintext) {
  TlsMx& server = mx(true, good_);
  secure_zone();
  resolver_.add_tlsa(tlsa_owner(), tlsa_3_1_1(wrong_name_.der));
  resolver_.set_dnssec(tlsa_owner(), dns::DnssecState::kSecure);
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(outcome.enhanced_status, "4.7.5");
  EXPECT_NE(outcome.reply.find("DANE"), std::string::npos) << outcome.reply;
  EXPECT_EQ(server.messages(), 0U);
  EXPECT_EQ(server.connections(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "tlsa");
  EXPECT_EQ(seen.result, "validation-failure");
}

TEST_F(TransportSecurityTest, DaneRequiresStarttls) {
  TlsMx& server = mx(false, good_);
  secure_zone();
  resolver_.add_tlsa(tlsa_owner(), tlsa_3_1_1(good_.der));
  resolver_.set_dnssec(tlsa_owner(), dns::DnssecState::kSecure);
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(server.messages(), 0U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.result, "starttls-not-supported");
}

TEST_F(TransportSecurityTest, InsecureTlsaIsNoDane) {
  // The same mismatching TLSA record, but not validated: no DANE (RFC 7672 §2.2).
  TlsMx& server = mx(true, good_);
  resolver_.add_tlsa(tlsa_owner(), tlsa_3_1_1(wrong_name_.der));
  make_transport();
  EXPECT_EQ(deliver().status, DeliveryStatus::kDelivered);
  EXPECT_EQ(server.tls_messages(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "no-policy-found");
}

TEST_F(TransportSecurityTest, DaneSwitchedOffIgnoresTlsa) {
  TlsMx& server = mx(true, good_);
  secure_zone();
  resolver_.add_tlsa(tlsa_owner(), tlsa_3_1_1(wrong_name_.der));
  resolver_.set_dnssec(tlsa_owner(), dns::DnssecState::kSecure);
  make_transport([](TransportOptions& options) { options.outbound.dane = false; });
  EXPECT_EQ(deliver().status, DeliveryStatus::kDelivered);
  EXPECT_EQ(server.messages(), 1U);
}

TEST_F(TransportSecurityTest, BogusTlsaSkipsTheHost) {
  TlsMx& server = mx(true, good_);
  secure_zone();
  resolver_.set(tlsa_owner(), dns::RecordType::kTlsa,
                dns::Answer::failure(dns::LookupStatus::kTemporary, "validation failure"));
  resolver_.set_dnssec(tlsa_owner(), dns::DnssecState::kBogus);
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(outcome.enhanced_status, "4.7.5");
  EXPECT_EQ(server.connections(), 0U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.result, "dnssec-invalid");
}

TEST_F(TransportSecurityTest, AttemptsReachTheReportStore) {
  store::memory::MemoryReportStore reports;
  runtime::SystemClock clock;
  TlsMx& server = mx(true, wrong_name_);
  sts_policy("testing", "mx.example.org");
  make_transport([&](TransportOptions& options) {
    options.tls_reporter = report_to_store(reports, clock, {});
  });
  EXPECT_EQ(deliver().status, DeliveryStatus::kDelivered);
  EXPECT_EQ(server.messages(), 1U);
  using std::chrono::hours;
  auto summary =
      reports.tls_summary("example.org", clock.now() - hours(2), clock.now() + hours(2)).get();
  ASSERT_TRUE(summary) << summary.error().message;
  ASSERT_EQ(summary->size(), 1U);
  const auto& policy = summary->front();
  EXPECT_EQ(policy.policy_type, domain::TlsPolicyType::kSts);
  EXPECT_EQ(policy.mx_hosts, std::vector<std::string>{"mx.example.org"});
  EXPECT_EQ(policy.successes, 0U);
  EXPECT_EQ(policy.failures, 1U);
  ASSERT_EQ(policy.failure_details.size(), 1U);
  EXPECT_EQ(policy.failure_details[0].result, domain::TlsResultType::kCertificateHostMismatch);
  EXPECT_EQ(policy.failure_details[0].receiving_mx_hostname, "mx.example.org");
  EXPECT_EQ(policy.failure_details[0].receiving_ip, "127.0.0.7");
}

// ----- DANE through CNAME-expanded MX host names (RFC 7672 §2.2.2, §2.2.3)

TEST_F(TransportSecurityTest, SecureCnameFindsTlsaAtTheExpandedName) {
  auto self_signed = issue_certificate("whatever", {"unrelated.example"}, nullptr);
  TlsMx& server = mx(true, self_signed);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kSecure);
  secure_tlsa("mx.example.org", tlsa_3_1_1(self_signed.der));
  // A record at the original name that would not match: the expanded name wins.
  secure_tlsa("alias.example.org", tlsa_3_1_1(wrong_name_.der));
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
  const TlsAttempt seen = only_attempt();
  EXPECT_EQ(seen.policy_type, "tlsa");
  EXPECT_EQ(seen.result, "success");
  EXPECT_EQ(seen.receiving_mx_hostname, "alias.example.org");
  EXPECT_EQ(resolver_.lookups_for_test(tlsa_owner("alias.example.org"), dns::RecordType::kTlsa),
            0U);
}

TEST_F(TransportSecurityTest, SecureCnameFallsBackToTlsaAtTheOriginalName) {
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kSecure);
  // Nothing at the expanded name (NXDOMAIN); the original name's record applies
  // and does not match this certificate: DANE holds the mail back.
  secure_tlsa("alias.example.org", tlsa_3_1_1(wrong_name_.der));
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(outcome.enhanced_status, "4.7.5");
  EXPECT_EQ(server.messages(), 0U);
  EXPECT_EQ(only_attempt().result, "validation-failure");
  EXPECT_EQ(resolver_.lookups_for_test(tlsa_owner("mx.example.org"), dns::RecordType::kTlsa), 1U);
}

TEST_F(TransportSecurityTest, InsecureTlsaAtTheExpandedNameMovesToTheOriginal) {
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kSecure);
  resolver_.add_tlsa(tlsa_owner("mx.example.org"), tlsa_3_1_1(good_.der));
  resolver_.set_dnssec(tlsa_owner("mx.example.org"), dns::DnssecState::kInsecure);
  secure_tlsa("alias.example.org", tlsa_3_1_1(wrong_name_.der));
  make_transport();
  EXPECT_EQ(deliver().status, DeliveryStatus::kDeferred);
  EXPECT_EQ(server.messages(), 0U);
}

TEST_F(TransportSecurityTest, DaneTaNamesIncludeTheExpandedName) {
  // The certificate names mx.example.org only; the MX host is alias.example.org.
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kSecure);
  secure_tlsa("alias.example.org", tlsa_2_0_1(ca_.der));
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDelivered) << outcome.reply;
  EXPECT_EQ(server.tls_messages(), 1U);
  EXPECT_EQ(only_attempt().result, "success");
}

TEST_F(TransportSecurityTest, InsecureCnameUsesOnlyTheOriginalName) {
  // The alias is signed, its target is not: the expansion is not trusted, so a
  // DANE-TA check accepts neither the expanded name nor TLSA records there.
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kInsecure);
  secure_tlsa("alias.example.org", tlsa_2_0_1(ca_.der));
  secure_tlsa("mx.example.org", tlsa_3_1_1(good_.der));
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(server.messages(), 0U);
  EXPECT_EQ(only_attempt().result, "certificate-host-mismatch");
  EXPECT_EQ(resolver_.lookups_for_test(tlsa_owner("mx.example.org"), dns::RecordType::kTlsa), 0U);
}

TEST_F(TransportSecurityTest, InsecureFirstCnameLinkIsNoDane) {
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kInsecure, dns::DnssecState::kSecure);
  secure_tlsa("alias.example.org", tlsa_3_1_1(wrong_name_.der));
  secure_tlsa("mx.example.org", tlsa_3_1_1(wrong_name_.der));
  make_transport();
  EXPECT_EQ(deliver().status, DeliveryStatus::kDelivered);
  EXPECT_EQ(server.tls_messages(), 1U);
  EXPECT_EQ(only_attempt().policy_type, "no-policy-found");
  EXPECT_EQ(resolver_.lookups_for_test(tlsa_owner("alias.example.org"), dns::RecordType::kTlsa),
            0U);
}

TEST_F(TransportSecurityTest, BogusTlsaAtTheExpandedNameDoesNotFallBack) {
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kSecure);
  dns::Answer bogus = dns::Answer::failure(dns::LookupStatus::kTemporary, "validation failure");
  bogus.dnssec = dns::DnssecState::kBogus;
  resolver_.set(tlsa_owner("mx.example.org"), dns::RecordType::kTlsa, bogus);
  secure_tlsa("alias.example.org", tlsa_3_1_1(good_.der));
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(outcome.enhanced_status, "4.7.5");
  EXPECT_EQ(server.connections(), 0U);
  EXPECT_EQ(only_attempt().result, "dnssec-invalid");
}

TEST_F(TransportSecurityTest, FailedCnameLinkLookupSkipsTheHost) {
  TlsMx& server = mx(true, good_);
  alias_mx(dns::DnssecState::kSecure, dns::DnssecState::kInsecure);
  // The address answer arrived, but the question about the first link fails.
  overriding_.override_answer("alias.example.org", dns::RecordType::kCname,
                              dns::Answer::failure(dns::LookupStatus::kTemporary, "servfail"));
  make_transport();
  auto outcome = deliver();
  EXPECT_EQ(outcome.status, DeliveryStatus::kDeferred) << outcome.reply;
  EXPECT_EQ(server.connections(), 0U);
  EXPECT_EQ(only_attempt().result, "tlsa-invalid");
}

TEST(TlsaBaseCandidates, EveryCaseOfRfc7672Section222) {
  using V = std::vector<std::string>;
  EXPECT_EQ(tlsa_base_candidates("mx.a", "", true, false), V{"mx.a"});
  EXPECT_EQ(tlsa_base_candidates("mx.a", "mx.a", true, false), V{"mx.a"});
  EXPECT_EQ(tlsa_base_candidates("mx.a", "", false, true), V{});
  EXPECT_EQ(tlsa_base_candidates("mx.a", "real.b", true, false), (V{"real.b", "mx.a"}));
  EXPECT_EQ(tlsa_base_candidates("mx.a", "real.b", false, true), V{"mx.a"});
  EXPECT_EQ(tlsa_base_candidates("mx.a", "real.b", false, false), V{});
}

TEST(DaneReferenceNames, BaseFirstWithoutDuplicates) {
  using V = std::vector<std::string>;
  EXPECT_EQ(dane_reference_names("real.b", "mx.a", "real.b", "a", ""), (V{"real.b", "mx.a", "a"}));
  EXPECT_EQ(dane_reference_names("mx.a", "mx.a", "", "a", "b"), (V{"mx.a", "a", "b"}));
}

// Every token the transport emits is one the report model knows (RFC 8460 §4.3).
TEST(TlsSessionResult, EveryResultTokenParses) {
  for (const char* token :
       {"success", "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
        "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
        "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"}) {
    EXPECT_TRUE(domain::parse_tls_result_type(token)) << token;
    TlsAttempt attempt;
    attempt.result = token;
    EXPECT_EQ(domain::tls_result_type_name(tls_session_result(attempt, {}).result), token);
  }
  for (const char* type : {"sts", "tlsa", "no-policy-found"}) {
    TlsAttempt attempt;
    attempt.policy_type = type;
    EXPECT_EQ(domain::tls_policy_type_name(tls_session_result(attempt, {}).policy_type), type);
  }
}

// ----- judge_tls alone

runtime::TlsPeerCheck check_with(long error, std::vector<std::string> chain = {"x"}) {
  runtime::TlsPeerCheck check;
  check.called = true;
  check.pkix_error = error;
  check.chain = std::move(chain);
  return check;
}

TEST(JudgeTls, StsModesAndPkixErrors) {
  auto policy = std::make_shared<StsPolicy>();
  policy->mode = StsMode::kEnforce;
  HostPolicy sts;
  sts.kind = HostPolicy::Kind::kSts;
  sts.sts = policy;
  EXPECT_TRUE(judge_tls(sts, "mx", check_with(X509_V_OK)).deliver);
  auto expired = judge_tls(sts, "mx", check_with(X509_V_ERR_CERT_HAS_EXPIRED));
  EXPECT_FALSE(expired.deliver);
  EXPECT_EQ(expired.result, "certificate-expired");
  EXPECT_EQ(judge_tls(sts, "mx", check_with(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)).result,
            "certificate-not-trusted");
  EXPECT_EQ(judge_tls(sts, "mx", check_with(X509_V_ERR_HOSTNAME_MISMATCH)).result,
            "certificate-host-mismatch");
  EXPECT_EQ(judge_tls(sts, "mx", check_with(X509_V_ERR_CERT_SIGNATURE_FAILURE)).result,
            "validation-failure");
  runtime::TlsPeerCheck nothing;
  EXPECT_FALSE(judge_tls(sts, "mx", nothing).deliver);
  policy->mode = StsMode::kTesting;
  auto testing = judge_tls(sts, "mx", check_with(X509_V_ERR_HOSTNAME_MISMATCH));
  EXPECT_TRUE(testing.deliver);
  EXPECT_EQ(testing.result, "certificate-host-mismatch");
  HostPolicy none;
  EXPECT_TRUE(judge_tls(none, "mx", check_with(X509_V_ERR_CERT_HAS_EXPIRED)).deliver);
}

TEST(JudgeTls, DaneWithoutUsableRecordsOnlyNeedsEncryption) {
  HostPolicy dane;
  dane.kind = HostPolicy::Kind::kDane;
  dane.tlsa_all = {dns::TlsaRecord{1, 1, 1, "x"}};  // PKIX-EE: unusable for SMTP
  EXPECT_TRUE(dane.tls_required());
  EXPECT_TRUE(judge_tls(dane, "mx", check_with(X509_V_ERR_HOSTNAME_MISMATCH, {"junk"})).deliver);
  EXPECT_EQ(dane.attempt("success").policy_strings, std::vector<std::string>{"1 1 1 78"});
  dane.tlsa = {dns::TlsaRecord{3, 1, 1, std::string(32, 'a')}};
  auto verdict = judge_tls(dane, "mx", check_with(X509_V_OK, {"junk"}));
  EXPECT_FALSE(verdict.deliver);
  EXPECT_EQ(verdict.result, "validation-failure");
}

}  // namespace
}  // namespace tern::services::delivery
