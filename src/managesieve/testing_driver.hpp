// SPDX-License-Identifier: Apache-2.0
// For managesieve tests and the fuzz target only: a scripted stand-in for the
// service that answers every engine event from a user table and an in-memory
// script list (no Sieve compiler: a script containing "error" fails to compile).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/fixed_random.hpp"
#include "managesieve/server_engine.hpp"
#include "sasl/scram.hpp"

namespace tern::managesieve::testing {

// Users: alice@example.org / "secret" (SCRAM too).
class Driver {
 public:
  explicit Driver(Options options) : engine_(std::move(options), random_) {}

  // Answers events until the engine needs input or closes; returns false once closed.
  bool drive() {
    for (int guard = 0; guard < 100000; ++guard) {
      Event event = engine_.next();
      output_.append(engine_.output());
      engine_.consume_output(engine_.output().size());
      if (std::holds_alternative<NeedInput>(event)) {
        return true;
      }
      if (std::holds_alternative<Close>(event)) {
        closed_ = true;
        return false;
      }
      answer(event);
      output_.append(engine_.output());
      engine_.consume_output(engine_.output().size());
    }
    return false;
  }

  void answer(const Event& event) {
    using S = Status;
    using C = ResponseCode;
    if (std::holds_alternative<StartTls>(event)) {
      sasl::ChannelBindings bindings;
      bindings.tls_exporter = std::string(32, 'x');
      engine_.tls_started(true, bindings);
    } else if (auto* check = std::get_if<CheckPassword>(&event)) {
      login(check->user, check->password == "secret");
    } else if (auto* need = std::get_if<NeedScramCredential>(&event)) {
      if (need->user == "alice@example.org") {
        engine_.supply_scram_credential(*sasl::derive_scram_credential("secret", "salt", 4096));
      } else {
        engine_.supply_scram_credential(std::nullopt);
      }
    } else if (auto* authenticated = std::get_if<Authenticated>(&event)) {
      login(authenticated->user, true);
    } else if (std::holds_alternative<AuthFailed>(event)) {
      engine_.login_failed(C::kNone, "Authentication failed");
    } else if (auto* have = std::get_if<HaveSpace>(&event)) {
      engine_.answer(have->size > (1u << 20) ? Response{S::kNo, C::kQuotaMaxSize, "too big"}
                                             : Response{S::kOk, C::kNone, ""});
    } else if (auto* put = std::get_if<PutScript>(&event)) {
      if (put->text.find("error") != std::string::npos) {
        engine_.answer({S::kNo, C::kNone, "line 1: error"});
      } else {
        scripts_[put->name] = put->text;
        engine_.answer({S::kOk, C::kNone, ""});
      }
    } else if (std::holds_alternative<ListScripts>(event)) {
      std::vector<ListedScript> list;
      for (const auto& [name, text] : scripts_) {
        list.push_back({name, active_ == name});
      }
      engine_.send_script_list(list);
    } else if (auto* set = std::get_if<SetActive>(&event)) {
      if (set->name.empty() || scripts_.contains(set->name)) {
        active_ = set->name;
        engine_.answer({S::kOk, C::kNone, ""});
      } else {
        engine_.answer({S::kNo, C::kNonexistent, "no such script"});
      }
    } else if (auto* get = std::get_if<GetScript>(&event)) {
      auto it = scripts_.find(get->name);
      if (it == scripts_.end()) {
        engine_.answer({S::kNo, C::kNonexistent, "no such script"});
      } else {
        engine_.send_script(it->second);
      }
    } else if (auto* del = std::get_if<DeleteScript>(&event)) {
      if (!scripts_.contains(del->name)) {
        engine_.answer({S::kNo, C::kNonexistent, "no such script"});
      } else if (active_ == del->name) {
        engine_.answer({S::kNo, C::kActive, "active"});
      } else {
        scripts_.erase(del->name);
        engine_.answer({S::kOk, C::kNone, ""});
      }
    } else if (auto* rename = std::get_if<RenameScript>(&event)) {
      if (!scripts_.contains(rename->from)) {
        engine_.answer({S::kNo, C::kNonexistent, "no such script"});
      } else if (scripts_.contains(rename->to)) {
        engine_.answer({S::kNo, C::kAlreadyExists, "exists"});
      } else {
        scripts_[rename->to] = scripts_[rename->from];
        scripts_.erase(rename->from);
        if (active_ == rename->from) {
          active_ = rename->to;
        }
        engine_.answer({S::kOk, C::kNone, ""});
      }
    } else if (auto* check_script = std::get_if<CheckScript>(&event)) {
      engine_.answer(check_script->text.find("error") != std::string::npos
                         ? Response{S::kNo, C::kNone, "line 1: error"}
                         : Response{S::kOk, C::kNone, ""});
    }
  }

  void login(const std::string& user, bool password_ok) {
    if (!password_ok || user != "alice@example.org") {
      engine_.login_failed(ResponseCode::kNone, "Authentication failed");
    } else {
      engine_.login_succeeded(user);
    }
  }

  // Feeds `bytes` one chunk of `chunk` bytes at a time, driving after each.
  void feed(std::string_view bytes, std::size_t chunk = 0) {
    if (chunk == 0) {
      chunk = bytes.size();
    }
    for (std::size_t i = 0; i < bytes.size() && !closed_; i += chunk) {
      engine_.receive(bytes.substr(i, std::min(chunk, bytes.size() - i)));
      drive();
    }
  }

  ServerEngine& engine() { return engine_; }

  std::string take_output() { return std::exchange(output_, std::string()); }

  bool closed() const { return closed_; }

  const std::map<std::string, std::string>& scripts() const { return scripts_; }

  const std::string& active() const { return active_; }

 private:
  FixedRandom random_;
  ServerEngine engine_;
  std::string output_;
  std::map<std::string, std::string> scripts_;
  std::string active_;
  bool closed_ = false;
};

}  // namespace tern::managesieve::testing
