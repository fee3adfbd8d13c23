// SPDX-License-Identifier: Apache-2.0
// The ValiMail ARC validation suite (../shared/testdata/arc/, 171 cases, read in
// place): each scenario's txt-records served by a dns::FakeResolver, each message
// (LF in the YAML, converted to CRLF as an MTA receives it) validated, and the
// chain status compared with `cv`. The three cases whose cv is blank are Fail
// (the data README's "Known problems": RFC 8617 §5.2 steps 2 and 3).
#include <cctype>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "base/ascii.hpp"
#include "dns/fake_resolver.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/arc_sealer.hpp"
#include "mailauth/canonicalization.hpp"
#include "mailauth/testing.hpp"

namespace tern::mailauth {
namespace {

using testing::to_crlf;

TEST(ArcSuite, ValiMailValidationSuitePassesAll171Cases) {
  TERN_REQUIRE_TESTDATA(dir);
  auto scenarios = YAML::LoadAllFromFile(dir + "/arc/arc-draft-validation-tests.yml");
  int cases = 0;
  int passed = 0;
  for (const YAML::Node& scenario : scenarios) {
    if (!scenario["tests"]) {
      continue;
    }
    dns::FakeResolver zone;
    for (const auto& record : scenario["txt-records"]) {
      zone.add_txt(record.first.as<std::string>(), {record.second.as<std::string>()});
    }
    // A few test names repeat inside a scenario; as with PyYAML (the upstream
    // harness) the last definition counts.
    std::map<std::string, YAML::Node> tests;
    for (const auto& test : scenario["tests"]) {
      tests[test.first.as<std::string>()] = test.second;
    }
    for (const auto& test : tests) {
      ++cases;
      const std::string& name = test.first;
      std::string want = ascii::lower(test.second["cv"].as<std::string>(""));
      while (!want.empty() && want.back() == ' ') {
        want.pop_back();
      }
      if (want.empty()) {
        want = "fail";
      }
      ArcVerifier arc(to_crlf(test.second["message"].as<std::string>("")));
      while (auto q = arc.pending_query()) {
        arc.provide(zone.lookup(q->name, q->type).get());
      }
      std::string got(auth_result_name(arc.result().result));
      if (got == want) {
        ++passed;
      } else {
        ADD_FAILURE() << scenario["description"].as<std::string>() << " / " << name << " ("
                      << test.second["description"].as<std::string>("") << "): got " << got << " ["
                      << arc.result().problem << "], want " << want;
      }
    }
  }
  EXPECT_EQ(cases, 171);
  EXPECT_EQ(passed, cases);
}

// The suite's comparison: tag=value items as a set, all white space removed.
std::set<std::string> tag_set(std::string_view value) {
  std::string compact;
  for (char c : value) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      compact.push_back(c);
    }
  }
  std::set<std::string> items;
  std::size_t pos = 0;
  while (pos <= compact.size()) {
    std::size_t end = compact.find(';', pos);
    end = end == std::string::npos ? compact.size() : end;
    if (end > pos) {
      items.insert(compact.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return items;
}

std::string field_value(const std::string& field) {
  return field.substr(field.find(':') + 1);
}

// The arc= result this ADMD recorded for the chain it received, which the data
// README allows a sealer to take instead of validating again.
ArcChainStatus recorded_status(std::string_view message, const std::string& srv_id) {
  for (const RawHeaderField& field : split_message(message).fields) {
    std::string value = ascii::lower(field.raw.substr(field.raw.find(':') + 1));
    if (!ascii::iequals(field.name, "Authentication-Results") ||
        value.find(ascii::lower(srv_id)) == std::string::npos) {
      continue;
    }
    // "arc=" as a method, not the end of "dmarc=".
    for (std::size_t p = value.find("arc="); p != std::string::npos;
         p = value.find("arc=", p + 1)) {
      if (p > 0 && std::isalnum(static_cast<unsigned char>(value[p - 1])) != 0) {
        continue;
      }
      if (value.compare(p + 4, 4, "pass") == 0) {
        return ArcChainStatus::kPass;
      }
      if (value.compare(p + 4, 4, "fail") == 0) {
        return ArcChainStatus::kFail;
      }
    }
  }
  return ArcChainStatus::kNone;
}

TEST(ArcSuite, ValiMailSigningSuiteReproducesEverySeal) {
  TERN_REQUIRE_TESTDATA(dir);
  auto scenarios = YAML::LoadAllFromFile(dir + "/arc/arc-draft-sign-tests.yml");
  int cases = 0;
  for (const YAML::Node& scenario : scenarios) {
    if (!scenario["tests"]) {
      continue;
    }
    auto key = DkimPrivateKey::load(scenario["privatekey"].as<std::string>());
    ASSERT_TRUE(key) << key.error().message;
    dns::FakeResolver zone;
    for (const auto& record : scenario["txt-records"]) {
      zone.add_txt(record.first.as<std::string>(), {record.second.as<std::string>()});
    }
    for (const auto& test : scenario["tests"]) {
      ++cases;
      const std::string name = test.first.as<std::string>();
      const YAML::Node& t = test.second;
      std::string message = to_crlf(t["message"].as<std::string>());
      ArcSealOptions options;
      options.domain = scenario["domain"].as<std::string>();
      options.selector = scenario["sel"].as<std::string>();
      options.authserv_id = t["srv-id"].as<std::string>();
      options.timestamp = t["t"].as<std::uint64_t>();
      std::string headers = t["sig-headers"].as<std::string>();
      for (std::size_t pos = 0; pos <= headers.size();) {
        std::size_t end = headers.find(':', pos);
        end = end == std::string::npos ? headers.size() : end;
        options.headers.push_back(headers.substr(pos, end - pos));
        pos = end + 1;
      }
      options.chain_status = recorded_status(message, options.authserv_id);
      auto sealed = arc_seal(message, *key, options);
      ASSERT_TRUE(sealed) << name << ": " << sealed.error().message;
      std::string want_as = t["AS"].as<std::string>("");
      if (tag_set(want_as).empty()) {
        EXPECT_FALSE(*sealed) << name << ": no new ARC Set expected";
        continue;
      }
      ASSERT_TRUE(*sealed) << name;
      EXPECT_EQ(tag_set(field_value((*sealed)->seal)), tag_set(want_as)) << name;
      EXPECT_EQ(tag_set(field_value((*sealed)->message_signature)),
                tag_set(t["AMS"].as<std::string>()))
          << name;
      EXPECT_EQ(tag_set(field_value((*sealed)->results)), tag_set(t["AAR"].as<std::string>()))
          << name;
      // And tern's validator accepts the sealed chain (a failed one stays failed).
      ArcVerifier arc((*sealed)->seal + (*sealed)->message_signature + (*sealed)->results +
                      message);
      while (auto q = arc.pending_query()) {
        arc.provide(zone.lookup(q->name, q->type).get());
      }
      EXPECT_EQ(arc.result().result, options.chain_status == ArcChainStatus::kFail
                                         ? AuthResult::kFail
                                         : AuthResult::kPass)
          << name << ": " << arc.result().problem;
    }
  }
  EXPECT_EQ(cases, 17);
}

}  // namespace
}  // namespace tern::mailauth
