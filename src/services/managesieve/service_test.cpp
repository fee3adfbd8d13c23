// SPDX-License-Identifier: Apache-2.0
// The ManageSieve service over real loopback sockets and the in-memory store:
// the greeting, login, scripts stored and activated in the Directory port,
// compile errors, the response codes of each store refusal, the throttle.
#include "services/managesieve/service.hpp"

#include <gtest/gtest.h>

#include "domain/accounts.hpp"
#include "runtime/system_clock.hpp"
#include "runtime/testing.hpp"
#include "sasl/base64.hpp"
#include "sieve/sieve.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::services::managesieve {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string plain(std::string_view user, std::string_view password) {
  std::string raw;
  raw += '\0';
  raw += user;
  raw += '\0';
  raw += password;
  return "AUTHENTICATE \"PLAIN\" \"" + sasl::base64_encode(raw) + "\"\r\n";
}

class ManageSieveServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_.start();
    ASSERT_TRUE(storage_.directory().add_domain("example.org").get());
    params_.argon2 = sasl::Argon2Params{1024, 1, 1};
    auto creds = domain::make_credentials("secret", params_, random_);
    ASSERT_TRUE(creds);
    auto account = domain::provision_account(
        storage_,
        domain::NewAccount{"alice@example.org", creds->password_hash, 0, creds->scram_sha256});
    ASSERT_TRUE(account);
    account_ = *account;
    domain::ThrottlePolicy policy;
    policy.failures_before_delay = 100;  // no waiting in tests
    policy.failures_before_block = 3;
    throttle_.set_policy(policy);
    start(Options{});
  }

  void start(Options options) {
    if (listener_) {
      listener_->stop_accepting();
      runtime::testing::run_for(io_.context(), listener_->drain(2s));
    }
    options.auth_params = params_;
    options.mock_secret = "test";
    service_ = std::make_unique<Service>(options, storage_, pool_, clock_, random_, registry_,
                                         throttle_, log::Logger());
    runtime::ListenerOptions lo;
    lo.name = "sieve";
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

  std::optional<domain::SieveScript> active() {
    auto script = storage_.directory().active_sieve_script(account_.id).get();
    return script ? *script : std::nullopt;
  }

  metrics::Registry registry_;
  store::memory::MemoryStorage storage_;
  runtime::SystemClock clock_;
  runtime::SystemRandom random_;
  domain::AuthThrottle throttle_;
  domain::AuthParams params_;
  runtime::IoThreads io_{2};
  runtime::BlockingPool pool_{2};
  domain::Account account_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<runtime::Listener> listener_;
};

TEST_F(ManageSieveServiceTest, GreetsWithWhatIsImplemented) {
  std::string out = session("LOGOUT\r\n", "Logout completed");
  EXPECT_TRUE(out.starts_with("\"IMPLEMENTATION\" \"tern\"\r\n")) << out;
  EXPECT_TRUE(contains(out, "\"SIEVE\" \"" + std::string(sieve::supported_extensions()) + "\"\r\n"))
      << out;
  // Loopback with allow_plaintext_on_loopback: PLAIN is offered.
  EXPECT_TRUE(contains(out, "\"SASL\" \"SCRAM-SHA-256 PLAIN LOGIN\"\r\n")) << out;
  EXPECT_TRUE(contains(out, "\"MAXREDIRECTS\" \"4\"\r\n")) << out;
  EXPECT_TRUE(contains(out, "\"VERSION\" \"1.0\"\r\n")) << out;
  EXPECT_FALSE(contains(out, "STARTTLS")) << out;  // no certificate
  EXPECT_FALSE(contains(out, "NOTIFY")) << out;    // no enotify
}

TEST_F(ManageSieveServiceTest, StoresActivatesAndServesScripts) {
  std::string script = "require \"fileinto\";\r\nfileinto \"Lists\";\r\n";
  std::string out = session(plain("alice@example.org", "secret") + "PUTSCRIPT \"main\" {" +
                                std::to_string(script.size()) + "+}\r\n" + script +
                                "\r\nSETACTIVE \"main\"\r\nLISTSCRIPTS\r\nGETSCRIPT \"main\"\r\n"
                                "CAPABILITY\r\nLOGOUT\r\n",
                            "Logout completed");
  EXPECT_TRUE(contains(out,
                       "OK \"Logged in\"\r\nOK \"Putscript completed\"\r\n"
                       "OK \"Setactive completed\"\r\n\"main\" ACTIVE\r\nOK"))
      << out;
  EXPECT_TRUE(contains(out, "{" + std::to_string(script.size()) + "}\r\n" + script + "\r\nOK"))
      << out;
  EXPECT_TRUE(contains(out, "\"OWNER\" \"alice@example.org\"\r\n")) << out;
  auto stored = active();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name, "main");
  EXPECT_EQ(stored->text, script);
}

TEST_F(ManageSieveServiceTest, RefusesWhatDoesNotCompileOrFit) {
  std::string out = session(plain("alice@example.org", "secret") +
                                "PUTSCRIPT \"bad\" {18+}\r\nkeep;\r\nfrobnicate;\r\n"
                                "CHECKSCRIPT \"require \\\"reject\\\";\"\r\n"
                                "CHECKSCRIPT \"keep;\"\r\n"
                                "PUTSCRIPT \"a/b\" \"keep;\"\r\n"
                                "PUTSCRIPT \"empty\" \"\"\r\n"
                                "HAVESPACE \"big\" 1048577\r\n"
                                "HAVESPACE \"ok\" 1048576\r\n"
                                "LISTSCRIPTS\r\nLOGOUT\r\n",
                            "Logout completed");
  auto lines = out.substr(out.find("OK \"Logged in\"\r\n") + 16);
  EXPECT_TRUE(lines.starts_with("NO \"line 2: ")) << lines;
  EXPECT_TRUE(contains(lines, "\r\nNO \"line 1: ")) << lines;
  EXPECT_TRUE(contains(lines,
                       "\r\nOK \"Script is valid\"\r\nNO \"Invalid script name\"\r\n"
                       "NO \"Empty script\"\r\n"
                       "NO (QUOTA/MAXSIZE) \"Script too large (max 1048576 bytes)\"\r\n"
                       "OK \"Havespace completed\"\r\nOK \"Listscripts completed\"\r\n"))
      << lines;
  EXPECT_TRUE(storage_.directory().sieve_scripts(account_.id).get()->empty());
}

TEST_F(ManageSieveServiceTest, MapsStoreRefusalsToResponseCodes) {
  std::string out = session(plain("alice@example.org", "secret") +
                                "PUTSCRIPT \"a\" \"keep;\"\r\nPUTSCRIPT \"b\" \"discard;\"\r\n"
                                "SETACTIVE \"a\"\r\n"
                                "DELETESCRIPT \"a\"\r\n"
                                "RENAMESCRIPT \"b\" \"a\"\r\n"
                                "RENAMESCRIPT \"nope\" \"c\"\r\n"
                                "GETSCRIPT \"nope\"\r\n"
                                "SETACTIVE \"nope\"\r\n"
                                "DELETESCRIPT \"nope\"\r\n"
                                "RENAMESCRIPT \"a\" \"renamed\"\r\n"
                                "SETACTIVE \"\"\r\n"
                                "DELETESCRIPT \"renamed\"\r\n"
                                "LISTSCRIPTS\r\nLOGOUT\r\n",
                            "Logout completed");
  auto lines = out.substr(out.find("OK \"Logged in\"\r\n") + 16);
  EXPECT_EQ(lines,
            "OK \"Putscript completed\"\r\nOK \"Putscript completed\"\r\n"
            "OK \"Setactive completed\"\r\n"
            "NO (ACTIVE) \"The active script cannot be deleted\"\r\n"
            "NO (ALREADYEXISTS) \"A script by that name already exists\"\r\n"
            "NO (NONEXISTENT) \"There is no script by that name\"\r\n"
            "NO (NONEXISTENT) \"There is no script by that name\"\r\n"
            "NO (NONEXISTENT) \"There is no script by that name\"\r\n"
            "NO (NONEXISTENT) \"There is no script by that name\"\r\n"
            "OK \"Renamescript completed\"\r\nOK \"Setactive completed\"\r\n"
            "OK \"Deletescript completed\"\r\n"
            "\"b\"\r\nOK \"Listscripts completed\"\r\n"
            "OK \"Logout completed\"\r\n");
  EXPECT_FALSE(active());
}

TEST_F(ManageSieveServiceTest, FailedLoginsAreThrottled) {
  std::string out =
      session(plain("alice@example.org", "wrong") + "LISTSCRIPTS\r\n" +
                  plain("alice@example.org", "wrong") + plain("alice@example.org", "wrong") +
                  plain("alice@example.org", "secret") + "LOGOUT\r\n",
              "Logout completed");
  EXPECT_TRUE(contains(out, "NO \"Authentication failed\"\r\nNO \"Authenticate first\"\r\n"))
      << out;
  EXPECT_TRUE(contains(out, "NO (TRYLATER) \"Too many authentication failures")) << out;
  EXPECT_FALSE(contains(out, "Logged in")) << out;
}

TEST_F(ManageSieveServiceTest, PlaintextNeedsTlsUnlessLoopbackIsAllowed) {
  Options options;
  options.allow_plaintext_on_loopback = false;
  start(options);
  std::string out =
      session(plain("alice@example.org", "secret") + "LOGOUT\r\n", "Logout completed");
  EXPECT_TRUE(contains(out, "\"SASL\" \"SCRAM-SHA-256\"\r\n")) << out;
  EXPECT_TRUE(contains(out, "NO (ENCRYPT-NEEDED)")) << out;
}

}  // namespace
}  // namespace tern::services::managesieve
