// SPDX-License-Identifier: Apache-2.0
#include "services/common/login.hpp"

#include <memory>
#include <utility>

namespace tern::services {

sasl::ChannelBindings channel_bindings_of(const runtime::Connection& connection) {
  sasl::ChannelBindings bindings;
  if (connection.is_tls()) {
    bindings.tls_exporter =
        connection.tls_exporter(runtime::kTlsExporterLabel, runtime::kTlsExporterLength);
    bindings.tls_unique = connection.tls_unique();
  }
  return bindings;
}

LoginGate::LoginGate(std::string protocol, std::string display, domain::Directory& directory,
                     runtime::BlockingPool& pool, const Clock& clock, Random& random,
                     metrics::Registry& registry, domain::AuthThrottle& throttle,
                     domain::AuthParams params)
    : protocol_(std::move(protocol)),
      display_(std::move(display)),
      directory_(directory),
      pool_(pool),
      clock_(clock),
      random_(random),
      registry_(registry),
      throttle_(throttle),
      params_(std::move(params)) {}

void LoginGate::count(std::string_view result) {
  registry_
      .counter("tern_" + protocol_ + "_auth_total",
               display_ + " authentication attempts, by result.", {{"result", std::string(result)}})
      .inc();
}

asio::awaitable<bool> LoginGate::throttled(runtime::Connection& connection, const std::string& ip,
                                           const std::string& user) {
  auto decision = throttle_.check(ip, user, clock_.monotonic());
  if (decision.blocked) {
    count("blocked");
    connection.logger().info(protocol_ + " login blocked by the auth throttle", {{"user", user}});
    co_return true;
  }
  if (decision.delay.count() > 0) {
    asio::steady_timer timer(connection.executor(), decision.delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return false;
}

asio::awaitable<PasswordCheck> LoginGate::check_password(runtime::Connection& connection,
                                                         const std::string& ip, std::string user,
                                                         std::string password) {
  if (co_await throttled(connection, ip, user)) {
    co_return PasswordCheck{std::nullopt, LoginRefusal::kBlocked};
  }
  // argon2 is CPU- and memory-heavy: never on an I/O thread. The job is a named
  // local holding shared strings: GCC 12 relocates lambda temporaries in a
  // co_await operand bitwise, which breaks captured short (SSO) strings.
  auto credentials =
      std::make_shared<std::pair<std::string, std::string>>(user, std::move(password));
  auto job = [this, credentials] {
    return domain::authenticate(directory_, credentials->first, credentials->second, params_,
                                random_);
  };
  auto result = co_await runtime::offload(pool_, std::move(job));
  if (!result) {
    if (result.error().code == ErrorCode::kPermissionDenied) {
      throttle_.record_failure(ip, user, clock_.monotonic());
      count("failure");
      connection.logger().info(protocol_ + " login failed", {{"user", user}});
      co_return PasswordCheck{std::nullopt, LoginRefusal::kDenied};
    }
    connection.logger().error(protocol_ + " login: store error",
                              {{"error", result.error().message}});
    co_return PasswordCheck{std::nullopt, LoginRefusal::kStoreError};
  }
  throttle_.record_success(ip, user, clock_.monotonic());
  co_return PasswordCheck{std::move(*result), LoginRefusal::kDenied};
}

asio::awaitable<ScramCheck> LoginGate::find_scram(runtime::Connection& connection,
                                                  const std::string& ip, std::string user) {
  if (co_await throttled(connection, ip, user)) {
    co_return ScramCheck{std::nullopt, LoginRefusal::kBlocked};
  }
  auto name = std::make_shared<const std::string>(std::move(user));
  auto job = [this, name] { return domain::find_scram_credential(directory_, *name); };
  auto lookup = co_await runtime::offload(pool_, std::move(job));
  if (!lookup) {
    connection.logger().error(protocol_ + " scram lookup: store error",
                              {{"error", lookup.error().message}});
    co_return ScramCheck{std::nullopt, LoginRefusal::kStoreError};
  }
  co_return ScramCheck{std::move(*lookup), LoginRefusal::kStoreError};
}

void LoginGate::proved(const std::string& ip, const std::string& user) {
  throttle_.record_success(ip, user, clock_.monotonic());
}

asio::awaitable<void> LoginGate::sasl_failed(runtime::Connection& connection, const std::string& ip,
                                             const std::string& user, const std::string& reason) {
  throttle_.record_failure(ip, user, clock_.monotonic());
  count("failure");
  connection.logger().info(protocol_ + " SASL authentication failed",
                           {{"user", user}, {"reason", reason}});
  auto decision = throttle_.check(ip, user, clock_.monotonic());
  if (decision.delay.count() > 0 && !decision.blocked) {
    asio::steady_timer timer(connection.executor(), decision.delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

}  // namespace tern::services
