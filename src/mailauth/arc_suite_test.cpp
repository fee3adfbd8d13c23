// SPDX-License-Identifier: Apache-2.0
// The ValiMail ARC validation suite (../shared/testdata/arc/, 171 cases, read in
// place): each scenario's txt-records served by a dns::FakeResolver, each message
// (LF in the YAML, converted to CRLF as an MTA receives it) validated, and the
// chain status compared with `cv`. The three cases whose cv is blank are Fail
// (the data README's "Known problems": RFC 8617 §5.2 steps 2 and 3).
#include <map>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "base/ascii.hpp"
#include "dns/fake_resolver.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/testing.hpp"

namespace tern::mailauth {
namespace {

std::string to_crlf(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out.push_back('\r');
    }
    out.push_back(text[i]);
  }
  return out;
}

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

}  // namespace
}  // namespace tern::mailauth
