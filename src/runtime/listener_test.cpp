// SPDX-License-Identifier: Apache-2.0
// Listener, Connection and TLS over real loopback sockets on port 0. Every wait is
// bounded: run_for() gives up after 10 s, every socket operation has a timeout.
#include "runtime/listener.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "runtime/io.hpp"
#include "runtime/testing.hpp"

namespace tern::runtime {
namespace {

using namespace std::chrono_literals;
using testing::run_for;
using testing::TempDir;
using testing::write_test_certificate;

constexpr Duration kTimeout = 5s;

asio::awaitable<void> echo(std::unique_ptr<Connection> connection) {
  char buffer[1024];
  for (;;) {
    auto n = co_await connection->read_some(buffer, kTimeout);
    if (!n || *n == 0) {
      co_return;
    }
    auto written = co_await connection->write_all(std::string_view(buffer, *n), kTimeout);
    if (!written) {
      co_return;
    }
  }
}

asio::awaitable<Result<std::unique_ptr<Connection>>> dial(std::uint16_t port) {
  co_return co_await connect_tcp({asio::ip::make_address("127.0.0.1"), port}, kTimeout, "client",
                                 log::Logger());
}

// Reads until `n` bytes, end of stream, or an error.
asio::awaitable<std::string> read_up_to(Connection* connection, std::size_t n) {
  std::string out;
  char buffer[256];
  while (out.size() < n) {
    auto got = co_await connection->read_some(buffer, kTimeout);
    if (!got) {
      co_return out + "<" + got.error().message + ">";
    }
    if (*got == 0) {
      co_return out + "<eof>";
    }
    out.append(buffer, *got);
  }
  co_return out;
}

asio::awaitable<std::string> round_trip(Connection* connection, std::string text) {
  auto written = co_await connection->write_all(text, kTimeout);
  if (!written) {
    co_return "<" + written.error().message + ">";
  }
  co_return co_await read_up_to(connection, text.size());
}

// A client context that accepts any certificate, records the leaf's CN, and
// optionally caps the protocol version.
std::shared_ptr<asio::ssl::context> client_tls(std::shared_ptr<std::string> seen_cn = nullptr,
                                               int max_version = 0) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (max_version != 0) {
    SSL_CTX_set_security_level(context->native_handle(), 0);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(context->native_handle(), max_version);
  }
  context->set_verify_mode(asio::ssl::verify_peer);
  context->set_verify_callback([seen_cn](bool, asio::ssl::verify_context& verify) {
    X509* cert = X509_STORE_CTX_get_current_cert(verify.native_handle());
    if (seen_cn && cert != nullptr && X509_STORE_CTX_get_error_depth(verify.native_handle()) == 0) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
      *seen_cn = cn;
    }
    return true;
  });
  return context;
}

class ListenerTest : public ::testing::Test {
 protected:
  ListenerOptions options() {
    ListenerOptions options;
    options.name = "test";
    options.address = "127.0.0.1";
    options.port = 0;
    return options;
  }

  std::unique_ptr<Listener> start(ListenerOptions options, ConnectionHandler handler) {
    auto listener = Listener::bind(io_.context(), std::move(options), log::Logger(), &registry_);
    EXPECT_TRUE(listener) << listener.error().message;
    if (!listener) {
      return nullptr;
    }
    (*listener)->start(std::move(handler));
    return std::move(*listener);
  }

  // Waits (bounded) until every server-side connection has finished.
  bool wait_until_idle(Listener& listener) {
    auto drained = run_for(io_.context(), listener.drain(kTimeout));
    return drained.value_or(false);
  }

  metrics::Registry registry_;  // outlives the I/O threads
  TempDir dir_;
  IoThreads io_{2};

  void SetUp() override { io_.start(); }
};

TEST_F(ListenerTest, EchoesOverPlainTcp) {
  auto listener = start(options(), echo);
  ASSERT_TRUE(listener);
  EXPECT_NE(listener->port(), 0);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto client = co_await dial(port);
    if (!client) {
      co_return client.error().message;
    }
    EXPECT_FALSE((*client)->is_tls());
    co_return co_await round_trip(client->get(), "hello\r\n");
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "hello\r\n");
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_EQ(listener->stats().accepted, 1u);
}

TEST_F(ListenerTest, EchoesOverIPv6Loopback) {
  auto opts = options();
  opts.address = "::1";
  auto bound = Listener::bind(io_.context(), opts, log::Logger());
  if (!bound) {
    GTEST_SKIP() << "no IPv6 loopback: " << bound.error().message;
  }
  (*bound)->start(echo);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto client =
        co_await connect_tcp({asio::ip::make_address("::1"), port}, kTimeout, "c", log::Logger());
    if (!client) {
      co_return client.error().message;
    }
    co_return co_await round_trip(client->get(), "six");
  }((*bound)->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "six");
}

TEST_F(ListenerTest, EchoesOverImplicitTls) {
  auto cert = write_test_certificate(dir_.path(), "server");
  auto tls = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(tls) << tls.error().message;
  auto opts = options();
  opts.implicit_tls = *tls;
  auto listener = start(opts, [](std::unique_ptr<Connection> c) -> asio::awaitable<void> {
    std::string hello = c->is_tls() ? "tls " + c->tls_version() + "\n" : "plain\n";
    auto w = co_await c->write_all(hello, kTimeout);
    if (w) {
      co_await echo(std::move(c));
    }
  });
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto client = co_await dial(port);
    if (!client) {
      co_return client.error().message;
    }
    auto handshake = co_await (*client)->start_tls_client(client_tls(), "localhost", kTimeout);
    if (!handshake) {
      co_return handshake.error().message;
    }
    std::string greeting = co_await read_up_to(client->get(), 12);
    co_return greeting + co_await round_trip(client->get(), "secret");
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "tls TLSv1.3\nsecret");
}

TEST_F(ListenerTest, UpgradesMidStreamWithStartTls) {
  auto cert = write_test_certificate(dir_.path(), "server");
  auto tls = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(tls);
  auto listener =
      start(options(), [tls = *tls](std::unique_ptr<Connection> c) -> asio::awaitable<void> {
        std::string command = co_await read_up_to(c.get(), 10);
        if (command != "STARTTLS\r\n") {
          co_return;
        }
        if (!co_await c->write_all("220 go ahead\r\n", kTimeout)) {
          co_return;
        }
        if (!co_await c->start_tls(tls->current(), kTimeout)) {
          co_return;
        }
        co_await echo(std::move(c));
      });
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto client = co_await dial(port);
    if (!client) {
      co_return client.error().message;
    }
    if (!co_await (*client)->write_all("STARTTLS\r\n", kTimeout)) {
      co_return "write failed";
    }
    std::string reply = co_await read_up_to(client->get(), 14);
    auto handshake = co_await (*client)->start_tls_client(client_tls(), "localhost", kTimeout);
    if (!handshake) {
      co_return reply + handshake.error().message;
    }
    co_return reply + ((*client)->is_tls() ? "[tls]" : "[plain]") +
        co_await round_trip(client->get(), "after");
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "220 go ahead\r\n[tls]after");
}

TEST_F(ListenerTest, RefusesTheConnectionAboveThePerIpLimit) {
  auto opts = options();
  opts.max_connections_per_ip = 2;
  opts.over_limit_reply = "421 too many connections\r\n";
  auto listener = start(opts, echo);
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto a = co_await dial(port);
    auto b = co_await dial(port);
    auto c = co_await dial(port);
    if (!a || !b || !c) {
      co_return "connect failed";
    }
    // Round trips prove a and b were admitted before c was accepted.
    std::string out = co_await round_trip(a->get(), "a");
    out += co_await round_trip(b->get(), "b");
    out += co_await read_up_to(c->get(), 100);
    co_return out;
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "ab421 too many connections\r\n<eof>");
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_EQ(listener->stats().rejected_per_ip_limit, 1u);
  EXPECT_EQ(listener->stats().accepted, 2u);
  EXPECT_NE(registry_.render().find(
                "tern_connections_rejected_total{listener=\"test\",reason=\"per_ip_limit\"} 1"),
            std::string::npos)
      << registry_.render();
}

TEST_F(ListenerTest, RefusesTheConnectionAboveTheGlobalLimit) {
  auto opts = options();
  opts.max_connections = 1;
  opts.over_limit_reply = "421 busy\r\n";
  auto listener = start(opts, echo);
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto a = co_await dial(port);
    if (!a) {
      co_return "connect failed";
    }
    std::string out = co_await round_trip(a->get(), "a");
    auto b = co_await dial(port);
    if (!b) {
      co_return "connect failed";
    }
    out += co_await read_up_to(b->get(), 100);
    co_return out;
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "a421 busy\r\n<eof>");
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_EQ(listener->stats().rejected_global_limit, 1u);
}

TEST_F(ListenerTest, SharedLimitsBoundEveryListenerTogether) {
  auto shared = std::make_shared<ConnectionLimits>(1, 10);
  auto first_opts = options();
  first_opts.shared_limits = shared;
  auto second_opts = options();
  second_opts.name = "second";
  second_opts.shared_limits = shared;
  second_opts.over_limit_reply = "421 busy\r\n";
  auto first = start(first_opts, echo);
  auto second = start(second_opts, echo);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  auto result =
      run_for(io_.context(),
              [](std::uint16_t a_port, std::uint16_t b_port) -> asio::awaitable<std::string> {
                auto a = co_await dial(a_port);
                if (!a) {
                  co_return "connect failed";
                }
                std::string out = co_await round_trip(a->get(), "a");
                auto b = co_await dial(b_port);
                if (!b) {
                  co_return "connect failed";
                }
                out += co_await read_up_to(b->get(), 100);
                co_return out;
              }(first->port(), second->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "a421 busy\r\n<eof>");
  EXPECT_TRUE(wait_until_idle(*first));
  EXPECT_TRUE(wait_until_idle(*second));
  EXPECT_EQ(second->stats().rejected_global_limit, 1u);
  EXPECT_EQ(shared->open(), 0u);
}

TEST(ConnectionLimits, CapsCanChangeWhileConnectionsAreOpen) {
  ConnectionLimits limits(2, 1);
  auto peer = asio::ip::make_address("127.0.0.1");
  auto other = asio::ip::make_address("127.0.0.2");
  EXPECT_EQ(limits.admit(peer), ConnectionLimits::Admission::kAdmitted);
  EXPECT_EQ(limits.admit(peer), ConnectionLimits::Admission::kPerIpLimit);
  limits.set_caps(1, 5);
  EXPECT_EQ(limits.admit(other), ConnectionLimits::Admission::kGlobalLimit);
  limits.release(peer);
  EXPECT_EQ(limits.admit(other), ConnectionLimits::Admission::kAdmitted);
  EXPECT_EQ(limits.open_from(other), 1u);
  EXPECT_EQ(limits.open_from(peer), 0u);
}

TEST_F(ListenerTest, ReadTimeoutEndsAnIdleConnection) {
  auto seen = std::make_shared<std::promise<ErrorCode>>();
  auto listener = start(options(), [seen](std::unique_ptr<Connection> c) -> asio::awaitable<void> {
    char buffer[16];
    auto n = co_await c->read_some(buffer, 100ms);
    seen->set_value(n ? ErrorCode::kInternal : n.error().code);
  });
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto client = co_await dial(port);
    if (!client) {
      co_return "connect failed";
    }
    co_return co_await read_up_to(client->get(), 1);  // sends nothing, waits for the close
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "<eof>");
  auto future = seen->get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get(), ErrorCode::kTimeout);
}

TEST_F(ListenerTest, DrainWaitsForConnectionsThatFinishInTime) {
  auto listener = start(options(), echo);
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](Listener* l) -> asio::awaitable<std::string> {
    auto client = co_await dial(l->port());
    if (!client) {
      co_return "connect failed";
    }
    std::string out = co_await round_trip(client->get(), "x");
    (*client)->close();  // the server sees end of stream and finishes
    bool all_finished = co_await l->drain(kTimeout);
    out += all_finished ? " drained" : " cancelled";
    auto again = co_await dial(l->port());
    out += again ? " accepted" : " refused";
    co_return out;
  }(listener.get()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "x drained refused");
}

TEST_F(ListenerTest, DrainCancelsConnectionsAfterTheDeadline) {
  auto listener = start(options(), echo);
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](Listener* l) -> asio::awaitable<std::string> {
    auto client = co_await dial(l->port());
    if (!client) {
      co_return "connect failed";
    }
    std::string out = co_await round_trip(client->get(), "x");
    // The client stays idle; the server's 5 s read would outlast the 100 ms grace.
    bool all_finished = co_await l->drain(100ms);
    out += all_finished ? " drained" : " cancelled";
    out += co_await read_up_to(client->get(), 1);
    co_return out;
  }(listener.get()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "x cancelled<eof>");
  EXPECT_EQ(listener->open_connections(), 0u);
}

TEST_F(ListenerTest, HandlerExceptionsCloseTheConnectionAndAreCounted) {
  auto listener = start(options(), [](std::unique_ptr<Connection>) -> asio::awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  });
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
    auto client = co_await dial(port);
    if (!client) {
      co_return "connect failed";
    }
    co_return co_await read_up_to(client->get(), 1);
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "<eof>");
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_EQ(listener->stats().handler_failures, 1u);
}

TEST_F(ListenerTest, ReloadedCertificateIsUsedByTheNextConnection) {
  auto cert = write_test_certificate(dir_.path(), "server", "first.example");
  auto tls = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(tls);
  auto opts = options();
  opts.implicit_tls = *tls;
  auto listener = start(opts, echo);
  ASSERT_TRUE(listener);
  auto common_name_seen = [&]() {
    return run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<std::string> {
      auto client = co_await dial(port);
      if (!client) {
        co_return "connect failed";
      }
      auto cn = std::make_shared<std::string>();
      auto handshake = co_await (*client)->start_tls_client(client_tls(cn), "", kTimeout);
      co_return handshake ? *cn : handshake.error().message;
    }(listener->port()));
  };
  EXPECT_EQ(common_name_seen(), "first.example");
  write_test_certificate(dir_.path(), "server", "second.example");
  ASSERT_TRUE((*tls)->reload());
  EXPECT_EQ(common_name_seen(), "second.example");
}

TEST_F(ListenerTest, RefusesTls11Clients) {
  auto cert = write_test_certificate(dir_.path(), "server");
  auto tls = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(tls);
  auto opts = options();
  opts.implicit_tls = *tls;
  bool handler_ran = false;
  auto listener = start(opts, [&handler_ran](std::unique_ptr<Connection>) -> asio::awaitable<void> {
    handler_ran = true;
    co_return;
  });
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::uint16_t port) -> asio::awaitable<bool> {
    auto client = co_await dial(port);
    if (!client) {
      co_return true;
    }
    auto handshake =
        co_await (*client)->start_tls_client(client_tls(nullptr, TLS1_1_VERSION), "", kTimeout);
    co_return static_cast<bool>(handshake);
  }(listener->port()));
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_FALSE(handler_ran);
}

TEST_F(ListenerTest, BindToAPortInUseNamesAddressAndReason) {
  auto first = Listener::bind(io_.context(), options(), log::Logger());
  ASSERT_TRUE(first);
  auto opts = options();
  opts.port = (*first)->port();
  auto second = Listener::bind(io_.context(), opts, log::Logger());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(second.error().message,
            "bind 127.0.0.1:" + std::to_string(opts.port) + ": address already in use");
}

TEST_F(ListenerTest, BindRejectsAnInvalidAddress) {
  auto opts = options();
  opts.address = "mail.example";
  opts.port = 25;
  auto listener = Listener::bind(io_.context(), opts, log::Logger());
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().message, "bind mail.example:25: invalid address");
}

TEST_F(ListenerTest, ConnectToAClosedPortNamesTheEndpoint) {
  std::uint16_t port = 0;
  {
    auto closed = Listener::bind(io_.context(), options(), log::Logger());
    ASSERT_TRUE(closed);
    port = (*closed)->port();
  }
  auto result = run_for(io_.context(), [](std::uint16_t p) -> asio::awaitable<std::string> {
    auto client = co_await dial(p);
    co_return client ? "connected" : client.error().message;
  }(port));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "connect 127.0.0.1:" + std::to_string(port) + ": connection refused");
}

// ---- Local (UNIX-domain) stream sockets ----

class LocalListenerTest : public ListenerTest {
 protected:
  std::string socket_path() const { return dir_.path() + "/lmtp.sock"; }

  ListenerOptions local_options() {
    ListenerOptions opts = options();
    opts.local_path = socket_path();
    return opts;
  }

  static asio::awaitable<Result<std::unique_ptr<Connection>>> dial_local(std::string path) {
    co_return co_await connect_local(std::move(path), kTimeout, "client", log::Logger());
  }

  // Connects to the socket, sends `text` and returns the echo (or the error).
  std::string round_trip_local(std::string text) {
    auto result = run_for(io_.context(),
                          [](std::string path, std::string sent) -> asio::awaitable<std::string> {
                            auto client = co_await dial_local(path);
                            if (!client) {
                              co_return client.error().message;
                            }
                            co_return co_await round_trip(client->get(), sent);
                          }(socket_path(), std::move(text)));
    return result.value_or("<timeout>");
  }

  static mode_t mode_of(const std::string& path) {
    struct stat st {};

    return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
  }
};

// A handler that answers with what the connection knows about its peer.
asio::awaitable<void> describe_peer(std::unique_ptr<Connection> c) {
  const auto& cred = c->peer_credentials();
  std::string text = c->is_local() && cred ? fmt::format("uid={} pid={} ip={}\n", cred->uid,
                                                         cred->pid, c->peer_address().to_string())
                                           : std::string("not local\n");
  if (co_await c->write_all(text, kTimeout)) {
    co_await echo(std::move(c));
  }
}

TEST_F(LocalListenerTest, EchoesAndNamesThePeerByItsCredentials) {
  auto listener = start(local_options(), describe_peer);
  ASSERT_TRUE(listener);
  EXPECT_EQ(listener->address(), "unix:" + socket_path());
  EXPECT_EQ(listener->port(), 0);
  auto result = run_for(io_.context(), [](std::string path) -> asio::awaitable<std::string> {
    auto client = co_await dial_local(path);
    if (!client) {
      co_return client.error().message;
    }
    // The client side sees the listening process: this test binary.
    EXPECT_TRUE((*client)->is_local());
    EXPECT_EQ((*client)->peer_credentials()->pid, static_cast<std::int64_t>(::getpid()));
    std::string line = co_await read_up_to(client->get(), 1);
    while (line.back() != '\n') {
      line += co_await read_up_to(client->get(), 1);
    }
    co_return line + co_await round_trip(client->get(), "LHLO x\r\n");
  }(socket_path()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, fmt::format("uid={} pid={} ip=0.0.0.0\nLHLO x\r\n", ::getuid(), ::getpid()));
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_EQ(listener->stats().accepted, 1u);
}

TEST_F(LocalListenerTest, AppliesTheModeAndRemovesTheFileWhenItStops) {
  auto opts = local_options();
  opts.local_mode = 0620;
  auto listener = start(opts, echo);
  ASSERT_TRUE(listener);
  mode_t mode = mode_of(socket_path());
  EXPECT_TRUE(S_ISSOCK(mode));
  EXPECT_EQ(mode & 07777, 0620u);
  EXPECT_TRUE(wait_until_idle(*listener));  // drain stops accepting
  EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

TEST_F(LocalListenerTest, AppliesTheOwnerWhenRunAsRoot) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "chown of the socket needs root";
  }
  auto opts = local_options();
  opts.local_uid = 4242;
  opts.local_gid = 4343;
  auto listener = start(opts, echo);
  ASSERT_TRUE(listener);

  struct stat st {};

  ASSERT_EQ(::lstat(socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4242u);
  EXPECT_EQ(st.st_gid, 4343u);
}

TEST_F(LocalListenerTest, ReplacesAStaleSocketFile) {
  {
    // A socket file nobody listens on: what a killed process leaves behind.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    ::sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, socket_path().c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<const ::sockaddr*>(&address), sizeof address), 0);
    ::close(fd);
  }
  ASSERT_TRUE(S_ISSOCK(mode_of(socket_path())));
  auto listener = start(local_options(), echo);
  ASSERT_TRUE(listener);
  EXPECT_EQ(round_trip_local("again"), "again");
}

TEST_F(LocalListenerTest, RefusesASocketSomeoneListensOn) {
  auto first = start(local_options(), echo);
  ASSERT_TRUE(first);
  auto second = Listener::bind(io_.context(), local_options(), log::Logger());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(second.error().message,
            "bind unix:" + socket_path() + ": a process is listening on it");
  // The first listener's file is untouched and still answers.
  EXPECT_EQ(round_trip_local("still"), "still");
}

TEST_F(LocalListenerTest, RefusesAFileThatIsNotASocket) {
  std::ofstream(socket_path()) << "precious";
  auto listener = Listener::bind(io_.context(), local_options(), log::Logger());
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(listener.error().message,
            "bind unix:" + socket_path() + ": exists and is not a socket");
  std::ifstream in(socket_path());
  std::string kept;
  in >> kept;
  EXPECT_EQ(kept, "precious");
}

TEST_F(LocalListenerTest, RefusesAPathTooLongForSunPath) {
  auto opts = local_options();
  opts.local_path = dir_.path() + "/" + std::string(120, 'x');
  auto listener = Listener::bind(io_.context(), opts, log::Logger());
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(listener.error().message.find("path too long (at most 107 bytes)"), std::string::npos);
}

TEST_F(LocalListenerTest, LocalPeersCountAgainstTheTotalCapOnly) {
  // One connection per IP would refuse a second TCP peer from 127.0.0.1; local
  // peers have no address and meet only the total cap of 2.
  auto shared = std::make_shared<ConnectionLimits>(2, 1);
  auto opts = local_options();
  opts.shared_limits = shared;
  opts.over_limit_reply = "421 busy\r\n";
  auto listener = start(opts, echo);
  ASSERT_TRUE(listener);
  auto result = run_for(io_.context(), [](std::string path) -> asio::awaitable<std::string> {
    auto a = co_await dial_local(path);
    auto b = co_await dial_local(path);
    if (!a || !b) {
      co_return "connect failed";
    }
    std::string out = co_await round_trip(a->get(), "a");
    out += co_await round_trip(b->get(), "b");
    auto c = co_await dial_local(path);
    if (!c) {
      co_return out + c.error().message;
    }
    out += co_await read_up_to(c->get(), 100);
    co_return out;
  }(socket_path()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "ab421 busy\r\n<eof>");
  EXPECT_TRUE(wait_until_idle(*listener));
  EXPECT_EQ(listener->stats().accepted, 2u);
  EXPECT_EQ(listener->stats().rejected_global_limit, 1u);
  EXPECT_EQ(shared->open(), 0u);
}

TEST_F(LocalListenerTest, DrainCancelsLocalConnectionsAfterTheDeadline) {
  auto listener = start(local_options(), echo);
  ASSERT_TRUE(listener);
  auto result =
      run_for(io_.context(), [](Listener* l, std::string path) -> asio::awaitable<std::string> {
        auto client = co_await dial_local(path);
        if (!client) {
          co_return "connect failed";
        }
        std::string out = co_await round_trip(client->get(), "x");
        bool all_finished = co_await l->drain(100ms);
        out += all_finished ? " drained" : " cancelled";
        out += co_await read_up_to(client->get(), 1);
        auto again = co_await dial_local(path);
        out += again ? " accepted" : " refused";
        co_return out;
      }(listener.get(), socket_path()));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "x cancelled<eof> refused");
  EXPECT_EQ(listener->open_connections(), 0u);
}

TEST(ConnectionLimits, LocalPeersMeetOnlyTheTotalCap) {
  ConnectionLimits limits(2, 0);
  EXPECT_EQ(limits.admit(asio::ip::make_address("127.0.0.1")),
            ConnectionLimits::Admission::kPerIpLimit);
  EXPECT_EQ(limits.admit_local(), ConnectionLimits::Admission::kAdmitted);
  EXPECT_EQ(limits.admit_local(), ConnectionLimits::Admission::kAdmitted);
  EXPECT_EQ(limits.admit_local(), ConnectionLimits::Admission::kGlobalLimit);
  limits.release_local();
  EXPECT_EQ(limits.open(), 1u);
}

}  // namespace
}  // namespace tern::runtime
