// SPDX-License-Identifier: Apache-2.0
#include "domain/authenticator.hpp"

#include <string>

#include <gtest/gtest.h>

#include "domain/accounts.hpp"
#include "sasl/mechanism.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::domain {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class CountingRandom : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      b = next_++;
    }
  }

 private:
  std::uint8_t next_ = 1;
};

// Cheap argon2 so the suite stays fast under ASan.
AuthParams fast_params() {
  AuthParams p;
  p.argon2 = sasl::Argon2Params{1024, 1, 1};
  p.scram_iterations = 4096;
  return p;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(storage_.directory().add_domain("example.org").get()); }

  void add(const std::string& address, const std::string& hash, const std::string& scram = "") {
    auto account = provision_account(storage_, NewAccount{address, hash, 0, scram});
    ASSERT_TRUE(account) << account.error().message;
  }

  store::memory::MemoryStorage storage_;
  CountingRandom random_;
};

TEST_F(AuthenticatorTest, MakeCredentialsGivesBothSecrets) {
  auto c = make_credentials("pencil", fast_params(), random_);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(sasl::verify_password("pencil", c->password_hash));
  auto scram = sasl::parse_scram_credential(c->scram_sha256);
  ASSERT_TRUE(scram);
  EXPECT_EQ(scram->iterations, 4096u);
  EXPECT_EQ(*sasl::derive_scram_credential("pencil", scram->salt, 4096), *scram);
  EXPECT_FALSE(make_credentials("", fast_params(), random_));
}

TEST_F(AuthenticatorTest, AuthenticateChecksPasswordWithOneErrorForEveryFailure) {
  auto c = make_credentials("pencil", fast_params(), random_);
  add("alice@example.org", c->password_hash, c->scram_sha256);
  auto ok =
      authenticate(storage_.directory(), "Alice@Example.ORG", "pencil", fast_params(), random_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->address, "alice@example.org");
  for (auto [user, password] :
       {std::pair{"alice@example.org", "wrong"}, std::pair{"nobody@example.org", "pencil"},
        std::pair{"not an address", "pencil"}, std::pair{"alice@example.org", ""}}) {
    auto bad = authenticate(storage_.directory(), user, password, fast_params(), random_);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(bad.error().message, "authentication failed");
  }
}

TEST_F(AuthenticatorTest, LegacyHashIsUpgradedWithScramOnLogin) {
  add("bob@example.org", "{PLAIN}secret");
  auto before = find_scram_credential(storage_.directory(), "bob@example.org");
  ASSERT_TRUE(before);
  ASSERT_TRUE(before->account);
  EXPECT_FALSE(before->credential);  // legacy account: no SCRAM yet
  ASSERT_TRUE(
      authenticate(storage_.directory(), "bob@example.org", "secret", fast_params(), random_));
  auto stored = storage_.directory().find_account("bob@example.org").get();
  ASSERT_TRUE(stored && *stored);
  EXPECT_TRUE((*stored)->password_hash.starts_with("$argon2id$"));
  auto after = find_scram_credential(storage_.directory(), "bob@example.org");
  ASSERT_TRUE(after && after->credential);
  EXPECT_EQ(*sasl::derive_scram_credential("secret", after->credential->salt, 4096),
            *after->credential);
  // Still the same password.
  EXPECT_TRUE(
      authenticate(storage_.directory(), "bob@example.org", "secret", fast_params(), random_));
}

TEST_F(AuthenticatorTest, ScramLookupDrivesTheMechanism) {
  auto c = make_credentials("pencil", fast_params(), random_);
  add("carol@example.org", c->password_hash, c->scram_sha256);
  auto lookup = find_scram_credential(storage_.directory(), "carol@example.org");
  ASSERT_TRUE(lookup && lookup->credential);
  sasl::ServerOptions options;
  auto server = sasl::make_server_mechanism("SCRAM-SHA-256", options, random_);
  sasl::ScramClient client("carol@example.org", "pencil", "", sasl::ClientBinding::kNone, "", "",
                           random_);
  auto r = server->start(client.first());
  ASSERT_EQ(r.kind, sasl::StepKind::kNeedScramCredential);
  r = server->supply_scram_credential(lookup->credential);
  r = server->step(*client.final(r.data));
  ASSERT_EQ(r.kind, sasl::StepKind::kChallenge) << r.reason;
  EXPECT_TRUE(client.verify(r.data));
  EXPECT_EQ(server->step("").kind, sasl::StepKind::kSuccess);

  auto unknown = find_scram_credential(storage_.directory(), "zed@example.org");
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->account);
  EXPECT_FALSE(unknown->credential);
}

// RFC 4013 §3's first example as a password: stored as its SASLprep form, so the
// plain spelling, the original one and "Ⅸ" (NFKC) all log in, and SCRAM's keys
// are those of "IX" (RFC 5802 §2.2).
TEST_F(AuthenticatorTest, PasswordsAreStoredAndCheckedInSaslprepForm) {
  auto c = make_credentials("I\u00ADX", fast_params(), random_);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(sasl::verify_password("IX", c->password_hash));
  EXPECT_FALSE(sasl::verify_password("I\u00ADX", c->password_hash));
  auto scram = sasl::parse_scram_credential(c->scram_sha256);
  ASSERT_TRUE(scram);
  EXPECT_EQ(*sasl::derive_scram_credential("IX", scram->salt, 4096), *scram);
  add("dave@example.org", c->password_hash, c->scram_sha256);
  for (const char* password : {"IX", "I\u00ADX", "\u2168", "I\u200CX"}) {
    EXPECT_EQ(match_password(password, c->password_hash), PasswordMatch::kPrepared) << password;
    auto ok =
        authenticate(storage_.directory(), "dave@example.org", password, fast_params(), random_);
    EXPECT_TRUE(ok) << password;
  }
  EXPECT_EQ(match_password("IY", c->password_hash), PasswordMatch::kNone);
  EXPECT_FALSE(
      authenticate(storage_.directory(), "dave@example.org", "I X", fast_params(), random_));
  // Non-ASCII spaces are stored as U+0020 (RFC 4013 §2.1).
  auto spaced = make_credentials("correct\u3000horse", fast_params(), random_);
  ASSERT_TRUE(spaced);
  EXPECT_TRUE(sasl::verify_password("correct horse", spaced->password_hash));
}

TEST_F(AuthenticatorTest, MakeCredentialsRefusesWhatSaslprepRefuses) {
  for (auto [password, why] :
       {std::pair{"bell\x07", "prohibited"}, std::pair{"\u0627\u0031", "right-to-left"},
        std::pair{"x\u0237", "unassigned"}, std::pair{"bad\xFF", "UTF-8"},
        std::pair{"\u00AD\u200C", "empty"}}) {
    auto c = make_credentials(password, fast_params(), random_);
    ASSERT_FALSE(c) << why;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidInput);
    EXPECT_NE(c.error().message.find(why), std::string::npos) << c.error().message;
  }
}

// Hashes made from unprepared bytes (before this change, or imported from
// Dovecot) still verify, and the first login replaces them with prepared ones.
TEST_F(AuthenticatorTest, RawByteHashesStillVerifyAndAreUpgraded) {
  auto legacy = sasl::hash_password("I\u00ADX", fast_params().argon2, random_);
  ASSERT_TRUE(legacy);
  EXPECT_EQ(match_password("I\u00ADX", *legacy), PasswordMatch::kRaw);
  EXPECT_EQ(match_password("IX", *legacy), PasswordMatch::kNone);
  // A legacy password SASLprep refuses (a control character) is checked raw.
  EXPECT_EQ(match_password("tab\there", "{PLAIN}tab\there"), PasswordMatch::kRaw);
  EXPECT_EQ(match_password("plain", "{PLAIN}plain"), PasswordMatch::kPrepared);

  add("erin@example.org", *legacy);
  // `openssl passwd -6 -salt tErNsAlT` of "grüße<U+00A0>x", the bytes as typed.
  add("fred@example.org",
      "{SHA512-CRYPT}$6$tErNsAlT$JE76m408Tl/"
      "LAJSr.edKcQ3wRxiabQpL3TPIJCSEW9Lz7CW6u5FjtFBUV4lzkL0fYZ4Z"
      "B5AWHriw9RqeN4xXh.");
  ASSERT_TRUE(
      authenticate(storage_.directory(), "erin@example.org", "I\u00ADX", fast_params(), random_));
  auto erin = storage_.directory().find_account("erin@example.org").get();
  ASSERT_TRUE(erin && *erin);
  EXPECT_NE((*erin)->password_hash, *legacy);
  EXPECT_TRUE(sasl::verify_password("IX", (*erin)->password_hash));
  auto scram = sasl::parse_scram_credential((*erin)->scram_sha256);
  ASSERT_TRUE(scram);
  EXPECT_EQ(*sasl::derive_scram_credential("IX", scram->salt, 4096), *scram);
  // Upgraded: now the prepared spelling works too.
  EXPECT_TRUE(authenticate(storage_.directory(), "erin@example.org", "IX", fast_params(), random_));

  EXPECT_FALSE(authenticate(storage_.directory(), "fred@example.org", "gr\u00FC\u00DFe x",
                            fast_params(), random_));
  EXPECT_TRUE(authenticate(storage_.directory(), "fred@example.org", "gr\u00FC\u00DFe\u00A0x",
                           fast_params(), random_));
  EXPECT_TRUE(authenticate(storage_.directory(), "fred@example.org", "gr\u00FC\u00DFe x",
                           fast_params(), random_));
}

// RFC 4616 §2 / RFC 5802 §5.1: the authcid is prepared with the query profile;
// one SASLprep refuses is an ordinary failure.
TEST_F(AuthenticatorTest, UserNamesArePreparedAndRefusedOnesFailLikeUnknownUsers) {
  auto c = make_credentials("pencil", fast_params(), random_);
  add("gina@example.org", c->password_hash, c->scram_sha256);
  EXPECT_TRUE(authenticate(storage_.directory(), "gi\u00ADna@example.org", "pencil", fast_params(),
                           random_));
  for (const char* user : {"gina\x07@example.org", "gina@example.org\xFF", "\u0627a@x.org"}) {
    auto bad = authenticate(storage_.directory(), user, "pencil", fast_params(), random_);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(bad.error().message, "authentication failed");
    auto lookup = find_scram_credential(storage_.directory(), user);
    ASSERT_TRUE(lookup);
    EXPECT_FALSE(lookup->account);
  }
  auto soft = find_scram_credential(storage_.directory(), "gi\u00ADna@example.org");
  ASSERT_TRUE(soft && soft->account && soft->credential);
  EXPECT_EQ(soft->account->address, "gina@example.org");

  // An account created under a spelling SASLprep changes (decomposed é) is still
  // found by that spelling, and by the prepared one only if it exists.
  add("jose\u0301@example.org", c->password_hash, c->scram_sha256);
  EXPECT_TRUE(authenticate(storage_.directory(), "jose\u0301@example.org", "pencil", fast_params(),
                           random_));
  auto decomposed = find_scram_credential(storage_.directory(), "jose\u0301@example.org");
  ASSERT_TRUE(decomposed && decomposed->account);
  auto composed = find_scram_credential(storage_.directory(), "jos\u00E9@example.org");
  ASSERT_TRUE(composed);
  EXPECT_FALSE(composed->account);
}

// A SCRAM exchange with a non-ASCII password set through make_credentials: the
// client normalises (RFC 5802 §2.2) and the server's keys match.
TEST_F(AuthenticatorTest, ScramWithNonAsciiPassword) {
  auto c = make_credentials("p\u00E4ss\u00A0w\u00ADord", fast_params(), random_);
  ASSERT_TRUE(c);
  add("hank@example.org", c->password_hash, c->scram_sha256);
  for (const char* typed : {"p\u00E4ss w\u00ADord", "pa\u0308ss\u2003word"}) {
    auto lookup = find_scram_credential(storage_.directory(), "hank@example.org");
    ASSERT_TRUE(lookup && lookup->credential);
    sasl::ServerOptions options;
    auto server = sasl::make_server_mechanism("SCRAM-SHA-256", options, random_);
    sasl::ScramClient client("hank@example.org", typed, "", sasl::ClientBinding::kNone, "", "",
                             random_);
    auto r = server->start(client.first());
    ASSERT_EQ(r.kind, sasl::StepKind::kNeedScramCredential);
    r = server->supply_scram_credential(lookup->credential);
    r = server->step(*client.final(r.data));
    ASSERT_EQ(r.kind, sasl::StepKind::kChallenge) << typed << ": " << r.reason;
    EXPECT_TRUE(client.verify(r.data));
  }
}

TEST(PlaintextPolicy, TlsOrLoopbackWhenAllowed) {
  EXPECT_TRUE(plaintext_auth_allowed(true, false, false));
  EXPECT_TRUE(plaintext_auth_allowed(false, true, true));
  EXPECT_FALSE(plaintext_auth_allowed(false, true, false));
  EXPECT_FALSE(plaintext_auth_allowed(false, false, true));
}

ThrottlePolicy small_policy() {
  ThrottlePolicy p;
  p.failures_before_delay = 2;
  p.failures_before_block = 4;
  p.user_failures_before_block = 6;
  p.failure_window = seconds(60);
  p.block_time = seconds(300);
  p.max_delay = seconds(3);
  return p;
}

TEST(AuthThrottle, DelaysThenBlocksAnIpAndUnblocksAfterTheBlockTime) {
  AuthThrottle t(small_policy());
  Instant now{};
  EXPECT_EQ(t.check("192.0.2.1", "a", now).delay, milliseconds(0));
  t.record_failure("192.0.2.1", "a", now);
  EXPECT_EQ(t.check("192.0.2.1", "a", now).delay, milliseconds(0));
  t.record_failure("192.0.2.1", "b", now);
  EXPECT_EQ(t.check("192.0.2.1", "c", now).delay, milliseconds(1000));
  t.record_failure("192.0.2.1", "c", now);
  EXPECT_EQ(t.check("192.0.2.1", "d", now).delay, milliseconds(2000));
  EXPECT_FALSE(t.check("192.0.2.1", "d", now).blocked);
  t.record_failure("192.0.2.1", "d", now);
  EXPECT_TRUE(t.check("192.0.2.1", "e", now).blocked);
  EXPECT_FALSE(t.check("192.0.2.2", "e", now).blocked);  // other IPs are not affected
  // A success does not lift a block.
  t.record_success("192.0.2.1", "e", now);
  EXPECT_TRUE(t.check("192.0.2.1", "e", now + seconds(299)).blocked);
  EXPECT_FALSE(t.check("192.0.2.1", "e", now + seconds(301)).blocked);
}

TEST(AuthThrottle, DelayIsCappedAndAQuietWindowForgives) {
  auto p = small_policy();
  p.failures_before_block = 100;
  p.user_failures_before_block = 100;
  AuthThrottle t(p);
  Instant now{};
  for (int i = 0; i < 10; ++i) {
    t.record_failure("198.51.100.7", "", now);
  }
  EXPECT_EQ(t.check("198.51.100.7", "", now).delay, milliseconds(3000));
  EXPECT_EQ(t.check("198.51.100.7", "", now + seconds(61)).delay, milliseconds(0));
}

TEST(AuthThrottle, SuccessResetsTheIpAndUser) {
  AuthThrottle t(small_policy());
  Instant now{};
  t.record_failure("192.0.2.1", "a", now);
  t.record_failure("192.0.2.1", "a", now);
  EXPECT_GT(t.check("192.0.2.1", "a", now).delay, milliseconds(0));
  t.record_success("192.0.2.1", "A", now);
  EXPECT_EQ(t.check("192.0.2.1", "a", now).delay, milliseconds(0));
  EXPECT_EQ(t.tracked(), 0u);
}

// The per-account counter is keyed by the name as a login resolves it (SASLprep,
// then normalize_address()), so respelling the name does not reset the count.
TEST(AuthThrottle, RespellingsOfOneAccountShareACounter) {
  AuthThrottle t(small_policy());
  Instant now{};
  const char* spellings[] = {"victim@example.org",       "vic\u00ADtim@example.org",
                             "\uFF56ictim@example.org",  "VICTIM@EXAMPLE.ORG",
                             "victim\u200C@example.org", "vi\u00ADctim@Example.org"};
  for (int i = 0; i < 6; ++i) {
    t.record_failure("10.0.0." + std::to_string(i), spellings[i], now);
  }
  EXPECT_TRUE(t.check("10.9.9.9", "victim@example.org", now).blocked);
  EXPECT_TRUE(t.check("10.9.9.9", "vict\u00ADim@example.org", now).blocked);
  EXPECT_FALSE(t.check("10.9.9.9", "other@example.org", now).blocked);
}

TEST(AuthThrottle, OneAccountFromManyIpsIsSlowedThenBlocked) {
  AuthThrottle t(small_policy());
  Instant now{};
  for (int i = 0; i < 5; ++i) {
    t.record_failure("10.0.0." + std::to_string(i), "victim@example.org", now);
  }
  auto d = t.check("10.9.9.9", "Victim@Example.org", now);
  EXPECT_FALSE(d.blocked);
  EXPECT_EQ(d.delay, milliseconds(2000));  // 5 failures, per-user delay from 4
  t.record_failure("10.0.0.5", "victim@example.org", now);
  EXPECT_TRUE(t.check("10.9.9.9", "victim@example.org", now).blocked);
  EXPECT_FALSE(t.check("10.9.9.9", "other@example.org", now).blocked);
}

TEST(AuthThrottle, MemoryIsBounded) {
  auto p = small_policy();
  p.max_tracked = 64;
  AuthThrottle t(p);
  Instant now{};
  for (int i = 0; i < 10000; ++i) {
    t.record_failure("ip" + std::to_string(i), "user" + std::to_string(i), now + seconds(i % 50));
    ASSERT_LE(t.tracked(), 2 * p.max_tracked);
  }
  // The most recent attacker is still tracked.
  t.record_failure("ip9999", "", now + seconds(60));
  t.record_failure("ip9999", "", now + seconds(60));
  t.record_failure("ip9999", "", now + seconds(60));
  EXPECT_TRUE(t.check("ip9999", "", now + seconds(60)).blocked);
}

}  // namespace
}  // namespace tern::domain
