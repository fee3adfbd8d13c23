// SPDX-License-Identifier: Apache-2.0
#include "imap/server_engine.hpp"

#include "base/ascii.hpp"

namespace tern::imap {
namespace {

bool is_done(std::string_view line) {
  return ascii::iequals(line, "DONE");
}

std::string_view status_word(Status status) {
  switch (status) {
    case Status::kOk:
      return "OK";
    case Status::kNo:
      return "NO";
    case Status::kBad:
      return "BAD";
  }
  return "BAD";
}

// Text from the network echoed in a response must not break the line.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return out;
}

}  // namespace

ServerEngine::ServerEngine(EngineLimits limits) : limits_(limits), reader_(limits.reader) {}

void ServerEngine::receive(std::span<const char> bytes) {
  if (!closing_) {
    reader_.receive(bytes);
  }
}

void ServerEngine::write_status(std::string_view tag, Status status, std::string_view code,
                                std::string_view text) {
  out_ += tag.empty() ? "*" : tag;
  out_ += ' ';
  out_ += status_word(status);
  out_ += ' ';
  if (!code.empty()) {
    out_ += '[';
    out_ += code;
    out_ += "] ";
  }
  out_ += printable(text);
  out_ += "\r\n";
}

Event ServerEngine::reject(const std::string& tag, std::string_view code, std::string_view text) {
  write_status(tag, Status::kBad, code, text);
  if (++bad_commands_ >= limits_.max_bad_commands) {
    bye("too many invalid commands");
    return CloseConnection{};
  }
  return next();
}

Event ServerEngine::next() {
  if (closing_ || state_ == SessionState::kLogout) {
    closing_ = true;
    return CloseConnection{};
  }
  if (begin_tls_) {
    begin_tls_ = false;
    return BeginTls{};
  }
  if (begin_compress_) {
    begin_compress_ = false;
    return BeginCompress{};
  }
  // One command at a time: pipelined commands wait in the reader until the current
  // one completes (RFC 9051 §5.5 allows serial execution).
  if (current_ && mode_ == Mode::kCommand) {
    return NeedInput{};
  }
  while (true) {
    ReaderEvent event = reader_.next();
    if (std::holds_alternative<NeedInput>(event)) {
      return NeedInput{};
    }
    if (std::holds_alternative<SendContinuation>(event)) {
      // RFC 9051 §7.5: the client may send the synchronizing literal now.
      out_ += "+ OK\r\n";
      continue;
    }
    if (auto* line = std::get_if<Line>(&event)) {
      if (mode_ == Mode::kAuth) {
        // RFC 9051 §6.2.2: "*" cancels the exchange, answered with BAD.
        if (line->text == "*") {
          complete(Status::kBad, "", "AUTHENTICATE cancelled");
          return AuthCancelled{};
        }
        return AuthResponse{std::move(line->text)};
      }
      if (mode_ == Mode::kIdle) {
        reader_.set_line_mode(false);
        mode_ = Mode::kCommand;
        if (is_done(line->text)) {
          return IdleEnded{true};
        }
        complete(Status::kBad, "", "expected DONE");
        return IdleEnded{false};
      }
      continue;  // not reachable: line mode is only on during AUTHENTICATE and IDLE
    }
    if (auto* rejected = std::get_if<Rejected>(&event)) {
      if (rejected->close) {
        bye(rejected->reason);
        return CloseConnection{};
      }
      std::string tag = is_valid_tag(rejected->tag) ? rejected->tag : std::string();
      return reject(tag, rejected->too_big ? "TOOBIG" : "", rejected->reason);
    }
    auto& raw = std::get<RawCommand>(event);
    if (!is_valid_tag(raw.tag)) {
      return reject("", "", "invalid tag");
    }
    auto command = parse_command(raw, limits_.parse);
    if (!command) {
      return reject(raw.tag, "", command.error().message);
    }
    std::string_view why = state_error(*command, state_);
    if (!why.empty()) {
      return reject(raw.tag, "", std::string(command_name(*command)) + ": " + std::string(why));
    }
    tag_ = raw.tag;
    current_ = *command;
    return CommandReady{raw.tag, std::move(*command)};
  }
}

void ServerEngine::consume_output(std::size_t n) {
  constexpr std::size_t kKeptCapacity = 4096;
  out_.erase(0, n);
  if (out_.empty() && out_.capacity() > kKeptCapacity) {
    std::string().swap(out_);
  }
}

void ServerEngine::untagged(std::string_view text) {
  out_ += "* ";
  out_ += text;
  out_ += "\r\n";
}

void ServerEngine::continuation(std::string_view text) {
  out_ += '+';
  if (!text.empty()) {
    out_ += ' ';
    out_ += text;
  }
  out_ += "\r\n";
  if (!current_) {
    return;
  }
  if (std::holds_alternative<AuthenticateCommand>(*current_)) {
    mode_ = Mode::kAuth;
    reader_.set_line_mode(true);
  } else if (std::holds_alternative<IdleCommand>(*current_)) {
    mode_ = Mode::kIdle;
    reader_.set_line_mode(true);
  }
}

void ServerEngine::complete(Status status, std::string_view code, std::string_view text) {
  write_status(tag_, status, code, text);
  if (current_) {
    const Command& c = *current_;
    bool ok = status == Status::kOk;
    if (ok &&
        (std::holds_alternative<LoginCommand>(c) ||
         std::holds_alternative<AuthenticateCommand>(c) ||
         std::holds_alternative<CloseCommand>(c) || std::holds_alternative<UnselectCommand>(c))) {
      // Logged in; or, after CLOSE and UNSELECT, no longer in a mailbox.
      state_ = SessionState::kAuthenticated;
    } else if (std::holds_alternative<SelectCommand>(c)) {
      // RFC 9051 §6.3.2: a failed SELECT leaves the session with no mailbox selected.
      state_ = ok ? SessionState::kSelected : SessionState::kAuthenticated;
    } else if (std::holds_alternative<LogoutCommand>(c)) {
      state_ = SessionState::kLogout;
    } else if (ok && std::holds_alternative<StartTlsCommand>(c)) {
      // RFC 9051 §6.2.1: nothing the client sent before the handshake may be
      // taken as a command afterwards.
      reader_.discard_buffered_input();
      begin_tls_ = true;
    } else if (ok && std::holds_alternative<CompressCommand>(c)) {
      begin_compress_ = true;
    }
    if (status == Status::kBad) {
      ++bad_commands_;
    }
  }
  end_command();
}

void ServerEngine::end_command() {
  current_.reset();
  tag_.clear();
  if (mode_ != Mode::kCommand) {
    mode_ = Mode::kCommand;
    reader_.set_line_mode(false);
  }
}

void ServerEngine::bye(std::string_view text) {
  untagged("BYE " + printable(text));
  closing_ = true;
}

void ServerEngine::tls_started() {
  reader_.discard_buffered_input();
}

}  // namespace tern::imap
