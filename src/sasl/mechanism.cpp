// SPDX-License-Identifier: Apache-2.0
#include "sasl/mechanism.hpp"

#include <array>
#include <cstdint>

#include <openssl/crypto.h>

#include "base/ascii.hpp"
#include "sasl/base64.hpp"
#include "sasl/saslprep.hpp"

namespace tern::sasl {
namespace {

using ascii::iequals;

StepResult failure(std::string reason) {
  StepResult r;
  r.kind = StepKind::kFailure;
  r.reason = std::move(reason);
  return r;
}

StepResult challenge(std::string data) {
  StepResult r;
  r.kind = StepKind::kChallenge;
  r.data = std::move(data);
  return r;
}

// Counts client messages and bounds their size, for every mechanism.
class Budget {
 public:
  explicit Budget(const ServerOptions& options) : options_(options) {}

  // A failure reason, or "" when `message` may be processed.
  std::string take(std::string_view message) {
    if (++steps_ > options_.max_steps) {
      return "too many steps";
    }
    if (message.size() > options_.max_message_bytes) {
      return "message too long";
    }
    return "";
  }

 private:
  const ServerOptions& options_;
  std::size_t steps_ = 0;
};

// RFC 4616 §2: message = [authzid] NUL authcid NUL passwd, each 1..255 octets
// (authzid may be empty), no NUL inside.
class PlainServer final : public ServerMechanism {
 public:
  explicit PlainServer(const ServerOptions& options) : options_(options), budget_(options_) {}

  std::string_view name() const override { return "PLAIN"; }

  StepResult start(std::optional<std::string_view> initial) override {
    if (!initial) {
      // RFC 4422 §5: no initial response: an empty challenge asks for it.
      return challenge("");
    }
    return step(*initial);
  }

  StepResult step(std::string_view message) override {
    if (done_) {
      return failure("exchange already finished");
    }
    done_ = true;
    if (auto why = budget_.take(message); !why.empty()) {
      return failure(why);
    }
    std::size_t first = message.find('\0');
    std::size_t second = first == std::string_view::npos ? first : message.find('\0', first + 1);
    if (second == std::string_view::npos || message.find('\0', second + 1) != message.npos) {
      return failure("malformed PLAIN message");
    }
    StepResult r;
    r.identity.authzid = std::string(message.substr(0, first));
    r.identity.authcid = std::string(message.substr(first + 1, second - first - 1));
    r.identity.password = std::string(message.substr(second + 1));
    if (r.identity.authcid.empty() || r.identity.password.empty() ||
        r.identity.authcid.size() > 255 || r.identity.authzid.size() > 255 ||
        r.identity.password.size() > 255) {
      return failure("malformed PLAIN message");
    }
    if (!r.identity.authzid.empty() && r.identity.authzid != r.identity.authcid &&
        !options_.allow_foreign_authzid) {
      return failure("authorization identity differs from authentication identity");
    }
    r.kind = StepKind::kCheckPassword;
    return r;
  }

 private:
  ServerOptions options_;
  Budget budget_;
  bool done_ = false;
};

// The LOGIN mechanism (draft-murchison-sasl-login-00): challenges "Username:"
// and "Password:"; a client may send the user name as the initial response.
class LoginServer final : public ServerMechanism {
 public:
  explicit LoginServer(const ServerOptions& options) : options_(options), budget_(options_) {}

  std::string_view name() const override { return "LOGIN"; }

  StepResult start(std::optional<std::string_view> initial) override {
    if (!initial || initial->empty()) {
      return challenge("Username:");
    }
    return step(*initial);
  }

  StepResult step(std::string_view message) override {
    if (auto why = budget_.take(message); !why.empty()) {
      return failure(why);
    }
    if (message.size() > 255 || message.find('\0') != std::string_view::npos) {
      return failure("malformed LOGIN message");
    }
    if (stage_ == 0) {
      if (message.empty()) {
        return failure("empty user name");
      }
      identity_.authcid = std::string(message);
      stage_ = 1;
      return challenge("Password:");
    }
    if (stage_ != 1 || message.empty()) {
      return failure("malformed LOGIN message");
    }
    stage_ = 2;
    StepResult r;
    r.kind = StepKind::kCheckPassword;
    r.identity = identity_;
    r.identity.password = std::string(message);
    return r;
  }

 private:
  ServerOptions options_;
  Budget budget_;
  int stage_ = 0;
  Identity identity_;
};

// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, RFC 5802 §5 and §7.
class ScramServer final : public ServerMechanism {
 public:
  ScramServer(const ServerOptions& options, bool plus, Random& random)
      : options_(options), budget_(options_), plus_(plus), random_(random) {}

  std::string_view name() const override { return plus_ ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256"; }

  StepResult start(std::optional<std::string_view> initial) override {
    if (!initial || initial->empty()) {
      // RFC 5802 §5: the client speaks first; an empty challenge asks for it.
      return challenge("");
    }
    return step(*initial);
  }

  StepResult step(std::string_view message) override {
    if (auto why = budget_.take(message); !why.empty()) {
      state_ = State::kDone;
      return failure(why);
    }
    switch (state_) {
      case State::kFirst:
        return client_first(message);
      case State::kFinal:
        return client_final(message);
      case State::kAckFinal:
        // RFC 4422 §5 / RFC 5034 §4: the server-final-message went out as a
        // challenge; the client acknowledges it with an empty response.
        state_ = State::kDone;
        if (!message.empty()) {
          return failure("non-empty response after server-final-message");
        }
        {
          StepResult r;
          r.kind = StepKind::kSuccess;
          r.identity = identity_;
          return r;
        }
      case State::kNeedCredential:
      case State::kDone:
        break;
    }
    state_ = State::kDone;
    return failure("unexpected message");
  }

  StepResult supply_scram_credential(std::optional<ScramCredential> credential) override {
    if (state_ != State::kNeedCredential) {
      state_ = State::kDone;
      return failure("unexpected credential");
    }
    if (credential) {
      credential_ = std::move(*credential);
      known_ = true;
    } else {
      // An unknown user (or one without a SCRAM secret) gets a plausible,
      // stable fake salt, and the proof check below fails like a wrong password.
      // The salt comes from the SASLprep'd name (RFC 5802 §5.1), as the lookup
      // does: every spelling of one name ("al<U+00AD>ice", "alice") then gets
      // one salt, known account or not, so respelling reveals nothing.
      std::string salt =
          detail::hmac_sha256(options_.mock_secret,
                              "tern-scram-mock:" + saslprep_or_as_is(identity_.authcid))
              .substr(0, kScramSaltBytes);
      credential_ =
          ScramCredential{kMinScramIterations, salt, std::string(32, '\0'), std::string(32, '\0')};
      known_ = false;
    }
    std::array<std::uint8_t, 18> raw{};
    random_.fill(raw);
    nonce_ = client_nonce_ +
             base64_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
    server_first_ = "r=" + nonce_ + ",s=" + base64_encode(credential_.salt) +
                    ",i=" + std::to_string(credential_.iterations);
    state_ = State::kFinal;
    return challenge(server_first_);
  }

 private:
  enum class State { kFirst, kNeedCredential, kFinal, kAckFinal, kDone };

  static bool valid_nonce(std::string_view nonce) {
    // RFC 5802 §7: printable = %x21-2B / %x2D-7E (no comma).
    if (nonce.empty()) {
      return false;
    }
    for (char c : nonce) {
      if (c < 0x21 || c > 0x7e || c == ',') {
        return false;
      }
    }
    return true;
  }

  static bool valid_cb_name(std::string_view name) {
    if (name.empty()) {
      return false;
    }
    for (char c : name) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-';
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  StepResult client_first(std::string_view message) {
    state_ = State::kDone;  // until proven otherwise
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    std::size_t c1 = message.find(',');
    if (c1 == std::string_view::npos) {
      return failure("malformed gs2 header");
    }
    std::size_t c2 = message.find(',', c1 + 1);
    if (c2 == std::string_view::npos) {
      return failure("malformed gs2 header");
    }
    std::string_view flag = message.substr(0, c1);
    std::string_view authz = message.substr(c1 + 1, c2 - c1 - 1);
    gs2_header_ = std::string(message.substr(0, c2 + 1));
    std::string_view bare = message.substr(c2 + 1);

    // RFC 5802 §6: the channel-binding flag against the mechanism chosen.
    if (flag == "n") {
      if (plus_) {
        return failure("SCRAM-SHA-256-PLUS without channel binding");
      }
    } else if (flag == "y") {
      if (plus_) {
        return failure("SCRAM-SHA-256-PLUS without channel binding");
      }
      if (options_.plus_advertised) {
        // The client supports channel binding and we advertised it, yet it
        // believes we do not: someone removed -PLUS from the list.
        return failure("channel binding downgrade detected");
      }
    } else if (flag.substr(0, 2) == "p=") {
      if (!plus_) {
        return failure("channel binding requested with a non-PLUS mechanism");
      }
      std::string_view type = flag.substr(2);
      if (!valid_cb_name(type)) {
        return failure("malformed channel binding name");
      }
      if (type == "tls-exporter") {
        cb_data_ = options_.channel_bindings.tls_exporter;
      } else if (type == "tls-unique") {
        cb_data_ = options_.channel_bindings.tls_unique;
      }
      if (cb_data_.empty()) {
        return failure("unsupported channel binding type");
      }
    } else {
      return failure("malformed gs2 channel binding flag");
    }
    if (!authz.empty()) {
      if (authz.substr(0, 2) != "a=") {
        return failure("malformed authzid");
      }
      auto decoded = detail::decode_saslname(authz.substr(2));
      if (!decoded || decoded->empty()) {
        return failure("malformed authzid");
      }
      identity_.authzid = std::move(*decoded);
    }
    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    if (bare.substr(0, 2) == "m=") {
      return failure("unsupported mandatory extension");
    }
    if (bare.substr(0, 2) != "n=") {
      return failure("malformed client-first-message");
    }
    std::size_t c3 = bare.find(',');
    if (c3 == std::string_view::npos || bare.substr(c3 + 1, 2) != "r=") {
      return failure("malformed client-first-message");
    }
    auto user = detail::decode_saslname(bare.substr(2, c3 - 2));
    if (!user || user->empty() || user->size() > 255) {
      return failure("malformed user name");
    }
    std::string_view rest = bare.substr(c3 + 3);
    std::string_view nonce = rest.substr(0, rest.find(','));
    if (!valid_nonce(nonce) || nonce.size() > 256) {
      return failure("malformed nonce");
    }
    // The name goes on as sent: the lookup (domain::find_scram_credential)
    // prepares it (RFC 5802 §5.1) and falls back to it as sent. The authzid
    // rule compares the prepared forms, so "a=al<U+00AD>ice,n=alice" is one name.
    identity_.authcid = std::move(*user);
    if (!identity_.authzid.empty() &&
        saslprep_or_as_is(identity_.authzid) != saslprep_or_as_is(identity_.authcid) &&
        !options_.allow_foreign_authzid) {
      return failure("authorization identity differs from authentication identity");
    }
    client_nonce_ = std::string(nonce);
    client_first_bare_ = std::string(bare);
    state_ = State::kNeedCredential;
    StepResult r;
    r.kind = StepKind::kNeedScramCredential;
    r.identity = identity_;
    return r;
  }

  StepResult client_final(std::string_view message) {
    state_ = State::kDone;
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    std::size_t p = message.rfind(",p=");
    if (message.substr(0, 2) != "c=" || p == std::string_view::npos) {
      return failure("malformed client-final-message");
    }
    std::string_view without_proof = message.substr(0, p);
    std::string_view proof_b64 = message.substr(p + 3);
    std::size_t c1 = without_proof.find(',');
    if (c1 == std::string_view::npos || without_proof.substr(c1 + 1, 2) != "r=") {
      return failure("malformed client-final-message");
    }
    auto cbind = base64_decode(without_proof.substr(2, c1 - 2));
    std::string_view rest = without_proof.substr(c1 + 3);
    std::string_view nonce = rest.substr(0, rest.find(','));
    auto proof = base64_decode(proof_b64);
    if (!cbind || !proof) {
      return failure("malformed client-final-message");
    }
    // RFC 5802 §5.1 "c=": the gs2 header again, plus the channel-binding data
    // when "p" was used; a mismatch means a man in the middle (or a bug).
    std::string expected_cbind = gs2_header_ + cb_data_;
    if (cbind->size() != expected_cbind.size() ||
        CRYPTO_memcmp(cbind->data(), expected_cbind.data(), cbind->size()) != 0) {
      return failure("channel binding mismatch");
    }
    if (nonce != nonce_) {
      return failure("nonce mismatch");
    }
    if (proof->size() != credential_.stored_key.size()) {
      return failure("invalid proof");
    }
    std::string auth_message =
        client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    std::string signature = detail::hmac_sha256(credential_.stored_key, auth_message);
    std::string client_key = *proof;
    for (std::size_t i = 0; i < client_key.size(); ++i) {
      client_key[i] = static_cast<char>(client_key[i] ^ signature[i]);
    }
    std::string computed = detail::sha256(client_key);
    // Constant-time: the comparison does not reveal how much of the proof matched.
    bool match =
        CRYPTO_memcmp(computed.data(), credential_.stored_key.data(), computed.size()) == 0;
    if (!match || !known_) {
      return failure("invalid proof");
    }
    state_ = State::kAckFinal;
    return challenge("v=" +
                     base64_encode(detail::hmac_sha256(credential_.server_key, auth_message)));
  }

  ServerOptions options_;
  Budget budget_;
  bool plus_;
  Random& random_;
  State state_ = State::kFirst;
  Identity identity_;
  std::string gs2_header_;
  std::string cb_data_;
  std::string client_nonce_;
  std::string client_first_bare_;
  std::string nonce_;
  std::string server_first_;
  ScramCredential credential_;
  bool known_ = false;
};

}  // namespace

StepResult ServerMechanism::supply_scram_credential(std::optional<ScramCredential>) {
  return failure("not a SCRAM mechanism");
}

std::vector<std::string> advertised_mechanisms(bool plaintext_allowed, bool channel_binding) {
  std::vector<std::string> out;
  if (channel_binding) {
    out.emplace_back("SCRAM-SHA-256-PLUS");
  }
  out.emplace_back("SCRAM-SHA-256");
  if (plaintext_allowed) {
    out.emplace_back("PLAIN");
    out.emplace_back("LOGIN");
  }
  return out;
}

std::unique_ptr<ServerMechanism> make_server_mechanism(std::string_view name,
                                                       const ServerOptions& options,
                                                       Random& random) {
  if (iequals(name, "PLAIN")) {
    return std::make_unique<PlainServer>(options);
  }
  if (iequals(name, "LOGIN")) {
    return std::make_unique<LoginServer>(options);
  }
  if (iequals(name, "SCRAM-SHA-256")) {
    return std::make_unique<ScramServer>(options, false, random);
  }
  if (iequals(name, "SCRAM-SHA-256-PLUS")) {
    return std::make_unique<ScramServer>(options, true, random);
  }
  return nullptr;
}

}  // namespace tern::sasl
