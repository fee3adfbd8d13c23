// SPDX-License-Identifier: Apache-2.0
#include "sasl/password_hash.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include <crypt.h>
#include <gtest/gtest.h>

namespace tern::sasl {
namespace {

// A deterministic Random: bytes 0, 1, 2, ... continuing across calls.
class CountingRandom : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& byte : out) {
      byte = next_++;
    }
  }

 private:
  std::uint8_t next_ = 0;
};

// Cheap parameters so the suite stays fast under ASan.
constexpr Argon2Params kFast{1024, 1, 1};

constexpr std::string_view kPassword = "correct horse";

// Fixtures made with libxcrypt (Python's crypt module and `openssl passwd`) for
// "correct horse", and with libargon2's argon2id_hash_encoded() /
// argon2i_hash_encoded() (m=1024, t=2, p=1, salt "saltsaltsaltsalt").
constexpr std::string_view kSha512 =
    "$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/"
    "uamSo5z0";
constexpr std::string_view kSha256 = "$5$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/";
constexpr std::string_view kMd5 = "$1$saltsalt$NuzA7WTAelpl95xgBGWN60";
constexpr std::string_view kBcrypt2y =
    "$2y$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2";
constexpr std::string_view kBcrypt2b =
    "$2b$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2";
constexpr std::string_view kBcrypt2a =
    "$2a$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2";
constexpr std::string_view kYescrypt =
    "$y$j9T$saltsaltsaltsalt$gNcNhvFTt75JDF1LO9O.MCPyp8TkQxrhQSKqUeo/Uy6";
constexpr std::string_view kDes = "abhfCpXqd4GrI";
constexpr std::string_view kArgon2id =
    "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MO33cCFnqSA8SskhR8/i5r/vajJ3mDxwI/"
    "Myoh5GZwk";
constexpr std::string_view kArgon2i =
    "$argon2i$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$k74KtOeXRC+"
    "Liob2I0b0MKFpIPhXAdb8cojiLViemA4";

std::string with(std::string_view prefix, std::string_view hash) {
  return std::string(prefix) + std::string(hash);
}

TEST(HashPassword, ProducesArgon2idPhcStringThatVerifies) {
  CountingRandom random;
  auto hash = hash_password(kPassword, kFast, random);
  ASSERT_TRUE(hash) << hash.error().message;
  // Salt bytes 0..15 in unpadded base64.
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=1024,t=1,p=1$AAECAwQFBgcICQoLDA0ODw$", 0), 0u) << *hash;
  EXPECT_TRUE(verify_password(kPassword, *hash));
  EXPECT_FALSE(verify_password("correct horsE", *hash));
  EXPECT_FALSE(verify_password("correct hors", *hash));
}

TEST(HashPassword, FreshSaltEachTime) {
  CountingRandom random;
  auto a = hash_password(kPassword, kFast, random);
  auto b = hash_password(kPassword, kFast, random);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(verify_password(kPassword, *b));
}

TEST(HashPassword, DefaultParamsAreTheDocumentedOnes) {
  CountingRandom random;
  auto hash = hash_password("pw", Argon2Params{}, random);
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=65536,t=3,p=1$", 0), 0u) << *hash;
  EXPECT_FALSE(needs_rehash(*hash, Argon2Params{}));
}

TEST(HashPassword, RejectsEmptyPasswordAndBadParams) {
  CountingRandom random;
  auto empty = hash_password("", kFast, random);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidInput);
  auto bad = hash_password(kPassword, Argon2Params{4, 1, 1}, random);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(bad.error().message.rfind("argon2id: ", 0), 0u) << bad.error().message;
  EXPECT_FALSE(hash_password(kPassword, Argon2Params{1024, 0, 1}, random));
}

TEST(VerifyPassword, AcceptsKnownArgon2Vectors) {
  EXPECT_TRUE(verify_password(kPassword, kArgon2id));
  EXPECT_TRUE(verify_password(kPassword, kArgon2i));
  EXPECT_FALSE(verify_password("wrong", kArgon2id));
  EXPECT_FALSE(verify_password("wrong", kArgon2i));
}

TEST(VerifyPassword, AcceptsCryptSchemes) {
  for (std::string_view stored :
       {kSha512, kSha256, kMd5, kBcrypt2y, kBcrypt2b, kBcrypt2a, kYescrypt}) {
    EXPECT_TRUE(verify_password(kPassword, stored)) << stored;
    EXPECT_FALSE(verify_password("Correct horse", stored)) << stored;
    EXPECT_FALSE(verify_password("", stored)) << stored;
  }
}

TEST(VerifyPassword, RoundTripsHashesMadeWithCryptR) {
  for (std::string_view prefix : {"$6$", "$5$", "$2y$", "$y$"}) {
    // crypt_gensalt_ra() returns malloc()ed memory.
    std::unique_ptr<char, decltype(&std::free)> raw(
        crypt_gensalt_ra(std::string(prefix).c_str(), 0, nullptr, 0), &std::free);
    ASSERT_NE(raw, nullptr) << prefix;
    std::string setting(raw.get());
    auto data = std::make_unique<crypt_data>();
    std::string hash = crypt_r("s3cret pass", setting.c_str(), data.get());
    ASSERT_EQ(hash.rfind(prefix, 0), 0u) << hash;
    EXPECT_TRUE(verify_password("s3cret pass", hash)) << hash;
    EXPECT_FALSE(verify_password("s3cret pas", hash)) << hash;
  }
}

TEST(VerifyPassword, BareDesIsRefusedButCryptPrefixAcceptsIt) {
  EXPECT_FALSE(verify_password(kPassword, kDes));
  // Traditional DES looks at 8 characters only: that is why it is legacy.
  EXPECT_TRUE(verify_password(kPassword, with("{CRYPT}", kDes)));
}

TEST(VerifyPassword, AcceptsDovecotSchemePrefixes) {
  EXPECT_TRUE(verify_password(kPassword, with("{ARGON2ID}", kArgon2id)));
  EXPECT_TRUE(verify_password(kPassword, with("{argon2i}", kArgon2i)));
  EXPECT_TRUE(verify_password(kPassword, with("{SHA512-CRYPT}", kSha512)));
  EXPECT_TRUE(verify_password(kPassword, with("{SHA256-CRYPT}", kSha256)));
  EXPECT_TRUE(verify_password(kPassword, with("{BLF-CRYPT}", kBcrypt2y)));
  EXPECT_TRUE(verify_password(kPassword, with("{MD5-CRYPT}", kMd5)));
  EXPECT_TRUE(verify_password(kPassword, with("{CRYPT}", kSha512)));
  EXPECT_TRUE(verify_password(kPassword, with("{CRYPT}", kYescrypt)));
  EXPECT_FALSE(verify_password("nope", with("{SHA512-CRYPT}", kSha512)));
}

TEST(VerifyPassword, SchemePrefixMustMatchTheHash) {
  EXPECT_FALSE(verify_password(kPassword, with("{SHA256-CRYPT}", kSha512)));
  EXPECT_FALSE(verify_password(kPassword, with("{BLF-CRYPT}", kSha512)));
  EXPECT_FALSE(verify_password(kPassword, with("{ARGON2ID}", kArgon2i)));
  EXPECT_FALSE(verify_password(kPassword, with("{SSHA}", kSha512)));
}

TEST(VerifyPassword, PlainOnlyWithPrefix) {
  EXPECT_TRUE(verify_password(kPassword, "{PLAIN}correct horse"));
  EXPECT_TRUE(verify_password(kPassword, "{CLEAR}correct horse"));
  EXPECT_FALSE(verify_password(kPassword, "{PLAIN}correct horse "));
  EXPECT_FALSE(verify_password(kPassword, "correct horse"));
  EXPECT_FALSE(verify_password("", "{PLAIN}"));
}

TEST(VerifyPassword, AcceptsShaCryptWithExplicitRounds) {
  auto data = std::make_unique<crypt_data>();
  std::string hash = crypt_r("pw", "$6$rounds=10000$saltsalt", data.get());
  ASSERT_EQ(hash.rfind("$6$rounds=10000$", 0), 0u) << hash;
  EXPECT_TRUE(verify_password("pw", hash));
}

TEST(VerifyPassword, NulInPasswordNeverMatchesCrypt) {
  std::string with_nul("correct horse\0tail", 18);
  EXPECT_FALSE(verify_password(with_nul, kSha512));
}

TEST(VerifyPassword, MalformedHashesAreRejectedWithoutCrashing) {
  std::string truncated(kArgon2id.substr(0, kArgon2id.size() - 10));
  for (std::string_view stored :
       {std::string_view(""),
        std::string_view("$"),
        std::string_view("$6$"),
        std::string_view("$6$saltsalt$"),
        std::string_view("$2y$05$short"),
        std::string_view("$2y$99$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"),
        std::string_view("$y$"),
        std::string_view("$argon2id$"),
        std::string_view("$argon2id$v=19$m=1024,t=2,p=1$"),
        std::string_view("$argon2id$v=19$m=1024,t=2,p=1$c2FsdA$"),
        std::string_view("$argon2id$v=19$m=99999999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAA"),
        std::string_view("$argon2id$v=19$m=8388608,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAA"),
        std::string_view("$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAA"),
        std::string_view("$argon2id$v=19$m=1024,t=2,p=1$c2Fsd!Ntb$AAAAAAAAAAA"),
        std::string_view("$argon2d$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAA"),
        std::string_view(truncated),
        std::string_view("{"),
        std::string_view("{PLAIN"),
        std::string_view("{}"),
        std::string_view("*"),
        std::string_view("!locked"),
        std::string_view("$6$\0abc", 7),
        std::string_view("$2b$31$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"),
        std::string_view("$6$rounds=999999999$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQ"),
        std::string_view("$6$rounds=99999999999999$saltsalt$x")}) {
    EXPECT_FALSE(verify_password(kPassword, stored)) << stored;
    EXPECT_TRUE(needs_rehash(stored, kFast)) << stored;
  }
}

TEST(NeedsRehash, LegacySchemesNeedRehash) {
  for (std::string_view stored : {kSha512, kSha256, kMd5, kBcrypt2y, kYescrypt, kArgon2i}) {
    EXPECT_TRUE(needs_rehash(stored, kFast)) << stored;
  }
  EXPECT_TRUE(needs_rehash("{PLAIN}x", kFast));
  EXPECT_TRUE(needs_rehash(with("{SHA512-CRYPT}", kSha512), kFast));
}

TEST(NeedsRehash, WeakerArgon2idNeedsRehash) {
  // kArgon2id has m=1024, t=2, p=1.
  EXPECT_FALSE(needs_rehash(kArgon2id, Argon2Params{1024, 2, 1}));
  EXPECT_FALSE(needs_rehash(kArgon2id, Argon2Params{512, 1, 1}));
  EXPECT_FALSE(needs_rehash(with("{ARGON2ID}", kArgon2id), Argon2Params{1024, 2, 1}));
  EXPECT_FALSE(needs_rehash(kArgon2id, Argon2Params{1024, 2, 4}));  // parallelism alone
  EXPECT_TRUE(needs_rehash(kArgon2id, Argon2Params{2048, 2, 1}));
  EXPECT_TRUE(needs_rehash(kArgon2id, Argon2Params{1024, 3, 1}));
  EXPECT_TRUE(
      needs_rehash("$argon2id$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA"
                   "AAAAAAAAAAAAAAAAAAAAA",
                   kFast));  // version 16
}

TEST(NeedsRehash, FreshHashIsCurrent) {
  CountingRandom random;
  auto hash = hash_password(kPassword, kFast, random);
  ASSERT_TRUE(hash);
  EXPECT_FALSE(needs_rehash(*hash, kFast));
  EXPECT_TRUE(needs_rehash(*hash, Argon2Params{2048, 1, 1}));
}

}  // namespace
}  // namespace tern::sasl
