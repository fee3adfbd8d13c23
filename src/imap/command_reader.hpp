// SPDX-License-Identifier: Apache-2.0
// imap::CommandReader: frames IMAP client input into whole commands (RFC 9051 §2.2,
// §4.3, §7.5 continuation requests; RFC 7888 LITERAL+/LITERAL-; RFC 3516 literal8),
// without any I/O. The server engine feeds it bytes and asks for the next event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::imap {

// Limits enforced before any literal byte is stored. The defaults are Dovecot's
// order of magnitude; APPEND gets its own (announced as APPENDLIMIT, RFC 7889).
struct ReaderLimits {
  std::size_t max_line_bytes = 64 * 1024;           // one line of a command, literals excluded
  std::size_t max_literal_bytes = 64 * 1024;        // a literal in any command but APPEND
  std::size_t max_append_bytes = 64 * 1024 * 1024;  // a message literal of APPEND
  std::size_t max_command_bytes = 1024 * 1024;      // lines + literals of a non-APPEND command
  // Lines + literals of one APPEND with all its messages (MULTIAPPEND, RFC 3502): the
  // command is held whole until its last message arrives, so this bounds its memory.
  std::size_t max_append_command_bytes = 128 * 1024 * 1024;
  std::size_t max_literals = 1024;  // literals in one command (MULTIAPPEND)
  // LITERAL- (RFC 7888 §5): a non-synchronizing literal above 4096 bytes is refused.
  bool literal_minus = false;
};

// Where a literal's payload lies in RawCommand::bytes.
struct LiteralSpan {
  std::size_t offset = 0;
  std::size_t size = 0;
  bool binary = false;  // literal8 "~{n}" (RFC 3516), may contain NUL
};

// A whole command as received: every line (with its CRLF) and every literal payload,
// byte for byte, in order. The argument parser walks `bytes`; `literals` records
// where each literal's payload starts so it is never re-scanned for syntax.
struct RawCommand {
  std::string tag;   // empty if the first line had no valid tag
  std::string name;  // the command word as sent (case preserved), "" if missing
  std::string bytes;
  std::vector<LiteralSpan> literals;
};

// The caller must now send a continuation request ("+ ...\r\n") so that the client
// sends the synchronizing literal it announced (RFC 9051 §7.5).
struct SendContinuation {};

struct NeedInput {};

// A command that cannot be accepted. `tag` may be empty ("*" in the reply).
// `close`: the stream can no longer be framed (a line over the limit); the caller
// answers with an untagged BYE and closes. Otherwise the caller answers with a
// tagged BAD (`too_big`: with the TOOBIG response code, RFC 4469) and reading goes
// on with the next command.
struct Rejected {
  std::string tag;
  std::string reason;
  bool too_big = false;
  bool close = false;
};

// One line outside command framing, in line mode (IDLE's "DONE", AUTHENTICATE
// responses): the text without its CRLF.
struct Line {
  std::string text;
};

using ReaderEvent = std::variant<NeedInput, RawCommand, SendContinuation, Rejected, Line>;

// Contract (sans-IO, model-codebases.md B5): receive() appends bytes and never
// blocks or throws; next() returns one event at a time and NeedInput when it needs
// more bytes. Memory stays within the limits whatever the peer sends: a literal
// that is too big is refused before it is read (synchronizing) or skipped without
// being stored (non-synchronizing). The events are the same however the input is
// split across receive() calls.
//
// Line mode (set_line_mode(true)) returns each line as Line until switched back;
// the engine uses it for IDLE and AUTHENTICATE.
class CommandReader {
 public:
  explicit CommandReader(ReaderLimits limits = {}) : limits_(limits) {}

  void receive(std::span<const char> bytes);

  void receive(std::string_view bytes) {
    receive(std::span<const char>(bytes.data(), bytes.size()));
  }

  ReaderEvent next();

  void set_line_mode(bool on) { line_mode_ = on; }

  // Drops unread input: after STARTTLS, bytes pipelined before the handshake must
  // not be taken as commands (RFC 9051 §6.2.1, the STARTTLS injection attack).
  void discard_buffered_input();

  // Removes and returns the unread input (for a layer change such as COMPRESS,
  // whose bytes after the command must be decoded before they are framed).
  std::string take_buffered_input();

  // Bytes received but not yet consumed (for tests and limits accounting).
  std::size_t buffered() const { return buffer_.size() - pos_; }

  // Heap bytes the reader holds (buffer capacities), for tests and memory accounting.
  std::size_t retained_bytes() const { return buffer_.capacity() + current_.bytes.capacity(); }

 private:
  enum class State { kLine, kLiteral, kSkipLiteral, kSkipLine };

  ReaderEvent on_line(std::string_view line_with_crlf);
  void reset_command();
  void compact();
  // NeedInput, after releasing the input buffer when it holds nothing unread.
  ReaderEvent need_input();

  // Buffer capacity kept across commands once drained (a few command lines).
  static constexpr std::size_t kKeptCapacity = 1024;

  ReaderLimits limits_;
  std::string buffer_;
  std::size_t pos_ = 0;
  bool line_mode_ = false;

  State state_ = State::kLine;
  RawCommand current_;
  bool is_append_ = false;
  std::size_t literal_left_ = 0;  // payload bytes still to read (or skip)
  bool skipping_ = false;         // the command is refused; consume it without storing
  Rejected pending_rejection_;
  bool continuation_owed_ = false;
};

// Parses a literal marker at the end of `line` (without CRLF): "{12}", "{12+}",
// "~{12}". Returns false when the line does not end with one. Sizes above
// 2^63 are reported as not a marker (the line is then a syntax error later).
struct LiteralMarker {
  std::uint64_t size = 0;
  bool non_synchronizing = false;
  bool binary = false;
  std::size_t start = 0;  // offset of '{' or '~' in the line
};

bool find_literal_marker(std::string_view line, LiteralMarker& out);

// True when `tag` is a valid IMAP tag (RFC 9051 §9: 1*<any ASTRING-CHAR except "+">).
bool is_valid_tag(std::string_view tag);

}  // namespace tern::imap
