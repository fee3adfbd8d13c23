// SPDX-License-Identifier: Apache-2.0
// For the transport's tests only: a blocking TCP server on a loopback address that
// serves each connection on a thread of its own with a function the test gives.
// The scripted SMTP servers of smtp_transport_test and transport_security_test
// are built on it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

namespace tern::services::delivery::testing {

class TestTcpServer {
 public:
  using Serve = std::function<void(asio::ip::tcp::socket)>;

  // Listens on `ip`:`port` (0 = any free port) and starts accepting. `serve` runs
  // once per connection, on its own thread, and must return when the peer closes.
  TestTcpServer(const std::string& ip, std::uint16_t port, Serve serve)
      : serve_(std::move(serve)),
        acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address(ip), port)) {
    thread_ = std::thread([this] { accept_loop(); });
  }

  // Stops accepting and joins every connection thread.
  ~TestTcpServer() {
    stopping_ = true;
    // A blocking accept() does not return on close() from another thread: wake
    // it with one last connection.
    asio::error_code ec;
    asio::io_context io;
    asio::ip::tcp::socket waker(io);
    waker.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    acceptor_.close(ec);
    for (auto& t : sessions_) {
      t.join();
    }
  }

  TestTcpServer(const TestTcpServer&) = delete;
  TestTcpServer& operator=(const TestTcpServer&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Connections accepted so far.
  std::size_t connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      asio::error_code ec;
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) {
        return;
      }
      {
        std::lock_guard lock(mutex_);
        ++connections_;
      }
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { serve_(std::move(s)); });
    }
  }

  Serve serve_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::vector<std::thread> sessions_;  // touched by the accept thread and the destructor
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::size_t connections_ = 0;
};

}  // namespace tern::services::delivery::testing
