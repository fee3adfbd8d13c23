// SPDX-License-Identifier: Apache-2.0
// LOGIN and AUTHENTICATE (RFC 9051 §6.2.2, §6.2.3; RFC 4959 SASL-IR), over the
// shared authenticator and brute-force throttle (docs/adr/0008-authentication.md).
#include <fmt/format.h>

#include "base/ascii.hpp"
#include "sasl/base64.hpp"
#include "services/imap/handlers.hpp"
#include "services/imap/handlers_internal.hpp"

namespace tern::services::imap {

using tern::imap::ServerEngine;
using tern::imap::Status;

namespace detail {

Failure failure_for(const Error& error) {
  switch (error.code) {
    case ErrorCode::kNotFound:
      return {"NONEXISTENT", "no such mailbox"};
    case ErrorCode::kAlreadyExists:
      return {"ALREADYEXISTS", "mailbox already exists"};
    case ErrorCode::kLimitExceeded:
      return {"OVERQUOTA", "quota exceeded"};
    case ErrorCode::kTemporary:
    case ErrorCode::kTimeout:
      return {"UNAVAILABLE", "try again later"};
    case ErrorCode::kInvalidInput:
      return {"CANNOT", error.message};
    default:
      return {"SERVERBUG", "internal error"};
  }
}

void complete_no(ServerEngine& engine, const Error& error) {
  auto f = failure_for(error);
  engine.complete(Status::kNo, f.code, f.text);
}

}  // namespace detail

void Handlers::logged_in(const domain::Account& account, ServerEngine& engine) {
  account_ = account;
  shared_.throttle.record_success(info_.peer_ip, account.address, shared_.clock.monotonic());
  // RFC 9051 §6.2.3: the capabilities may change after login; say which.
  engine.complete(Status::kOk, fmt::format("CAPABILITY {}", fmt::join(capabilities(), " ")),
                  "logged in");
}

Next Handlers::login(const tern::imap::LoginCommand& c, ServerEngine& engine) {
  if (!plaintext_allowed()) {
    // RFC 9051 §6.2.3 / §7.1: LOGINDISABLED was advertised.
    engine.complete(Status::kNo, "PRIVACYREQUIRED", "LOGIN is disabled without TLS");
    return Next::kDone;
  }
  auto now = shared_.clock.monotonic();
  auto decision = shared_.throttle.check(info_.peer_ip, c.user, now);
  if (decision.blocked) {
    engine.complete(Status::kNo, "UNAVAILABLE", "too many failed logins, try later");
    return Next::kDone;
  }
  delay_ = decision.delay;
  auto account = domain::authenticate(shared_.storage.directory(), c.user, c.password,
                                      shared_.auth_params, shared_.random);
  if (account) {
    logged_in(*account, engine);
  } else if (account.error().code == ErrorCode::kPermissionDenied) {
    shared_.throttle.record_failure(info_.peer_ip, c.user, now);
    engine.complete(Status::kNo, "AUTHENTICATIONFAILED", "invalid credentials");
  } else {
    engine.complete(Status::kNo, "UNAVAILABLE", "authentication temporarily unavailable");
  }
  return Next::kDone;
}

Next Handlers::authenticate(const tern::imap::AuthenticateCommand& c, ServerEngine& engine) {
  auto offered = sasl::advertised_mechanisms(plaintext_allowed(), info_.channel_bindings.any());
  if (std::find(offered.begin(), offered.end(), c.mechanism) == offered.end()) {
    engine.complete(Status::kNo, "CANNOT", "unsupported authentication mechanism");
    return Next::kDone;
  }
  auto decision = shared_.throttle.check(info_.peer_ip, "", shared_.clock.monotonic());
  if (decision.blocked) {
    engine.complete(Status::kNo, "UNAVAILABLE", "too many failed logins, try later");
    return Next::kDone;
  }
  delay_ = decision.delay;
  sasl::ServerOptions options;
  options.plus_advertised = info_.channel_bindings.any();
  options.channel_bindings = info_.channel_bindings;
  options.mock_secret = shared_.sasl_mock_secret;
  mechanism_ = sasl::make_server_mechanism(c.mechanism, options, shared_.random);
  if (!mechanism_) {
    engine.complete(Status::kNo, "CANNOT", "unsupported authentication mechanism");
    return Next::kDone;
  }
  std::optional<std::string> initial;
  if (c.initial_response) {
    // RFC 4959 §3: "=" is an empty initial response.
    if (*c.initial_response == "=") {
      initial = std::string();
    } else {
      initial = sasl::base64_decode(*c.initial_response);
      if (!initial) {
        mechanism_.reset();
        engine.complete(Status::kBad, "", "invalid base64 in the initial response");
        return Next::kDone;
      }
    }
  }
  return sasl_step(mechanism_->start(initial), engine);
}

Next Handlers::auth_response(const std::string& line, ServerEngine& engine) {
  if (!mechanism_) {
    engine.complete(Status::kBad, "", "no authentication in progress");
    return Next::kDone;
  }
  auto decoded = sasl::base64_decode(line);
  if (!decoded) {
    mechanism_.reset();
    engine.complete(Status::kBad, "", "invalid base64 in the response");
    return Next::kDone;
  }
  return sasl_step(mechanism_->step(*decoded), engine);
}

void Handlers::auth_cancelled() {
  mechanism_.reset();
}

Next Handlers::sasl_step(sasl::StepResult result, ServerEngine& engine) {
  auto now = shared_.clock.monotonic();
  while (true) {
    switch (result.kind) {
      case sasl::StepKind::kChallenge:
        engine.continuation(sasl::base64_encode(result.data));
        return Next::kWait;
      case sasl::StepKind::kNeedScramCredential: {
        auto lookup =
            domain::find_scram_credential(shared_.storage.directory(), result.identity.authcid);
        if (!lookup) {
          mechanism_.reset();
          engine.complete(Status::kNo, "UNAVAILABLE", "authentication temporarily unavailable");
          return Next::kDone;
        }
        scram_account_ = lookup->account;
        result = mechanism_->supply_scram_credential(lookup->credential);
        continue;
      }
      case sasl::StepKind::kCheckPassword: {
        std::string user = result.identity.authcid;
        auto account =
            domain::authenticate(shared_.storage.directory(), user, result.identity.password,
                                 shared_.auth_params, shared_.random);
        mechanism_.reset();
        if (account) {
          logged_in(*account, engine);
        } else if (account.error().code == ErrorCode::kPermissionDenied) {
          shared_.throttle.record_failure(info_.peer_ip, user, now);
          engine.complete(Status::kNo, "AUTHENTICATIONFAILED", "invalid credentials");
        } else {
          engine.complete(Status::kNo, "UNAVAILABLE", "authentication temporarily unavailable");
        }
        return Next::kDone;
      }
      case sasl::StepKind::kSuccess: {
        mechanism_.reset();
        auto account = std::move(scram_account_);
        scram_account_.reset();
        if (account) {
          logged_in(*account, engine);
        } else {
          engine.complete(Status::kNo, "AUTHENTICATIONFAILED", "invalid credentials");
        }
        return Next::kDone;
      }
      case sasl::StepKind::kFailure:
        shared_.throttle.record_failure(info_.peer_ip, result.identity.authcid, now);
        mechanism_.reset();
        engine.complete(Status::kNo, "AUTHENTICATIONFAILED", "authentication failed");
        return Next::kDone;
    }
  }
}

}  // namespace tern::services::imap
