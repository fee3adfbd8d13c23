// SPDX-License-Identifier: Apache-2.0
// The dkimpy vectors (../shared/testdata/dkim/cases.yml, read in place): every
// pre-signed message verified against the published records, every
// sign_then_verify case signed by tern in all four c= modes and verified by
// tern (the dkimpy side of interop is tests/integration/test_dkim_interop.py),
// and the sign_must_fail cases refused.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "dns/fake_resolver.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_signer.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/testing.hpp"

namespace tern::mailauth {
namespace {

using testing::to_crlf;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A cases.yml record value: literal text, or {file: path} meaning the file's
// content without its trailing newline.
std::string record_text(const std::string& dir, const YAML::Node& value) {
  if (value.IsMap()) {
    std::string text = read_file(dir + "/dkim/" + value["file"].as<std::string>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.pop_back();
    }
    return text;
  }
  return value.as<std::string>();
}

// sign_then_verify names its record as a bare path.
std::string record_file(const std::string& dir, const std::string& path) {
  YAML::Node node;
  node["file"] = path;
  return record_text(dir, node);
}

void publish(const std::string& dir, const YAML::Node& dns, dns::FakeResolver& zone) {
  for (const auto& entry : dns) {
    std::string name = entry.first.as<std::string>();
    if (!dns::normalize_name(name)) {
      continue;  // "legitimate.com(.attacker.com" style names: never asked for
    }
    zone.set(name, dns::RecordType::kTxt, dns::Answer{});
    dns::Answer answer;
    answer.status = dns::LookupStatus::kOk;
    answer.txt.push_back(dns::TxtRecord{{record_text(dir, entry.second)}});
    zone.set(name, dns::RecordType::kTxt, answer);
  }
}

class DkimSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::testdata_dir();
    if (!dir) {
      if (testing::must_have_testdata()) {
        FAIL() << "../shared/testdata is missing (CI=true: the conformance data is required)";
      }
      GTEST_SKIP() << "../shared/testdata is absent; the dkimpy vectors are skipped";
    }
    dir_ = *dir;
    cases_ = YAML::LoadFile(dir_ + "/dkim/cases.yml");
  }

  std::string dir_;
  YAML::Node cases_;
};

TEST_F(DkimSuite, PresignedMessagesVerifyAsDkimpyExpects) {
  int checked = 0;
  for (const YAML::Node& c : cases_["verify"]) {
    dns::FakeResolver zone;
    publish(dir_, cases_["dns"], zone);
    if (c["dns_override"]) {
      publish(dir_, c["dns_override"], zone);
    }
    std::string raw = read_file(dir_ + "/dkim/" + c["message"].as<std::string>());
    // Stored with LF or CRLF; verified both as stored and as an MTA receives it.
    for (const std::string& message : {raw, to_crlf(raw)}) {
      DkimVerifier verifier(message);
      auto results = testing::drive(verifier, zone);
      const YAML::Node& expect = c["expect"];
      ASSERT_EQ(results.size(), expect.size()) << c["what"].as<std::string>();
      for (std::size_t i = 0; i < results.size(); ++i) {
        std::string want = expect[i].as<std::string>();
        if (want == "pass") {
          EXPECT_EQ(results[i].result, AuthResult::kPass)
              << c["what"].as<std::string>() << ": " << results[i].reason;
        } else {
          EXPECT_TRUE(results[i].result == AuthResult::kFail ||
                      results[i].result == AuthResult::kPermError)
              << c["what"].as<std::string>() << ": " << auth_result_name(results[i].result);
        }
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST_F(DkimSuite, SignThenVerifyInAllFourCanonicalizations) {
  int checked = 0;
  for (const YAML::Node& c : cases_["sign_then_verify"]) {
    std::string what = c["what"] ? c["what"].as<std::string>() : c["key"].as<std::string>();
    auto key = DkimPrivateKey::load(read_file(dir_ + "/dkim/" + c["key"].as<std::string>()));
    ASSERT_TRUE(key) << what << ": " << key.error().message;
    EXPECT_EQ(dkim_algorithm_name(key->algorithm()), c["algorithm"].as<std::string>());
    std::string message = read_file(
        dir_ + "/dkim/" + (c["message"] ? c["message"].as<std::string>() : "data/test.message"));
    std::string selector = c["selector"].as<std::string>();
    std::string domain = c["domain"].as<std::string>();
    dns::FakeResolver zone;
    dns::Answer answer;
    answer.status = dns::LookupStatus::kOk;
    answer.txt.push_back(dns::TxtRecord{
        {c["record"] ? record_file(dir_, c["record"].as<std::string>()) : key->dns_record()}});
    zone.set(selector + "._domainkey." + domain, dns::RecordType::kTxt, answer);
    for (Canonicalization hc : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
      for (Canonicalization bc : {Canonicalization::kSimple, Canonicalization::kRelaxed}) {
        DkimSignOptions options;
        options.domain = domain;
        options.selector = selector;
        options.header_canon = hc;
        options.body_canon = bc;
        auto field = dkim_sign(message, *key, options);
        ASSERT_TRUE(field) << what << ": " << field.error().message;
        DkimVerifier verifier(*field + message);
        auto results = testing::drive(verifier, zone);
        ASSERT_EQ(results.size(), 1u);
        if (c["expect"].as<std::string>() == "pass") {
          EXPECT_EQ(results[0].result, AuthResult::kPass) << what << ": " << results[0].reason;
        } else {
          EXPECT_EQ(results[0].result, AuthResult::kPermError) << what << ": " << results[0].reason;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 13 * 4);
}

TEST_F(DkimSuite, SigningWithoutFromIsRefused) {
  for (const YAML::Node& c : cases_["sign_must_fail"]) {
    auto key = DkimPrivateKey::load(read_file(dir_ + "/dkim/" + c["key"].as<std::string>()));
    ASSERT_TRUE(key);
    DkimSignOptions options;
    options.domain = "example.com";
    options.selector = "test";
    EXPECT_FALSE(
        dkim_sign(read_file(dir_ + "/dkim/" + c["message"].as<std::string>()), *key, options));
  }
}

// dkimpy's own uses of test.message: a second From before or after the first
// fails, appended body text fails (passes with l= under kAccept), an added
// unsigned field passes. Also the LP 737311 mbox message with many Received.
TEST_F(DkimSuite, DkimpyAlterationCases) {
  auto key = DkimPrivateKey::load(read_file(dir_ + "/dkim/data/test.private"));
  ASSERT_TRUE(key);
  dns::FakeResolver zone;
  publish(dir_, cases_["dns"], zone);
  for (std::string file : {"data/test.message", "data/message.mbox", "data/test_extra.message",
                           "data/rfc6376.w1258.msg"}) {
    std::string message = read_file(dir_ + "/dkim/" + file);
    DkimSignOptions options;
    options.domain = "example.com";
    options.selector = "test";
    auto field = dkim_sign(message, *key, options);
    ASSERT_TRUE(field) << file;
    auto verify = [&](const std::string& m, DkimVerifyOptions o = {}) {
      DkimVerifier verifier(m, o);
      return testing::drive(verifier, zone).at(0).result;
    };
    EXPECT_EQ(verify(*field + message), AuthResult::kPass) << file;
    EXPECT_EQ(verify(*field + "From: evil@example.org\n" + message), AuthResult::kFail) << file;
    EXPECT_EQ(verify(*field + message + "appended\n"), AuthResult::kFail) << file;
    EXPECT_EQ(verify(*field + "X-Foo: bar\n" + message), AuthResult::kPass) << file;
    options.include_body_length = true;
    auto with_l = dkim_sign(message, *key, options);
    ASSERT_TRUE(with_l);
    DkimVerifyOptions accept;
    accept.body_length = BodyLengthPolicy::kAccept;
    EXPECT_EQ(verify(*with_l + message + "appended\n", accept), AuthResult::kPass) << file;
    EXPECT_EQ(verify(*with_l + message + "appended\n"), AuthResult::kPolicy) << file;
  }
}

}  // namespace
}  // namespace tern::mailauth
