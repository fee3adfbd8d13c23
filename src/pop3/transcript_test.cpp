// SPDX-License-Identifier: Apache-2.0
// Replays tests/transcripts/pop3/*.txt against the engine (model-codebases B11).
// Format, one directive per line:
//   # comment
//   O: key=value ...   engine options: plaintext, stls, tls (0/1), login_delay (s)
//   C: <line>          a client line (CRLF appended)
//   S: <line>          an expected server line (CRLF appended)
//   E: closed          the session must have ended
//   R: 0,2             the messages removed at UPDATE (0-based)
// Each transcript runs twice: one client line per receive(), and byte by byte.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "pop3/testing_driver.hpp"

namespace tern::pop3 {
namespace {

namespace fs = std::filesystem;

fs::path transcript_dir() {
  // ctest sets TERN_SOURCE_DIR. __FILE__ is only a fallback for running the binary
  // by hand: with ccache's base_dir (the presets set it) it is relative to the
  // build directory, not to where the test runs.
  const char* root = std::getenv("TERN_SOURCE_DIR");
  fs::path base = root != nullptr ? fs::path(root) : fs::path(__FILE__).parent_path() / ".." / "..";
  return base / "tests" / "transcripts" / "pop3";
}

struct Transcript {
  Options options;
  std::vector<std::pair<std::string, std::string>> steps;  // (client line, expected output)
  bool expect_closed = false;
  std::optional<std::string> expect_removed;
};

Transcript load(const fs::path& path) {
  Transcript t;
  t.options.sasl.mock_secret = "test";
  std::ifstream in(path);
  std::string line;
  std::string expected;
  std::string client;
  bool have_client = false;
  auto flush = [&] {
    if (have_client || !expected.empty()) {
      t.steps.emplace_back(client, expected);
    }
    client.clear();
    expected.clear();
    have_client = false;
  };
  while (std::getline(in, line)) {
    if (line.starts_with("C: ") || line == "C:") {
      flush();
      client = line.size() > 3 ? line.substr(3) : "";
      have_client = true;
    } else if (line.starts_with("S: ") || line == "S:") {
      expected += (line.size() > 3 ? line.substr(3) : "") + "\r\n";
    } else if (line.starts_with("O: ")) {
      std::istringstream words(line.substr(3));
      std::string word;
      while (words >> word) {
        auto eq = word.find('=');
        std::string key = word.substr(0, eq);
        std::string value = word.substr(eq + 1);
        if (key == "plaintext") {
          t.options.plaintext_allowed = value == "1";
        } else if (key == "stls") {
          t.options.stls_available = value == "1";
        } else if (key == "tls") {
          t.options.tls_active = value == "1";
        } else if (key == "login_delay") {
          t.options.login_delay_seconds = static_cast<std::uint32_t>(std::stoul(value));
        } else {
          ADD_FAILURE() << path << ": unknown option " << key;
        }
      }
    } else if (line == "E: closed") {
      t.expect_closed = true;
    } else if (line.starts_with("R: ")) {
      t.expect_removed = line.substr(3);
    } else if (!line.empty() && line[0] != '#') {
      ADD_FAILURE() << path << ": bad line: " << line;
    }
  }
  flush();
  return t;
}

void run(const fs::path& path, bool byte_by_byte) {
  Transcript t = load(path);
  testing::Driver driver(t.options);
  driver.drive();
  for (std::size_t i = 0; i < t.steps.size(); ++i) {
    const auto& [client, expected] = t.steps[i];
    if (i > 0 || !client.empty()) {
      driver.feed(client + "\r\n", byte_by_byte ? 1 : 0);
    }
    ASSERT_EQ(driver.take_output(), expected)
        << path.filename() << " after C: " << client << (byte_by_byte ? " (byte by byte)" : "");
  }
  EXPECT_EQ(driver.closed(), t.expect_closed) << path.filename();
  if (t.expect_removed) {
    std::string removed;
    for (auto index : driver.removed()) {
      removed += (removed.empty() ? "" : ",") + std::to_string(index);
    }
    EXPECT_EQ(removed, *t.expect_removed) << path.filename();
  }
}

TEST(Pop3Transcripts, AllPass) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(transcript_dir())) {
    if (entry.path().extension() == ".txt") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u) << "transcripts missing in " << transcript_dir();
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    run(file, false);
    run(file, true);
  }
}

}  // namespace
}  // namespace tern::pop3
