// SPDX-License-Identifier: Apache-2.0
// For pop3 tests and the fuzz target only: a scripted stand-in for the service
// that answers every engine event from a fixed maildrop and user table.
#pragma once

#include <set>
#include <string>
#include <variant>
#include <vector>

#include "base/fixed_random.hpp"
#include "pop3/server_engine.hpp"
#include "sasl/scram.hpp"

namespace tern::pop3::testing {

// The messages every test maildrop holds: LF-only, CRLF, a dot-led line, and a
// message without a final line end.
inline std::vector<std::string> sample_messages() {
  return {
      "Subject: one\r\nFrom: a@example.org\r\n\r\nline 1\r\n.dot line\r\nline 3\r\n",
      "Subject: two\n\nbare LF body\n..two dots\n",
      "Subject: three\r\n\r\nno final newline",
  };
}

// Users: alice@example.org / "secret" (SCRAM too); locked@example.org / "secret"
// (maildrop in use); sysfail@example.org (store error).
class Driver {
 public:
  explicit Driver(Options options) : engine_(std::move(options), random_) {
    for (const auto& m : messages_) {
      maildrop_.push_back(MaildropEntry{wire_size(m), "uid-" + std::to_string(maildrop_.size())});
    }
  }

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
    }
    return false;
  }

  void answer(const Event& event) {
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
      engine_.login_failed(ResponseCode::kAuth, "authentication failed");
    } else if (auto* retrieve = std::get_if<Retrieve>(&event)) {
      engine_.send_message(messages_.at(retrieve->index));
    } else if (auto* update = std::get_if<Update>(&event)) {
      removed_ = update->deleted;
      engine_.update_done(true);
    }
  }

  void login(const std::string& user, bool password_ok) {
    if (!password_ok || (user != "alice@example.org" && user != "locked@example.org" &&
                         user != "sysfail@example.org")) {
      engine_.login_failed(ResponseCode::kAuth, "authentication failed");
    } else if (user == "locked@example.org") {
      engine_.login_failed(ResponseCode::kInUse, "maildrop in use by another session");
    } else if (user == "sysfail@example.org") {
      engine_.login_failed(ResponseCode::kSysTemp, "try again later");
    } else {
      engine_.login_succeeded(maildrop_);
    }
  }

  // Feeds `bytes` one chunk of `chunk` bytes at a time, driving after each.
  void feed(std::string_view bytes, std::size_t chunk = 0) {
    if (chunk == 0) {
      chunk = bytes.size();
    }
    for (std::size_t i = 0; i < bytes.size() && !closed_; i += chunk) {
      engine_.receive(bytes.substr(i, chunk));
      drive();
    }
  }

  ServerEngine& engine() { return engine_; }

  std::string take_output() { return std::exchange(output_, std::string()); }

  const std::vector<std::size_t>& removed() const { return removed_; }

  bool closed() const { return closed_; }

  const std::vector<std::string>& messages() const { return messages_; }

 private:
  FixedRandom random_;
  ServerEngine engine_;
  std::vector<std::string> messages_ = sample_messages();
  std::vector<MaildropEntry> maildrop_;
  std::string output_;
  std::vector<std::size_t> removed_;
  bool closed_ = false;
};

}  // namespace tern::pop3::testing
