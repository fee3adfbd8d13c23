// SPDX-License-Identifier: Apache-2.0
#include "managesieve/server_engine.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "base/utf8.hpp"
#include "sasl/base64.hpp"

namespace tern::managesieve {
namespace {

using ascii::iequals;

// RFC 5804 §4: ATOM-CHAR is any CHAR except "(", ")", "{", SP, CTL, DQUOTE, "\".
bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '"' && c != '\\';
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view code_text(ResponseCode code) {
  switch (code) {
    case ResponseCode::kNone:
      return "";
    case ResponseCode::kEncryptNeeded:
      return "ENCRYPT-NEEDED";
    case ResponseCode::kQuota:
      return "QUOTA";
    case ResponseCode::kQuotaMaxScripts:
      return "QUOTA/MAXSCRIPTS";
    case ResponseCode::kQuotaMaxSize:
      return "QUOTA/MAXSIZE";
    case ResponseCode::kTryLater:
      return "TRYLATER";
    case ResponseCode::kActive:
      return "ACTIVE";
    case ResponseCode::kNonexistent:
      return "NONEXISTENT";
    case ResponseCode::kAlreadyExists:
      return "ALREADYEXISTS";
    case ResponseCode::kWarnings:
      return "WARNINGS";
  }
  return "";
}

bool is_well_formed_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (!utf8::next(s, i)) {
      return false;
    }
  }
  return true;
}

// A skipped line that ends in a literal header ("{N}" or "{N+}", before the line
// end) continues after N bytes of data: their size, else nullopt.
std::optional<std::uint64_t> trailing_literal(std::string_view tail) {
  if (!tail.empty() && tail.back() == '\r') {
    tail.remove_suffix(1);
  }
  if (tail.empty() || tail.back() != '}') {
    return std::nullopt;
  }
  tail.remove_suffix(1);
  if (!tail.empty() && tail.back() == '+') {
    tail.remove_suffix(1);
  }
  std::size_t open = tail.rfind('{');
  if (open == std::string_view::npos || !is_digits(tail.substr(open + 1))) {
    return std::nullopt;
  }
  auto n = ascii::to_number<std::uint64_t>(tail.substr(open + 1));
  return n ? n : std::optional<std::uint64_t>(UINT64_MAX);
}

constexpr std::size_t kMaxQuoted = 1024;  // RFC 5804 §4 `quoted`
constexpr std::size_t kMaxAtom = 1024;    // RFC 5804 §4 `atom`
constexpr std::size_t kSkipTail = 32;

}  // namespace

void append_string(std::string& out, std::string_view s) {
  bool quotable = s.size() <= kMaxQuoted &&
                  s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
  if (quotable && is_well_formed_utf8(s)) {
    out += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
    return;
  }
  // RFC 5804 §4 literal-s2c: the server's literals carry no "+".
  out += '{';
  out += std::to_string(s.size());
  out += "}\r\n";
  out.append(s);
}

Response response_for(const Error& error) {
  switch (error.code) {
    case ErrorCode::kNotFound:
      return {Status::kNo, ResponseCode::kNonexistent, "There is no script by that name"};
    case ErrorCode::kAlreadyExists:
      return {Status::kNo, ResponseCode::kAlreadyExists, "A script by that name already exists"};
    case ErrorCode::kConflict:
      return {Status::kNo, ResponseCode::kActive, "The active script cannot be deleted"};
    case ErrorCode::kLimitExceeded:
      return {Status::kNo, ResponseCode::kQuota, error.message};
    case ErrorCode::kInvalidInput:
      return {Status::kNo, ResponseCode::kNone, error.message};
    default:
      return {Status::kNo, ResponseCode::kTryLater, "Temporary failure, try again later"};
  }
}

ServerEngine::ServerEngine(Options options, Random& random)
    : options_(std::move(options)), random_(random) {
  // RFC 5804 §1.7: the capabilities are sent automatically on connection.
  write_capabilities();
  write({Status::kOk, ResponseCode::kNone, options_.greeting});
}

void ServerEngine::receive(std::span<const char> bytes) {
  if (state_ == State::kClosed) {
    return;
  }
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

void ServerEngine::write(const Response& response) {
  switch (response.status) {
    case Status::kOk:
      out_ += "OK";
      break;
    case Status::kNo:
      out_ += "NO";
      break;
    case Status::kBye:
      out_ += "BYE";
      break;
  }
  if (response.code != ResponseCode::kNone) {
    out_ += " (";
    out_.append(code_text(response.code));
    out_ += ')';
  }
  if (!response.text.empty()) {
    out_ += ' ';
    append_string(out_, response.text);
  }
  out_ += "\r\n";
}

std::optional<Event> ServerEngine::bad(std::string_view text, ResponseCode code) {
  write({Status::kNo, code, std::string(text)});
  if (++errors_ >= options_.limits.max_errors) {
    return fatal("Too many invalid commands");
  }
  return std::nullopt;
}

std::optional<Event> ServerEngine::fatal(std::string_view text) {
  write({Status::kBye, ResponseCode::kNone, std::string(text)});
  state_ = State::kClosed;
  sasl_.reset();
  return Close{};
}

std::vector<std::string> ServerEngine::mechanisms() const {
  return sasl::ServerExchange::advertised(options_.plaintext_allowed, options_.sasl);
}

void ServerEngine::write_capabilities() {
  auto capability = [&](std::string_view name, std::optional<std::string_view> value) {
    append_string(out_, name);
    if (value) {
      out_ += ' ';
      append_string(out_, *value);
    }
    out_ += "\r\n";
  };
  capability("IMPLEMENTATION", options_.implementation);
  capability("SIEVE", options_.sieve_extensions);
  if (state_ == State::kNonAuthenticated) {
    // Only what AUTHENTICATE accepts now: after login it accepts nothing.
    std::string list;
    for (const auto& m : mechanisms()) {
      list += list.empty() ? m : " " + m;
    }
    capability("SASL", list);
    // RFC 5804 §1.7: not once STARTTLS or AUTHENTICATE has completed.
    if (options_.starttls_available && !options_.tls_active) {
      capability("STARTTLS", std::nullopt);
    }
  }
  if (options_.max_redirects) {
    capability("MAXREDIRECTS", std::to_string(*options_.max_redirects));
  }
  if (state_ == State::kAuthenticated) {
    capability("OWNER", owner_);  // RFC 5804 §1.7: never before authentication
  }
  capability("UNAUTHENTICATE", std::nullopt);  // RFC 5804 §2.14.1
  capability("VERSION", "1.0");
}

void ServerEngine::reset_parser() {
  args_.clear();
  line_bytes_ = 0;
  literal_bytes_ = 0;
  literal_left_ = 0;
  in_literal_ = false;
  after_token_ = false;
  skip_line_ = false;
  skip_tail_.clear();
  skip_literal_ = 0;
  error_.reset();
}

std::size_t ServerEngine::literal_limit() const {
  return state_ == State::kAuthenticated && !sasl_.active()
             ? options_.limits.max_literal_bytes
             : options_.limits.max_preauth_literal_bytes;
}

// Starts discarding the rest of the command; `text` answers it once it ends.
void ServerEngine::fail(std::string text) {
  if (!error_) {
    error_ = Response{Status::kNo, ResponseCode::kNone, std::move(text)};
  }
  skip_line_ = true;
  args_.clear();
}

// RFC 5804 §4: command = name *(SP argument) CRLF, where an argument is an atom,
// a number, a quoted string or a literal. Consumes input into args_ until one
// command is complete.
ServerEngine::Parsed ServerEngine::parse() {
  const Limits& limits = options_.limits;
  for (;;) {
    if (skip_literal_ > 0) {
      auto n = std::min<std::uint64_t>(in_.size() - in_pos_, skip_literal_);
      in_pos_ += static_cast<std::size_t>(n);
      skip_literal_ -= n;
      if (skip_literal_ > 0) {
        return Parsed::kNeedMore;
      }
      if (!skip_line_) {
        after_token_ = true;
      }
      continue;
    }
    if (skip_line_) {
      std::size_t lf = in_.find('\n', in_pos_);
      std::size_t end = lf == std::string::npos ? in_.size() : lf;
      skip_tail_.append(in_, in_pos_, end - in_pos_);
      if (skip_tail_.size() > kSkipTail) {
        skip_tail_.erase(0, skip_tail_.size() - kSkipTail);
      }
      if (lf == std::string::npos) {
        in_pos_ = in_.size();
        return Parsed::kNeedMore;
      }
      in_pos_ = lf + 1;
      // A literal announced at the end of the skipped line: its data is not a command.
      if (auto n = trailing_literal(skip_tail_)) {
        skip_tail_.clear();
        if (*n > limits.max_skip_bytes) {
          error_ = Response{Status::kBye, ResponseCode::kNone, "Literal too large"};
          return Parsed::kFatal;
        }
        skip_literal_ = *n;
        continue;
      }
      skip_line_ = false;
      skip_tail_.clear();
      return Parsed::kError;
    }
    if (in_literal_) {
      auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(in_.size() - in_pos_, literal_left_));
      args_.back().value.append(in_, in_pos_, n);
      in_pos_ += n;
      literal_left_ -= n;
      if (literal_left_ > 0) {
        return Parsed::kNeedMore;
      }
      in_literal_ = false;
      after_token_ = true;
      continue;
    }
    if (line_bytes_ > limits.max_line_bytes) {
      fail("Line too long");
      continue;
    }
    if (in_pos_ >= in_.size()) {
      return Parsed::kNeedMore;
    }
    std::string_view rest = std::string_view(in_).substr(in_pos_);
    char c = rest[0];
    if (c == '\r' || c == '\n') {
      std::size_t length = 1;
      if (c == '\r') {
        if (rest.size() < 2) {
          return Parsed::kNeedMore;
        }
        if (rest[1] != '\n') {
          fail("Bare CR in command");
          continue;
        }
        length = 2;
      }
      in_pos_ += length;
      if (error_) {
        // An error found while the command's literals were still being skipped.
        return Parsed::kError;
      }
      if (args_.empty() && !sasl_.active()) {
        reset_parser();  // an empty line: ignored
        continue;
      }
      return Parsed::kCommand;
    }
    if (c == ' ') {
      ++in_pos_;
      ++line_bytes_;
      after_token_ = false;
      continue;
    }
    if (after_token_) {
      fail("Expected a space between arguments");
      continue;
    }
    if (error_ && c != '{') {
      fail("");  // after a refused literal: the rest of the line goes too
      continue;
    }
    if (args_.size() > limits.max_arguments) {
      fail("Too many arguments");
      continue;
    }
    if (c == '"') {
      std::string value;
      std::size_t i = 1;
      bool complete = false;
      bool invalid = false;
      for (; i < rest.size(); ++i) {
        char d = rest[i];
        if (d == '"') {
          complete = true;
          break;
        }
        if (d == '\\') {
          if (i + 1 >= rest.size()) {
            i = rest.size();
            break;
          }
          d = rest[++i];
          // RFC 5804 §4: only QUOTED-SPECIALS may be escaped.
          invalid = d != '"' && d != '\\';
        } else {
          invalid = d == '\r' || d == '\n' || d == '\0';
        }
        if (invalid) {
          break;
        }
        value += d;
      }
      if (!complete) {
        if (invalid) {
          fail("Invalid quoted string");
          continue;
        }
        if (line_bytes_ + rest.size() > limits.max_line_bytes) {
          fail("Line too long");
          continue;
        }
        return Parsed::kNeedMore;
      }
      if (value.size() > std::max(kMaxQuoted, limits.max_line_bytes)) {
        fail("Quoted string too long");
        continue;
      }
      in_pos_ += i + 1;
      line_bytes_ += i + 1;
      args_.push_back({Arg::Kind::kString, std::move(value)});
      after_token_ = true;
      continue;
    }
    if (c == '{') {
      std::size_t close = rest.find('}');
      if (close == std::string_view::npos) {
        if (rest.size() > 24) {
          fail("Invalid literal");
          continue;
        }
        return Parsed::kNeedMore;
      }
      std::string_view digits = rest.substr(1, close - 1);
      if (!digits.empty() && digits.back() == '+') {
        digits.remove_suffix(1);  // non-synchronizing; {N} is read the same way
      }
      if (!is_digits(digits) || digits.size() > 20) {
        fail("Invalid literal");
        continue;
      }
      std::size_t after = close + 1;
      if (after >= rest.size() || (rest[after] == '\r' && after + 1 >= rest.size())) {
        return Parsed::kNeedMore;
      }
      if (rest[after] == '\r' && rest[after + 1] == '\n') {
        after += 2;
      } else if (rest[after] == '\n') {
        after += 1;
      } else {
        fail("A literal must end the line");
        continue;
      }
      auto size = ascii::to_number<std::uint64_t>(digits).value_or(UINT64_MAX);
      in_pos_ += after;
      line_bytes_ += after;
      if (error_ || size > literal_limit() || literal_bytes_ + size > literal_limit()) {
        if (size > limits.max_skip_bytes) {
          error_ = Response{Status::kBye, ResponseCode::kNone, "Literal too large"};
          return Parsed::kFatal;
        }
        if (!error_) {
          bool script = state_ == State::kAuthenticated && !sasl_.active() && !args_.empty() &&
                        iequals(args_[0].value, "PUTSCRIPT");
          error_ = Response{Status::kNo, script ? ResponseCode::kQuotaMaxSize : ResponseCode::kNone,
                            script ? "Script too large" : "Literal too large"};
        }
        // The client sends the data anyway ({N+}): skip it, answer at the line end.
        args_.clear();
        skip_literal_ = size;
        if (size == 0) {
          after_token_ = true;
        }
        continue;
      }
      literal_bytes_ += static_cast<std::size_t>(size);
      args_.push_back({Arg::Kind::kString, std::string()});
      literal_left_ = size;
      in_literal_ = size > 0;
      after_token_ = size == 0;
      continue;
    }
    if (is_atom_char(c)) {
      std::size_t i = 0;
      while (i < rest.size() && is_atom_char(rest[i])) {
        ++i;
      }
      if (i > kMaxAtom) {
        fail("Atom too long");
        continue;
      }
      if (i == rest.size()) {
        return Parsed::kNeedMore;
      }
      std::string value(rest.substr(0, i));
      in_pos_ += i;
      line_bytes_ += i;
      args_.push_back({is_digits(value) ? Arg::Kind::kNumber : Arg::Kind::kAtom, std::move(value)});
      after_token_ = true;
      continue;
    }
    fail("Invalid character in command");
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
    Parsed parsed = parse();
    if (parsed == Parsed::kNeedMore) {
      return NeedInput{};
    }
    if (parsed == Parsed::kFatal) {
      std::string text = error_ ? error_->text : "Protocol error";
      reset_parser();
      return *fatal(text);
    }
    std::optional<Event> event;
    if (parsed == Parsed::kError) {
      Response error = *error_;
      reset_parser();
      if (sasl_.active()) {
        event = on_sasl(sasl_.fail("malformed response: " + error.text));
      } else {
        event = bad(error.text, error.code);
      }
    } else {
      event = dispatch();
      reset_parser();
    }
    if (event) {
      return *event;
    }
  }
}

std::optional<Event> ServerEngine::dispatch() {
  if (sasl_.active()) {
    return sasl_response();
  }
  if (args_[0].kind == Arg::Kind::kString) {
    return bad("Invalid command");
  }
  return handle_command(ascii::upper(args_[0].value));
}

std::optional<Event> ServerEngine::handle_command(std::string_view verb) {
  std::size_t n = args_.size() - 1;
  auto is_string = [&](std::size_t i) { return args_[i].kind == Arg::Kind::kString; };
  auto take = [&](std::size_t i) { return std::move(args_[i].value); };
  bool authenticated = state_ == State::kAuthenticated;

  // RFC 5804 §2: valid in both states.
  if (verb == "CAPABILITY") {
    if (n != 0) {
      return bad("CAPABILITY takes no arguments");
    }
    write_capabilities();
    write({Status::kOk, ResponseCode::kNone, "Capability completed"});
    return std::nullopt;
  }
  if (verb == "LOGOUT") {
    if (n != 0) {
      return bad("LOGOUT takes no arguments");
    }
    // RFC 5804 §2.3: OK, then close; later commands are ignored.
    write({Status::kOk, ResponseCode::kNone, "Logout completed"});
    state_ = State::kClosed;
    return Close{};
  }
  if (verb == "NOOP") {
    if (n == 0) {
      write({Status::kOk, ResponseCode::kNone, "NOOP completed"});
      return std::nullopt;
    }
    if (n != 1 || !is_string(1)) {
      return bad("Usage: NOOP [tag]");
    }
    // RFC 5804 §2.13: the tag comes back in the TAG response code.
    out_ += "OK (TAG ";
    append_string(out_, args_[1].value);
    out_ += ") \"Done\"\r\n";
    return std::nullopt;
  }

  if (verb == "STARTTLS" || verb == "AUTHENTICATE") {
    if (authenticated) {
      // RFC 5804 §2.1: no reauthentication; §2.2: STARTTLS only before login.
      return bad("Already authenticated");
    }
    if (verb == "AUTHENTICATE") {
      return start_auth();
    }
    if (n != 0) {
      return bad("STARTTLS takes no arguments");
    }
    if (options_.tls_active) {
      return bad("TLS is already active");
    }
    if (!options_.starttls_available) {
      return bad("STARTTLS is not available");
    }
    write({Status::kOk, ResponseCode::kNone, "Begin TLS negotiation now"});
    pending_ = Pending::kStartTls;
    return StartTls{};
  }
  if (verb == "UNAUTHENTICATE") {
    if (!authenticated || n != 0) {
      return bad(authenticated ? "UNAUTHENTICATE takes no arguments" : "Not authenticated");
    }
    state_ = State::kNonAuthenticated;
    owner_.clear();
    write({Status::kOk, ResponseCode::kNone, "Unauthenticate completed"});
    return LoggedOut{};
  }

  bool script_command = verb == "HAVESPACE" || verb == "PUTSCRIPT" || verb == "LISTSCRIPTS" ||
                        verb == "SETACTIVE" || verb == "GETSCRIPT" || verb == "DELETESCRIPT" ||
                        verb == "RENAMESCRIPT" || verb == "CHECKSCRIPT";
  if (!script_command) {
    return bad("Unknown command");
  }
  if (!authenticated) {
    return bad("Authenticate first");  // RFC 5804 §2: NO for other commands
  }
  auto strings = [&](std::size_t count) {
    if (n != count) {
      return false;
    }
    for (std::size_t i = 1; i <= count; ++i) {
      if (!is_string(i)) {
        return false;
      }
    }
    return true;
  };
  if (verb == "HAVESPACE") {
    // RFC 5804 §2.5: a name and a number.
    if (n != 2 || !is_string(1) || args_[2].kind != Arg::Kind::kNumber) {
      return bad("Usage: HAVESPACE name size");
    }
    auto size = ascii::to_number<std::uint64_t>(args_[2].value);
    if (!size) {
      return bad("Invalid script size");
    }
    pending_ = Pending::kCommand;
    return HaveSpace{take(1), *size};
  }
  if (verb == "PUTSCRIPT") {
    if (!strings(2)) {
      return bad("Usage: PUTSCRIPT name script");
    }
    pending_ = Pending::kCommand;
    return PutScript{take(1), take(2)};
  }
  if (verb == "LISTSCRIPTS") {
    if (n != 0) {
      return bad("LISTSCRIPTS takes no arguments");
    }
    pending_ = Pending::kCommand;
    return ListScripts{};
  }
  if (verb == "SETACTIVE") {
    if (!strings(1)) {
      return bad("Usage: SETACTIVE name");
    }
    pending_ = Pending::kCommand;
    return SetActive{take(1)};
  }
  if (verb == "GETSCRIPT" || verb == "DELETESCRIPT") {
    if (!strings(1)) {
      return bad(verb == "GETSCRIPT" ? "Usage: GETSCRIPT name" : "Usage: DELETESCRIPT name");
    }
    pending_ = Pending::kCommand;
    if (verb == "GETSCRIPT") {
      return GetScript{take(1)};
    }
    return DeleteScript{take(1)};
  }
  if (verb == "RENAMESCRIPT") {
    if (!strings(2)) {
      return bad("Usage: RENAMESCRIPT old-name new-name");
    }
    pending_ = Pending::kCommand;
    return RenameScript{take(1), take(2)};
  }
  // CHECKSCRIPT
  if (!strings(1)) {
    return bad("Usage: CHECKSCRIPT script");
  }
  pending_ = Pending::kCommand;
  return CheckScript{take(1)};
}

std::optional<Event> ServerEngine::start_auth() {
  std::size_t n = args_.size() - 1;
  if (n < 1 || n > 2 || args_[1].kind == Arg::Kind::kNumber ||
      (n == 2 && args_[2].kind != Arg::Kind::kString)) {
    return bad("Usage: AUTHENTICATE \"mechanism\" [\"initial response\"]");
  }
  const std::string& name = args_[1].value;
  if (auto refusal = sasl_.begin(name, options_.plaintext_allowed, options_.sasl, random_)) {
    if (*refusal == sasl::ServerExchange::Refusal::kNeedsEncryption) {
      // RFC 5804 §2.1.1: PLAIN only over TLS (or where policy allows it).
      write({Status::kNo, ResponseCode::kEncryptNeeded,
             "Plaintext authentication is only allowed over TLS (use STARTTLS)"});
      return std::nullopt;
    }
    return bad("Unsupported authentication mechanism");
  }
  // RFC 5804 §2.1: the initial response is base64 in a string; "" is empty.
  std::optional<std::string_view> initial;
  if (n == 2) {
    initial = args_[2].value;
  }
  return on_sasl(sasl_.start(initial));
}

std::optional<Event> ServerEngine::sasl_response() {
  // RFC 5804 §2.1: each response is one string; "*" cancels.
  if (args_.size() != 1 || (args_[0].kind != Arg::Kind::kString && args_[0].value != "*")) {
    return on_sasl(sasl_.fail("malformed response"));
  }
  if (args_[0].value == "*") {
    return on_sasl(sasl_.fail("cancelled by client"));
  }
  return on_sasl(sasl_.respond(args_[0].value));
}

std::optional<Event> ServerEngine::on_sasl(sasl::ServerExchange::Outcome outcome) {
  if (auto* challenge = std::get_if<sasl::Challenge>(&outcome)) {
    // A challenge is a string of base64 (quoted, or a literal when long).
    append_string(out_, sasl::base64_encode(challenge->data));
    out_ += "\r\n";
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
  queued_ = on_sasl(sasl_.supply_scram_credential(std::move(credential)));
}

void ServerEngine::login_succeeded(std::string owner) {
  if (pending_ != Pending::kLogin) {
    return;
  }
  pending_ = Pending::kNone;
  owner_ = std::move(owner);
  state_ = State::kAuthenticated;
  write({Status::kOk, ResponseCode::kNone, "Logged in"});
}

void ServerEngine::login_failed(ResponseCode code, std::string_view text) {
  if (pending_ != Pending::kLogin && pending_ != Pending::kScramCredential &&
      pending_ != Pending::kSaslFailed) {
    return;
  }
  pending_ = Pending::kNone;
  sasl_.reset();
  write({Status::kNo, code, std::string(text)});
}

void ServerEngine::tls_started(bool plaintext_allowed, sasl::ChannelBindings bindings) {
  if (pending_ != Pending::kStartTls) {
    return;
  }
  pending_ = Pending::kNone;
  // Anything the client sent after STARTTLS arrived in the clear: dropped
  // (RFC 5804 §2: STARTTLS ends a pipelined group; RFC 3207 §4.2's attack).
  in_.clear();
  in_pos_ = 0;
  reset_parser();
  options_.tls_active = true;
  options_.plaintext_allowed = plaintext_allowed;
  options_.sasl.channel_bindings = std::move(bindings);
  // RFC 5804 §2.2: the capabilities again, without STARTTLS.
  write_capabilities();
  write({Status::kOk, ResponseCode::kNone, "TLS negotiation successful"});
}

void ServerEngine::answer(const Response& response) {
  if (pending_ != Pending::kCommand) {
    return;
  }
  pending_ = Pending::kNone;
  write(response);
}

void ServerEngine::send_script_list(const std::vector<ListedScript>& scripts) {
  if (pending_ != Pending::kCommand) {
    return;
  }
  pending_ = Pending::kNone;
  for (const auto& script : scripts) {
    append_string(out_, script.name);
    out_ += script.active ? " ACTIVE\r\n" : "\r\n";
  }
  write({Status::kOk, ResponseCode::kNone, "Listscripts completed"});
}

void ServerEngine::send_script(std::string_view text) {
  if (pending_ != Pending::kCommand) {
    return;
  }
  pending_ = Pending::kNone;
  // RFC 5804 §2.9: the script as a string (always a literal: scripts span lines).
  out_ += '{';
  out_ += std::to_string(text.size());
  out_ += "}\r\n";
  out_.append(text);
  out_ += "\r\n";
  write({Status::kOk, ResponseCode::kNone, "Getscript completed"});
}

}  // namespace tern::managesieve
