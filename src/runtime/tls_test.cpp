// SPDX-License-Identifier: Apache-2.0
#include "runtime/tls.hpp"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "runtime/io.hpp"
#include "runtime/listener.hpp"
#include "runtime/testing.hpp"

namespace tern::runtime {
namespace {

using testing::TempDir;
using testing::write_test_certificate;

TEST(TlsContexts, LoadsAMatchingCertificateAndKey) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto contexts = TlsContexts::load({cert.cert_file, cert.key_file, TlsVersion::kTls12});
  ASSERT_TRUE(contexts) << contexts.error().message;
  EXPECT_NE((*contexts)->current(), nullptr);
}

TEST(TlsContexts, MissingCertificateNamesTheFile) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  std::string missing = dir.path() + "/missing.crt";
  auto contexts = TlsContexts::load({missing, cert.key_file});
  ASSERT_FALSE(contexts);
  EXPECT_EQ(contexts.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(contexts.error().message, "tls certificate " + missing + ": No such file or directory");
}

TEST(TlsContexts, GarbageCertificateIsInvalidInput) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  std::string garbage = dir.path() + "/garbage.crt";
  std::FILE* f = std::fopen(garbage.c_str(), "w");
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  auto contexts = TlsContexts::load({garbage, cert.key_file});
  ASSERT_FALSE(contexts);
  EXPECT_EQ(contexts.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(contexts.error().message.rfind("tls certificate " + garbage + ": ", 0), 0u)
      << contexts.error().message;
}

TEST(TlsContexts, MismatchedKeyNamesBothFiles) {
  TempDir dir;
  auto a = write_test_certificate(dir.path(), "a");
  auto b = write_test_certificate(dir.path(), "b");
  auto contexts = TlsContexts::load({a.cert_file, b.key_file});
  ASSERT_FALSE(contexts);
  EXPECT_EQ(contexts.error().message,
            "tls key " + b.key_file + " does not match certificate " + a.cert_file);
}

TEST(TlsContexts, FailedReloadKeepsThePreviousContext) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto contexts = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(contexts);
  auto before = (*contexts)->current();
  std::filesystem::remove(cert.key_file);
  auto reloaded = (*contexts)->reload();
  ASSERT_FALSE(reloaded);
  EXPECT_EQ(reloaded.error().message, "tls key " + cert.key_file + ": No such file or directory");
  EXPECT_EQ((*contexts)->current(), before);
}

TEST(TlsContexts, SuccessfulReloadInstallsANewContext) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto contexts = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(contexts);
  auto before = (*contexts)->current();
  write_test_certificate(dir.path(), "server", "renewed.example");
  ASSERT_TRUE((*contexts)->reload());
  EXPECT_NE((*contexts)->current(), before);
}

// Channel bindings (RFC 9266, RFC 5929): both ends of one TLS connection must
// compute the same bytes, or SCRAM-SHA-256-PLUS could never succeed.
struct Bindings {
  std::string exporter;
  std::string unique;
};

Bindings exchange_bindings(int max_version) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto tls = TlsContexts::load({cert.cert_file, cert.key_file});
  EXPECT_TRUE(tls);
  metrics::Registry registry;
  IoThreads io(2);
  io.start();
  ListenerOptions options;
  options.name = "cb";
  options.address = "127.0.0.1";
  options.implicit_tls = *tls;
  auto listener = Listener::bind(io.context(), options, log::Logger(), &registry);
  EXPECT_TRUE(listener);
  // The server writes its view: exporter, then tls-unique, length-prefixed.
  (*listener)->start([](std::unique_ptr<Connection> c) -> asio::awaitable<void> {
    std::string exporter = c->tls_exporter(kTlsExporterLabel, kTlsExporterLength);
    std::string unique = c->tls_unique();
    std::string out = std::string(1, static_cast<char>(exporter.size())) + exporter +
                      std::string(1, static_cast<char>(unique.size())) + unique;
    co_await c->write_all(out, std::chrono::seconds(5));
  });
  auto client = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(client->native_handle(), max_version);
  client->set_verify_mode(asio::ssl::verify_none);
  auto result = testing::run_for(
      io.context(), [](std::uint16_t port, auto ctx) -> asio::awaitable<std::string> {
        auto c = co_await connect_tcp({asio::ip::make_address("127.0.0.1"), port},
                                      std::chrono::seconds(5), "client", log::Logger());
        if (!c || !co_await (*c)->start_tls_client(ctx, "localhost", std::chrono::seconds(5))) {
          co_return "<connect or handshake failed>";
        }
        std::string server_view;
        char buffer[256];
        for (;;) {
          auto n = co_await (*c)->read_some(buffer, std::chrono::seconds(5));
          if (!n || *n == 0) {
            break;
          }
          server_view.append(buffer, *n);
        }
        std::string exporter = (*c)->tls_exporter(kTlsExporterLabel, kTlsExporterLength);
        std::string unique = (*c)->tls_unique();
        std::string client_view = std::string(1, static_cast<char>(exporter.size())) + exporter +
                                  std::string(1, static_cast<char>(unique.size())) + unique;
        co_return server_view == client_view ? client_view : "<views differ>";
      }((*listener)->port(), client));
  EXPECT_TRUE(result);
  (*listener)->stop_accepting();
  Bindings b;
  if (result && result->size() >= 2 && (*result)[0] != '<') {
    std::size_t e = static_cast<unsigned char>((*result)[0]);
    b.exporter = result->substr(1, e);
    b.unique = result->substr(2 + e);
  } else if (result) {
    ADD_FAILURE() << *result;
  }
  return b;
}

TEST(ChannelBinding, Tls13HasExporterButNoTlsUnique) {
  Bindings b = exchange_bindings(TLS1_3_VERSION);
  EXPECT_EQ(b.exporter.size(), kTlsExporterLength);
  EXPECT_EQ(b.unique, "");
}

TEST(ChannelBinding, Tls12HasBothAndTheyAgree) {
  Bindings b = exchange_bindings(TLS1_2_VERSION);
  EXPECT_EQ(b.exporter.size(), kTlsExporterLength);
  EXPECT_EQ(b.unique.size(), 12u);  // verify_data is 12 bytes in TLS 1.2
}

}  // namespace
}  // namespace tern::runtime
