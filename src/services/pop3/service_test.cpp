// SPDX-License-Identifier: Apache-2.0
// The POP3 service over real loopback sockets and the in-memory store: login,
// snapshot, RETR bytes, deletions applied at QUIT only, [IN-USE], the throttle.
#include "services/pop3/service.hpp"

#include <gtest/gtest.h>

#include "domain/accounts.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/testing.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::services::pop3 {
namespace {

using namespace std::chrono_literals;

class Pop3ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_.start();
    ASSERT_TRUE(storage_.directory().add_domain("example.org").get());
    domain::AuthParams params;
    params.argon2 = sasl::Argon2Params{1024, 1, 1};
    auto creds = domain::make_credentials("secret", params, random_);
    ASSERT_TRUE(creds);
    auto account = domain::provision_account(
        storage_,
        domain::NewAccount{"alice@example.org", creds->password_hash, 0, creds->scram_sha256});
    ASSERT_TRUE(account);
    account_ = *account;
    for (std::string body : {"one", "two", "three"}) {
      deliver("Subject: " + body + "\r\n\r\n" + body + "\r\n");
    }
    Options options;
    options.auth_params = params;
    options.mock_secret = "test";
    domain::ThrottlePolicy policy;
    policy.failures_before_delay = 100;  // no waiting in tests
    policy.failures_before_block = 3;
    throttle_.set_policy(policy);
    service_ = std::make_unique<Service>(options, storage_, pool_, clock_, random_, registry_,
                                         throttle_, log::Logger());
    runtime::ListenerOptions lo;
    lo.name = "pop3";
    lo.address = "127.0.0.1";
    auto listener = runtime::Listener::bind(io_.context(), lo, log::Logger(), &registry_);
    ASSERT_TRUE(listener);
    listener_ = std::move(*listener);
    listener_->start(service_->handler());
  }

  void TearDown() override {
    if (listener_) {
      listener_->stop_accepting();
      runtime::testing::run_for(io_.context(), listener_->drain(2s));
    }
  }

  void deliver(const std::string& raw) {
    auto boxes = storage_.mail().mailboxes(account_.id).get();
    ASSERT_TRUE(boxes);
    domain::MailboxId inbox{};
    for (const auto& m : *boxes) {
      if (m.name == "INBOX") {
        inbox = m.id;
      }
    }
    domain::NewMessage message{raw, clock_.now(), ""};
    auto appended =
        storage_.mail().append(message, {domain::AppendTarget{account_.id, inbox, 0, {}}}).get();
    ASSERT_TRUE(appended);
  }

  // Sends `commands` (one write) and reads until `until` appears or EOF.
  std::string session(std::string commands, std::string until) {
    auto result = runtime::testing::run_for(
        io_.context(),
        [](std::uint16_t port, std::string input,
           std::string marker) -> asio::awaitable<std::string> {
          auto c = co_await runtime::connect_tcp({asio::ip::make_address("127.0.0.1"), port}, 5s,
                                                 "client", log::Logger());
          if (!c) {
            co_return "<connect failed>";
          }
          std::string out;
          if (!co_await (*c)->write_all(input, 5s)) {
            co_return "<write failed>";
          }
          char buffer[4096];
          while (out.find(marker) == std::string::npos) {
            auto n = co_await (*c)->read_some(buffer, 5s);
            if (!n || *n == 0) {
              break;
            }
            out.append(buffer, *n);
          }
          co_return out;
        }(listener_->port(), std::move(commands), std::move(until)),
        std::chrono::milliseconds(20000));
    return result.value_or("<timeout>");
  }

  std::size_t inbox_count() {
    auto usage = storage_.mail().usage(account_.id).get();
    return usage ? usage->messages : 999;
  }

  metrics::Registry registry_;
  store::memory::MemoryStorage storage_;
  runtime::SystemClock clock_;
  runtime::SystemRandom random_;
  domain::AuthThrottle throttle_;
  runtime::IoThreads io_{2};
  // Destroyed (joined) before io_, whose executors its finished jobs still hold.
  runtime::BlockingPool pool_{2};
  domain::Account account_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<runtime::Listener> listener_;
};

TEST(Uidl, IsUidThenUidValidityInHex) {
  EXPECT_EQ(uidl(domain::UidValidity{0x5f3a}, domain::Uid{42}), "0000002A00005F3A");
}

TEST_F(Pop3ServiceTest, RetrievesAndDeletesOnlyAtQuit) {
  std::string out = session(
      "USER alice@example.org\r\nPASS secret\r\nSTAT\r\nRETR 2\r\nUIDL 1\r\nDELE 1\r\nDELE 3\r\n"
      "QUIT\r\n",
      "+OK bye");
  EXPECT_NE(out.find("+OK Logged in\r\n+OK 3 "), std::string::npos) << out;
  EXPECT_NE(out.find("+OK message follows\r\nSubject: two\r\n\r\ntwo\r\n.\r\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("+OK 1 00000001"), std::string::npos) << out;
  EXPECT_NE(out.find("+OK bye"), std::string::npos) << out;
  // Unlocked before the reply was sent, so a client may come straight back.
  EXPECT_FALSE(service_->is_locked(account_.id));
  EXPECT_EQ(inbox_count(), 1u);
  // The survivor is message 1 of the next session, with the same UIDL as before.
  out = session("USER alice@example.org\r\nPASS secret\r\nUIDL\r\nQUIT\r\n", "+OK bye");
  EXPECT_NE(out.find("1 00000002"), std::string::npos) << out;
}

TEST_F(Pop3ServiceTest, PipelinedRetrOfLargeMessagesIsStreamed) {
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < 300 * 1024) {
    big += std::string(78, 'b') + "\r\n";
  }
  deliver(big);
  std::string commands = "USER alice@example.org\r\nPASS secret\r\n";
  for (int i = 0; i < 10; ++i) {
    commands += "RETR 4\r\n";
  }
  std::string out = session(commands + "QUIT\r\n", "+OK bye");
  std::size_t count = 0;
  for (auto pos = out.find("+OK message follows"); pos != std::string::npos;
       pos = out.find("+OK message follows", pos + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 10u);
  EXPECT_GT(out.size(), 10 * big.size());
}

TEST_F(Pop3ServiceTest, DeletionsWithoutQuitAreDropped) {
  std::string out =
      session("USER alice@example.org\r\nPASS secret\r\nDELE 1\r\n", "message 1 deleted\r\n");
  EXPECT_NE(out.find("+OK message 1 deleted"), std::string::npos) << out;
  // The connection closed without QUIT: nothing removed, and the lock is free.
  for (int i = 0; i < 100 && service_->is_locked(account_.id); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(service_->is_locked(account_.id));
  EXPECT_EQ(inbox_count(), 3u);
}

TEST_F(Pop3ServiceTest, SecondSessionGetsInUse) {
  auto first = runtime::testing::run_for(
      io_.context(),
      [](std::uint16_t port, Service* service,
         domain::AccountId id) -> asio::awaitable<std::string> {
        auto c = co_await runtime::connect_tcp({asio::ip::make_address("127.0.0.1"), port}, 5s,
                                               "client", log::Logger());
        if (!c) {
          co_return "<connect failed>";
        }
        co_await (*c)->write_all("USER alice@example.org\r\nPASS secret\r\n", 5s);
        std::string out;
        char buffer[1024];
        while (out.find("Logged in") == std::string::npos) {
          auto n = co_await (*c)->read_some(buffer, 5s);
          if (!n || *n == 0) {
            co_return out + "<eof>";
          }
          out.append(buffer, *n);
        }
        co_return service->is_locked(id) ? "locked" : "not locked";
      }(listener_->port(), service_.get(), account_.id),
      20000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "locked");
}

TEST_F(Pop3ServiceTest, ConcurrentLoginIsRefusedInUse) {
  // A first session logs in and stays open in the background.
  auto background = asio::co_spawn(
      asio::make_strand(io_.context()),
      [](std::uint16_t port) -> asio::awaitable<void> {
        auto c = co_await runtime::connect_tcp({asio::ip::make_address("127.0.0.1"), port}, 5s,
                                               "client", log::Logger());
        if (!c) {
          co_return;
        }
        co_await (*c)->write_all("USER alice@example.org\r\nPASS secret\r\n", 5s);
        char buffer[1024];
        std::string out;
        while (out.find("Logged in") == std::string::npos) {
          auto n = co_await (*c)->read_some(buffer, 5s);
          if (!n || *n == 0) {
            co_return;
          }
          out.append(buffer, *n);
        }
        // Hold the session until the peer test finishes (read times out).
        co_await (*c)->read_some(buffer, 3s);
      }(listener_->port()),
      asio::use_future);
  for (int i = 0; i < 300 && !service_->is_locked(account_.id); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(service_->is_locked(account_.id));
  std::string out = session("USER alice@example.org\r\nPASS secret\r\nQUIT\r\n", "+OK bye");
  EXPECT_NE(out.find("-ERR [IN-USE] "), std::string::npos) << out;
  background.wait();
}

TEST_F(Pop3ServiceTest, ThrottleBlocksAfterRepeatedFailures) {
  std::string out = session(
      "USER alice@example.org\r\nPASS bad1\r\nUSER alice@example.org\r\nPASS bad2\r\n"
      "USER alice@example.org\r\nPASS bad3\r\nUSER alice@example.org\r\nPASS secret\r\nQUIT\r\n",
      "+OK bye");
  EXPECT_NE(out.find("-ERR [AUTH] authentication failed"), std::string::npos) << out;
  EXPECT_NE(out.find("-ERR [SYS/TEMP] too many authentication failures"), std::string::npos) << out;
  EXPECT_EQ(out.find("Logged in"), std::string::npos) << out;
}

}  // namespace
}  // namespace tern::services::pop3
