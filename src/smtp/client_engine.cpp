// SPDX-License-Identifier: Apache-2.0
#include "smtp/client_engine.hpp"

#include <algorithm>
#include <utility>

#include "base/ascii.hpp"
#include "sasl/base64.hpp"

namespace tern::smtp {

namespace {

using Status = RecipientResult::Status;

enum class Phase {
  kGreeting,     // waiting for the 220
  kHello,        // EHLO/LHLO/HELO sent
  kStartTls,     // STARTTLS sent
  kHandshake,    // StartTls returned; waiting for tls_started()
  kAuth,         // AUTH exchange running
  kIdle,         // Ready
  kTransaction,  // a message in flight
  kQuit,         // QUIT sent
  kClosed,
};

enum class Command {
  kGreeting,
  kEhlo,
  kHelo,
  kStartTls,
  kAuth,
  kRset,
  kMail,
  kRcpt,
  kData,
  kDataEnd,
  kBdat,
  kBdatLast,
  kQuit,
};

struct Pending {
  Command command;
  std::size_t rcpt = 0;  // kRcpt: the recipient's index
};

// "(in reply to RCPT TO command)", Postfix's wording, so a DSN reader knows
// which step failed.
std::string_view command_phrase(Command command) {
  switch (command) {
    case Command::kGreeting:
      return "initial greeting";
    case Command::kEhlo:
      return "EHLO command";
    case Command::kHelo:
      return "HELO command";
    case Command::kStartTls:
      return "STARTTLS command";
    case Command::kAuth:
      return "AUTH command";
    case Command::kRset:
      return "RSET command";
    case Command::kMail:
      return "MAIL FROM command";
    case Command::kRcpt:
      return "RCPT TO command";
    case Command::kData:
      return "DATA command";
    case Command::kDataEnd:
      return "end of DATA command";
    case Command::kBdat:
    case Command::kBdatLast:
      return "BDAT command";
    case Command::kQuit:
      return "QUIT command";
  }
  return "command";
}

// The enhanced code of a reply, or the class default (RFC 3463 §3.1: X.0.0).
std::string enhanced_of(const Reply& reply) {
  if (!reply.enhanced.empty()) {
    return reply.enhanced;
  }
  return std::to_string(reply.code / 100) + ".0.0";
}

bool has_non_ascii(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// The header section of a message (up to the first empty line).
std::string_view header_section(std::string_view content) {
  const auto end = content.find("\r\n\r\n");
  return end == std::string_view::npos ? content : content.substr(0, end + 2);
}

}  // namespace

struct ClientEngine::State {
  ClientOptions options;
  ReplyParser parser;
  std::string out;
  Phase phase = Phase::kGreeting;
  std::deque<Pending> pending;
  std::deque<ClientEvent> events;
  bool ready_announced = false;
  std::optional<SessionError> closed_error;
  bool helo_fallback_tried = false;

  // AUTH
  std::unique_ptr<sasl::ScramClient> scram;
  int auth_step = 0;
  bool scram_verified = false;

  // The transaction in flight.
  OutgoingMessage message;
  std::vector<std::optional<RecipientResult>> results;
  std::vector<std::size_t> accepted;  // recipients a 2yz RCPT reply accepted
  bool mail_ok = false;
  bool mail_answered = false;
  bool data_failed = false;       // DATA/BDAT refused; later replies are ignored
  std::size_t lmtp_answered = 0;  // LMTP: per-recipient replies read after the data
  bool transactions_started = false;
  std::vector<std::string> bdat_chunks;  // not pipelined: chunks still to send

  explicit State(ClientOptions o) : options(std::move(o)), parser(options.reply_limits) {}
};

// ----- helpers

std::string dot_stuff(std::string_view content) {
  std::string out;
  out.reserve(content.size() + content.size() / 64 + 5);
  bool line_start = true;
  for (char c : content) {
    // RFC 5321 §4.5.2: a line starting with "." gets one more.
    if (line_start && c == '.') {
      out.push_back('.');
    }
    out.push_back(c);
    line_start = c == '\n';
  }
  if (!out.empty() && !out.ends_with("\r\n")) {
    out += "\r\n";
  }
  out += ".\r\n";
  return out;
}

std::string reply_line(const Reply& reply) {
  std::string out = std::to_string(reply.code);
  if (!reply.enhanced.empty()) {
    out += ' ';
    out += reply.enhanced;
  }
  for (const auto& line : reply.lines) {
    if (!line.empty()) {
      out += ' ';
      out += line;
    }
  }
  // Server text goes into DSNs and logs: no control characters.
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  return out;
}

Capabilities parse_capabilities(const std::vector<std::string>& lines) {
  Capabilities caps;
  caps.esmtp = true;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    const auto space = line.find_first_of(" =");
    const std::string keyword = ascii::upper(line.substr(0, space));
    const std::string_view params =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (keyword == "PIPELINING") {
      caps.pipelining = true;
    } else if (keyword == "CHUNKING") {
      caps.chunking = true;
    } else if (keyword == "BINARYMIME") {
      caps.binarymime = true;
    } else if (keyword == "8BITMIME") {
      caps.eightbitmime = true;
    } else if (keyword == "SMTPUTF8") {
      caps.smtputf8 = true;
    } else if (keyword == "DSN") {
      caps.dsn = true;
    } else if (keyword == "STARTTLS") {
      caps.starttls = true;
    } else if (keyword == "REQUIRETLS") {
      caps.requiretls = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      caps.enhanced_status_codes = true;
    } else if (keyword == "SIZE") {
      // RFC 1870 §4: "SIZE" [SP number]; no number or 0 means no fixed limit.
      std::uint64_t value = 0;
      bool valid = true;
      for (char c : params) {
        if (c < '0' || c > '9' || value > (UINT64_MAX - 9) / 10) {
          valid = false;
          break;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
      }
      caps.size = valid ? value : 0;
    } else if (keyword == "AUTH") {
      std::size_t pos = 0;
      while (pos < params.size()) {
        const auto end = params.find(' ', pos);
        const auto word = params.substr(pos, end == std::string_view::npos ? end : end - pos);
        if (!word.empty()) {
          std::string mech = ascii::upper(word);
          if (std::find(caps.auth.begin(), caps.auth.end(), mech) == caps.auth.end()) {
            caps.auth.push_back(std::move(mech));
          }
        }
        if (end == std::string_view::npos) {
          break;
        }
        pos = end + 1;
      }
    }
  }
  return caps;
}

// ----- the engine

ClientEngine::ClientEngine(ClientOptions options)
    : state_(std::make_unique<State>(std::move(options))) {
  tls_active_ = state_->options.tls_active;
  state_->pending.push_back({Command::kGreeting});
}

ClientEngine::~ClientEngine() = default;

void ClientEngine::receive(std::string_view bytes) {
  if (state_->phase != Phase::kClosed) {
    state_->parser.receive(bytes);
  }
}

std::string_view ClientEngine::output() const {
  return state_->out;
}

void ClientEngine::consume_output(std::size_t n) {
  state_->out.erase(0, std::min(n, state_->out.size()));
}

ClientWait ClientEngine::waiting_for() const {
  if (state_->pending.empty()) {
    return ClientWait::kCommand;
  }
  switch (state_->pending.front().command) {
    case Command::kGreeting:
      return ClientWait::kGreeting;
    case Command::kData:
      return ClientWait::kDataInit;
    case Command::kBdat:
      return ClientWait::kDataBlock;
    case Command::kDataEnd:
    case Command::kBdatLast:
      return ClientWait::kDataTerm;
    default:
      return ClientWait::kCommand;
  }
}

namespace {

// The engine's private steps, as free functions over the state so the header
// stays small.
class Session {
 public:
  Session(ClientEngine::State& s, Capabilities& caps, bool& tls_active, bool& authenticated,
          std::size_t& messages_sent, std::string& greeting)
      : s_(s),
        caps_(caps),
        tls_active_(tls_active),
        authenticated_(authenticated),
        messages_sent_(messages_sent),
        greeting_(greeting) {}

  void send_command(std::string line, Command command, std::size_t rcpt = 0) {
    s_.out += line;
    s_.out += "\r\n";
    s_.pending.push_back({command, rcpt});
  }

  void hello() {
    const bool lmtp = s_.options.mode == ClientMode::kLmtp;
    send_command(std::string(lmtp ? "LHLO " : "EHLO ") + s_.options.helo_name, Command::kEhlo);
    s_.phase = Phase::kHello;
  }

  // Ends the session with `error` (nullopt after QUIT). A message in flight gets
  // its unanswered recipients deferred with the error's text first.
  void close(std::optional<SessionError> error) {
    if (s_.phase == Phase::kClosed) {
      return;
    }
    if (s_.phase == Phase::kTransaction) {
      const std::string enhanced = error ? error->enhanced : "4.4.2";
      const std::string text = error ? error->text : "session ended";
      for (auto& r : s_.results) {
        if (!r) {
          r = RecipientResult{0, Status::kTemporary, enhanced, text,
                              error ? error->from_server : false};
        }
      }
      finish_message();
    }
    s_.phase = Phase::kClosed;
    s_.pending.clear();
    s_.closed_error = error;
    s_.events.push_back(Closed{std::move(error)});
  }

  void fail_session(const Reply& reply, Command command) {
    SessionError error;
    // Postfix's smtp_sasl_auth_soft_bounce: a relay refusing our credentials is
    // fixed by an administrator, not by bouncing the mail.
    error.permanent = reply.is_permanent() && command != Command::kAuth;
    error.enhanced = enhanced_of(reply);
    error.text = reply_line(reply) + " (in reply to " + std::string(command_phrase(command)) + ")";
    error.from_server = true;
    // Politely end what we can (RFC 5321 §4.1.1.10); 421 means the server is gone.
    if (reply.code != 421 && s_.phase != Phase::kHandshake) {
      s_.out += "QUIT\r\n";
    }
    close(std::move(error));
  }

  void fail_local(bool permanent, std::string enhanced, std::string text, bool quit = true) {
    if (quit) {
      s_.out += "QUIT\r\n";
    }
    close(SessionError{permanent, std::move(enhanced), std::move(text), false});
  }

  // After EHLO/HELO (and again after TLS): STARTTLS, then AUTH, then Ready.
  void after_hello() {
    const TlsWant want = s_.options.tls;
    if (!tls_active_ && want != TlsWant::kNone) {
      if (caps_.starttls) {
        send_command("STARTTLS", Command::kStartTls);
        s_.phase = Phase::kStartTls;
        return;
      }
      if (want == TlsWant::kRequired) {
        // RFC 3207 §4: the policy needs TLS and the server does not offer it.
        fail_local(false, "4.7.4", "TLS is required, but was not offered by the server");
        return;
      }
    }
    start_auth();
  }

  void start_auth() {
    if (!s_.options.auth || authenticated_) {
      become_idle();
      return;
    }
    const ClientAuth& auth = *s_.options.auth;
    const auto offered = [&](std::string_view mech) {
      return std::find(caps_.auth.begin(), caps_.auth.end(), mech) != caps_.auth.end();
    };
    s_.phase = Phase::kAuth;
    s_.auth_step = 0;
    if (offered("SCRAM-SHA-256") && s_.options.random != nullptr) {
      s_.scram = std::make_unique<sasl::ScramClient>(
          auth.username, auth.password, "", sasl::ClientBinding::kNone, "", "", *s_.options.random);
      send_command("AUTH SCRAM-SHA-256 " + sasl::base64_encode(s_.scram->first()), Command::kAuth);
      return;
    }
    if (offered("PLAIN") && (tls_active_ || auth.allow_plaintext)) {
      // RFC 4954 §4 initial response; RFC 4616 §2 message.
      send_command("AUTH PLAIN " + sasl::base64_encode(sasl::plain_client_response(
                                       "", auth.username, auth.password)),
                   Command::kAuth);
      return;
    }
    // Postfix's smtp_sasl_auth_soft_bounce: a relay that cannot authenticate us
    // now may be fixed by its admin; defer rather than bounce.
    fail_local(false, "4.7.0",
               tls_active_ || caps_.auth.empty()
                   ? "the server offers no SASL mechanism tern supports (SCRAM-SHA-256, PLAIN)"
                   : "the server offers AUTH PLAIN only without TLS; not sending the password");
  }

  void on_auth_reply(const Reply& reply) {
    if (reply.code == 235) {
      if (s_.scram && !s_.scram_verified) {
        // RFC 5802 §5: the server must prove it knows the password too.
        fail_local(false, "4.7.0", "AUTH SCRAM-SHA-256: the server did not prove its identity");
        return;
      }
      authenticated_ = true;
      s_.scram.reset();
      become_idle();
      return;
    }
    if (reply.code != 334 || !s_.scram) {
      fail_session(reply, Command::kAuth);
      return;
    }
    const std::string challenge = reply.lines.empty() ? std::string() : reply.lines.front();
    auto decoded = sasl::base64_decode(challenge);
    if (!decoded) {
      s_.out += "*\r\n";  // RFC 4954 §4: cancel the exchange
      s_.pending.push_back({Command::kAuth});
      fail_local(false, "4.7.0", "AUTH: the server sent a challenge that is not base64", false);
      return;
    }
    if (s_.auth_step == 0) {
      auto final_message = s_.scram->final(*decoded);
      if (!final_message) {
        s_.out += "*\r\n";
        fail_local(false, "4.7.0", "AUTH SCRAM-SHA-256: " + final_message.error().message);
        return;
      }
      s_.auth_step = 1;
      send_command(sasl::base64_encode(*final_message), Command::kAuth);
      return;
    }
    auto verified = s_.scram->verify(*decoded);
    if (!verified) {
      s_.out += "*\r\n";
      fail_local(false, "4.7.0", "AUTH SCRAM-SHA-256: " + verified.error().message);
      return;
    }
    s_.scram_verified = true;
    send_command("", Command::kAuth);  // RFC 4954 §4: an empty response ends it
  }

  void become_idle() {
    s_.phase = Phase::kIdle;
    s_.ready_announced = false;
  }

  void on_reply(const Reply& reply) {
    if (s_.pending.empty()) {
      // Unsolicited: RFC 5321 §3.8 allows a 421 at any time; anything else is a
      // broken server.
      if (reply.code == 421) {
        fail_session(reply, Command::kQuit);
      } else {
        fail_local(false, "4.5.0",
                   "protocol error: unexpected reply \"" + reply_line(reply) + "\"");
      }
      return;
    }
    const Pending p = s_.pending.front();
    s_.pending.pop_front();
    if (reply.code == 421 && p.command != Command::kQuit) {
      fail_session(reply, p.command);
      return;
    }
    switch (p.command) {
      case Command::kGreeting:
        if (reply.code != 220) {
          fail_session(reply, p.command);
          return;
        }
        greeting_ = reply.lines.empty() ? std::string() : reply.lines.front();
        hello();
        return;
      case Command::kEhlo:
        if (reply.code == 250) {
          caps_ = parse_capabilities(reply.lines);
          after_hello();
          return;
        }
        // RFC 5321 §3.2: a server that rejects EHLO gets HELO (SMTP only; LMTP
        // has no HELO, RFC 2033 §4.1).
        if (s_.options.mode == ClientMode::kSmtp && reply.is_permanent() &&
            !s_.helo_fallback_tried) {
          s_.helo_fallback_tried = true;
          send_command("HELO " + s_.options.helo_name, Command::kHelo);
          return;
        }
        fail_session(reply, p.command);
        return;
      case Command::kHelo:
        if (reply.code != 250) {
          fail_session(reply, p.command);
          return;
        }
        caps_ = Capabilities{};
        after_hello();
        return;
      case Command::kStartTls:
        if (reply.code == 220) {
          s_.phase = Phase::kHandshake;
          s_.events.push_back(StartTls{});
          return;
        }
        if (s_.options.tls == TlsWant::kRequired) {
          fail_session(reply, p.command);
          return;
        }
        start_auth();  // opportunistic: carry on in plaintext
        return;
      case Command::kAuth:
        if (s_.phase == Phase::kClosed) {
          return;  // the reply to our "*"
        }
        on_auth_reply(reply);
        return;
      case Command::kQuit:
        close(std::nullopt);
        return;
      case Command::kRset:
        if (reply.code != 250) {
          fail_session(reply, p.command);
        }
        return;
      default:
        on_transaction_reply(p, reply);
        return;
    }
  }

  // A failure result from a server reply.
  static RecipientResult from_reply(std::size_t index, const Reply& reply, Command command) {
    return RecipientResult{
        index,
        reply.is_positive()    ? Status::kAccepted
        : reply.is_permanent() ? Status::kPermanent
                               : Status::kTemporary,
        enhanced_of(reply),
        reply_line(reply) + " (in reply to " + std::string(command_phrase(command)) + ")", true};
  }

  void fail_accepted(const Reply& reply, Command command) {
    for (std::size_t index : s_.accepted) {
      if (!s_.results[index]) {
        s_.results[index] = from_reply(index, reply, command);
      }
    }
  }

  bool transaction_alive() const { return s_.mail_ok && !s_.accepted.empty() && !s_.data_failed; }

  void send_data_command() {
    if (caps_.chunking) {
      // RFC 3030 §2: the content goes as is (no dot-stuffing), in chunks.
      std::string content = s_.message.content;
      if (!content.empty() && !content.ends_with("\r\n")) {
        content += "\r\n";
      }
      s_.bdat_chunks.clear();
      const std::size_t chunk = std::max<std::size_t>(s_.options.max_chunk_bytes, 1);
      for (std::size_t pos = 0; pos < content.size() || s_.bdat_chunks.empty(); pos += chunk) {
        s_.bdat_chunks.push_back(content.substr(pos, chunk));
        if (content.empty()) {
          break;
        }
      }
      send_bdat_chunks();
      return;
    }
    send_command("DATA", Command::kData);
  }

  // Sends the next BDAT chunk, or all of them when the server pipelines.
  void send_bdat_chunks() {
    while (!s_.bdat_chunks.empty()) {
      std::string chunk = std::move(s_.bdat_chunks.front());
      s_.bdat_chunks.erase(s_.bdat_chunks.begin());
      const bool last = s_.bdat_chunks.empty();
      s_.out += "BDAT " + std::to_string(chunk.size()) + (last ? " LAST" : "") + "\r\n";
      s_.out += chunk;
      s_.pending.push_back({last ? Command::kBdatLast : Command::kBdat});
      if (!caps_.pipelining) {
        return;
      }
    }
  }

  // The reply to the end of the data: one for all (SMTP), or one per accepted
  // recipient in RCPT order (LMTP, RFC 2033 §4.2).
  void on_final_reply(const Reply& reply, Command command) {
    if (!transaction_alive()) {
      return;  // a refused transaction's trailing reply
    }
    if (s_.options.mode == ClientMode::kSmtp) {
      fail_accepted(reply, command);
      return;
    }
    const std::size_t index = s_.accepted[s_.lmtp_answered++];
    s_.results[index] = from_reply(index, reply, command);
    if (s_.lmtp_answered < s_.accepted.size()) {
      s_.pending.push_front({command});
    }
  }

  void on_transaction_reply(const Pending& p, const Reply& reply) {
    switch (p.command) {
      case Command::kMail:
        s_.mail_answered = true;
        if (reply.code == 250) {
          s_.mail_ok = true;
          if (!caps_.pipelining) {
            send_command(rcpt_line(0), Command::kRcpt, 0);
          }
        } else {
          for (std::size_t i = 0; i < s_.results.size(); ++i) {
            s_.results[i] = from_reply(i, reply, p.command);
          }
        }
        break;
      case Command::kRcpt:
        if (s_.mail_ok) {
          if (reply.code == 250 || reply.code == 251) {
            s_.accepted.push_back(p.rcpt);
          } else {
            s_.results[p.rcpt] = from_reply(p.rcpt, reply, p.command);
          }
          if (!caps_.pipelining) {
            if (p.rcpt + 1 < s_.message.recipients.size()) {
              send_command(rcpt_line(p.rcpt + 1), Command::kRcpt, p.rcpt + 1);
            } else if (!s_.accepted.empty()) {
              send_data_command();
            }
          }
        }
        break;
      case Command::kData:
        if (reply.code == 354) {
          // RFC 2920 §3.1: DATA may be accepted although every RCPT failed; then
          // only the terminating dot is sent.
          s_.out += transaction_alive() ? dot_stuff(s_.message.content) : ".\r\n";
          s_.pending.push_front({Command::kDataEnd});
        } else if (transaction_alive()) {
          fail_accepted(reply, p.command);
          s_.data_failed = true;
        }
        break;
      case Command::kBdat:
        if (!reply.is_positive() && transaction_alive()) {
          fail_accepted(reply, p.command);
          s_.data_failed = true;
        } else if (reply.is_positive() && !caps_.pipelining && transaction_alive()) {
          send_bdat_chunks();
        }
        break;
      case Command::kDataEnd:
      case Command::kBdatLast:
        on_final_reply(reply, p.command);
        break;
      default:
        break;
    }
    if (s_.phase != Phase::kClosed && s_.pending.empty()) {
      finish_transaction();
    }
  }

  void finish_transaction() {
    for (std::size_t i = 0; i < s_.results.size(); ++i) {
      if (!s_.results[i]) {
        // Accepted by RCPT but never reached the data (no accepted recipient
        // made DATA pointless is not this case; this is a server that ended the
        // exchange early): defer.
        s_.results[i] = RecipientResult{i, Status::kTemporary, "4.4.2",
                                        "the server did not answer for this recipient", false};
      }
    }
    finish_message();
    become_idle();
  }

  void finish_message() {
    MessageDone done;
    for (std::size_t i = 0; i < s_.results.size(); ++i) {
      RecipientResult r = s_.results[i].value_or(RecipientResult{});
      r.index = i;
      done.recipients.push_back(std::move(r));
    }
    ++messages_sent_;
    s_.results.clear();
    s_.accepted.clear();
    s_.events.push_back(std::move(done));
  }

  std::string rcpt_line(std::size_t index) const {
    const auto& rcpt = s_.message.recipients[index];
    std::string line = "RCPT TO:<" + rcpt.address + ">";
    if (caps_.dsn) {
      // RFC 3461 §4.1, §4.2: passed on as received.
      if (!rcpt.notify.empty()) {
        line += " NOTIFY=" + rcpt.notify;
      }
      if (!rcpt.orcpt.empty()) {
        const auto semi = rcpt.orcpt.find(';');
        if (semi != std::string::npos) {
          line += " ORCPT=" + rcpt.orcpt.substr(0, semi + 1) +
                  encode_xtext(std::string_view(rcpt.orcpt).substr(semi + 1));
        }
      }
    }
    return line;
  }

  // The checks before MAIL; a failure ends the message without a command.
  std::optional<RecipientResult> precheck() const {
    const OutgoingMessage& m = s_.message;
    // RFC 1870 §6.1: do not send a message the server declared too large.
    if (caps_.size && *caps_.size > 0 && m.content.size() > *caps_.size) {
      return RecipientResult{0, Status::kPermanent, "5.3.4",
                             "5.3.4 message size " + std::to_string(m.content.size()) +
                                 " exceeds size limit " + std::to_string(*caps_.size) +
                                 " of the server",
                             false};
    }
    // RFC 6531 §3.5: a message that needs SMTPUTF8 is not sent to a server
    // without it.
    bool needs_utf8 = has_non_ascii(m.sender);
    for (const auto& r : m.recipients) {
      needs_utf8 = needs_utf8 || has_non_ascii(r.address);
    }
    needs_utf8 = needs_utf8 || (m.smtputf8 && has_non_ascii(header_section(m.content)));
    if (needs_utf8 && !caps_.smtputf8) {
      return RecipientResult{0, Status::kPermanent, "5.6.7",
                             "5.6.7 the message needs SMTPUTF8, which the server does not support",
                             false};
    }
    // RFC 6152 §3: 8-bit content to a server without 8BITMIME is not sent; the
    // caller downgrades to quoted-printable beforehand when it can.
    if (m.eight_bit && !caps_.eightbitmime && has_non_ascii(m.content)) {
      return RecipientResult{0, Status::kPermanent, "5.6.3",
                             "5.6.3 the message has 8-bit content, and the server does not "
                             "support 8BITMIME",
                             false};
    }
    // RFC 8689 §4.2: REQUIRETLS only over TLS to a server advertising it.
    if (m.requiretls && (!tls_active_ || !caps_.requiretls)) {
      return RecipientResult{0, Status::kPermanent, "5.7.30",
                             tls_active_ ? "5.7.30 REQUIRETLS was requested, and the server does "
                                           "not support it"
                                         : "5.7.30 REQUIRETLS was requested, and the connection "
                                           "is not encrypted",
                             false};
    }
    return std::nullopt;
  }

  void start_transaction(OutgoingMessage message) {
    s_.message = std::move(message);
    // RFC 6152 §3: to a server without 8BITMIME, the caller's 7-bit rendering.
    if (s_.message.eight_bit && !caps_.eightbitmime && s_.message.seven_bit_content) {
      s_.message.content = std::move(*s_.message.seven_bit_content);
      s_.message.eight_bit = false;
    }
    s_.message.seven_bit_content.reset();
    s_.results.assign(s_.message.recipients.size(), std::nullopt);
    s_.accepted.clear();
    s_.mail_ok = false;
    s_.mail_answered = false;
    s_.data_failed = false;
    s_.lmtp_answered = 0;
    s_.phase = Phase::kTransaction;
    if (auto failure = precheck(); failure || s_.message.recipients.empty()) {
      RecipientResult r = failure.value_or(RecipientResult{});
      for (auto& slot : s_.results) {
        slot = r;
      }
      finish_message();
      become_idle();
      return;
    }
    // Connection reuse: a fresh transaction state on a session that has had one
    // (RFC 5321 §4.1.1.5), grouped with MAIL when pipelining.
    if (s_.transactions_started) {
      send_command("RSET", Command::kRset);
    }
    s_.transactions_started = true;
    const OutgoingMessage& m = s_.message;
    std::string mail = "MAIL FROM:<" + m.sender + ">";
    if (caps_.size) {
      mail += " SIZE=" + std::to_string(m.content.size());  // RFC 1870 §6
    }
    if (m.eight_bit && caps_.eightbitmime) {
      mail += " BODY=8BITMIME";  // RFC 6152 §2
    }
    if (m.smtputf8 && caps_.smtputf8) {
      mail += " SMTPUTF8";  // RFC 6531 §3.4
    }
    if (caps_.dsn) {
      if (!m.ret.empty()) {
        mail += " RET=" + m.ret;  // RFC 3461 §4.3
      }
      if (!m.envid.empty()) {
        mail += " ENVID=" + encode_xtext(m.envid);  // RFC 3461 §4.4
      }
    }
    if (m.requiretls) {
      mail += " REQUIRETLS";  // RFC 8689 §4.1
    }
    send_command(mail, Command::kMail);
    if (caps_.pipelining) {
      // RFC 2920 §3.1: MAIL, RCPTs and DATA (or BDAT) in one group.
      for (std::size_t i = 0; i < m.recipients.size(); ++i) {
        send_command(rcpt_line(i), Command::kRcpt, i);
      }
      send_data_command();
    }
  }

 private:
  ClientEngine::State& s_;
  Capabilities& caps_;
  bool& tls_active_;
  bool& authenticated_;
  std::size_t& messages_sent_;
  std::string& greeting_;
};

}  // namespace

ClientEvent ClientEngine::next() {
  State& s = *state_;
  Session session(s, caps_, tls_active_, authenticated_, messages_sent_, greeting_);
  for (;;) {
    if (!s.events.empty()) {
      ClientEvent event = std::move(s.events.front());
      s.events.pop_front();
      return event;
    }
    if (s.phase == Phase::kClosed) {
      return Closed{s.closed_error};
    }
    if (s.phase == Phase::kHandshake) {
      return NeedInput{};  // the caller is running the handshake
    }
    if (s.phase == Phase::kIdle && !s.ready_announced) {
      // Announce Ready before reading on: replies after this point belong to
      // the commands the caller sends next (or are an unsolicited 421).
      s.ready_announced = true;
      return Ready{};
    }
    auto reply = s.parser.next();
    if (!reply) {
      session.fail_local(false, "4.5.0", "protocol error: " + reply.error().message, false);
      continue;
    }
    if (*reply) {
      session.on_reply(**reply);
      continue;
    }
    return NeedInput{};
  }
}

void ClientEngine::tls_started() {
  State& s = *state_;
  if (s.phase != Phase::kHandshake) {
    return;
  }
  tls_active_ = true;
  // RFC 3207 §4.2: forget what was learnt before TLS and greet again. Bytes the
  // server sent after its 220 came before the handshake: drop them.
  caps_ = Capabilities{};
  s.parser = ReplyParser(s.options.reply_limits);
  Session(s, caps_, tls_active_, authenticated_, messages_sent_, greeting_).hello();
}

void ClientEngine::send(OutgoingMessage message) {
  State& s = *state_;
  if (s.phase != Phase::kIdle) {
    return;
  }
  Session(s, caps_, tls_active_, authenticated_, messages_sent_, greeting_)
      .start_transaction(std::move(message));
}

void ClientEngine::quit() {
  State& s = *state_;
  if (s.phase != Phase::kIdle) {
    return;
  }
  s.out += "QUIT\r\n";
  s.pending.push_back({Command::kQuit});
  s.phase = Phase::kQuit;
}

void ClientEngine::abort(std::string enhanced, std::string text) {
  State& s = *state_;
  if (s.phase == Phase::kQuit) {
    // The server closed after (or instead of) its 221: the session is over anyway.
    Session(s, caps_, tls_active_, authenticated_, messages_sent_, greeting_).close(std::nullopt);
    return;
  }
  Session(s, caps_, tls_active_, authenticated_, messages_sent_, greeting_)
      .close(SessionError{false, std::move(enhanced), std::move(text), false});
}

}  // namespace tern::smtp
