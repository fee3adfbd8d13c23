// SPDX-License-Identifier: Apache-2.0
// DKIM: tag lists, signature and key records, canonicalisation (split at every
// offset), RFC 6376 and RFC 8463 appendix examples, signing round trips and the
// failure cases RFC 6376 §6 and RFC 8301 name.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mailauth/canonicalization.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_keyring.hpp"
#include "mailauth/dkim_signer.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/tag_list.hpp"
#include "mailauth/testing.hpp"
#include "sasl/base64.hpp"

namespace tern::mailauth {
namespace {

using testing::drive;

// RFC 8463 Appendix A.1 (the RFC 8032 §7.1 test 1 seed) and A.2.
constexpr const char* kBrisbaneSeed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr const char* kBrisbaneRecord =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr const char* kTestRecord =
    "v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/"
    "8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB";

constexpr const char* kRfc6376Message =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

// RFC 8463 Appendix A.3: the two signatures on the RFC 6376 example message.
constexpr const char* kRfc8463Signatures =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n";

const std::string kRfc8463Signed = std::string(kRfc8463Signatures) + kRfc6376Message;

void add_football_keys(dns::FakeResolver& zone) {
  zone.add_txt("brisbane._domainkey.football.example.com", {kBrisbaneRecord});
  zone.add_txt("test._domainkey.football.example.com", {kTestRecord});
}

DkimSignOptions sign_options(std::string domain, std::string selector) {
  DkimSignOptions options;
  options.domain = std::move(domain);
  options.selector = std::move(selector);
  return options;
}

DkimVerifyOptions at_time(std::uint64_t now) {
  DkimVerifyOptions options;
  options.now = now;
  return options;
}

DkimVerifyOptions with_policy(BodyLengthPolicy policy) {
  DkimVerifyOptions options;
  options.body_length = policy;
  return options;
}

DkimPrivateKey rsa_key(unsigned bits) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits));
  PkeyPtr key(raw);
  auto loaded = DkimPrivateKey::load([&] {
    // Round trip through PEM, as keys arrive in production.
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return pem;
  }());
  EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().message);
  return std::move(*loaded);
}

std::vector<DkimResult> verify(dns::FakeResolver& zone, std::string_view message,
                               DkimVerifyOptions options = {}) {
  DkimVerifier verifier(message, options);
  return drive(verifier, zone);
}

// ----- tag lists and records

TEST(DkimTagList, ParsesTagsWithFoldingAndTrailingSemicolon) {
  auto tags = parse_tag_list(" v = 1 ;\r\n\ta=rsa-sha256; b=ab\r\n cd ;");
  ASSERT_TRUE(tags);
  ASSERT_EQ(tags->size(), 3u);
  EXPECT_EQ((*tags)[0].name, "v");
  EXPECT_EQ((*tags)[0].value, "1");
  EXPECT_EQ((*tags)[2].value, "ab\r\n cd");
  EXPECT_EQ(strip_fws((*tags)[2].value), "abcd");
}

TEST(DkimTagList, RefusesDuplicatesAndMalformedSpecs) {
  EXPECT_FALSE(parse_tag_list("a=1; a=2"));
  EXPECT_FALSE(parse_tag_list("a=1;; b=2"));
  EXPECT_FALSE(parse_tag_list("=1"));
  EXPECT_FALSE(parse_tag_list("a"));
  EXPECT_FALSE(parse_tag_list("1a=x"));
  EXPECT_TRUE(parse_tag_list("a="));
  EXPECT_TRUE(parse_tag_list(""));
}

TEST(DkimSignature, ParsesEveryTag) {
  auto sig = parse_dkim_signature(
      "v=1; a=rsa-sha256; c=relaxed; d=Example.COM; s=Sel; i=joe@sub.example.com; "
      "h=From : Subject; l=12; t=10; x=20; q=dns/txt; bh=AAAA; b=AA AA");
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_EQ(sig->header_canon, Canonicalization::kRelaxed);
  EXPECT_EQ(sig->body_canon, Canonicalization::kSimple);
  EXPECT_EQ(sig->domain, "example.com");
  EXPECT_EQ(sig->selector, "sel");
  EXPECT_EQ(sig->signed_headers, (std::vector<std::string>{"from", "subject"}));
  EXPECT_EQ(sig->body_length, 12u);
  EXPECT_EQ(sig->b_text, "AAAA");
}

TEST(DkimSignature, RefusesWhatRfc6376Section6_1_1Refuses) {
  const std::string ok = "a=rsa-sha256; d=example.com; s=s; bh=AAAA; b=AAAA; ";
  EXPECT_TRUE(parse_dkim_signature("v=1; " + ok + "h=from"));
  EXPECT_FALSE(parse_dkim_signature("v=2; " + ok + "h=from"));
  EXPECT_FALSE(parse_dkim_signature(ok + "h=from"));               // no v=
  EXPECT_FALSE(parse_dkim_signature("v=1; " + ok + "h=subject"));  // From unsigned
  EXPECT_FALSE(parse_dkim_signature("v=1; " + ok + "h=from; i=@other.com"));
  EXPECT_FALSE(parse_dkim_signature("v=1; " + ok + "h=from; c=fancy"));
  EXPECT_FALSE(parse_dkim_signature("v=1; " + ok + "h=from; q=http/well-known"));
  EXPECT_FALSE(parse_dkim_signature("v=1; " + ok + "h=from; t=20; x=10"));
  EXPECT_FALSE(parse_dkim_signature("v=1; " + ok + "h=from; l=99999999999999999999999"));
  EXPECT_FALSE(parse_dkim_signature(
      "v=1; a=rsa-sha256; d=legitimate.com(.attacker.com; s=s; bh=AAAA; b=AAAA; h=from"));
  EXPECT_FALSE(parse_dkim_signature("v=1; a=rsa-md5; d=e.com; s=s; bh=AAAA; b=AAAA; h=from"));
}

TEST(DkimKeyRecord, ParsesAndRefuses) {
  auto key = parse_dkim_key_record("v=DKIM1; k=ed25519; t=y:s; h=sha256; p=AAAA");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->key_type, DkimKeyType::kEd25519);
  EXPECT_TRUE(key->testing);
  EXPECT_TRUE(key->strict_identity);
  EXPECT_TRUE(parse_dkim_key_record("p="));                       // revoked, still a record
  EXPECT_FALSE(parse_dkim_key_record("k=rsa; v=DKIM1; p=AAAA"));  // v= not first
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1: k=rsa; p=AAAA"));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; k=dsa; p=AAAA"));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; k=rsa"));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; s=tlsrpt; p=AAAA"));
  EXPECT_TRUE(parse_dkim_key_record("v=DKIM1; s=tlsrpt:email; p=AAAA"));
}

// ----- canonicalisation

// RFC 6376 §3.4.6, the example.
TEST(DkimCanonicalization, Rfc6376Example) {
  std::string message = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
  SplitMessage split = split_message(message);
  ASSERT_EQ(split.fields.size(), 2u);
  EXPECT_EQ(canonicalize_header(Canonicalization::kRelaxed, split.fields[0].raw), "a:X\r\n");
  EXPECT_EQ(canonicalize_header(Canonicalization::kRelaxed, split.fields[1].raw), "b:Y Z\r\n");
  EXPECT_EQ(canonicalize_header(Canonicalization::kSimple, split.fields[1].raw),
            "B : Y\t\r\n\tZ  \r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kRelaxed, split.body), " C\r\nD E\r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kSimple, split.body), " C \r\nD \t E\r\n");
}

TEST(DkimCanonicalization, EmptyBodiesAndMissingFinalLineBreak) {
  EXPECT_EQ(canonicalize_body(Canonicalization::kSimple, ""), "\r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kSimple, "\r\n\r\n"), "\r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kRelaxed, ""), "");
  EXPECT_EQ(canonicalize_body(Canonicalization::kRelaxed, " \r\n\t\r\n"), "");
  EXPECT_EQ(canonicalize_body(Canonicalization::kSimple, "x"), "x\r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kRelaxed, "x \t"), "x\r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kSimple, "a\nb\n\n"), "a\r\nb\r\n");
  EXPECT_EQ(canonicalize_body(Canonicalization::kSimple, "a\rb\r"), "a\rb\r\r\n");
}

TEST(DkimCanonicalization, SameOutputForEverySplitAndByteByByte) {
  const std::string body = " C \r\nD \t E\r\n\r\n  \r\nx\ty \r\n\r\nlast\r\r\n\n\r\n";
  for (Canonicalization c : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
    const std::string whole = canonicalize_body(c, body);
    for (std::size_t split = 0; split <= body.size(); ++split) {
      BodyCanonicalizer canon(c);
      std::string out;
      canon.feed(std::string_view(body).substr(0, split), out);
      canon.feed(std::string_view(body).substr(split), out);
      canon.finish(out);
      EXPECT_EQ(out, whole) << "split at " << split;
    }
    BodyCanonicalizer canon(c);
    std::string out;
    for (char ch : body) {
      canon.feed(std::string_view(&ch, 1), out);
    }
    canon.finish(out);
    EXPECT_EQ(out, whole);
  }
}

// ----- RFC 8463 appendix A

TEST(DkimRfcExamples, Rfc8463SignedMessageVerifiesBothSignatures) {
  dns::FakeResolver zone;
  add_football_keys(zone);
  auto results = verify(zone, kRfc8463Signed);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].result, AuthResult::kPass) << results[0].reason;
  EXPECT_EQ(results[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(results[0].selector, "brisbane");
  EXPECT_EQ(results[1].result, AuthResult::kPass) << results[1].reason;
  EXPECT_EQ(results[1].domain, "football.example.com");
  EXPECT_TRUE(results[1].b.starts_with("F45dVWDf"));
}

TEST(DkimRfcExamples, Rfc8463BodyHashAndEd25519SignatureAreReproduced) {
  auto key = DkimPrivateKey::load(kBrisbaneSeed);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->dns_record(), kBrisbaneRecord);
  DkimSignOptions options;
  options.domain = "football.example.com";
  options.selector = "brisbane";
  options.oversign = {"from", "subject", "date"};
  options.timestamp = 1528637909;
  auto field = dkim_sign(kRfc6376Message, *key, options);
  ASSERT_TRUE(field) << field.error().message;
  std::string unfolded = *field;
  for (std::size_t p = unfolded.find("\r\n\t"); p != std::string::npos;
       p = unfolded.find("\r\n\t")) {
    unfolded.erase(p, 3);
  }
  // RFC 8463 A.3's bh= for relaxed body canonicalisation.
  EXPECT_NE(unfolded.find("bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="), std::string::npos);
  EXPECT_NE(unfolded.find("h=from:to:subject:date:message-id:from:subject:date;"),
            std::string::npos)
      << *field;
  dns::FakeResolver zone;
  add_football_keys(zone);
  auto results = verify(zone, *field + kRfc6376Message);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].result, AuthResult::kPass) << results[0].reason;
}

TEST(DkimRfcExamples, TamperedRfc8463MessageFails) {
  std::string tampered = kRfc8463Signed;
  tampered.replace(tampered.find("Is dinner"), 2, "Was");
  dns::FakeResolver zone;
  add_football_keys(zone);
  auto results = verify(zone, tampered);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].result, AuthResult::kFail);
  EXPECT_EQ(results[1].result, AuthResult::kFail);
  std::string body_changed = kRfc8463Signed;
  body_changed += "P.S.\r\n";
  results = verify(zone, body_changed);
  EXPECT_EQ(results[0].result, AuthResult::kFail);
  EXPECT_EQ(results[0].reason, "body hash did not verify");
}

// ----- signing round trips and failure modes

class DkimRoundTrip
    : public ::testing::TestWithParam<std::tuple<Canonicalization, Canonicalization>> {};

TEST_P(DkimRoundTrip, Rsa2048AndEd25519SignaturesVerify) {
  auto [hc, bc] = GetParam();
  dns::FakeResolver zone;
  DkimPrivateKey rsa = rsa_key(2048);
  auto ed = DkimPrivateKey::load(kBrisbaneSeed);
  ASSERT_TRUE(ed);
  zone.add_txt("rsa._domainkey.example.org", {rsa.dns_record()});
  zone.add_txt("ed._domainkey.example.org", {ed->dns_record()});
  std::string message =
      "Received: from a\r\nFrom: Ann <ann@example.org>\r\nTo: "
      "bob@example.net,\r\n\tcid@example.net\r\n"
      "Subject:  folded\r\n  subject \r\n\r\nbody line  \r\n\r\n\r\n";
  for (auto* entry : {&rsa, &*ed}) {
    DkimSignOptions options;
    options.domain = "example.org";
    options.selector = entry == &rsa ? "rsa" : "ed";
    options.header_canon = hc;
    options.body_canon = bc;
    auto field = dkim_sign(message, *entry, options);
    ASSERT_TRUE(field) << field.error().message;
    for (std::size_t pos = 0; pos < field->size();) {
      std::size_t eol = field->find("\r\n", pos);
      EXPECT_LE(eol - pos, 78u) << *field;
      pos = eol + 2;
    }
    auto results = verify(zone, *field + message);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].result, AuthResult::kPass) << results[0].reason << "\n" << *field;
    // Over-signing: a second From (above or below) breaks the signature.
    auto added_top = verify(zone, *field + "From: mallory@evil.example\r\n" + message);
    EXPECT_EQ(added_top[0].result, AuthResult::kFail);
    std::string below = message;
    below.insert(below.find("\r\n\r\n") + 2, "Cc: eve@evil.example\r\n");
    EXPECT_EQ(verify(zone, *field + below)[0].result, AuthResult::kFail);
    // A field that is not signed may be added.
    EXPECT_EQ(verify(zone, *field + "X-Foo: bar\r\n" + message)[0].result, AuthResult::kPass);
    // LF line ends verify the same as CRLF (what an MTA stores).
    std::string lf = *field + message;
    for (std::size_t p = lf.find("\r\n"); p != std::string::npos; p = lf.find("\r\n", p)) {
      lf.erase(p, 1);
    }
    EXPECT_EQ(verify(zone, lf)[0].result, AuthResult::kPass);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCanonicalizations, DkimRoundTrip,
    ::testing::Combine(::testing::Values(Canonicalization::kSimple, Canonicalization::kRelaxed),
                       ::testing::Values(Canonicalization::kSimple, Canonicalization::kRelaxed)));

TEST(DkimKeyring, SignsWithEveryActiveKeyOfTheDomain) {
  dns::FakeResolver zone;
  auto rsa = std::make_shared<const DkimPrivateKey>(rsa_key(2048));
  auto ed_loaded = DkimPrivateKey::load(kBrisbaneSeed);
  ASSERT_TRUE(ed_loaded);
  auto ed = std::make_shared<const DkimPrivateKey>(std::move(*ed_loaded));
  zone.add_txt("new._domainkey.example.org", {rsa->dns_record()});
  zone.add_txt("ed._domainkey.example.org", {ed->dns_record()});
  DkimKeyring ring;
  ring.add({"example.org", "new", true, rsa});
  ring.add({"example.org", "ed", true, ed});
  ring.add({"example.org", "old", false, ed});  // published for rotation only
  ring.add({"example.net", "s", true, ed});
  EXPECT_TRUE(ring.signs_for("Example.ORG"));
  EXPECT_FALSE(ring.signs_for("example.com"));
  const std::string message =
      "From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nbody\r\n";
  auto fields = ring.sign(message, "EXAMPLE.org", 1'800'000'000);
  ASSERT_TRUE(fields) << fields.error().message;
  EXPECT_NE(fields->find("s=new;"), std::string::npos) << *fields;
  EXPECT_NE(fields->find("s=ed;"), std::string::npos) << *fields;
  EXPECT_EQ(fields->find("s=old;"), std::string::npos) << *fields;
  EXPECT_NE(fields->find("t=1800000000"), std::string::npos) << *fields;
  auto results = verify(zone, *fields + message);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].result, AuthResult::kPass) << results[0].reason;
  EXPECT_EQ(results[1].result, AuthResult::kPass) << results[1].reason;
  auto none = ring.sign(message, "example.com", 0);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
  EXPECT_FALSE(ring.sign("Subject: no from\r\n\r\n", "example.org", 0));
}

TEST(DkimSigner, RefusesMessageWithoutFrom) {
  auto key = DkimPrivateKey::load(kBrisbaneSeed);
  ASSERT_TRUE(key);
  DkimSignOptions options = sign_options("example.org", "s");
  EXPECT_FALSE(dkim_sign("To: x@y\r\n\r\nbody\r\n", *key, options));
  options.domain = "bad domain";
  EXPECT_FALSE(dkim_sign(kRfc6376Message, *key, options));
}

TEST(DkimSigner, RefusesShortRsaKeys) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{512});
  EXPECT_FALSE(DkimPrivateKey::from_pkey(PkeyPtr(raw)));
}

TEST(DkimVerifier, BodyLengthIsARiskByPolicy) {
  dns::FakeResolver zone;
  auto key = DkimPrivateKey::load(kBrisbaneSeed);
  zone.add_txt("s._domainkey.example.org", {key->dns_record()});
  std::string message = "From: a@example.org\r\n\r\nsigned\r\n";
  DkimSignOptions options = sign_options("example.org", "s");
  options.include_body_length = true;
  auto field = dkim_sign(message, *key, options);
  ASSERT_TRUE(field);
  std::string signed_message = *field + message;
  EXPECT_EQ(verify(zone, signed_message)[0].result, AuthResult::kPass);
  std::string appended = signed_message + "appended by someone else\r\n";
  EXPECT_EQ(verify(zone, appended)[0].result, AuthResult::kPolicy);
  EXPECT_EQ(verify(zone, appended, with_policy(BodyLengthPolicy::kAccept))[0].result,
            AuthResult::kPass);
  EXPECT_EQ(verify(zone, signed_message, with_policy(BodyLengthPolicy::kPolicyAlways))[0].result,
            AuthResult::kPolicy);
}

TEST(DkimVerifier, KeyProblemsMapToRfc8601Results) {
  auto key = DkimPrivateKey::load(kBrisbaneSeed);
  std::string message = "From: a@example.org\r\n\r\nhello\r\n";
  DkimSignOptions options = sign_options("example.org", "s");
  options.timestamp = 100;
  options.expiration = 200;
  std::string signed_message = *dkim_sign(message, *key, options) + message;

  dns::FakeResolver none;
  EXPECT_EQ(verify(none, signed_message)[0].result, AuthResult::kPermError);
  dns::FakeResolver temp;
  temp.set("s._domainkey.example.org", dns::RecordType::kTxt,
           dns::Answer::failure(dns::LookupStatus::kTemporary));
  EXPECT_EQ(verify(temp, signed_message)[0].result, AuthResult::kTempError);
  dns::FakeResolver revoked;
  revoked.add_txt("s._domainkey.example.org", {"v=DKIM1; k=ed25519; p="});
  EXPECT_EQ(verify(revoked, signed_message)[0].reason, "key revoked");
  dns::FakeResolver wrong_type;
  wrong_type.add_txt("s._domainkey.example.org", {kTestRecord});
  EXPECT_EQ(verify(wrong_type, signed_message)[0].result, AuthResult::kPermError);
  dns::FakeResolver good;
  good.add_txt("s._domainkey.example.org",
               {"v=DKIM1; k=ed25519; t=y; ", "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="});
  auto results = verify(good, signed_message, at_time(150));
  EXPECT_EQ(results[0].result, AuthResult::kPass);
  EXPECT_TRUE(results[0].testing);
  EXPECT_EQ(verify(good, signed_message, at_time(250))[0].reason, "signature expired");
  EXPECT_TRUE(DkimVerifier("From: a\r\n\r\n").results().empty());
}

TEST(DkimVerifier, RsaSha1AndShortRsaKeysFail) {
  // RFC 8301 §3.1 and §3.2.
  dns::FakeResolver zone;
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{512});
  PkeyPtr small(raw);
  int size = i2d_PUBKEY(small.get(), nullptr);
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PUBKEY(small.get(), &p);
  std::string message = "From: a@example.org\r\n\r\nhello\r\n";
  std::string canon_body = canonicalize_body(Canonicalization::kSimple, "hello\r\n");
  std::string bh = sasl::base64_encode(sha256(canon_body));
  // A signature made by the 512-bit key with OpenSSL directly.
  std::string field =
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=small; h=from; bh=" + bh + "; b=";
  std::string data = "From: a@example.org\r\n" + field;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t sig_size = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, small.get());
  EVP_DigestSign(ctx, nullptr, &sig_size, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  std::string sig(sig_size, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_size,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  EVP_MD_CTX_free(ctx);
  zone.add_txt("small._domainkey.example.org", {"p=" + sasl::base64_encode(der)});
  auto results = verify(zone, field + sasl::base64_encode(sig) + "\r\n" + message);
  EXPECT_EQ(results[0].result, AuthResult::kFail);
  EXPECT_EQ(results[0].reason, "RSA key shorter than 1024 bits");

  std::string sha1 = "DKIM-Signature: v=1; a=rsa-sha1; d=example.org; s=small; h=from; bh=" + bh +
                     "; b=AAAA\r\n" + message;
  results = verify(zone, sha1);
  EXPECT_EQ(results[0].result, AuthResult::kFail);
  EXPECT_EQ(results[0].algorithm, "rsa-sha1");
}

TEST(DkimVerifier, ManySignaturesAreBounded) {
  std::string message;
  for (int i = 0; i < 12; ++i) {
    message += "DKIM-Signature: v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=AAAA; b=AAAA\r\n";
  }
  message += "From: a@e.com\r\n\r\nx\r\n";
  DkimVerifier verifier(message);
  dns::FakeResolver zone;
  auto results = drive(verifier, zone);
  ASSERT_EQ(results.size(), 12u);
  EXPECT_EQ(results[11].reason, "too many signatures");
  EXPECT_EQ(zone.total_lookups_for_test(), 1u);  // one key name, asked once
}

}  // namespace
}  // namespace tern::mailauth
