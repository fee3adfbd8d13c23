// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/auth.hpp"

namespace tern::services::smtp {

using tern::smtp::Reply;

namespace {

const Reply kBlocked = Reply::of(454, "4.7.0", "too many authentication failures, try later");
const Reply kTemporaryFailure = Reply::of(454, "4.7.0", "temporary authentication failure");

}  // namespace

AuthOutcome AuthExchange::ended(const Reply& reply) {
  mechanism_.reset();
  return AuthOutcome{std::nullopt, reply, {}, std::nullopt};
}

AuthExchange::AuthExchange(domain::Directory& directory, domain::AuthThrottle& throttle,
                           domain::AuthParams params, Random& random, const Clock& clock,
                           std::string mock_secret)
    : directory_(directory),
      throttle_(throttle),
      params_(params),
      random_(random),
      clock_(clock),
      mock_secret_(std::move(mock_secret)) {}

AuthOutcome AuthExchange::start(const tern::smtp::AuthStart& start, std::string_view ip,
                                const sasl::ChannelBindings& bindings) {
  account_.reset();
  user_.clear();
  // A blocked address is refused before any password work, so an attacker
  // cannot make us burn argon2 time either.
  if (throttle_.check(ip, "", clock_.monotonic()).blocked) {
    return ended(kBlocked);
  }
  sasl::ServerOptions options;
  // With channel bindings SCRAM-SHA-256-PLUS was advertised, so a client that
  // says it could have used it but did not has been downgraded (RFC 5802 §6).
  options.plus_advertised = bindings.any();
  options.channel_bindings = bindings;
  options.mock_secret = mock_secret_;
  mechanism_ = sasl::make_server_mechanism(start.mechanism, options, random_);
  if (!mechanism_) {
    return ended(Reply::of(504, "5.5.4", "unrecognized authentication type"));
  }
  std::optional<std::string_view> initial;
  if (start.initial_response) {
    initial = *start.initial_response;
  }
  return advance(mechanism_->start(initial), ip);
}

AuthOutcome AuthExchange::respond(const tern::smtp::AuthResponse& response, std::string_view ip) {
  if (!mechanism_) {
    return AuthOutcome{
        std::nullopt, Reply::of(501, "5.5.2", "no authentication in progress"), {}, std::nullopt};
  }
  return advance(mechanism_->step(response.response), ip);
}

AuthOutcome AuthExchange::failure(std::string_view ip, std::string_view reason) {
  (void)reason;
  mechanism_.reset();
  auto now = clock_.monotonic();
  throttle_.record_failure(ip, user_, now);
  auto decision = throttle_.check(ip, user_, now);
  return AuthOutcome{std::nullopt, Reply::of(535, "5.7.8", "Authentication credentials invalid"),
                     decision.delay, std::nullopt};
}

AuthOutcome AuthExchange::advance(sasl::StepResult result, std::string_view ip) {
  for (;;) {
    switch (result.kind) {
      case sasl::StepKind::kChallenge:
        return AuthOutcome{result.data, Reply{}, {}, std::nullopt};
      case sasl::StepKind::kFailure:
        return failure(ip, result.reason);
      case sasl::StepKind::kNeedScramCredential: {
        user_ = result.identity.authcid;
        if (throttle_.check(ip, user_, clock_.monotonic()).blocked) {
          return ended(kBlocked);
        }
        auto lookup = domain::find_scram_credential(directory_, user_);
        if (!lookup) {
          return ended(kTemporaryFailure);
        }
        account_ = lookup->account;
        result = mechanism_->supply_scram_credential(lookup->credential);
        continue;
      }
      case sasl::StepKind::kCheckPassword: {
        user_ = result.identity.authcid;
        if (throttle_.check(ip, user_, clock_.monotonic()).blocked) {
          return ended(kBlocked);
        }
        auto account =
            domain::authenticate(directory_, user_, result.identity.password, params_, random_);
        if (!account) {
          if (account.error().code == ErrorCode::kPermissionDenied) {
            return failure(ip, "wrong credentials");
          }
          return ended(kTemporaryFailure);
        }
        account_ = *account;
        result.kind = sasl::StepKind::kSuccess;
        continue;
      }
      case sasl::StepKind::kSuccess: {
        mechanism_.reset();
        if (!account_) {
          return failure(ip, "no account");
        }
        throttle_.record_success(ip, user_, clock_.monotonic());
        return AuthOutcome{
            std::nullopt, Reply::of(235, "2.7.0", "Authentication successful"), {}, account_};
      }
    }
  }
}

}  // namespace tern::services::smtp
