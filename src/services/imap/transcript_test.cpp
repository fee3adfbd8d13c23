// SPDX-License-Identifier: Apache-2.0
// Runs tests/transcripts/imap/*.txt in process: ServerEngine + Handlers over
// store::memory, no sockets (model-codebases.md B5, B11).
//
// Transcript format, one directive per line:
//   # comment                  ignored
//   C: <line>                  client line for session 1 (CRLF appended); "C2:" for session 2
//   S: <line>                  the next server line session 1 must have sent; "{*}" matches
//                              any text within the line, "{=NAME}" a number (and
//                              "{~NAME}" an objectid) that later C: and S: lines
//                              use as "{NAME}"; "S2:" for session 2
//   S-:                        session 1 has sent nothing more yet ("S2-:" for session 2)
//   QUOTA: <bytes>             sets alice's quota (0: none), for over-quota paths
// In S lines "{NUL}" stands for a NUL octet.
// Every session starts unauthenticated on a fresh connection; all share one store with
// the account alice@example.org (password "secret") provisioned with the default
// mailboxes. Changes made by one session wake the other through the ChangeHub; an
// idling session then polls, as the real session does.
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "domain/accounts.hpp"
#include "domain/authenticator.hpp"
#include "services/imap/handlers.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::services::imap {
namespace {

using tern::imap::ServerEngine;

class FixedClock : public Clock {
 public:
  SystemTime now() const override { return from_unix_seconds(1700000000); }

  Instant monotonic() const override { return Instant(std::chrono::seconds(1000)); }
};

class CountingRandom : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      b = static_cast<std::uint8_t>(++n_);
    }
  }

 private:
  std::uint8_t n_ = 0;
};

// Matches a server line against an S: pattern: "{*}" matches any text, "{=NAME}"
// matches a number and "{~NAME}" an RFC 8474 objectid, remembered as NAME for
// later lines ("{NAME}").
bool line_match(const std::string& pattern, const std::string& text,
                std::map<std::string, std::string>& vars) {
  std::string re;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 3, "{*}") == 0) {
      re += ".*";
      i += 3;
    } else if ((pattern.compare(i, 2, "{=") == 0 || pattern.compare(i, 2, "{~") == 0) &&
               pattern.find('}', i) != std::string::npos) {
      std::size_t close = pattern.find('}', i);
      names.push_back(pattern.substr(i + 2, close - i - 2));
      re += pattern[i + 1] == '=' ? "([0-9]+)" : "([0-9A-Za-z_-]+)";
      i = close + 1;
    } else {
      char c = pattern[i++];
      if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
        re += '\\';
      }
      re += c;
    }
  }
  std::smatch m;
  if (!std::regex_match(text, m, std::regex(re))) {
    return false;
  }
  for (std::size_t k = 0; k < names.size(); ++k) {
    vars[names[k]] = m[k + 1].str();
  }
  return true;
}

struct Session {
  Session(Shared& shared, ChangeHub& hub)
      : handlers(shared, ConnectionInfo{"127.0.0.1", true, false, false, {}}) {
    token = hub.subscribe(domain::AccountId{0}, [] {});
    engine.untagged(handlers.greeting());
  }

  ServerEngine engine;
  Handlers handlers;
  ChangeHub::Token token = 0;
  bool idling = false;
  bool subscribed = false;
  bool woken = false;
  std::deque<std::string> lines;
  std::string pending;

  // Runs the engine until it needs input, answering with the handlers.
  void pump() {
    while (true) {
      auto event = engine.next();
      if (std::holds_alternative<tern::imap::NeedInput>(event) ||
          std::holds_alternative<tern::imap::CloseConnection>(event)) {
        break;
      }
      if (auto* ready = std::get_if<tern::imap::CommandReady>(&event)) {
        auto next = handlers.handle(*ready, engine);
        while (next == Next::kMore) {
          next = handlers.resume(engine);
        }
        idling =
            next == Next::kWait && std::holds_alternative<tern::imap::IdleCommand>(ready->command);
      } else if (auto* auth = std::get_if<tern::imap::AuthResponse>(&event)) {
        handlers.auth_response(auth->line, engine);
      } else if (std::holds_alternative<tern::imap::AuthCancelled>(event)) {
        handlers.auth_cancelled();
      } else if (auto* idle = std::get_if<tern::imap::IdleEnded>(&event)) {
        idling = false;
        if (idle->done) {
          handlers.idle_done(engine);
        }
      }
    }
    collect();
  }

  void collect() {
    pending += engine.output();
    engine.consume_output(engine.output().size());
    std::size_t pos;
    while ((pos = pending.find("\r\n")) != std::string::npos) {
      lines.push_back(pending.substr(0, pos));
      pending.erase(0, pos + 2);
    }
  }
};

void run_transcript(const std::filesystem::path& path) {
  auto storage = std::make_unique<store::memory::MemoryStorage>();
  FixedClock clock;
  CountingRandom random;
  domain::AuthParams params;
  params.argon2 = sasl::Argon2Params{1024, 1, 1};
  auto credentials = domain::make_credentials("secret", params, random);
  ASSERT_TRUE(credentials);
  ASSERT_TRUE(storage->directory().add_domain("example.org").get());
  auto account = domain::provision_account(
      *storage, domain::NewAccount{"alice@example.org", credentials->password_hash, 0,
                                   credentials->scram_sha256});
  ASSERT_TRUE(account) << account.error().message;

  ChangeHub hub;
  domain::AuthThrottle throttle;
  Shared shared{*storage, hub, throttle, params, random, clock, Options{}, "mock"};
  std::map<int, std::unique_ptr<Session>> sessions;
  auto session = [&](int n) -> Session& {
    auto& s = sessions[n];
    if (!s) {
      s = std::make_unique<Session>(shared, hub);
      s->collect();
    }
    return *s;
  };

  std::map<std::string, std::string> vars;
  std::ifstream in(path);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    SCOPED_TRACE(path.filename().string() + ":" + std::to_string(number));
    if (line.empty() || line[0] == '#') {
      continue;
    }
    if (line.rfind("QUOTA: ", 0) == 0) {
      ASSERT_TRUE(
          storage->directory().set_quota("alice@example.org", std::stoull(line.substr(7))).get());
      continue;
    }
    int id = 1;
    std::size_t colon = line.find(": ");
    std::string head = line.substr(0, colon == std::string::npos ? line.size() : colon);
    if (!head.empty() && head.back() == ':') {
      head.pop_back();  // "S-:" has nothing after the colon
    }
    std::string text = colon == std::string::npos ? "" : line.substr(colon + 2);
    if (head.size() > 1 && head[1] != '-') {
      id = head[1] - '0';
    }
    Session& s = session(id);
    // "{NAME}" is a number an earlier S: line remembered, in C: and S: lines.
    for (const auto& [name, value] : vars) {
      for (std::size_t at; (at = text.find("{" + name + "}")) != std::string::npos;) {
        text.replace(at, name.size() + 2, value);
      }
    }
    if (head[0] == 'C') {
      std::string bytes = text + "\r\n";
      s.engine.receive(std::string_view(bytes));
      s.pump();
      // Subscribe to the hub once logged in, as the real session does.
      if (!s.subscribed && s.handlers.account()) {
        hub.unsubscribe(s.token);
        Session* self = &s;
        s.token = hub.subscribe(*s.handlers.account(), [self] { self->woken = true; });
        s.handlers.set_hub_token(s.token);
        s.subscribed = true;
      }
      for (auto& [other_id, other] : sessions) {
        if (other->woken && other->idling) {
          other->handlers.idle_poll(other->engine);
          other->collect();
        }
        other->woken = false;
      }
    } else if (head[0] == 'S' && head.back() == '-') {
      EXPECT_TRUE(s.lines.empty()) << "unexpected: " << (s.lines.empty() ? "" : s.lines.front());
    } else if (head[0] == 'S') {
      if (s.lines.empty()) {
        ADD_FAILURE() << "expected \"" << text << "\", got nothing";
        continue;
      }
      // "{NUL}" stands for a NUL octet (BINARY literals).
      for (std::size_t at; (at = text.find("{NUL}")) != std::string::npos;) {
        text.replace(at, 5, std::string(1, '\0'));
      }
      std::string got = s.lines.front();
      s.lines.pop_front();
      EXPECT_TRUE(line_match(text, got, vars)) << "expected: " << text << "\n     got: " << got;
    } else {
      ADD_FAILURE() << "bad directive: " << line;
    }
  }
  for (auto& [id, s] : sessions) {
    EXPECT_TRUE(s->lines.empty()) << path.filename() << " session " << id
                                  << " has unchecked output: " << s->lines.front();
  }
}

std::filesystem::path transcript_dir() {
  const char* root = std::getenv("TERN_SOURCE_DIR");
  // ctest sets TERN_SOURCE_DIR; by hand, the tree this file is in.
  std::filesystem::path base =
      root != nullptr ? std::filesystem::path(root)
                      : std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "..";
  return base / "tests" / "transcripts" / "imap";
}

TEST(ImapTranscriptTest, AllTranscripts) {
  auto dir = transcript_dir();
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::size_t count = 0;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".txt") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    run_transcript(file);
    ++count;
  }
  EXPECT_GT(count, 0u);
}

TEST(ImapListMatchTest, Wildcards) {
  EXPECT_TRUE(list_match("*", "a/b/c"));
  EXPECT_TRUE(list_match("%", "abc"));
  EXPECT_FALSE(list_match("%", "a/b"));
  EXPECT_TRUE(list_match("a/%", "a/b"));
  EXPECT_FALSE(list_match("a/%", "a/b/c"));
  EXPECT_TRUE(list_match("a*c", "a/b/c"));
  EXPECT_TRUE(list_match("INBOX", "INBOX"));
  EXPECT_FALSE(list_match("INBOX", "INBOX/x"));
  EXPECT_TRUE(list_match("%/%", "a/b"));
  // No exponential backtracking on many wildcards.
  EXPECT_FALSE(list_match(std::string(200, '*') + "x", std::string(5000, 'a')));
}

}  // namespace
}  // namespace tern::services::imap
