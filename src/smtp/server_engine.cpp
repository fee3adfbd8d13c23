// SPDX-License-Identifier: Apache-2.0
#include "smtp/server_engine.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "sasl/base64.hpp"

namespace tern::smtp {
namespace {

// RFC 3461 §4.4: ENVID is at most 100 characters; §4.2: ORCPT at most 500.
constexpr std::size_t kMaxEnvidBytes = 100;
constexpr std::size_t kMaxOrcptBytes = 500;
// Input beyond this many consumed bytes is compacted away.
constexpr std::size_t kCompactThreshold = 64 * 1024;

using ascii::iequals;

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool parse_decimal(std::string_view s, std::uint64_t& out) {
  // 18 digits cannot overflow 64 bits and exceed every limit anyway.
  if (s.empty() || s.size() > 18) {
    return false;
  }
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = value;
  return true;
}

// RFC 5321 §4.1.1.1: a domain or address literal after HELO/EHLO. Checked
// loosely (printable ASCII, no spaces), as Postfix does by default: the name is
// only recorded in Received:, and clients send all sorts of names.
bool is_helo_name(std::string_view s) {
  if (s.empty() || s.size() > 255) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

// RFC 3461 §4: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool is_keyword(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-') {
      return false;
    }
  }
  return s.front() != '-';
}

struct Param {
  std::string keyword;  // upper case
  std::optional<std::string_view> value;
};

// Splits "K1=V1 K2" (RFC 5321 §4.1.2 Mail-parameters) into parameters; false on
// syntax errors (an empty or malformed keyword, a control character in a value).
bool split_params(std::string_view text, std::vector<Param>& out) {
  while (!text.empty()) {
    while (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
    if (text.empty()) {
      break;
    }
    auto space = text.find(' ');
    std::string_view item = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space);
    auto eq = item.find('=');
    std::string_view keyword = item.substr(0, eq);
    if (!is_keyword(keyword)) {
      return false;
    }
    Param param{ascii::upper(keyword), std::nullopt};
    if (eq != std::string_view::npos) {
      std::string_view value = item.substr(eq + 1);
      // esmtp-value = 1*(%d33-60 / %d62-126), widened to UTF-8 for RFC 6531.
      if (value.empty() || std::any_of(value.begin(), value.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u < 0x21 || u == '=' || u == 0x7f;
          })) {
        return false;
      }
      param.value = value;
    }
    for (const auto& seen : out) {
      if (seen.keyword == param.keyword) {
        return false;  // a repeated parameter is ambiguous
      }
    }
    out.push_back(std::move(param));
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;  // RFC 3461 §4: hexchar is upper case only
}

Reply syntax_error(std::string text) {
  return Reply::of(501, "5.5.4", std::move(text));
}

Reply bad_sequence(std::string text) {
  return Reply::of(503, "5.5.1", std::move(text));
}

}  // namespace

// ----- codecs

Result<std::string> decode_xtext(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto u = static_cast<unsigned char>(text[i]);
    if (text[i] == '+') {
      if (i + 2 >= text.size()) {
        return fail(ErrorCode::kInvalidInput, "truncated xtext escape");
      }
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return fail(ErrorCode::kInvalidInput, "bad xtext escape");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (u < 0x21 || u > 0x7e || text[i] == '=') {
      return fail(ErrorCode::kInvalidInput, "character not allowed in xtext");
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string encode_xtext(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == '+' || c == '=') {
      out += '+';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// ----- the engine

ServerEngine::ServerEngine(Options options)
    : options_(std::move(options)), tls_active_(options_.tls_active) {
  std::string banner = options_.hostname;
  banner += options_.mode == Mode::kLmtp ? " LMTP " : " ESMTP ";
  banner += options_.greeting;
  send(Reply::of(220, "", banner));
}

void ServerEngine::receive(std::string_view bytes) {
  if (state_ == State::kClosed) {
    return;
  }
  compact_input();
  in_.append(bytes.data(), bytes.size());
}

void ServerEngine::consume_output(std::size_t n) {
  out_pos_ += std::min(n, out_.size() - out_pos_);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

void ServerEngine::compact_input() {
  if (pos_ == in_.size()) {
    in_.clear();
    pos_ = 0;
    scanned_ = 0;
  } else if (pos_ > kCompactThreshold) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
}

void ServerEngine::send(const Reply& reply) {
  out_ += render(reply);
}

void ServerEngine::set_auth_mechanisms(std::vector<std::string> mechanisms) {
  options_.auth_mechanisms = std::move(mechanisms);
}

bool ServerEngine::auth_offered() const {
  if (options_.mode == Mode::kLmtp || options_.auth_mechanisms.empty()) {
    return false;
  }
  return tls_active_ || !options_.auth_requires_tls;
}

std::vector<std::string> ServerEngine::capabilities() const {
  std::vector<std::string> caps = {"PIPELINING",
                                   "SIZE " + std::to_string(options_.limits.max_message_bytes),
                                   "8BITMIME",
                                   "SMTPUTF8",
                                   "ENHANCEDSTATUSCODES",
                                   "CHUNKING",
                                   "BINARYMIME"};
  if (options_.dsn) {
    caps.emplace_back("DSN");
  }
  if (options_.starttls && !tls_active_) {
    caps.emplace_back("STARTTLS");
  }
  if (auth_offered()) {
    std::string auth = "AUTH";
    for (const auto& mech : options_.auth_mechanisms) {
      bool plus = mech.size() > 5 && mech.ends_with("-PLUS");
      if (!plus || tls_active_) {
        auth += ' ';
        auth += mech;
      }
    }
    caps.push_back(std::move(auth));
  }
  if (options_.requiretls && tls_active_) {
    caps.emplace_back("REQUIRETLS");
  }
  return caps;
}

void ServerEngine::reset_transaction() {
  in_transaction_ = false;
  reverse_path_ = address::ReversePath{};
  mail_params_ = MailParams{};
  recipients_.clear();
  pending_rcpt_.reset();
  pending_mail_.reset();
  content_.clear();
  used_bdat_ = false;
}

ServerEngine::Step ServerEngine::error(const Reply& reply) {
  send(reply);
  ++errors_;
  if (errors_ >= options_.limits.max_errors) {
    send(Reply::of(421, "4.7.0", options_.hostname + " too many errors, closing connection"));
    state_ = State::kClosed;
    return Close{};
  }
  return std::nullopt;
}

ServerEngine::Step ServerEngine::junk(const Reply& reply) {
  send(reply);
  ++junk_;
  if (junk_ > options_.limits.max_junk_commands) {
    send(Reply::of(421, "4.7.0", options_.hostname + " too many commands, closing connection"));
    state_ = State::kClosed;
    return Close{};
  }
  return std::nullopt;
}

ServerEngine::LineStatus ServerEngine::take_line(std::size_t limit, std::string_view& line) {
  for (;;) {
    auto at = in_.find_first_of("\r\n", pos_ + scanned_);
    if (at == std::string::npos) {
      scanned_ = in_.size() - pos_;
      if (skipping_line_) {
        // Keep nothing of an over-long line; the terminator is still to come.
        pos_ = in_.size();
        scanned_ = 0;
        return LineStatus::kNeedMore;
      }
      if (in_.size() - pos_ > limit) {
        skipping_line_ = true;
        pos_ = in_.size();
        scanned_ = 0;
      }
      return LineStatus::kNeedMore;
    }
    if (in_[at] == '\n' || (at + 1 < in_.size() && in_[at + 1] != '\n')) {
      // RFC 5321 §2.3.8: only CRLF ends a line; a bare LF or CR is the seed
      // of SMTP smuggling, so it is never taken as a line end.
      return LineStatus::kBareNewline;
    }
    if (at + 1 == in_.size()) {
      scanned_ = at - pos_;  // a CR at the end: wait for its LF
      return LineStatus::kNeedMore;
    }
    std::string_view found(in_.data() + pos_, at - pos_);
    pos_ = at + 2;
    scanned_ = 0;
    if (skipping_line_) {
      skipping_line_ = false;
      return LineStatus::kTooLong;
    }
    if (found.size() > limit) {
      return LineStatus::kTooLong;
    }
    line = found;
    return LineStatus::kLine;
  }
}

Event ServerEngine::next() {
  // A loop rather than recursion: a pipelined burst of commands that need no
  // answer from the caller must not grow the stack.
  for (;;) {
    Step result = step();
    if (result) {
      return std::move(*result);
    }
  }
}

ServerEngine::Step ServerEngine::step() {
  switch (state_) {
    case State::kClosed:
      return Close{};
    case State::kAwaitMail:
    case State::kAwaitRcpt:
    case State::kAwaitMessage:
    case State::kAwaitAuth:
    case State::kStartTls:
      // Misuse by the caller: nothing to do until it answers.
      return NeedInput{};
    case State::kData:
      return read_data();
    case State::kBdat:
      return read_bdat();
    case State::kAuthLine:
    case State::kCommand:
      break;
  }
  // AUTH may carry an initial response as long as an AUTH line (RFC 4954 §4);
  // other commands are held to the command limit in handle_command().
  std::size_t limit = state_ == State::kAuthLine ? options_.limits.max_auth_line_bytes
                                                 : std::max(options_.limits.max_command_line_bytes,
                                                            options_.limits.max_auth_line_bytes);
  std::string_view line;
  switch (take_line(limit, line)) {
    case LineStatus::kNeedMore:
      return NeedInput{};
    case LineStatus::kTooLong:
      if (state_ == State::kAuthLine) {
        state_ = State::kCommand;
        send(Reply::of(500, "5.5.6", "authentication exchange line too long"));
        return AuthAborted{};
      }
      return error(Reply::of(500, "5.5.2", "line too long (RFC 5321 §4.5.3.1.4)"));
    case LineStatus::kBareNewline:
      // Postfix smtpd_forbid_bare_newline = yes: reply and disconnect, since the
      // client and we no longer agree where commands end.
      send(Reply::of(521, "5.5.2", options_.hostname + " bare <CR> or <LF> received"));
      state_ = State::kClosed;
      return Close{};
    case LineStatus::kLine:
      break;
  }
  if (state_ == State::kAuthLine) {
    return handle_auth_line(line);
  }
  return handle_command(line);
}

ServerEngine::Step ServerEngine::handle_command(std::string_view line) {
  auto space = line.find(' ');
  std::string_view verb = line.substr(0, space);
  std::string_view arg =
      space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  if (!iequals(verb, "AUTH") && line.size() > options_.limits.max_command_line_bytes) {
    return error(Reply::of(500, "5.5.2", "line too long (RFC 5321 §4.5.3.1.4)"));
  }
  if (std::find(line.begin(), line.end(), '\0') != line.end()) {
    return error(Reply::of(500, "5.5.2", "NUL in command"));
  }
  if (iequals(verb, "HELO") || iequals(verb, "EHLO") || iequals(verb, "LHLO")) {
    return handle_hello(verb, arg);
  }
  if (iequals(verb, "MAIL")) {
    return handle_mail(arg);
  }
  if (iequals(verb, "RCPT")) {
    return handle_rcpt(arg);
  }
  if (iequals(verb, "DATA")) {
    return handle_data(arg);
  }
  if (iequals(verb, "BDAT")) {
    return handle_bdat(arg);
  }
  if (iequals(verb, "AUTH")) {
    return handle_auth(arg);
  }
  if (iequals(verb, "RSET")) {
    if (!arg.empty()) {
      return error(syntax_error("RSET takes no arguments"));
    }
    reset_transaction();
    return junk(Reply::of(250, "2.0.0", "Ok"));
  }
  if (iequals(verb, "NOOP")) {
    // RFC 5321 §4.1.1.9: the argument, if any, is ignored.
    return junk(Reply::of(250, "2.0.0", "Ok"));
  }
  if (iequals(verb, "QUIT")) {
    if (!arg.empty()) {
      return error(syntax_error("QUIT takes no arguments"));
    }
    send(Reply::of(221, "2.0.0", "Bye"));
    state_ = State::kClosed;
    return Close{};
  }
  if (iequals(verb, "VRFY")) {
    if (arg.empty()) {
      return error(syntax_error("VRFY requires an address"));
    }
    // RFC 5321 §3.5.3: 252 neither confirms nor denies, so VRFY cannot be used
    // to harvest addresses.
    return junk(
        Reply::of(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery"));
  }
  if (iequals(verb, "EXPN")) {
    return junk(Reply::of(502, "5.5.1", "EXPN not available"));
  }
  if (iequals(verb, "HELP")) {
    return junk(Reply::of(214, "2.0.0", "See RFC 5321"));
  }
  if (iequals(verb, "STARTTLS")) {
    if (!arg.empty()) {
      return error(syntax_error("STARTTLS takes no arguments"));
    }
    if (!options_.starttls) {
      return error(Reply::of(502, "5.5.1", "STARTTLS not available"));
    }
    if (tls_active_) {
      return error(bad_sequence("TLS already active"));
    }
    if (helo_.empty()) {
      return error(bad_sequence("send EHLO first"));
    }
    send(Reply::of(220, "2.0.0", "Ready to start TLS"));
    // RFC 3207 §4.2: anything the client sent after STARTTLS was sent in the clear
    // before the handshake; it must not be taken as commands of the TLS session.
    in_.clear();
    pos_ = 0;
    scanned_ = 0;
    state_ = State::kStartTls;
    return StartTls{};
  }
  return error(Reply::of(500, "5.5.1", "command unrecognized"));
}

ServerEngine::Step ServerEngine::handle_hello(std::string_view verb, std::string_view arg) {
  bool lhlo = iequals(verb, "LHLO");
  if (lhlo != (options_.mode == Mode::kLmtp)) {
    // RFC 2033 §4.1: LMTP has LHLO instead of HELO/EHLO, and SMTP has no LHLO.
    return error(Reply::of(500, "5.5.1", lhlo ? "command unrecognized" : "use LHLO (RFC 2033)"));
  }
  while (!arg.empty() && arg.back() == ' ') {
    arg.remove_suffix(1);
  }
  // RFC 5321 §4.1.1.1: EHLO domain; Postfix ignores anything after the name.
  std::string_view name = arg.substr(0, arg.find(' '));
  if (!is_helo_name(name)) {
    return error(syntax_error(std::string(verb) + " requires a domain name or address literal"));
  }
  bool repeat = !helo_.empty();
  reset_transaction();
  helo_ = std::string(name);
  esmtp_ = !iequals(verb, "HELO");
  Reply reply;
  reply.code = 250;
  reply.lines.push_back(options_.hostname);
  if (esmtp_) {
    for (auto& cap : capabilities()) {
      reply.lines.push_back(std::move(cap));
    }
  }
  if (repeat) {
    return junk(reply);
  }
  send(reply);
  return std::nullopt;
}

ServerEngine::Step ServerEngine::handle_mail(std::string_view arg) {
  if (!istarts_with(arg, "FROM:")) {
    return error(syntax_error("syntax: MAIL FROM:<address>"));
  }
  arg.remove_prefix(5);
  if (helo_.empty()) {
    return error(
        bad_sequence(options_.mode == Mode::kLmtp ? "send LHLO first" : "send HELO/EHLO first"));
  }
  if (in_transaction_) {
    return error(bad_sequence("nested MAIL command"));
  }
  if (options_.require_auth && !authenticated_) {
    return error(Reply::of(530, "5.7.0", "authentication required"));
  }
  // The path may be UTF-8 only with SMTPUTF8, a parameter that follows it: find
  // where it ends permissively, read the parameters, then parse it for real.
  address::PathOptions path_options;
  path_options.smtputf8 = true;
  auto probe = address::parse_reverse_path(arg, path_options);
  if (!probe) {
    return error(Reply::of(probe.error().code == ErrorCode::kPermissionDenied ? 550 : 501,
                           probe.error().code == ErrorCode::kPermissionDenied ? "5.6.7" : "5.1.7",
                           "bad sender address syntax: " + probe.error().message));
  }
  std::vector<Param> params;
  if (!split_params(arg.substr(probe->end), params)) {
    return error(syntax_error("bad MAIL parameter syntax"));
  }
  if (!params.empty() && !esmtp_) {
    return error(Reply::of(555, "5.5.4", "MAIL parameters need EHLO"));
  }
  MailParams out;
  for (const auto& p : params) {
    std::string_view value = p.value.value_or("");
    if (p.keyword == "SIZE" && p.value) {
      // RFC 1870 §6: a declared size over the limit is refused before the data.
      std::uint64_t size = 0;
      if (!parse_decimal(value, size)) {
        return error(syntax_error("bad SIZE value"));
      }
      if (size > options_.limits.max_message_bytes) {
        return error(Reply::of(552, "5.3.4", "message size exceeds fixed maximum message size"));
      }
      out.size = size;
    } else if (p.keyword == "BODY" && p.value) {
      if (iequals(value, "7BIT")) {
        out.body = Body::k7Bit;
      } else if (iequals(value, "8BITMIME")) {
        out.body = Body::k8BitMime;
      } else if (iequals(value, "BINARYMIME")) {
        out.body = Body::kBinaryMime;
      } else {
        return error(Reply::of(555, "5.5.4", "unsupported BODY type"));
      }
    } else if (p.keyword == "SMTPUTF8" && !p.value) {
      out.smtputf8 = true;
    } else if (p.keyword == "RET" && p.value && options_.dsn) {
      if (!iequals(value, "FULL") && !iequals(value, "HDRS")) {
        return error(syntax_error("RET must be FULL or HDRS"));
      }
      out.ret = ascii::upper(value);
    } else if (p.keyword == "ENVID" && p.value && options_.dsn) {
      auto envid = decode_xtext(value);
      if (!envid || value.size() > kMaxEnvidBytes) {
        return error(syntax_error("bad ENVID value"));
      }
      out.envid = std::move(*envid);
    } else if (p.keyword == "AUTH" && p.value && auth_offered()) {
      // RFC 4954 §5: accepted and recorded; trusted only from authenticated
      // clients, which the caller decides.
      auto auth = decode_xtext(value);
      if (!auth) {
        return error(syntax_error("bad AUTH value"));
      }
      out.auth = std::move(*auth);
    } else if (p.keyword == "REQUIRETLS" && !p.value && options_.requiretls && tls_active_) {
      out.requiretls = true;
    } else {
      // RFC 5321 §4.1.1.11: unrecognized or unimplemented parameter.
      return error(Reply::of(555, "5.5.4", "unsupported parameter " + p.keyword));
    }
  }
  address::ReversePath path = *probe;
  if (!out.smtputf8) {
    path_options.smtputf8 = false;
    auto strict = address::parse_reverse_path(arg, path_options);
    if (!strict) {
      bool utf8 = strict.error().code == ErrorCode::kPermissionDenied;
      return error(Reply::of(utf8 ? 550 : 501, utf8 ? "5.6.7" : "5.1.7",
                             (utf8 ? "UTF-8 address needs SMTPUTF8: " : "bad sender address: ") +
                                 strict.error().message));
    }
    path = *strict;
  }
  pending_mail_ = MailFrom{std::move(path), std::move(out)};
  state_ = State::kAwaitMail;
  return *pending_mail_;
}

ServerEngine::Step ServerEngine::handle_rcpt(std::string_view arg) {
  if (!istarts_with(arg, "TO:")) {
    return error(syntax_error("syntax: RCPT TO:<address>"));
  }
  arg.remove_prefix(3);
  if (!in_transaction_) {
    return error(bad_sequence("need MAIL command"));
  }
  if (recipients_.size() >= options_.limits.max_recipients) {
    // RFC 5321 §4.5.3.1.10: 452 for too many recipients, so the client sends the
    // rest in another transaction.
    send(Reply::of(452, "4.5.3", "too many recipients"));
    return std::nullopt;
  }
  address::PathOptions path_options;
  path_options.smtputf8 = mail_params_.smtputf8;
  auto path = address::parse_forward_path(arg, path_options);
  if (!path) {
    bool utf8 = path.error().code == ErrorCode::kPermissionDenied;
    return error(Reply::of(utf8 ? 553 : 501, utf8 ? "5.6.7" : "5.1.3",
                           (utf8 ? "UTF-8 address needs SMTPUTF8: " : "bad recipient address: ") +
                               path.error().message));
  }
  std::vector<Param> params;
  if (!split_params(arg.substr(path->end), params)) {
    return error(syntax_error("bad RCPT parameter syntax"));
  }
  if (!params.empty() && !esmtp_) {
    return error(Reply::of(555, "5.5.4", "RCPT parameters need EHLO"));
  }
  RcptParams out;
  for (const auto& p : params) {
    std::string_view value = p.value.value_or("");
    if (p.keyword == "NOTIFY" && p.value && options_.dsn) {
      // RFC 3461 §4.1: "NEVER" alone, or a list of SUCCESS, FAILURE, DELAY.
      std::string upper_value = ascii::upper(value);
      bool valid = true;
      bool never = false;
      std::size_t count = 0;
      std::string_view rest = upper_value;
      while (valid) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        ++count;
        if (item == "NEVER") {
          never = true;
        } else if (item != "SUCCESS" && item != "FAILURE" && item != "DELAY") {
          valid = false;
        }
        if (comma == std::string_view::npos) {
          break;
        }
        rest.remove_prefix(comma + 1);
      }
      if (!valid || (never && count > 1)) {
        return error(syntax_error("bad NOTIFY value"));
      }
      out.notify = std::move(upper_value);
    } else if (p.keyword == "ORCPT" && p.value && options_.dsn) {
      // RFC 3461 §4.2: addr-type ";" xtext.
      auto semi = value.find(';');
      if (semi == std::string_view::npos || semi == 0 || value.size() > kMaxOrcptBytes ||
          !is_keyword(value.substr(0, semi))) {
        return error(syntax_error("bad ORCPT value"));
      }
      auto decoded = decode_xtext(value.substr(semi + 1));
      if (!decoded || decoded->empty()) {
        return error(syntax_error("bad ORCPT value"));
      }
      out.orcpt = ascii::upper(value.substr(0, semi)) + ";" + *decoded;
    } else {
      return error(Reply::of(555, "5.5.4", "unsupported parameter " + p.keyword));
    }
  }
  pending_rcpt_ = Recipient{std::move(*path), std::move(out)};
  state_ = State::kAwaitRcpt;
  return RcptTo{*pending_rcpt_};
}

void ServerEngine::answer(const Reply& reply) {
  if (state_ == State::kAwaitMail) {
    state_ = State::kCommand;
    if (reply.is_positive() && pending_mail_) {
      in_transaction_ = true;
      reverse_path_ = std::move(pending_mail_->path);
      mail_params_ = std::move(pending_mail_->params);
    }
    pending_mail_.reset();
  } else if (state_ == State::kAwaitRcpt) {
    state_ = State::kCommand;
    if (reply.is_positive() && pending_rcpt_) {
      recipients_.push_back(std::move(*pending_rcpt_));
    }
    pending_rcpt_.reset();
  } else {
    return;  // nothing pending: ignore rather than corrupt the session
  }
  send(reply);
  if (!reply.is_positive()) {
    ++errors_;
  }
  if (reply.code == 421) {
    state_ = State::kClosed;
  } else if (errors_ >= options_.limits.max_errors) {
    send(Reply::of(421, "4.7.0", options_.hostname + " too many errors, closing connection"));
    state_ = State::kClosed;
  }
}

ServerEngine::Step ServerEngine::handle_data(std::string_view arg) {
  if (!arg.empty()) {
    return error(syntax_error("DATA takes no arguments"));
  }
  if (!in_transaction_) {
    return error(bad_sequence("need MAIL command"));
  }
  if (recipients_.empty()) {
    // RFC 2920 §3.1: with pipelining, DATA after all RCPTs failed gets 554.
    return error(Reply::of(554, "5.5.1", "no valid recipients"));
  }
  if (used_bdat_) {
    return error(bad_sequence("DATA after BDAT in one transaction (RFC 3030 §2)"));
  }
  if (mail_params_.body == Body::kBinaryMime) {
    return error(bad_sequence("BODY=BINARYMIME requires BDAT (RFC 3030 §3)"));
  }
  send(Reply::of(354, "", "End data with <CR><LF>.<CR><LF>"));
  state_ = State::kData;
  content_.clear();
  data_bad_newline_ = false;
  data_line_too_long_ = false;
  data_too_big_ = false;
  data_line_bytes_ = 0;
  data_mid_line_ = false;
  return read_data();
}

// DATA framing, RFC 5321 §4.1.1.4 and §4.5.2. Only CRLF "." CRLF ends the data;
// a "." starting a line is removed (dot-stuffing). A bare CR or LF is kept as
// content but fails the message (see the class comment); the line after it is
// not a new line, so "<LF>.<LF>" and "<CR>.<CR>" can never end the data.
ServerEngine::Step ServerEngine::read_data() {
  for (;;) {
    std::size_t available = in_.size() - pos_;
    if (available == 0) {
      return NeedInput{};
    }
    std::string_view rest(in_.data() + pos_, available);
    if (!data_mid_line_ && rest[0] == '.') {
      // A line starting with ".": the end marker or a stuffed dot.
      if (rest.size() < 3 && (rest.size() < 2 || rest[1] == '\r')) {
        return NeedInput{};  // "." or ".\r": undecided until more arrives
      }
      if (rest[1] == '\r' && rest[2] == '\n') {
        pos_ += 3;
        return finish_message();
      }
      ++pos_;  // §4.5.2: drop the stuffed dot
      data_mid_line_ = true;
      continue;
    }
    auto at = rest.find_first_of("\r\n");
    std::size_t run = at == std::string_view::npos ? rest.size() : at;
    if (run > 0) {
      if (!data_too_big_) {
        if (content_.size() + run > options_.limits.max_message_bytes) {
          data_too_big_ = true;
          content_.clear();
          content_.shrink_to_fit();
        } else {
          content_.append(rest.data(), run);
        }
      }
      data_line_bytes_ += run;
      data_mid_line_ = true;
      if (options_.limits.max_text_line_bytes != 0 &&
          data_line_bytes_ > options_.limits.max_text_line_bytes) {
        data_line_too_long_ = true;
      }
      pos_ += run;
      continue;
    }
    // rest[0] is CR or LF.
    if (rest[0] == '\r') {
      if (rest.size() < 2) {
        return NeedInput{};
      }
      if (rest[1] == '\n') {
        if (!data_too_big_) {
          if (content_.size() + 2 > options_.limits.max_message_bytes) {
            data_too_big_ = true;
            content_.clear();
          } else {
            content_.append("\r\n");
          }
        }
        pos_ += 2;
        data_line_bytes_ = 0;
        data_mid_line_ = false;
        continue;
      }
    }
    // A bare CR or LF: content, not a line end.
    data_bad_newline_ = true;
    if (!data_too_big_ && content_.size() < options_.limits.max_message_bytes) {
      content_ += rest[0];
    }
    ++pos_;
    ++data_line_bytes_;
    data_mid_line_ = true;
  }
}

ServerEngine::Step ServerEngine::handle_bdat(std::string_view arg) {
  // RFC 3030 §2: BDAT chunk-size [SP "LAST"]. The chunk follows the CRLF at once
  // and is always read, even when the command fails, to stay in sync.
  auto space = arg.find(' ');
  std::string_view size_text = arg.substr(0, space);
  std::string_view last_text = space == std::string_view::npos ? "" : arg.substr(space + 1);
  std::uint64_t size = 0;
  if (!parse_decimal(size_text, size) || (!last_text.empty() && !iequals(last_text, "LAST"))) {
    // Without a valid size we cannot know where the chunk ends: close.
    send(syntax_error("syntax: BDAT <size> [LAST]"));
    send(Reply::of(421, "4.5.0", options_.hostname + " lost synchronization, closing connection"));
    state_ = State::kClosed;
    return Close{};
  }
  bdat_remaining_ = static_cast<std::size_t>(size);
  bdat_last_ = !last_text.empty();
  bdat_discard_ = false;
  if (!esmtp_) {
    bdat_discard_ = true;
    bdat_reply_ = bad_sequence("BDAT needs EHLO");
  } else if (!in_transaction_) {
    bdat_discard_ = true;
    bdat_reply_ = bad_sequence("need MAIL command");
  } else if (recipients_.empty()) {
    bdat_discard_ = true;
    bdat_reply_ = Reply::of(554, "5.5.1", "no valid recipients");
  } else if (content_.size() + bdat_remaining_ > options_.limits.max_message_bytes ||
             bdat_remaining_ > options_.limits.max_message_bytes) {
    bdat_discard_ = true;
    bdat_reply_ = Reply::of(552, "5.3.4", "message size exceeds fixed maximum message size");
    // RFC 3030 §2: after a failed chunk the transaction is void.
    reset_transaction();
  } else {
    if (!used_bdat_) {
      content_.clear();
    }
    used_bdat_ = true;
  }
  state_ = State::kBdat;
  return read_bdat();
}

ServerEngine::Step ServerEngine::read_bdat() {
  std::size_t available = in_.size() - pos_;
  std::size_t take = std::min(available, bdat_remaining_);
  if (!bdat_discard_) {
    content_.append(in_.data() + pos_, take);
  }
  pos_ += take;
  bdat_remaining_ -= take;
  if (bdat_remaining_ > 0) {
    return NeedInput{};
  }
  state_ = State::kCommand;
  if (bdat_discard_) {
    return error(bdat_reply_);
  }
  if (!bdat_last_) {
    send(Reply::of(250, "2.0.0", std::to_string(content_.size()) + " octets received"));
    return std::nullopt;
  }
  return finish_message();
}

ServerEngine::Step ServerEngine::finish_message() {
  Reply failure;
  bool failed = true;
  if (data_too_big_) {
    failure = Reply::of(552, "5.3.4", "message size exceeds fixed maximum message size");
  } else if (data_bad_newline_) {
    failure = Reply::of(550, "5.6.0",
                        "message contains bare <CR> or <LF>; lines must end with <CR><LF> "
                        "(RFC 5321 §2.3.8)");
  } else if (data_line_too_long_) {
    failure = Reply::of(550, "5.6.0", "message line longer than 998 octets (RFC 5321 §4.5.3.1.6)");
  } else {
    failed = false;
  }
  data_too_big_ = data_bad_newline_ = data_line_too_long_ = false;
  data_line_bytes_ = 0;
  data_mid_line_ = false;
  if (failed) {
    std::size_t replies = options_.mode == Mode::kLmtp ? recipients_.size() : 1;
    for (std::size_t i = 0; i < replies; ++i) {
      send(failure);
    }
    reset_transaction();
    state_ = State::kCommand;
    return std::nullopt;
  }
  Message message{std::move(reverse_path_), std::move(mail_params_), std::move(recipients_),
                  std::move(content_), used_bdat_};
  message_recipients_ = message.recipients.size();
  reset_transaction();
  state_ = State::kAwaitMessage;
  return message;
}

void ServerEngine::answer_message(const std::vector<Reply>& replies) {
  if (state_ != State::kAwaitMessage) {
    return;
  }
  std::size_t expected = options_.mode == Mode::kLmtp ? message_recipients_ : 1;
  bool any_ok = false;
  for (std::size_t i = 0; i < expected; ++i) {
    // A short vector repeats its last reply, so the client always gets the count
    // RFC 2033 §4.2 promises it.
    const Reply& reply = replies.empty() ? Reply::of(451, "4.3.0", "no reply")
                                         : replies[std::min(i, replies.size() - 1)];
    send(reply);
    any_ok = any_ok || reply.is_positive();
  }
  if (any_ok) {
    junk_ = 0;
  }
  state_ = State::kCommand;
}

ServerEngine::Step ServerEngine::handle_auth(std::string_view arg) {
  if (!auth_offered()) {
    if (options_.mode != Mode::kLmtp && !options_.auth_mechanisms.empty() && !tls_active_) {
      return error(Reply::of(538, "5.7.11", "encryption required for authentication"));
    }
    return error(Reply::of(502, "5.5.1", "AUTH not available"));
  }
  if (!esmtp_) {
    return error(bad_sequence("send EHLO first"));
  }
  if (authenticated_) {
    return error(bad_sequence("already authenticated"));  // RFC 4954 §4
  }
  if (in_transaction_) {
    return error(bad_sequence("AUTH not allowed during a mail transaction"));
  }
  auto space = arg.find(' ');
  std::string mechanism = ascii::upper(arg.substr(0, space));
  std::string_view initial = space == std::string_view::npos ? "" : arg.substr(space + 1);
  bool known = false;
  for (const auto& mech : options_.auth_mechanisms) {
    bool plus = mech.ends_with("-PLUS");
    if (mech == mechanism && (!plus || tls_active_)) {
      known = true;
    }
  }
  if (mechanism.empty()) {
    return error(syntax_error("syntax: AUTH mechanism [initial-response]"));
  }
  if (!known) {
    return error(Reply::of(504, "5.5.4", "unrecognized authentication type"));
  }
  AuthStart start{mechanism, std::nullopt};
  if (!initial.empty()) {
    if (initial == "=") {
      start.initial_response = std::string();  // RFC 4954 §4: "=" is an empty response
    } else {
      auto decoded = sasl::base64_decode(initial);
      if (!decoded) {
        return error(Reply::of(501, "5.5.2", "cannot decode initial response"));
      }
      start.initial_response = std::move(*decoded);
    }
  }
  state_ = State::kAwaitAuth;
  return start;
}

ServerEngine::Step ServerEngine::handle_auth_line(std::string_view line) {
  if (line == "*") {
    state_ = State::kCommand;
    send(Reply::of(501, "5.0.0", "authentication cancelled"));
    return AuthAborted{};
  }
  auto decoded = sasl::base64_decode(line);
  if (!decoded) {
    state_ = State::kCommand;
    send(Reply::of(501, "5.5.2", "cannot decode response"));
    ++errors_;
    return AuthAborted{};
  }
  state_ = State::kAwaitAuth;
  return AuthResponse{std::move(*decoded)};
}

void ServerEngine::auth_challenge(std::string_view challenge) {
  if (state_ != State::kAwaitAuth) {
    return;
  }
  out_ += "334 ";
  out_ += sasl::base64_encode(challenge);
  out_ += "\r\n";
  state_ = State::kAuthLine;
}

void ServerEngine::auth_finish(const Reply& reply) {
  if (state_ != State::kAwaitAuth) {
    return;
  }
  send(reply);
  state_ = State::kCommand;
  if (reply.code == 235) {
    authenticated_ = true;
  } else {
    ++errors_;
    if (reply.code == 421) {
      state_ = State::kClosed;
    }
  }
}

void ServerEngine::tls_started() {
  if (state_ != State::kStartTls) {
    return;
  }
  // RFC 3207 §4.2: forget everything learnt before the handshake.
  tls_active_ = true;
  authenticated_ = false;
  helo_.clear();
  esmtp_ = false;
  reset_transaction();
  in_.clear();
  pos_ = 0;
  scanned_ = 0;
  skipping_line_ = false;
  state_ = State::kCommand;
}

void ServerEngine::shut_down(const Reply& reply) {
  if (state_ == State::kClosed) {
    return;
  }
  send(reply);
  state_ = State::kClosed;
}

}  // namespace tern::smtp
