// SPDX-License-Identifier: Apache-2.0
// imap::ServerEngine: the sans-IO IMAP server protocol core (RFC 9051, RFC 3501).
// Bytes in, typed and state-checked commands out; answers in, bytes out. It owns
// framing (through CommandReader), literal continuation requests, the session state
// machine, the AUTHENTICATE exchange, IDLE/DONE framing and the reset after STARTTLS.
// It never decides whether a password is right or a mailbox exists: the caller's
// handlers do (model-codebases.md B5).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "imap/command.hpp"
#include "imap/command_reader.hpp"

namespace tern::imap {

struct EngineLimits {
  ReaderLimits reader;
  ParseLimits parse;
  // Tagged BADs (syntax, state, refused literals) before the engine says BYE and
  // closes: a client this confused is a bot or a broken script (Dovecot: 20).
  std::size_t max_bad_commands = 20;
};

// A parsed command, valid in the current state. The caller handles it and ends it
// with complete(); meanwhile it may send untagged() data and, for AUTHENTICATE and
// IDLE, continuation() requests.
struct CommandReady {
  std::string tag;
  Command command;
};

// A client response line during AUTHENTICATE (RFC 9051 §6.2.2), base64 as sent.
// Answer with continuation() (the next challenge) or complete().
struct AuthResponse {
  std::string line;
};

// The client cancelled AUTHENTICATE with "*"; the engine already sent the tagged BAD
// (RFC 9051 §6.2.2). The caller drops its mechanism state.
struct AuthCancelled {};

// The IDLE command ended (RFC 2177, RFC 9051 §6.3.13). `done`: the client sent DONE,
// and the caller sends any pending updates and complete(kOk). Otherwise the client
// sent something else, and the engine already answered with a tagged BAD.
struct IdleEnded {
  bool done = true;
};

// STARTTLS was answered OK and its output must be flushed; then the caller runs the
// TLS handshake and calls tls_started() (or closes on failure).
struct BeginTls {};

// COMPRESS was answered OK (RFC 4978 §3): flush output(), then compress everything
// sent and decompress everything received from here on. take_buffered_input()
// returns bytes already received after the command (compressed ones).
struct BeginCompress {};

// Flush output() and close the connection (after LOGOUT, BYE or a framing error).
struct CloseConnection {};

using Event = std::variant<NeedInput, CommandReady, AuthResponse, AuthCancelled, IdleEnded,
                           BeginTls, BeginCompress, CloseConnection>;

enum class Status : std::uint8_t { kOk, kNo, kBad };

// One IMAP server connection.
//
// Usage: loop { ev = next(); NeedInput → read, receive(); CommandReady → handle,
// complete(); ...; CloseConnection → flush, close }. Write output() whenever it is
// not empty; untagged() may be called at any time between events (IDLE updates).
//
// State transitions follow the completions (RFC 9051 §3): an OK to LOGIN or
// AUTHENTICATE enters Authenticated; SELECT/EXAMINE enter Selected on OK and leave
// any selected mailbox on NO; CLOSE/UNSELECT OK return to Authenticated; LOGOUT
// enters Logout and the next event is CloseConnection. Commands not valid in the
// current state get a tagged BAD from the engine and never reach the caller.
//
// Never throws (apart from std::bad_alloc); memory stays within the reader limits
// plus the output the caller produces.
class ServerEngine {
 public:
  explicit ServerEngine(EngineLimits limits = {});

  // Appends bytes read from the peer.
  void receive(std::span<const char> bytes);

  void receive(std::string_view bytes) {
    receive(std::span<const char>(bytes.data(), bytes.size()));
  }

  // Requires: the previous CommandReady has been completed, unless it is an
  // AUTHENTICATE or IDLE in progress (a continuation() was sent).
  Event next();

  // "* <text>\r\n". `text` may hold literals the caller formatted.
  void untagged(std::string_view text);
  // "+ <text>\r\n". For an AUTHENTICATE or IDLE in progress this also switches the
  // input to line mode (the next lines are AuthResponse / DONE).
  void continuation(std::string_view text);
  // The tagged completion of the current command: "<tag> OK [code] text\r\n".
  // `code` is the response code without brackets ("" for none).
  void complete(Status status, std::string_view code, std::string_view text);
  // Untagged BYE, then CloseConnection (RFC 9051 §7.1.5): shutdown, timeouts.
  void bye(std::string_view text);

  // Raw bytes to send (pieces of a response the caller streams: a literal's payload).
  void write(std::string_view bytes) { out_.append(bytes); }

  // After a successful TLS handshake: input buffered before it is dropped (RFC 9051
  // §6.2.1, STARTTLS command injection).
  void tls_started();

  // Removes and returns the input received but not yet parsed (after COMPRESS the
  // caller decompresses it and receive()s it again).
  std::string take_buffered_input() { return reader_.take_buffered_input(); }

  SessionState state() const { return state_; }

  // The tag of the command in progress ("" between commands).
  const std::string& current_tag() const { return tag_; }

  std::string_view output() const { return out_; }

  // Heap bytes the engine's buffers hold (output and the reader's), for tests and
  // memory accounting: between commands, with output drained, a few KiB at most.
  std::size_t retained_bytes() const { return out_.capacity() + reader_.retained_bytes(); }

  // Drops the first `n` bytes of output() (written). Once the output is drained, a
  // buffer grown by a large response (FETCH streams up to Options::fetch_flush_bytes
  // at a time) is released, so an idle session holds no more than a few lines.
  void consume_output(std::size_t n);

 private:
  enum class Mode : std::uint8_t { kCommand, kAuth, kIdle };

  Event reject(const std::string& tag, std::string_view code, std::string_view text);
  // "<tag or *> OK|NO|BAD [code] text\r\n" into the output.
  void write_status(std::string_view tag, Status status, std::string_view code,
                    std::string_view text);
  void end_command();

  EngineLimits limits_;
  CommandReader reader_;
  SessionState state_ = SessionState::kNotAuthenticated;
  Mode mode_ = Mode::kCommand;
  std::string tag_;
  std::optional<Command> current_;
  std::string out_;
  std::size_t bad_commands_ = 0;
  bool begin_tls_ = false;
  bool begin_compress_ = false;
  bool closing_ = false;
};

}  // namespace tern::imap
