// SPDX-License-Identifier: Apache-2.0
// Authentication use-cases shared by SMTP submission, IMAP and POP3
// (docs/adr/0008-authentication.md): password checks with rehash-on-login, the
// SCRAM credential lookup, the plaintext-mechanism policy, and AuthThrottle, the
// brute-force policy (one instance per ternd, shared by every protocol).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "domain/model.hpp"
#include "domain/ports.hpp"
#include "sasl/password_hash.hpp"
#include "sasl/scram.hpp"

namespace tern::domain {

// The cost of the secrets stored for new passwords (config [auth]).
struct AuthParams {
  sasl::Argon2Params argon2;
  std::uint32_t scram_iterations = sasl::kMinScramIterations;
};

// Computes both secrets for `password`: an argon2id hash and a SCRAM-SHA-256
// credential (fresh salts from `random`), both from the password's SASLprep form
// with the stored-string profile (RFC 4013, RFC 5802 §2.2: SCRAM's
// SaltedPassword is Hi(Normalize(password), ...); RFC 3454 §7), so "I<U+00AD>X"
// is stored as "IX" and a client that normalises on its side matches.
// CPU- and memory-heavy (argon2): run it on the blocking pool or in the CLI.
// Errors: kInvalidInput for a password SASLprep refuses (prohibited or unassigned
// code points, bidi violation, invalid UTF-8: the message says which), an empty
// one (also after SASLprep) or parameters out of range; kTemporary when argon2
// cannot allocate.
Result<Credentials> make_credentials(std::string_view password, const AuthParams& params,
                                     Random& random);

// How a password a client sent matched a stored password_hash.
enum class PasswordMatch {
  kNone,
  kPrepared,  // its SASLprep form (query profile) matched: the normal case
  kRaw,       // only the bytes as sent matched: a hash made from unprepared bytes
};

// Checks `password`, as a client sent it, against `stored` (any hash
// sasl::verify_password() knows). First the SASLprep form with the query profile
// (RFC 4616 §2, RFC 4013); when that does not match and differs from the bytes
// sent (or SASLprep refuses them), the bytes as sent: hashes imported from
// Dovecot or elsewhere ($6$, $2y$, {SHA512-CRYPT}, ...) and hashes set before
// tern prepared passwords were made from unprepared bytes.
//
// Cost: one verification when SASLprep leaves the password unchanged (every
// printable-ASCII password), two otherwise. Which case applies depends only on
// what the client sent, never on the account, so the timing tells an attacker
// nothing they did not know. Synchronous, CPU-heavy: blocking pool or CLI.
PasswordMatch match_password(std::string_view password, std::string_view stored);

// The PLAIN/LOGIN/USER+PASS path: finds the account `user` (SASLprep'd with the
// query profile, RFC 4616 §2, then normalised with normalize_address(); when
// that finds none and SASLprep changed the name, the name as sent, for accounts
// created under such a spelling) and checks `password` against its
// password_hash with match_password().
//
// On success, when the stored hash is weaker than `params` (sasl::needs_rehash()),
// or matched only as raw bytes (PasswordMatch::kRaw), or the account has no SCRAM
// secret, or a weaker one, both secrets are recomputed from the password just
// verified (make_credentials(), so from its prepared form) and stored
// (set_credentials); a failure to compute or store them does not fail the login.
//
// An unknown user, or one SASLprep refuses, costs the same password work as a
// known one (match_password() against a decoy hash of the same argon2 cost), so
// the time of the answer does not reveal which accounts exist. The caller counts
// one failure in AuthThrottle per call, whatever the number of hash checks.
//
// Errors: kPermissionDenied "authentication failed" for an unknown or malformed
// user or a wrong password: the same error for all, so callers cannot leak which
// accounts exist. Backend errors (kIo, kTemporary, ...) as they come: the caller
// answers with a temporary failure, not "wrong password".
//
// Synchronous (calls get() on the ports and runs argon2): blocking pool only.
Result<Account> authenticate(Directory& directory, std::string_view user, std::string_view password,
                             const AuthParams& params, Random& random);

// What a SCRAM exchange needs about `user`.
struct ScramLookup {
  std::optional<Account> account;  // nullopt: unknown (or malformed) user
  // nullopt when the account has no usable SCRAM secret (imported legacy hash):
  // the mechanism then fails like a wrong password.
  std::optional<sasl::ScramCredential> credential;
};

// Looks up the account and parses its SCRAM-SHA-256 secret. `user` is the
// authcid from the client-first-message, found as authenticate() finds it:
// SASLprep'd (RFC 5802 §5.1), then as sent. A name that finds no account (one
// SASLprep refuses included) fails at the proof like a wrong password. Errors:
// backend errors only (an unknown user is a ScramLookup without account).
// Synchronous.
Result<ScramLookup> find_scram_credential(Directory& directory, std::string_view user);

// May this connection use a mechanism that sends the password in the clear
// (PLAIN, LOGIN, POP3 USER/PASS, IMAP LOGIN)? Yes with TLS; without it only from
// a loopback peer (127.0.0.0/8, ::1) when [auth] allow_plaintext_on_loopback.
// (RFC 8314 §3, RFC 2595 §3.1, RFC 9051 §11.1.)
bool plaintext_auth_allowed(bool tls_active, bool peer_is_loopback, bool allow_on_loopback);

// The brute-force policy's numbers (config [auth]; see config::AuthSettings).
struct ThrottlePolicy {
  std::uint32_t failures_before_delay = 3;
  std::uint32_t failures_before_block = 10;
  std::uint32_t user_failures_before_block = 50;
  std::chrono::seconds failure_window{900};
  std::chrono::seconds block_time{900};
  std::chrono::seconds max_delay{15};
  // Entries kept per table (IPs, users). When a table is full, entries whose
  // window has passed go first, then the least recently failed eighth.
  std::size_t max_tracked = 100000;
};

// What to do with an authentication attempt.
struct ThrottleDecision {
  // Refuse without checking the credentials (the protocol's "try later" reply:
  // POP3 -ERR [AUTH]/[SYS/TEMP], SMTP 454 4.7.0, IMAP NO [UNAVAILABLE]).
  bool blocked = false;
  // Otherwise, wait this long before answering the attempt.
  std::chrono::milliseconds delay{0};
};

// Counts authentication failures per client IP and per account, and slows down
// then blocks attackers:
//   - per IP: failures within `failure_window` of the previous one accumulate;
//     from failures_before_delay on, each attempt waits 1 s, 2 s, 4 s, ... up to
//     max_delay; at failures_before_block the IP is blocked for block_time;
//   - per account (from any IPs, so a botnet cannot brute-force one account;
//     the name keyed as a login resolves it, SASLprep then normalize_address(),
//     so respellings such as "vic<U+00AD>tim" or "VICTIM" share one counter):
//     from failures_before_block on attempts wait the same way, and at
//     user_failures_before_block the account's logins are blocked for block_time;
//   - a success clears the counters of that IP and that account, unless blocked.
// Pure: time comes in as `now`; no clock reads, no I/O. Memory is bounded by
// 2 * max_tracked entries. Thread-safe (one instance serves every session).
class AuthThrottle {
 public:
  explicit AuthThrottle(ThrottlePolicy policy = {});

  // Replaces the policy (SIGHUP); counters are kept.
  void set_policy(const ThrottlePolicy& policy);

  // Call before checking credentials. `user` may be "" when not known yet.
  ThrottleDecision check(std::string_view ip, std::string_view user, Instant now);

  void record_failure(std::string_view ip, std::string_view user, Instant now);
  void record_success(std::string_view ip, std::string_view user, Instant now);

  // Entries tracked (IPs + users), for metrics and tests.
  std::size_t tracked() const;

 private:
  struct Counter {
    std::uint32_t failures = 0;
    Instant last{};
    Instant blocked_until{};
  };

  using Table = std::unordered_map<std::string, Counter>;

  Counter* find_live(Table& table, std::string_view key, Instant now);
  Counter& upsert(Table& table, std::string_view key, Instant now);
  void make_room(Table& table, Instant now);
  std::chrono::milliseconds delay_for(std::uint32_t failures, std::uint32_t threshold) const;

  mutable std::mutex mutex_;
  ThrottlePolicy policy_;
  Table ips_;
  Table users_;
};

}  // namespace tern::domain
