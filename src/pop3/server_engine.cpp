// SPDX-License-Identifier: Apache-2.0
#include "pop3/server_engine.hpp"

#include <charconv>
#include <cstring>

#include "base/ascii.hpp"
#include "sasl/base64.hpp"

namespace tern::pop3 {
namespace {

using ascii::iequals;

std::string_view code_text(ResponseCode code) {
  switch (code) {
    case ResponseCode::kNone:
      return "";
    case ResponseCode::kInUse:
      return "[IN-USE] ";
    case ResponseCode::kLoginDelay:
      return "[LOGIN-DELAY] ";
    case ResponseCode::kSysTemp:
      return "[SYS/TEMP] ";
    case ResponseCode::kSysPerm:
      return "[SYS/PERM] ";
    case ResponseCode::kAuth:
      return "[AUTH] ";
  }
  return "";
}

// RFC 1939 §3: arguments are separated by single spaces; tolerate runs of them.
std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') {
      ++pos;
    }
    std::size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) {
      end = line.size();
    }
    if (end > pos) {
      out.push_back(line.substr(pos, end - pos));
    }
    pos = end;
  }
  return out;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.size() > 19) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
  }
  return true;
}

}  // namespace

namespace {

// The next line of `raw` from `pos`: [pos, end) without its line end, and where
// the following line starts. A line ends at CRLF, LF or a bare CR. Uses memchr
// for LF and then CR within the line: string_view::find_first_of("\r\n") would
// call memchr once per byte of the message (it was half of RETR's CPU time).
struct LineSpan {
  std::size_t end = 0;
  std::size_t next = 0;
};

LineSpan next_line(std::string_view raw, std::size_t pos) {
  std::size_t lf = raw.find('\n', pos);
  std::size_t limit = lf == std::string_view::npos ? raw.size() : lf;
  const void* cr = std::memchr(raw.data() + pos, '\r', limit - pos);
  if (cr != nullptr) {
    std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - raw.data());
    return LineSpan{at, at + 1 == lf ? lf + 1 : at + 1};
  }
  return LineSpan{limit, lf == std::string_view::npos ? raw.size() : lf + 1};
}

}  // namespace

void append_multiline_message(std::string& out, std::string_view raw,
                              std::optional<std::uint64_t> body_lines) {
  out.reserve(out.size() + raw.size() + raw.size() / 64 + 8);
  bool in_header = true;
  std::uint64_t body_sent = 0;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    if (!in_header && body_lines && body_sent >= *body_lines) {
      break;
    }
    LineSpan span = next_line(raw, pos);
    std::string_view line = raw.substr(pos, span.end - pos);
    if (!line.empty() && line[0] == '.') {
      out += '.';  // RFC 1939 §3: byte-stuff the termination octet
    }
    out.append(line);
    out += "\r\n";
    if (in_header) {
      if (line.empty()) {
        in_header = false;
      }
    } else {
      ++body_sent;
    }
    pos = span.next;
  }
  out += ".\r\n";
}

std::uint64_t wire_size(std::string_view raw) {
  std::uint64_t size = 0;
  for (std::size_t pos = 0; pos < raw.size();) {
    LineSpan span = next_line(raw, pos);
    size += span.end - pos + 2;  // every line is sent with CRLF, the last one too
    pos = span.next;
  }
  return size;
}

ServerEngine::ServerEngine(Options options, Random& random)
    : options_(std::move(options)), random_(random) {
  ok(options_.greeting);
}

void ServerEngine::receive(std::span<const char> bytes) {
  if (state_ == State::kClosed) {
    return;
  }
  // Compact what was consumed before growing the buffer.
  if (in_pos_ > 0 && in_pos_ >= in_.size() / 2) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  in_.append(bytes.data(), bytes.size());
}

void ServerEngine::consume_output(std::size_t n) {
  out_pos_ += std::min(n, out_.size() - out_pos_);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

void ServerEngine::ok(std::string_view text) {
  out_ += "+OK";
  if (!text.empty()) {
    out_ += ' ';
    out_.append(text);
  }
  out_ += "\r\n";
}

void ServerEngine::err(std::string_view text, ResponseCode code) {
  out_ += "-ERR ";
  out_.append(code_text(code));
  out_.append(text);
  out_ += "\r\n";
}

std::optional<Event> ServerEngine::bad(std::string_view text) {
  err(text);
  if (++errors_ >= options_.limits.max_errors) {
    err("too many errors, closing");
    state_ = State::kClosed;
    return Close{};
  }
  return std::nullopt;
}

// Returns the next complete line without its line end, or nullopt. Over-long
// lines are answered with -ERR and skipped without being buffered whole.
std::optional<std::string> ServerEngine::take_line() {
  std::size_t limit =
      sasl_.active() ? options_.limits.max_sasl_line_bytes : options_.limits.max_command_bytes;
  for (;;) {
    std::size_t lf = in_.find('\n', in_pos_);
    if (discarding_) {
      if (lf == std::string::npos) {
        in_.clear();
        in_pos_ = 0;
        return std::nullopt;
      }
      in_pos_ = lf + 1;
      discarding_ = false;
      return std::string("\0too-long", 9);  // a marker no real line can contain
    }
    if (lf == std::string::npos) {
      if (in_.size() - in_pos_ > limit + 1) {
        discarding_ = true;
        continue;
      }
      return std::nullopt;
    }
    std::string line = in_.substr(in_pos_, lf - in_pos_);
    in_pos_ = lf + 1;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.size() > limit) {
      return std::string("\0too-long", 9);
    }
    return line;
  }
}

Event ServerEngine::next() {
  if (queued_) {
    Event event = std::move(*queued_);
    queued_.reset();
    return event;
  }
  if (pending_ != Pending::kNone) {
    // An event was not answered: a bug in the caller. End the session safely.
    state_ = State::kClosed;
    return Close{};
  }
  for (;;) {
    if (state_ == State::kClosed) {
      return Close{};
    }
    auto line = take_line();
    if (!line) {
      return NeedInput{};
    }
    std::optional<Event> event;
    if (*line == std::string_view("\0too-long", 9)) {
      if (sasl_.active()) {
        event = on_sasl(sasl_.fail("response line too long"));
      } else {
        event = bad("line too long");
      }
    } else if (sasl_.active()) {
      event = sasl_response(*line);
    } else {
      event = handle_command(*line);
    }
    if (event) {
      return *event;
    }
  }
}

std::optional<Event> ServerEngine::handle_command(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) {
    return bad("invalid command");
  }
  std::size_t space = line.find(' ');
  std::string verb = ascii::upper(line.substr(0, space));
  std::string_view rest = space == std::string_view::npos ? "" : line.substr(space + 1);
  auto args = split_words(rest);
  if (verb.empty() || verb.size() > 4) {
    return bad("unknown command");
  }
  if (verb == "CAPA") {
    write_capa();
    return std::nullopt;
  }
  if (verb == "NOOP" && state_ == State::kTransaction) {
    if (!args.empty()) {
      return bad("NOOP takes no arguments");
    }
    ok("");
    return std::nullopt;
  }
  if (verb == "QUIT") {
    if (state_ == State::kTransaction) {
      // RFC 1939 §6: QUIT from TRANSACTION enters UPDATE.
      state_ = State::kUpdate;
      Update update;
      for (std::size_t i = 0; i < deleted_.size(); ++i) {
        if (deleted_[i]) {
          update.deleted.push_back(i);
        }
      }
      pending_ = Pending::kUpdate;
      return update;
    }
    ok("bye");
    state_ = State::kClosed;
    return Close{};
  }
  if (state_ == State::kAuthorization) {
    return handle_authorization(verb, args, rest);
  }
  return handle_transaction(verb, args);
}

std::vector<std::string> ServerEngine::mechanisms() const {
  return sasl::ServerExchange::advertised(options_.plaintext_allowed, options_.sasl);
}

void ServerEngine::write_capa() {
  ok("Capability list follows");
  // RFC 2449 §6: only what this session can use now.
  out_ += "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  // Nothing is ever removed by the server on its own (RFC 2449 §6.7).
  out_ += "EXPIRE NEVER\r\n";
  if (options_.login_delay_seconds) {
    out_ += "LOGIN-DELAY " + std::to_string(*options_.login_delay_seconds) + "\r\n";
  }
  if (state_ == State::kAuthorization) {
    if (options_.plaintext_allowed) {
      out_ += "USER\r\n";
    }
    std::string line = "SASL";
    for (const auto& m : mechanisms()) {
      line += ' ' + m;
    }
    out_ += line + "\r\n";
    if (options_.stls_available && !options_.tls_active) {
      out_ += "STLS\r\n";
    }
    out_ += "UTF8\r\n";
  }
  out_ += "IMPLEMENTATION " + options_.implementation + "\r\n.\r\n";
}

std::optional<Event> ServerEngine::handle_authorization(std::string_view verb,
                                                        const std::vector<std::string_view>& args,
                                                        std::string_view rest) {
  if (verb == "STLS") {
    if (!args.empty()) {
      return bad("STLS takes no arguments");
    }
    if (options_.tls_active) {
      return bad("already using TLS");
    }
    if (!options_.stls_available) {
      return bad("STLS not available");
    }
    ok("Begin TLS negotiation");
    pending_ = Pending::kStartTls;
    return StartTls{};
  }
  if (verb == "UTF8") {
    if (!args.empty()) {
      return bad("UTF8 takes no arguments");
    }
    utf8_ = true;
    ok("UTF8 enabled");
    return std::nullopt;
  }
  if (verb == "USER") {
    if (!options_.plaintext_allowed) {
      err("Plaintext authentication disallowed on non-secure connections (use STLS)",
          ResponseCode::kAuth);
      return std::nullopt;
    }
    // The whole rest of the line: some user names contain spaces.
    if (rest.empty() || rest.size() > 255 || (!utf8_ && !is_ascii(rest))) {
      return bad("invalid user name");
    }
    user_ = std::string(rest);
    ok("send PASS");
    return std::nullopt;
  }
  if (verb == "PASS") {
    if (user_.empty()) {
      return bad("USER first");
    }
    // RFC 1939 §7: the password may contain spaces: take the rest of the line.
    if (rest.empty() || (!utf8_ && !is_ascii(rest))) {
      user_.clear();
      return bad("invalid password");
    }
    pending_ = Pending::kLogin;
    std::string user = std::move(user_);
    user_.clear();
    return CheckPassword{std::move(user), std::string(rest)};
  }
  if (verb == "AUTH") {
    return start_auth(args);
  }
  if (verb == "APOP") {
    return bad("APOP not supported");
  }
  if (verb == "STAT" || verb == "LIST" || verb == "RETR" || verb == "DELE" || verb == "RSET" ||
      verb == "TOP" || verb == "UIDL" || verb == "NOOP") {
    return bad("not logged in");
  }
  return bad("unknown command");
}

std::optional<Event> ServerEngine::start_auth(const std::vector<std::string_view>& args) {
  user_.clear();
  if (args.empty()) {
    // Pre-RFC 5034 clients list mechanisms with a bare AUTH (RFC 1734 style).
    ok("");
    for (const auto& m : mechanisms()) {
      out_ += m + "\r\n";
    }
    out_ += ".\r\n";
    return std::nullopt;
  }
  if (args.size() > 2) {
    return bad("too many arguments");
  }
  if (auto refusal = sasl_.begin(args[0], options_.plaintext_allowed, options_.sasl, random_)) {
    if (*refusal == sasl::ServerExchange::Refusal::kNeedsEncryption) {
      err("Plaintext authentication disallowed on non-secure connections (use STLS)",
          ResponseCode::kAuth);
      return std::nullopt;
    }
    return bad("unsupported authentication mechanism");
  }
  // RFC 5034 §4: "=" is an empty initial response.
  std::optional<std::string_view> initial;
  if (args.size() == 2) {
    initial = args[1] == "=" ? std::string_view() : args[1];
  }
  return on_sasl(sasl_.start(initial));
}

std::optional<Event> ServerEngine::sasl_response(std::string_view line) {
  if (line == "*") {
    return on_sasl(sasl_.fail("cancelled by client"));  // RFC 5034 §4
  }
  return on_sasl(sasl_.respond(line));
}

std::optional<Event> ServerEngine::on_sasl(sasl::ServerExchange::Outcome outcome) {
  if (auto* challenge = std::get_if<sasl::Challenge>(&outcome)) {
    out_ += "+ " + sasl::base64_encode(challenge->data) + "\r\n";
    return std::nullopt;
  }
  pending_ = std::holds_alternative<NeedScramCredential>(outcome) ? Pending::kScramCredential
             : std::holds_alternative<AuthFailed>(outcome)        ? Pending::kSaslFailed
                                                                  : Pending::kLogin;
  return sasl::event_of<Event>(std::move(outcome));
}

void ServerEngine::supply_scram_credential(std::optional<sasl::ScramCredential> credential) {
  if (pending_ != Pending::kScramCredential || !sasl_.active()) {
    return;
  }
  pending_ = Pending::kNone;
  // A challenge goes straight to output(); a failure becomes the next event.
  queued_ = on_sasl(sasl_.supply_scram_credential(std::move(credential)));
}

void ServerEngine::login_succeeded(std::vector<MaildropEntry> maildrop) {
  if (pending_ != Pending::kLogin) {
    return;
  }
  pending_ = Pending::kNone;
  maildrop_ = std::move(maildrop);
  deleted_.assign(maildrop_.size(), false);
  state_ = State::kTransaction;
  ok("Logged in");
}

void ServerEngine::login_failed(ResponseCode code, std::string_view text) {
  if (pending_ != Pending::kLogin && pending_ != Pending::kScramCredential &&
      pending_ != Pending::kSaslFailed) {
    return;
  }
  pending_ = Pending::kNone;
  sasl_.reset();
  user_.clear();
  err(text, code);
}

void ServerEngine::tls_started(bool plaintext_allowed, sasl::ChannelBindings bindings) {
  if (pending_ != Pending::kStartTls) {
    return;
  }
  pending_ = Pending::kNone;
  // RFC 2595 §4 (and RFC 3207 §4.2 for the same attack on SMTP): anything the
  // client pipelined after STLS arrived in the clear and is discarded.
  in_.clear();
  in_pos_ = 0;
  discarding_ = false;
  user_.clear();
  options_.tls_active = true;
  options_.plaintext_allowed = plaintext_allowed;
  options_.sasl.channel_bindings = std::move(bindings);
}

std::optional<std::size_t> ServerEngine::message_number(std::string_view arg, bool allow_deleted) {
  auto n = parse_number(arg);
  if (!n || *n == 0 || *n > maildrop_.size()) {
    err("no such message");
    return std::nullopt;
  }
  std::size_t index = static_cast<std::size_t>(*n - 1);
  if (deleted_[index] && !allow_deleted) {
    err("message " + std::to_string(*n) + " already deleted");
    return std::nullopt;
  }
  return index;
}

std::optional<Event> ServerEngine::handle_transaction(std::string_view verb,
                                                      const std::vector<std::string_view>& args) {
  if (verb == "STAT") {
    if (!args.empty()) {
      return bad("STAT takes no arguments");
    }
    std::uint64_t count = 0;
    std::uint64_t octets = 0;
    for (std::size_t i = 0; i < maildrop_.size(); ++i) {
      if (!deleted_[i]) {
        ++count;
        octets += maildrop_[i].size;
      }
    }
    ok(std::to_string(count) + " " + std::to_string(octets));
    return std::nullopt;
  }
  if (verb == "LIST" || verb == "UIDL") {
    bool list = verb == "LIST";
    if (args.size() > 1) {
      return bad("too many arguments");
    }
    auto value = [&](std::size_t i) {
      return list ? std::to_string(maildrop_[i].size) : maildrop_[i].uid;
    };
    if (args.size() == 1) {
      if (auto index = message_number(args[0], false)) {
        ok(std::to_string(*index + 1) + " " + value(*index));
      }
      return std::nullopt;
    }
    ok(list ? "scan listing follows" : "unique-id listing follows");
    for (std::size_t i = 0; i < maildrop_.size(); ++i) {
      if (!deleted_[i]) {
        out_ += std::to_string(i + 1) + " " + value(i) + "\r\n";
      }
    }
    out_ += ".\r\n";
    return std::nullopt;
  }
  if (verb == "RETR" || verb == "TOP") {
    bool top = verb == "TOP";
    if (args.size() != (top ? 2u : 1u)) {
      return bad(top ? "usage: TOP msg n" : "usage: RETR msg");
    }
    std::optional<std::uint64_t> lines;
    if (top) {
      lines = parse_number(args[1]);
      if (!lines) {
        return bad("invalid line count");
      }
    }
    auto index = message_number(args[0], false);
    if (!index) {
      return std::nullopt;
    }
    pending_ = Pending::kRetrieve;
    pending_top_ = lines;
    return Retrieve{*index, lines};
  }
  if (verb == "DELE") {
    if (args.size() != 1) {
      return bad("usage: DELE msg");
    }
    if (auto index = message_number(args[0], false)) {
      deleted_[*index] = true;
      ok("message " + std::to_string(*index + 1) + " deleted");
    }
    return std::nullopt;
  }
  if (verb == "RSET") {
    if (!args.empty()) {
      return bad("RSET takes no arguments");
    }
    deleted_.assign(maildrop_.size(), false);
    ok("");
    return std::nullopt;
  }
  if (verb == "USER" || verb == "PASS" || verb == "AUTH" || verb == "STLS" || verb == "APOP" ||
      verb == "UTF8") {
    return bad("already logged in");
  }
  return bad("unknown command");
}

void ServerEngine::send_message(std::string_view raw) {
  if (pending_ != Pending::kRetrieve) {
    return;
  }
  pending_ = Pending::kNone;
  ok("message follows");
  append_multiline_message(out_, raw, pending_top_);
}

void ServerEngine::retrieve_failed(ResponseCode code, std::string_view text) {
  if (pending_ != Pending::kRetrieve) {
    return;
  }
  pending_ = Pending::kNone;
  err(text, code);
}

void ServerEngine::update_done(bool success) {
  if (pending_ != Pending::kUpdate) {
    return;
  }
  pending_ = Pending::kNone;
  if (success) {
    ok("bye");
  } else {
    // RFC 1939 §6: if the removal fails, say so; the messages stay.
    err("some deleted messages not removed", ResponseCode::kSysTemp);
  }
  state_ = State::kClosed;
}

}  // namespace tern::pop3
