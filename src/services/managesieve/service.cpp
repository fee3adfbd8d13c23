// SPDX-License-Identifier: Apache-2.0
#include "services/managesieve/service.hpp"

#include <variant>

#include "base/utf8.hpp"
#include "services/common/line_session.hpp"
#include "sieve/sieve.hpp"

namespace tern::services::managesieve {

namespace engine = ::tern::managesieve;

struct Service::Session {
  Session(Service& service, std::unique_ptr<runtime::Connection> c, engine::Options options)
      : connection(std::move(c)), engine(std::move(options), service.random_) {}

  std::unique_ptr<runtime::Connection> connection;
  engine::ServerEngine engine;
  std::string ip;
  // Set by login only: before it, no command can reach the scripts.
  std::optional<domain::Account> account;
  std::optional<domain::Account> scram_account;  // found by a SCRAM lookup
};

Service::Service(Options options, domain::Storage& storage, runtime::BlockingPool& pool,
                 const Clock& clock, Random& random, metrics::Registry& registry,
                 domain::AuthThrottle& throttle, log::Logger logger)
    : options_(std::move(options)),
      storage_(storage),
      pool_(pool),
      random_(random),
      registry_(registry),
      login_("managesieve", "ManageSieve", storage.directory(), pool, clock, random, registry,
             throttle, options_.auth_params),
      logger_(std::move(logger)) {}

runtime::ConnectionHandler Service::handler() {
  return [this](std::unique_ptr<runtime::Connection> connection) {
    return serve(std::move(connection));
  };
}

namespace {

bool is_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (!utf8::next(text, i)) {
      return false;
    }
  }
  return true;
}

engine::Response ok(std::string text) {
  return {engine::Status::kOk, engine::ResponseCode::kNone, std::move(text)};
}

engine::Response no(std::string text, engine::ResponseCode code = engine::ResponseCode::kNone) {
  return {engine::Status::kNo, code, std::move(text)};
}

// How ManageSieve words a refused login step (RFC 5804 §1.3: TRYLATER for
// what may pass).
void refuse(engine::ServerEngine& engine, LoginRefusal refusal) {
  switch (refusal) {
    case LoginRefusal::kBlocked:
      engine.login_failed(engine::ResponseCode::kTryLater,
                          "Too many authentication failures, try again later");
      return;
    case LoginRefusal::kDenied:
      engine.login_failed(engine::ResponseCode::kNone, "Authentication failed");
      return;
    case LoginRefusal::kStoreError:
      engine.login_failed(engine::ResponseCode::kTryLater, "Temporary failure, try again later");
      return;
  }
}

engine::Response no_such_script() {
  return no("There is no script by that name", engine::ResponseCode::kNonexistent);
}

}  // namespace

void Service::logged_in(Session& s, domain::Account account) {
  login_.count("success");
  s.connection->logger().info("managesieve login", {{"user", account.address}});
  s.engine.login_succeeded(account.address);
  s.account = std::move(account);
}

asio::awaitable<void> Service::authenticate_password(Session& s, std::string user,
                                                     std::string password) {
  auto checked =
      co_await login_.check_password(*s.connection, s.ip, std::move(user), std::move(password));
  if (!checked.account) {
    refuse(s.engine, checked.refusal);
    co_return;
  }
  logged_in(s, std::move(*checked.account));
}

asio::awaitable<void> Service::lookup_scram(Session& s, std::string user) {
  auto checked = co_await login_.find_scram(*s.connection, s.ip, std::move(user));
  if (!checked.lookup) {
    refuse(s.engine, checked.refusal);
    co_return;
  }
  s.scram_account = checked.lookup->account;
  s.engine.supply_scram_credential(std::move(checked.lookup->credential));
}

asio::awaitable<std::optional<std::string>> Service::compile_error(std::string text) {
  auto shared = std::make_shared<const std::string>(std::move(text));
  // A large script takes milliseconds to compile: on the pool, off the I/O thread.
  auto job = [shared]() -> std::optional<std::string> {
    auto compiled = sieve::compile(*shared);
    if (compiled) {
      return std::nullopt;
    }
    return compiled.error().message;
  };
  co_return co_await runtime::offload(pool_, std::move(job));
}

asio::awaitable<void> Service::run_command(Session& s, engine::Event& event) {
  auto& directory = storage_.directory();
  const log::Logger& log = s.connection->logger();
  domain::AccountId account = s.account->id;
  // A store failure: logged, then answered by the one mapping (NONEXISTENT,
  // ACTIVE, ALREADYEXISTS, TRYLATER).
  auto store_failed = [&](std::string_view what, const Error& error) {
    if (error.code != ErrorCode::kNotFound && error.code != ErrorCode::kConflict &&
        error.code != ErrorCode::kAlreadyExists && error.code != ErrorCode::kInvalidInput) {
      log.error("managesieve store error",
                {{"command", std::string(what)}, {"error", error.message}});
    }
    s.engine.answer(engine::response_for(error));
  };
  auto too_large = [&] {
    return no("Script too large (max " + std::to_string(options_.max_script_bytes) + " bytes)",
              engine::ResponseCode::kQuotaMaxSize);
  };

  if (auto* have = std::get_if<engine::HaveSpace>(&event)) {
    // RFC 5804 §2.5: would PUTSCRIPT of this name and size be accepted?
    if (!domain::is_valid_sieve_script_name(have->name)) {
      s.engine.answer(no("Invalid script name"));
    } else if (have->size > options_.max_script_bytes) {
      s.engine.answer(too_large());
    } else {
      s.engine.answer(ok("Havespace completed"));
    }
    co_return;
  }
  if (auto* put = std::get_if<engine::PutScript>(&event)) {
    // RFC 5804 §2.6: nothing that fails validation is stored.
    if (!domain::is_valid_sieve_script_name(put->name)) {
      s.engine.answer(no("Invalid script name"));
      co_return;
    }
    if (put->text.empty()) {
      s.engine.answer(no("Empty script"));  // §2.6: SHOULD be disallowed
      co_return;
    }
    if (put->text.size() > options_.max_script_bytes) {
      s.engine.answer(too_large());
      co_return;
    }
    if (!is_utf8(put->text)) {
      s.engine.answer(no("Script is not valid UTF-8"));  // RFC 5228 §1
      co_return;
    }
    if (auto error = co_await compile_error(put->text)) {
      s.engine.answer(no(*error));
      co_return;
    }
    std::size_t size = put->text.size();
    auto stored = co_await runtime::await(
        directory.put_sieve_script(account, put->name, std::move(put->text)));
    if (!stored) {
      store_failed("PUTSCRIPT", stored.error());
      co_return;
    }
    log.info("managesieve script stored", {{"script", put->name}, {"bytes", std::to_string(size)}});
    s.engine.answer(ok("Putscript completed"));
    co_return;
  }
  if (auto* check = std::get_if<engine::CheckScript>(&event)) {
    // RFC 5804 §2.12: the same validation as PUTSCRIPT, nothing stored, no quota.
    if (!is_utf8(check->text)) {
      s.engine.answer(no("Script is not valid UTF-8"));
    } else if (check->text.size() > options_.max_script_bytes) {
      s.engine.answer(too_large());
    } else if (auto error = co_await compile_error(std::move(check->text))) {
      s.engine.answer(no(*error));
    } else {
      s.engine.answer(ok("Script is valid"));
    }
    co_return;
  }
  if (std::holds_alternative<engine::ListScripts>(event) ||
      std::holds_alternative<engine::GetScript>(event)) {
    auto scripts = co_await runtime::await(directory.sieve_scripts(account));
    if (!scripts) {
      store_failed("LISTSCRIPTS", scripts.error());
      co_return;
    }
    if (auto* get = std::get_if<engine::GetScript>(&event)) {
      for (const auto& script : *scripts) {
        if (script.name == get->name) {
          s.engine.send_script(script.text);
          co_return;
        }
      }
      s.engine.answer(no_such_script());
      co_return;
    }
    std::vector<engine::ListedScript> listed;
    listed.reserve(scripts->size());
    for (const auto& script : *scripts) {
      listed.push_back({script.name, script.active});
    }
    s.engine.send_script_list(listed);
    co_return;
  }
  if (auto* set = std::get_if<engine::SetActive>(&event)) {
    // RFC 5804 §2.8: "" deactivates; a name that cannot exist does not.
    std::optional<std::string> name;
    if (!set->name.empty()) {
      if (!domain::is_valid_sieve_script_name(set->name)) {
        s.engine.answer(no_such_script());
        co_return;
      }
      name = set->name;
    }
    auto done = co_await runtime::await(directory.activate_sieve_script(account, name));
    if (!done) {
      store_failed("SETACTIVE", done.error());
      co_return;
    }
    log.info("managesieve active script", {{"script", set->name}});
    s.engine.answer(ok("Setactive completed"));
    co_return;
  }
  if (auto* del = std::get_if<engine::DeleteScript>(&event)) {
    if (!domain::is_valid_sieve_script_name(del->name)) {
      s.engine.answer(no_such_script());
      co_return;
    }
    auto done = co_await runtime::await(directory.remove_sieve_script(account, del->name));
    if (!done) {
      store_failed("DELETESCRIPT", done.error());  // §2.10: the active one is kConflict
      co_return;
    }
    log.info("managesieve script deleted", {{"script", del->name}});
    s.engine.answer(ok("Deletescript completed"));
    co_return;
  }
  if (auto* rename = std::get_if<engine::RenameScript>(&event)) {
    if (!domain::is_valid_sieve_script_name(rename->from)) {
      s.engine.answer(no_such_script());
      co_return;
    }
    if (!domain::is_valid_sieve_script_name(rename->to)) {
      s.engine.answer(no("Invalid script name"));
      co_return;
    }
    auto done =
        co_await runtime::await(directory.rename_sieve_script(account, rename->from, rename->to));
    if (!done) {
      store_failed("RENAMESCRIPT", done.error());
      co_return;
    }
    log.info("managesieve script renamed", {{"script", rename->from}, {"to", rename->to}});
    s.engine.answer(ok("Renamescript completed"));
    co_return;
  }
}

asio::awaitable<void> Service::serve(std::unique_ptr<runtime::Connection> connection) {
  engine::Options eo;
  bool tls = connection->is_tls();
  bool loopback = connection->peer_address().is_loopback();
  eo.tls_active = tls;
  eo.starttls_available = options_.offer_starttls && options_.tls != nullptr;
  eo.plaintext_allowed =
      domain::plaintext_auth_allowed(tls, loopback, options_.allow_plaintext_on_loopback);
  eo.sieve_extensions = std::string(sieve::supported_extensions());
  // RFC 5804 §1.7 MAXREDIRECTS: what one delivery run allows (domain::deliver
  // runs scripts with the default environment).
  eo.max_redirects = sieve::Environment{}.max_redirects;
  eo.sasl.mock_secret = options_.mock_secret;
  eo.sasl.channel_bindings = channel_bindings_of(*connection);
  eo.limits = options_.limits;
  Session s(*this, std::move(connection), std::move(eo));
  s.ip = s.connection->peer_address().to_string();
  const log::Logger& log = s.connection->logger();
  registry_.counter("tern_managesieve_sessions_total", "ManageSieve sessions started.").inc();
  LineSession io(*s.connection, s.engine, options_.write_timeout, "managesieve");
  for (;;) {
    if (!co_await io.flush_if_large()) {
      co_return;
    }
    engine::Event event = s.engine.next();
    if (std::holds_alternative<engine::NeedInput>(event)) {
      auto timeout = s.engine.state() == engine::State::kAuthenticated
                         ? options_.authenticated_timeout
                         : options_.preauth_timeout;
      if (!co_await io.read(timeout, "session ended without LOGOUT")) {
        co_return;
      }
      continue;
    }
    if (std::holds_alternative<engine::Close>(event)) {
      co_await io.flush();
      co_return;
    }
    if (std::holds_alternative<engine::StartTls>(event)) {
      if (!co_await io.start_tls(*options_.tls, options_.tls_timeout,
                                 options_.allow_plaintext_on_loopback, "STARTTLS")) {
        co_return;
      }
      continue;
    }
    if (auto* check = std::get_if<engine::CheckPassword>(&event)) {
      co_await authenticate_password(s, std::move(check->user), std::move(check->password));
      continue;
    }
    if (auto* need = std::get_if<engine::NeedScramCredential>(&event)) {
      co_await lookup_scram(s, std::move(need->user));
      continue;
    }
    if (auto* authenticated = std::get_if<engine::Authenticated>(&event)) {
      login_.proved(s.ip, authenticated->user);
      auto account = std::exchange(s.scram_account, std::nullopt);
      if (!account) {
        s.engine.login_failed(engine::ResponseCode::kNone, "Authentication failed");
        continue;
      }
      logged_in(s, std::move(*account));
      continue;
    }
    if (auto* failed = std::get_if<engine::AuthFailed>(&event)) {
      s.scram_account.reset();
      co_await login_.sasl_failed(*s.connection, s.ip, failed->user, failed->reason);
      s.engine.login_failed(engine::ResponseCode::kNone, "Authentication failed");
      continue;
    }
    if (std::holds_alternative<engine::LoggedOut>(event)) {
      // UNAUTHENTICATE (RFC 5804 §2.14.1): the scripts are out of reach again.
      log.info("managesieve unauthenticate", {{"user", s.account ? s.account->address : ""}});
      s.account.reset();
      continue;
    }
    // A script command: the engine emits them only after login.
    if (!s.account) {
      s.engine.answer(no("Authenticate first"));
      continue;
    }
    try {
      co_await run_command(s, event);
    } catch (const std::exception& e) {
      // The per-command boundary (ARCHITECTURE.md §6): answer, log, go on.
      log.error("managesieve command failed", {{"error", e.what()}});
      s.engine.answer(no("Internal error", engine::ResponseCode::kTryLater));
    }
  }
}

}  // namespace tern::services::managesieve
