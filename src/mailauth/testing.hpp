// SPDX-License-Identifier: Apache-2.0
// Test-only helpers for the mailauth tests: drive an evaluator from a
// dns::FakeResolver, and find the third-party conformance data. Included by
// *_test.cpp only (it reads files, which the library itself never does).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/fake_resolver.hpp"
#include "mailauth/dkim_verifier.hpp"

namespace tern::mailauth::testing {

// Answers every query of `verifier` from `resolver` and returns the results.
inline std::vector<DkimResult> drive(DkimVerifier& verifier, dns::FakeResolver& resolver) {
  while (auto query = verifier.pending_query()) {
    verifier.provide(resolver.lookup(query->name, query->type).get());
  }
  return verifier.results();
}

// `text` with every bare LF turned into CRLF, as an MTA receives a message
// stored with Unix line ends.
inline std::string to_crlf(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out.push_back('\r');
    }
    out.push_back(text[i]);
  }
  return out;
}

// The shared conformance data folder (`../shared/testdata` next to the source
// tree, found through TERN_SOURCE_DIR, which ctest sets), or nullopt when it is
// absent. Tests GTEST_SKIP on nullopt unless must_have_testdata().
inline std::optional<std::string> testdata_dir() {
  const char* source = std::getenv("TERN_SOURCE_DIR");
  std::string root;
  if (source != nullptr) {
    root = source;
  } else {
    // Run by hand: this header is <root>/src/mailauth/testing.hpp.
    root = __FILE__;
    for (int i = 0; i < 3 && root.rfind('/') != std::string::npos; ++i) {
      root.resize(root.rfind('/'));
    }
  }
  std::string dir = root + "/../shared/testdata";
  FILE* probe = std::fopen((dir + "/README.md").c_str(), "rb");
  if (probe == nullptr) {
    return std::nullopt;
  }
  std::fclose(probe);
  return dir;
}

// True under CI (CI=true), where missing conformance data is a failure.
inline bool must_have_testdata() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace tern::mailauth::testing

// Skips (or, under CI, fails) the current test when the shared data is absent.
#define TERN_REQUIRE_TESTDATA(dir_var)                                                       \
  auto dir_var##_opt = ::tern::mailauth::testing::testdata_dir();                            \
  if (!dir_var##_opt) {                                                                      \
    if (::tern::mailauth::testing::must_have_testdata()) {                                   \
      FAIL() << "../shared/testdata is missing (CI=true: the conformance data is required)"; \
    }                                                                                        \
    GTEST_SKIP() << "../shared/testdata is absent; the conformance suite is skipped";        \
  }                                                                                          \
  const std::string dir_var = *dir_var##_opt
