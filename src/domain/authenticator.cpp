// SPDX-License-Identifier: Apache-2.0
#include "domain/authenticator.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "domain/address.hpp"
#include "sasl/saslprep.hpp"

namespace tern::domain {
namespace {

Error auth_failed() {
  return fail(ErrorCode::kPermissionDenied, "authentication failed");
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// The per-account throttle key: the name as authenticate() resolves it
// (SASLprep, then normalize_address()), so "al<U+00AD>ice", "ＡＬＩＣＥ" and
// "alice" share one counter and a guesser cannot dodge the per-account limit by
// respelling the name. Names that resolve to no address are keyed lower-cased.
std::string user_key(std::string_view user) {
  const std::string name = sasl::saslprep_or_as_is(std::string(user));
  auto address = normalize_address(name);
  return address ? std::move(*address) : lower(name);
}

// The account a client names at login: its SASLprep form first (query profile,
// RFC 4616 §2, RFC 5802 §5.1), then, when that differs and finds none, the name
// as sent, for accounts created under a spelling SASLprep changes (a decomposed
// "e<U+0301>", a fullwidth letter). A name that is no address is no account.
Result<std::optional<Account>> find_login_account(Directory& directory, std::string_view user) {
  const std::string prepared = sasl::saslprep_or_as_is(std::string(user));
  if (auto address = normalize_address(prepared)) {
    TERN_TRY(auto account, directory.find_account(*address).get());
    if (account || prepared == user) {
      return account;
    }
  }
  auto address = normalize_address(user);
  if (!address) {
    return std::optional<Account>();
  }
  return directory.find_account(*address).get();
}

// True when the stored SCRAM secret should be recomputed at the next password
// login: absent, unparsable, or weaker than configured.
bool scram_needs_update(std::string_view stored, std::uint32_t iterations) {
  auto parsed = sasl::parse_scram_credential(stored);
  return !parsed || parsed->iterations < iterations;
}

// An argon2id hash of a password nobody knows, at the configured cost, for
// unknown users to be checked against: their failure then takes as long as a
// wrong password for a real account. Made once per cost (a SIGHUP may change it).
std::string decoy_hash(const sasl::Argon2Params& params, Random& random) {
  static std::mutex mutex;
  static sasl::Argon2Params cached_params;
  static std::string cached;
  std::lock_guard lock(mutex);
  if (cached.empty() || !(cached_params == params)) {
    std::array<std::uint8_t, 24> secret{};
    random.fill(secret);
    std::string password = "tern-decoy:";
    for (std::uint8_t b : secret) {
      password += static_cast<char>('a' + b % 26);
    }
    auto hash = sasl::hash_password(password, params, random);
    cached = hash ? *hash : std::string();
    cached_params = params;
  }
  return cached;
}

}  // namespace

Result<Credentials> make_credentials(std::string_view password, const AuthParams& params,
                                     Random& random) {
  // RFC 5802 §2.2 and RFC 4013 §2 with RFC 3454 §7's stored-string profile: a
  // password that SASLprep would refuse as a stored string is never stored.
  auto prepared = sasl::saslprep(password, sasl::SaslprepProfile::kStored);
  if (!prepared) {
    return prepared.error().with_context("password");
  }
  if (prepared->empty()) {
    return fail(ErrorCode::kInvalidInput, "password: empty after saslprep");
  }
  TERN_TRY(auto hash, sasl::hash_password(*prepared, params.argon2, random));
  TERN_TRY(auto scram, sasl::make_scram_credential(*prepared, params.scram_iterations, random));
  return Credentials{std::move(hash), sasl::format_scram_credential(scram)};
}

PasswordMatch match_password(std::string_view password, std::string_view stored) {
  // RFC 4616 §2: the server prepares the password with the query profile.
  auto prepared = sasl::saslprep(password, sasl::SaslprepProfile::kQuery);
  if (prepared && !prepared->empty() && sasl::verify_password(*prepared, stored)) {
    return PasswordMatch::kPrepared;
  }
  // Hashes made from unprepared bytes (imported from Dovecot, or set before
  // tern prepared passwords) only match the bytes as sent. Skipped when they are
  // the prepared form: the check above already was this one.
  if ((!prepared || *prepared != password) && sasl::verify_password(password, stored)) {
    return PasswordMatch::kRaw;
  }
  return PasswordMatch::kNone;
}

Result<Account> authenticate(Directory& directory, std::string_view user, std::string_view password,
                             const AuthParams& params, Random& random) {
  if (password.empty()) {
    return auth_failed();
  }
  TERN_TRY(auto account, find_login_account(directory, user));
  if (!account) {
    // The same password work as for a real account, then the same answer.
    (void)match_password(password, decoy_hash(params.argon2, random));
    return auth_failed();
  }
  PasswordMatch match = match_password(password, account->password_hash);
  if (match == PasswordMatch::kNone) {
    return auth_failed();
  }
  // Rehash on login (docs/adr/0007-password-hashing.md): the password is known
  // now, so legacy or weak secrets are replaced, and accounts imported without a
  // SCRAM secret gain one. A hash that matched only the raw bytes is replaced by
  // one of the prepared form, so SCRAM clients (which normalise, RFC 5802 §2.2)
  // and other spellings of the same password work from then on.
  if (match == PasswordMatch::kRaw || sasl::needs_rehash(account->password_hash, params.argon2) ||
      scram_needs_update(account->scram_sha256, params.scram_iterations)) {
    auto fresh = make_credentials(password, params, random);
    if (fresh && directory.set_credentials(account->address, *fresh).get()) {
      account->password_hash = fresh->password_hash;
      account->scram_sha256 = fresh->scram_sha256;
    }
  }
  return *account;
}

Result<ScramLookup> find_scram_credential(Directory& directory, std::string_view user) {
  ScramLookup out;
  TERN_TRY(auto account, find_login_account(directory, user));
  if (account) {
    out.credential = sasl::parse_scram_credential(account->scram_sha256);
    out.account = std::move(account);
  }
  return out;
}

bool plaintext_auth_allowed(bool tls_active, bool peer_is_loopback, bool allow_on_loopback) {
  return tls_active || (peer_is_loopback && allow_on_loopback);
}

AuthThrottle::AuthThrottle(ThrottlePolicy policy) : policy_(policy) {}

void AuthThrottle::set_policy(const ThrottlePolicy& policy) {
  std::lock_guard lock(mutex_);
  policy_ = policy;
}

AuthThrottle::Counter* AuthThrottle::find_live(Table& table, std::string_view key, Instant now) {
  auto it = table.find(std::string(key));
  if (it == table.end()) {
    return nullptr;
  }
  Counter& c = it->second;
  // A quiet window forgives earlier failures; a block runs its full time.
  if (c.blocked_until <= now && now - c.last > policy_.failure_window) {
    table.erase(it);
    return nullptr;
  }
  return &c;
}

void AuthThrottle::make_room(Table& table, Instant now) {
  if (table.size() < policy_.max_tracked) {
    return;
  }
  std::erase_if(table, [&](const auto& entry) {
    return entry.second.blocked_until <= now && now - entry.second.last > policy_.failure_window;
  });
  if (table.size() + table.size() / 8 < policy_.max_tracked) {
    return;
  }
  // Still full of live entries (an attack from many addresses): drop the least
  // recently failed eighth at once, so the cost is amortised over many inserts.
  std::vector<Instant> lasts;
  lasts.reserve(table.size());
  for (const auto& entry : table) {
    lasts.push_back(entry.second.last);
  }
  std::size_t drop = std::max<std::size_t>(1, table.size() / 8);
  std::nth_element(lasts.begin(), lasts.begin() + static_cast<std::ptrdiff_t>(drop - 1),
                   lasts.end());
  Instant cutoff = lasts[drop - 1];
  std::size_t dropped = 0;
  for (auto it = table.begin(); it != table.end() && dropped < drop;) {
    if (it->second.last <= cutoff) {
      it = table.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
}

AuthThrottle::Counter& AuthThrottle::upsert(Table& table, std::string_view key, Instant now) {
  if (Counter* c = find_live(table, key, now)) {
    return *c;
  }
  make_room(table, now);
  return table[std::string(key)];
}

std::chrono::milliseconds AuthThrottle::delay_for(std::uint32_t failures,
                                                  std::uint32_t threshold) const {
  if (failures < threshold) {
    return std::chrono::milliseconds(0);
  }
  std::uint32_t doublings = std::min<std::uint32_t>(failures - threshold, 20);
  auto delay = std::chrono::milliseconds(1000LL << doublings);
  return std::min<std::chrono::milliseconds>(delay, policy_.max_delay);
}

ThrottleDecision AuthThrottle::check(std::string_view ip, std::string_view user, Instant now) {
  std::string key = user_key(user);
  std::lock_guard lock(mutex_);
  ThrottleDecision d;
  Counter* by_ip = find_live(ips_, ip, now);
  Counter* by_user = key.empty() ? nullptr : find_live(users_, key, now);
  if ((by_ip != nullptr && by_ip->blocked_until > now) ||
      (by_user != nullptr && by_user->blocked_until > now)) {
    d.blocked = true;
    return d;
  }
  if (by_ip != nullptr) {
    d.delay = std::max(d.delay, delay_for(by_ip->failures, policy_.failures_before_delay));
  }
  if (by_user != nullptr) {
    d.delay = std::max(d.delay, delay_for(by_user->failures, policy_.failures_before_block));
  }
  return d;
}

void AuthThrottle::record_failure(std::string_view ip, std::string_view user, Instant now) {
  std::string key = user_key(user);
  std::lock_guard lock(mutex_);
  Counter& c = upsert(ips_, ip, now);
  ++c.failures;
  c.last = now;
  if (c.failures >= policy_.failures_before_block) {
    c.blocked_until = now + policy_.block_time;
  }
  if (!key.empty()) {
    Counter& u = upsert(users_, key, now);
    ++u.failures;
    u.last = now;
    if (u.failures >= policy_.user_failures_before_block) {
      u.blocked_until = now + policy_.block_time;
    }
  }
}

void AuthThrottle::record_success(std::string_view ip, std::string_view user, Instant now) {
  std::string key = user_key(user);
  std::lock_guard lock(mutex_);
  if (Counter* c = find_live(ips_, ip, now); c != nullptr && c->blocked_until <= now) {
    ips_.erase(std::string(ip));
  }
  if (Counter* u = find_live(users_, key, now); u != nullptr && u->blocked_until <= now) {
    users_.erase(key);
  }
}

std::size_t AuthThrottle::tracked() const {
  std::lock_guard lock(mutex_);
  return ips_.size() + users_.size();
}

}  // namespace tern::domain
