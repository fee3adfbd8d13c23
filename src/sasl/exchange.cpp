// SPDX-License-Identifier: Apache-2.0
#include "sasl/exchange.hpp"

#include "base/ascii.hpp"
#include "sasl/base64.hpp"

namespace tern::sasl {

std::vector<std::string> ServerExchange::advertised(bool plaintext_allowed,
                                                    const ServerOptions& options) {
  return advertised_mechanisms(plaintext_allowed, options.channel_bindings.any());
}

std::optional<ServerExchange::Refusal> ServerExchange::begin(std::string_view name,
                                                             bool plaintext_allowed,
                                                             const ServerOptions& options,
                                                             Random& random) {
  mechanism_.reset();
  user_.clear();
  bool is_advertised = false;
  for (const auto& m : advertised(plaintext_allowed, options)) {
    is_advertised = is_advertised || ascii::iequals(m, name);
  }
  if (!is_advertised) {
    // Known but held back until TLS: say so, rather than "unsupported"
    // (RFC 5034 §4 / RFC 5804 §2.1.1 want the client told to encrypt).
    if (!plaintext_allowed && (ascii::iequals(name, "PLAIN") || ascii::iequals(name, "LOGIN"))) {
      return Refusal::kNeedsEncryption;
    }
    return Refusal::kUnsupported;
  }
  // RFC 5802 §6: a client that answers "y" (it could bind but thought we
  // could not) while PLUS was advertised has been downgraded.
  auto mechanism_options = options;
  mechanism_options.plus_advertised = options.channel_bindings.any();
  mechanism_ = make_server_mechanism(name, mechanism_options, random);
  if (!mechanism_) {
    return Refusal::kUnsupported;
  }
  return std::nullopt;
}

ServerExchange::Outcome ServerExchange::start(std::optional<std::string_view> initial_base64) {
  if (!mechanism_) {
    return fail("no mechanism");
  }
  std::optional<std::string> initial;
  if (initial_base64) {
    initial = base64_decode(*initial_base64);
    if (!initial) {
      return fail("invalid base64 in initial response");
    }
  }
  return on_step(
      mechanism_->start(initial ? std::optional<std::string_view>(*initial) : std::nullopt));
}

ServerExchange::Outcome ServerExchange::respond(std::string_view base64) {
  if (!mechanism_) {
    return fail("no exchange in progress");
  }
  auto decoded = base64_decode(base64);
  if (!decoded) {
    return fail("invalid base64 in response");
  }
  return on_step(mechanism_->step(*decoded));
}

ServerExchange::Outcome ServerExchange::supply_scram_credential(
    std::optional<ScramCredential> credential) {
  if (!mechanism_) {
    return fail("no exchange in progress");
  }
  return on_step(mechanism_->supply_scram_credential(std::move(credential)));
}

ServerExchange::Outcome ServerExchange::fail(std::string reason) {
  mechanism_.reset();
  return AuthFailed{user_, std::move(reason)};
}

ServerExchange::Outcome ServerExchange::on_step(StepResult result) {
  if (!result.identity.authcid.empty()) {
    user_ = result.identity.authcid;
  }
  switch (result.kind) {
    case StepKind::kChallenge:
      return Challenge{std::move(result.data)};
    case StepKind::kCheckPassword:
      mechanism_.reset();
      return CheckPassword{std::move(result.identity.authcid), std::move(result.identity.password)};
    case StepKind::kNeedScramCredential:
      return NeedScramCredential{std::move(result.identity.authcid)};
    case StepKind::kSuccess:
      mechanism_.reset();
      return Authenticated{std::move(result.identity.authcid)};
    case StepKind::kFailure:
      break;
  }
  return fail(std::move(result.reason));
}

}  // namespace tern::sasl
