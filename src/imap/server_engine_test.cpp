// SPDX-License-Identifier: Apache-2.0
#include "imap/server_engine.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tern::imap {
namespace {

// A scripted caller: answers every command the way a real server's handlers would
// for the state machine (LOGIN "good" succeeds, SELECT "missing" fails, AUTHENTICATE
// asks for one response, IDLE waits for DONE), and records the events it saw.
struct Harness {
  ServerEngine engine;
  std::string output;
  std::vector<std::string> events;
  bool closed = false;

  explicit Harness(EngineLimits limits = {}) : engine(limits) {}

  void pump() {
    while (!closed) {
      Event event = engine.next();
      if (std::holds_alternative<NeedInput>(event)) {
        break;
      }
      if (std::holds_alternative<CloseConnection>(event)) {
        events.push_back("close");
        closed = true;
      } else if (std::holds_alternative<BeginTls>(event)) {
        events.push_back("tls");
        engine.tls_started();
      } else if (auto* auth = std::get_if<AuthResponse>(&event)) {
        events.push_back("auth:" + auth->line);
        if (auth->line == "AGdvb2QAcHc=") {
          engine.complete(Status::kOk, "", "logged in");
        } else {
          engine.complete(Status::kNo, "AUTHENTICATIONFAILED", "nope");
        }
      } else if (std::holds_alternative<AuthCancelled>(event)) {
        events.push_back("auth-cancelled");
      } else if (auto* idle = std::get_if<IdleEnded>(&event)) {
        events.push_back(idle->done ? "idle-done" : "idle-broken");
        if (idle->done) {
          engine.complete(Status::kOk, "", "IDLE done");
        }
      } else {
        handle(std::get<CommandReady>(event));
      }
      take_output();
    }
    take_output();
  }

  void handle(const CommandReady& ready) {
    events.push_back(std::string(command_name(ready.command)));
    const Command& c = ready.command;
    if (auto* login = std::get_if<LoginCommand>(&c)) {
      if (login->password == "good") {
        engine.complete(Status::kOk, "", "logged in");
      } else {
        engine.complete(Status::kNo, "AUTHENTICATIONFAILED", "invalid credentials");
      }
    } else if (auto* auth = std::get_if<AuthenticateCommand>(&c)) {
      if (auth->initial_response) {
        engine.complete(Status::kOk, "", "logged in");
      } else {
        engine.continuation("");
      }
    } else if (auto* select = std::get_if<SelectCommand>(&c)) {
      if (select->mailbox == "missing") {
        engine.complete(Status::kNo, "NONEXISTENT", "no such mailbox");
      } else {
        engine.untagged("1 EXISTS");
        engine.complete(Status::kOk, "READ-WRITE", "selected");
      }
    } else if (std::holds_alternative<IdleCommand>(c)) {
      engine.continuation("idling");
      engine.untagged("2 EXISTS");
    } else if (auto* append = std::get_if<AppendCommand>(&c)) {
      std::string sizes;
      for (const auto& m : append->messages) {
        sizes += std::to_string(m.data.size()) + (m.flags.empty() ? "" : m.flags[0]) + " ";
      }
      engine.complete(Status::kOk, "", "appended " + sizes);
    } else if (std::holds_alternative<LogoutCommand>(c)) {
      engine.untagged("BYE bye");
      engine.complete(Status::kOk, "", "LOGOUT completed");
    } else {
      engine.complete(Status::kOk, "", "done");
    }
  }

  void take_output() {
    output += engine.output();
    engine.consume_output(engine.output().size());
  }

  void feed(std::string_view bytes) {
    engine.receive(bytes);
    pump();
  }
};

// Runs `input` split at `cuts` and returns (output, events joined).
std::string run(const std::string& input, std::vector<std::size_t> cuts, EngineLimits limits = {}) {
  Harness h(limits);
  std::size_t start = 0;
  cuts.push_back(input.size());
  for (std::size_t cut : cuts) {
    h.feed(std::string_view(input).substr(start, cut - start));
    start = cut;
  }
  std::string events;
  for (const auto& e : h.events) {
    events += e + ";";
  }
  return h.output + "|" + events;
}

// The same output and events for every split point and byte by byte (Beast's
// parsegrind), so framing never depends on how TCP cuts the stream.
void expect_split_invariant(const std::string& input, EngineLimits limits = {}) {
  std::string whole = run(input, {}, limits);
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    ASSERT_EQ(run(input, {cut}, limits), whole) << "split at " << cut;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) {
    every.push_back(i);
  }
  ASSERT_EQ(run(input, every, limits), whole) << "byte by byte";
}

TEST(ImapEngineTest, StatesFollowCompletions) {
  std::string input =
      "a1 FETCH 1 FLAGS\r\n"
      "a2 LOGIN joe bad\r\n"
      "a3 LOGIN joe good\r\n"
      "a4 LOGIN joe good\r\n"
      "a5 FETCH 1 FLAGS\r\n"
      "a6 SELECT INBOX\r\n"
      "a7 FETCH 1 FLAGS\r\n"
      "a8 SELECT missing\r\n"
      "a9 FETCH 1 FLAGS\r\n"
      "b1 LOGOUT\r\n"
      "b2 NOOP\r\n";
  std::string expected =
      "a1 BAD FETCH: log in first\r\n"
      "a2 NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
      "a3 OK logged in\r\n"
      "a4 BAD LOGIN: already authenticated\r\n"
      "a5 BAD FETCH: no mailbox selected\r\n"
      "* 1 EXISTS\r\n"
      "a6 OK [READ-WRITE] selected\r\n"
      "a7 OK done\r\n"
      "a8 NO [NONEXISTENT] no such mailbox\r\n"
      "a9 BAD FETCH: no mailbox selected\r\n"
      "* BYE bye\r\n"
      "b1 OK LOGOUT completed\r\n"
      "|LOGIN;LOGIN;SELECT;FETCH;SELECT;LOGOUT;close;";
  EXPECT_EQ(run(input, {}), expected);
  expect_split_invariant(input);
}

TEST(ImapEngineTest, SynchronizingLiteralsGetContinuations) {
  std::string input = "a1 LOGIN {3}\r\njoe {4}\r\ngood\r\na2 NOOP\r\n";
  EXPECT_EQ(run(input, {}), "+ OK\r\n+ OK\r\na1 OK logged in\r\na2 OK done\r\n|LOGIN;NOOP;");
  expect_split_invariant(input);
}

TEST(ImapEngineTest, AuthenticateExchangeAndCancel) {
  std::string input =
      "a1 AUTHENTICATE PLAIN\r\n*\r\n"
      "a2 AUTHENTICATE PLAIN\r\nAGJhZABwdw==\r\n"
      "a3 AUTHENTICATE PLAIN\r\nAGdvb2QAcHc=\r\n"
      "a4 NOOP\r\n";
  std::string expected =
      "+\r\na1 BAD AUTHENTICATE cancelled\r\n"
      "+\r\na2 NO [AUTHENTICATIONFAILED] nope\r\n"
      "+\r\na3 OK logged in\r\n"
      "a4 OK done\r\n"
      "|AUTHENTICATE;auth-cancelled;AUTHENTICATE;auth:AGJhZABwdw==;AUTHENTICATE;auth:AGdvb2QAcHc=;"
      "NOOP;";
  EXPECT_EQ(run(input, {}), expected);
  expect_split_invariant(input);
}

TEST(ImapEngineTest, SaslInitialResponse) {
  EXPECT_EQ(run("a1 AUTHENTICATE PLAIN AGdvb2QAcHc=\r\na2 SELECT INBOX\r\n", {}),
            "a1 OK logged in\r\n* 1 EXISTS\r\na2 OK [READ-WRITE] selected\r\n"
            "|AUTHENTICATE;SELECT;");
}

TEST(ImapEngineTest, IdleDoneFraming) {
  std::string input = "a1 LOGIN joe good\r\na2 IDLE\r\ndone\r\na3 IDLE\r\nNOOP\r\na4 NOOP\r\n";
  std::string expected =
      "a1 OK logged in\r\n"
      "+ idling\r\n* 2 EXISTS\r\na2 OK IDLE done\r\n"
      "+ idling\r\n* 2 EXISTS\r\na3 BAD expected DONE\r\n"
      "a4 OK done\r\n"
      "|LOGIN;IDLE;idle-done;IDLE;idle-broken;NOOP;";
  EXPECT_EQ(run(input, {}), expected);
  expect_split_invariant(input);
}

TEST(ImapEngineTest, StartTlsDropsPipelinedInput) {
  // RFC 9051 §6.2.1: the LOGIN sent in the same packet as STARTTLS is an injection.
  std::string out = run("a1 STARTTLS\r\na2 LOGIN joe good\r\n", {});
  EXPECT_EQ(out, "a1 OK done\r\n|STARTTLS;tls;");
  out = run("a1 STARTTLS\r\na2 LOGIN joe good\r\n", {12});
  EXPECT_EQ(out, "a1 OK done\r\n|STARTTLS;tls;");
  // What arrives after the handshake is read as usual.
  out = run("a1 STARTTLS\r\na2 LOGIN joe good\r\n", {13});
  EXPECT_EQ(out, "a1 OK done\r\na2 OK logged in\r\n|STARTTLS;tls;LOGIN;");
}

TEST(ImapEngineTest, SyntaxErrorsAreTaggedBad) {
  std::string input =
      "a1 FROB\r\n"
      "a2 LOGIN\r\n"
      "+x NOOP\r\n"
      "a3 NOOP\r\n";
  std::string expected =
      "a1 BAD unknown command \"FROB\"\r\n"
      "a2 BAD LOGIN: missing argument\r\n"
      "* BAD missing or invalid tag\r\n"
      "a3 OK done\r\n|NOOP;";
  EXPECT_EQ(run(input, {}), expected);
  expect_split_invariant(input);
}

TEST(ImapEngineTest, TooManyBadCommandsCloses) {
  EngineLimits limits;
  limits.max_bad_commands = 3;
  std::string out = run("a FROB\r\nb FROB\r\nc FROB\r\nd NOOP\r\n", {}, limits);
  EXPECT_EQ(out,
            "a BAD unknown command \"FROB\"\r\nb BAD unknown command \"FROB\"\r\n"
            "c BAD unknown command \"FROB\"\r\n* BYE too many invalid commands\r\n|close;");
}

TEST(ImapEngineTest, OverlongLineSaysByeAndCloses) {
  EngineLimits limits;
  limits.reader.max_line_bytes = 64;
  std::string out = run("a NOOP " + std::string(100, 'x') + "\r\nb NOOP\r\n", {}, limits);
  EXPECT_EQ(out.substr(0, 6), "* BYE ");
  EXPECT_NE(out.find("|close;"), std::string::npos);
}

TEST(ImapEngineTest, MultiAppendLiteralsAtEverySplit) {
  // RFC 3502: one APPEND, three messages, synchronizing and non-synchronizing.
  std::string input =
      "a1 LOGIN joe good\r\na2 APPEND Drafts (\\Seen) {3}\r\none (\\Draft) {3+}\r\ntwo"
      " \"07-Nov-2023 11:00:00 +0000\" {5}\r\nthree\r\na3 NOOP\r\n";
  EXPECT_EQ(run(input, {}),
            "a1 OK logged in\r\n+ OK\r\n+ OK\r\na2 OK appended 3\\Seen "
            "3\\Draft 5 \r\na3 OK done\r\n|LOGIN;APPEND;NOOP;");
  expect_split_invariant(input);
}

// An idle connection holds little: once a large APPEND is handled and a large
// response written, the engine releases the buffers they grew (bench/README.md,
// imap idle memory), however the bytes arrived.
TEST(ImapEngineTest, BuffersAreReleasedOnceDrained) {
  const std::string body(200000, 'x');
  std::string input = "a1 LOGIN joe good\r\na2 APPEND Drafts {" + std::to_string(body.size()) +
                      "+}\r\n" + body + "\r\n";
  for (std::size_t chunk : {std::size_t{512}, std::size_t{16384}, input.size()}) {
    Harness h;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
      h.feed(std::string_view(input).substr(at, chunk));
    }
    EXPECT_NE(h.output.find("a2 OK appended 200000"), std::string::npos) << chunk;
    EXPECT_LT(h.engine.retained_bytes(), 2048u) << chunk;
  }
  Harness h;
  h.feed("a1 LOGIN joe good\r\n");
  h.engine.untagged(std::string(1 << 20, 'y'));
  EXPECT_GT(h.engine.retained_bytes(), 1u << 20);
  h.take_output();
  EXPECT_LT(h.engine.retained_bytes(), 2048u);
}

TEST(ImapEngineTest, MultiAppendOverTheCommandLimitIsRefusedWhole) {
  EngineLimits limits;
  limits.reader.max_append_bytes = 10;
  limits.reader.max_append_command_bytes = 60;
  // The third literal would pass 60 bytes: BAD [TOOBIG] before it is read, and the
  // next command is served.
  std::string input =
      "a1 LOGIN joe good\r\na2 APPEND x {10+}\r\n0123456789 {10+}\r\n0123456789 {10}\r\n"
      "a3 NOOP\r\n";
  std::string out = run(input, {}, limits);
  EXPECT_NE(out.find("a2 BAD [TOOBIG]"), std::string::npos) << out;
  EXPECT_NE(out.find("a3 OK done\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("APPEND;"), std::string::npos) << out;
  expect_split_invariant(input, limits);
}

TEST(ImapEngineTest, TooBigLiteralIsRefusedBeforeItIsRead) {
  EngineLimits limits;
  limits.reader.max_literal_bytes = 10;
  std::string out = run("a LOGIN {100}\r\nb NOOP\r\n", {}, limits);
  EXPECT_EQ(out.substr(0, 12), "a BAD [TOOBI");
  EXPECT_NE(out.find("b OK done\r\n"), std::string::npos);
}

TEST(ImapEngineTest, CompressSwitchesAfterItsOk) {
  ServerEngine engine;
  engine.receive(std::string_view("a COMPRESS DEFLATE\r\n"));
  EXPECT_TRUE(std::holds_alternative<NeedInput>(engine.next()));
  EXPECT_EQ(engine.output(), "a BAD COMPRESS: log in first\r\n");
  engine.consume_output(engine.output().size());
  engine.receive(std::string_view("b LOGIN u p\r\n"));
  ASSERT_TRUE(std::holds_alternative<CommandReady>(engine.next()));
  engine.complete(Status::kOk, "", "logged in");
  // RFC 4978 §3: what follows the command is already compressed.
  engine.receive(std::string_view("c COMPRESS deflate\r\n\x01\x02"));
  auto event = engine.next();
  ASSERT_TRUE(std::holds_alternative<CommandReady>(event));
  EXPECT_EQ(std::get<CompressCommand>(std::get<CommandReady>(event).command).mechanism, "DEFLATE");
  engine.complete(Status::kOk, "", "DEFLATE active");
  EXPECT_TRUE(std::holds_alternative<BeginCompress>(engine.next()));
  EXPECT_EQ(engine.take_buffered_input(), "\x01\x02");
  EXPECT_TRUE(std::holds_alternative<NeedInput>(engine.next()));
}

TEST(ImapEngineTest, PipelinedCommandsAreServedInOrder) {
  std::string input = "a1 NOOP\r\na2 CAPABILITY\r\na3 NOOP\r\n";
  EXPECT_EQ(run(input, {}), "a1 OK done\r\na2 OK done\r\na3 OK done\r\n|NOOP;CAPABILITY;NOOP;");
}

}  // namespace
}  // namespace tern::imap
