// SPDX-License-Identifier: Apache-2.0
#include "milter/milter.hpp"

#include <algorithm>
#include <array>

namespace tern::milter {

namespace {

// Command letters (SMFIC_*) and reply letters (SMFIR_*).
constexpr char kNegotiateLetter = 'O';
constexpr char kMacroLetter = 'D';
constexpr char kConnectLetter = 'C';
constexpr char kHeloLetter = 'H';
constexpr char kMailLetter = 'M';
constexpr char kRecipientLetter = 'R';
constexpr char kDataLetter = 'T';
constexpr char kHeaderLetter = 'L';
constexpr char kEndOfHeadersLetter = 'N';
constexpr char kBodyLetter = 'B';
constexpr char kEndOfBodyLetter = 'E';
constexpr char kQuitLetter = 'Q';
constexpr char kAbortLetter = 'A';

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

std::uint32_t get_u32(std::string_view data) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i]));
  };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void put_string(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

// The NUL-terminated strings of `data`; nullopt unless it ends with a NUL.
std::optional<std::vector<std::string_view>> strings_of(std::string_view data) {
  if (data.empty() || data.back() != '\0') {
    return std::nullopt;
  }
  std::vector<std::string_view> out;
  while (!data.empty()) {
    auto nul = data.find('\0');
    out.push_back(data.substr(0, nul));
    data.remove_prefix(nul + 1);
  }
  return out;
}

// RFC 5322 §3.6.8 field name: printable US-ASCII except ":".
bool is_field_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(),
                                      [](char c) { return c > ' ' && c < 127 && c != ':'; });
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// The field's name: what precedes the colon, without the obsolete white space
// before it (RFC 5322 §4.5.3).
std::string_view name_of(std::string_view field) {
  auto colon = field.find(':');
  std::string_view name = field.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
    name.remove_suffix(1);
  }
  return name;
}

// `text` with every line end (CRLF, LF or a lone CR) as CRLF.
std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
      }
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string encode(char letter, std::string_view data) {
  std::string out;
  out.reserve(5 + data.size());
  put_u32(out, static_cast<std::uint32_t>(data.size() + 1));
  out.push_back(letter);
  out.append(data);
  return out;
}

SplitMessage split_message(std::string_view message) {
  SplitMessage split;
  std::size_t at = 0;
  while (at < message.size()) {
    auto nl = message.find('\n', at);
    std::size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
    std::string_view line = message.substr(at, end - at);
    if (line == "\r\n" || line == "\n") {
      split.separator = line;
      at = end;
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (split.fields.empty()) {
        break;  // no field to continue: the body starts here
      }
      auto& last = split.fields.back();
      last = std::string_view(last.data(), last.size() + line.size());
      at = end;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_field_name(name_of(line))) {
      break;
    }
    split.fields.push_back(line);
    at = end;
  }
  split.body = message.substr(at);
  return split;
}

std::string apply_changes(std::string_view message, const Outcome& outcome) {
  SplitMessage split = split_message(message);
  std::vector<std::string> fields(split.fields.begin(), split.fields.end());
  auto render = [&](const HeaderChange& change) {
    return change.name + (outcome.leading_space ? ":" : ": ") + crlf(change.value) + "\r\n";
  };
  for (const auto& change : outcome.header_changes) {
    switch (change.kind) {
      case HeaderChange::Kind::kAdd:
        fields.push_back(render(change));
        break;
      case HeaderChange::Kind::kInsert:
        fields.insert(fields.begin() + static_cast<std::ptrdiff_t>(
                                           std::min<std::size_t>(change.index, fields.size())),
                      render(change));
        break;
      case HeaderChange::Kind::kChange: {
        // Index 0 is the first, as in Sendmail and Postfix.
        const std::uint32_t wanted = std::max<std::uint32_t>(change.index, 1);
        std::uint32_t seen = 0;
        auto it = std::find_if(fields.begin(), fields.end(), [&](const std::string& field) {
          return iequal(name_of(field), change.name) && ++seen == wanted;
        });
        if (it == fields.end()) {
          // libmilter's smfi_chgheader: past the last such field, a value is added.
          if (!change.value.empty()) {
            fields.push_back(render(change));
          }
        } else if (change.value.empty()) {
          fields.erase(it);
        } else {
          *it = render(change);
        }
        break;
      }
    }
  }
  std::string body = outcome.new_body ? crlf(*outcome.new_body) : std::string(split.body);
  std::string out;
  for (const auto& field : fields) {
    out += field;
    if (!field.ends_with('\n')) {
      out += "\r\n";  // the last line of a message without a final line end
    }
  }
  out += split.separator.empty() && !body.empty() ? std::string_view("\r\n") : split.separator;
  out += body;
  return out;
}

std::string quit() {
  return encode(kQuitLetter, {});
}

Client::Client(Envelope envelope, std::string_view message, std::size_t max_body_bytes,
               std::optional<Negotiated> reused)
    : envelope_(std::move(envelope)), max_body_bytes_(max_body_bytes) {
  SplitMessage split = split_message(message);
  fields_ = std::move(split.fields);
  body_ = split.body;
  if (reused) {
    actions_ = reused->actions;
    protocol_ = reused->protocol;
    outcome_.leading_space = (protocol_ & kHeaderLeadingSpace) != 0;
    send(kAbortLetter, {});  // unanswered; the filter forgets any message state
    step_ = Step::kMail;
    advance();
    return;
  }
  std::string data;
  put_u32(data, kVersion);
  put_u32(data, kPermittedActions);
  put_u32(data, kOfferedProtocol);
  send(kNegotiateLetter, data);
}

std::string Client::take_output() {
  return std::exchange(output_, {});
}

void Client::send(char letter, std::string_view data) {
  output_ += encode(letter, data);
}

void Client::send_macros(char step_letter, const Macros& macros) {
  if (macros.empty()) {
    return;
  }
  std::string data(1, step_letter);
  for (const auto& [name, value] : macros) {
    put_string(data, name);
    put_string(data, value);
  }
  send(kMacroLetter, data);
}

void Client::receive(std::string_view bytes) {
  if (state_ != State::kNeedInput) {
    return;
  }
  input_.append(bytes);
  std::size_t at = 0;
  while (state_ == State::kNeedInput && input_.size() - at >= 4) {
    std::uint32_t length = get_u32(std::string_view(input_).substr(at, 4));
    if (length == 0 || length > kMaxPacketBytes) {
      fail("filter sent a packet of " + std::to_string(length) + " bytes");
      return;
    }
    if (input_.size() - at - 4 < length) {
      break;
    }
    std::string_view packet = std::string_view(input_).substr(at + 4, length);
    at += 4 + length;
    on_packet(packet.front(), packet.substr(1));
  }
  input_.erase(0, at);
}

void Client::on_negotiated(std::string_view data) {
  if (data.size() < 12) {
    fail("short negotiation reply");
    return;
  }
  const std::uint32_t version = get_u32(data);
  actions_ = get_u32(data.substr(4));
  protocol_ = get_u32(data.substr(8));
  // What follows (the macros the filter would like, SMFIR_SETSYMLIST) is not
  // used: the client sends Postfix's default set.
  if (version < 2) {
    fail("filter speaks protocol version " + std::to_string(version));
    return;
  }
  if ((actions_ & ~kPermittedActions) != 0) {
    fail("filter asks for actions tern does not know (" +
         std::to_string(actions_ & ~kPermittedActions) + ")");
    return;
  }
  if ((protocol_ & ~kOfferedProtocol) != 0) {
    fail("filter asks for protocol steps tern does not offer");
    return;
  }
  outcome_.leading_space = (protocol_ & kHeaderLeadingSpace) != 0;
  step_ = Step::kConnect;
  advance();
}

void Client::advance() {
  while (state_ == State::kNeedInput) {
    bool awaits = false;
    switch (step_) {
      case Step::kNegotiate:
        return;
      case Step::kConnect:
        if (wanted(kNoConnect)) {
          send_macros(kConnectLetter, envelope_.connect_macros);
          std::string data;
          put_string(data, envelope_.client_name);
          if (envelope_.client_address.empty()) {
            data.push_back('U');
          } else {
            data.push_back(envelope_.client_address.find(':') == std::string::npos ? '4' : '6');
            data.push_back(static_cast<char>(envelope_.client_port >> 8));
            data.push_back(static_cast<char>(envelope_.client_port & 0xff));
            put_string(data, envelope_.client_address);
          }
          send(kConnectLetter, data);
          awaits = wanted(kNoReplyConnect);
        }
        break;
      case Step::kHelo:
        if (wanted(kNoHelo)) {
          send_macros(kHeloLetter, envelope_.helo_macros);
          std::string data;
          put_string(data, envelope_.helo);
          send(kHeloLetter, data);
          awaits = wanted(kNoReplyHelo);
        }
        break;
      case Step::kMail:
        if (wanted(kNoMail)) {
          send_macros(kMailLetter, envelope_.mail_macros);
          std::string data;
          put_string(data, "<" + envelope_.sender + ">");
          for (const auto& parameter : envelope_.mail_parameters) {
            put_string(data, parameter);
          }
          send(kMailLetter, data);
          awaits = wanted(kNoReplyMail);
        }
        break;
      case Step::kRecipient:
        if (recipient_ >= envelope_.recipients.size()) {
          if (outcome_.refused_recipients.size() == envelope_.recipients.size()) {
            finish();  // nobody left to send the message to
            return;
          }
          step_ = Step::kData;
          continue;
        }
        if (wanted(kNoRecipient)) {
          const std::string& rcpt = envelope_.recipients[recipient_];
          send_macros(kRecipientLetter, {{"{rcpt_addr}", rcpt}});
          std::string data;
          put_string(data, "<" + rcpt + ">");
          send(kRecipientLetter, data);
          awaits = wanted(kNoReplyRecipient);
        }
        break;
      case Step::kData:
        if (wanted(kNoData)) {
          send_macros(kDataLetter, envelope_.data_macros);
          send(kDataLetter, {});
          awaits = wanted(kNoReplyData);
        }
        break;
      case Step::kHeader:
        if (header_ >= fields_.size() || !wanted(kNoHeaders)) {
          step_ = Step::kEndOfHeaders;
          continue;
        }
        {
          // Sendmail's form, which filters expect: name and value apart, the
          // value without one leading space (unless kHeaderLeadingSpace), its
          // folding as "\n", no final line end.
          std::string_view field = fields_[header_];
          std::string_view name = name_of(field);
          std::string_view value = field.substr(field.find(':') + 1);
          if (!outcome_.leading_space && value.starts_with(' ')) {
            value.remove_prefix(1);
          }
          std::string data;
          put_string(data, name);
          for (char c : value) {
            if (c != '\r') {
              data.push_back(c);
            }
          }
          if (!data.empty() && data.back() == '\n') {
            data.pop_back();
          }
          data.push_back('\0');
          send(kHeaderLetter, data);
          awaits = (protocol_ & kNoReplyHeader) == 0;
        }
        break;
      case Step::kEndOfHeaders:
        if (wanted(kNoEndOfHeaders)) {
          send(kEndOfHeadersLetter, {});
          awaits = wanted(kNoReplyEndOfHeaders);
        }
        break;
      case Step::kBody:
        if (body_at_ >= body_.size() || !wanted(kNoBody)) {
          step_ = Step::kEndOfBody;
          continue;
        }
        {
          std::string_view chunk = body_.substr(body_at_, kBodyChunkBytes);
          body_at_ += chunk.size();
          send(kBodyLetter, chunk);
          awaits = wanted(kNoReplyBody);
        }
        break;
      case Step::kEndOfBody:
        send_macros(kEndOfBodyLetter, envelope_.data_macros);
        send(kEndOfBodyLetter, {});
        return;  // always answered
    }
    if (awaits) {
      return;
    }
    next_step();
  }
}

void Client::next_step() {
  switch (step_) {
    case Step::kConnect:
      step_ = Step::kHelo;
      break;
    case Step::kHelo:
      step_ = Step::kMail;
      break;
    case Step::kMail:
      step_ = Step::kRecipient;
      break;
    case Step::kRecipient:
      ++recipient_;
      break;
    case Step::kData:
      step_ = Step::kHeader;
      break;
    case Step::kHeader:
      ++header_;
      break;
    case Step::kEndOfHeaders:
      step_ = Step::kBody;
      break;
    case Step::kNegotiate:
    case Step::kBody:  // moves on by body_at_
    case Step::kEndOfBody:
      break;
  }
}

void Client::on_packet(char letter, std::string_view data) {
  if (step_ == Step::kNegotiate) {
    if (letter != kNegotiateLetter) {
      fail(std::string("filter answered the negotiation with '") + letter + "'");
      return;
    }
    on_negotiated(data);
    return;
  }
  const bool end_of_body = step_ == Step::kEndOfBody;
  auto verdict_reply = [&](Outcome::Verdict verdict, std::string reply) {
    if (step_ == Step::kRecipient) {
      outcome_.refused_recipients.push_back({recipient_, verdict, std::move(reply)});
      ++recipient_;
      advance();
      return;
    }
    outcome_.verdict = verdict;
    outcome_.reply = std::move(reply);
    finish();
  };
  switch (letter) {
    case 'p':  // progress: the filter is still working
      return;
    case 'c':  // continue
      if (end_of_body) {
        finish();
        return;
      }
      next_step();
      advance();
      return;
    case 'a':  // accept: no more filtering of this message
      finish();
      return;
    case 's':  // skip the rest of the body
      if (step_ != Step::kBody) {
        fail("filter sent 'skip' outside the body");
        return;
      }
      step_ = Step::kEndOfBody;
      advance();
      return;
    case 'd':
      outcome_.verdict = Outcome::Verdict::kDiscard;
      finish();
      return;
    case 'r':
      verdict_reply(Outcome::Verdict::kReject, "");
      return;
    case 't':
      verdict_reply(Outcome::Verdict::kTempfail, "");
      return;
    case 'y': {
      auto strings = strings_of(data);
      if (!strings || strings->size() != 1 || strings->front().size() < 3 ||
          (strings->front()[0] != '4' && strings->front()[0] != '5')) {
        fail("filter sent a malformed reply code");
        return;
      }
      const auto verdict =
          strings->front()[0] == '4' ? Outcome::Verdict::kTempfail : Outcome::Verdict::kReject;
      verdict_reply(verdict, std::string(strings->front()));
      return;
    }
    default:
      break;
  }
  // Modifications: only at the end of the body, and only those permitted.
  if (!end_of_body) {
    fail(std::string("filter sent '") + letter + "' before the end of the body");
    return;
  }
  auto header_change = [&](HeaderChange::Kind kind, bool indexed, std::uint32_t permitted) {
    if ((actions_ & permitted) == 0) {
      fail(std::string("filter sent '") + letter + "' without negotiating it");
      return;
    }
    HeaderChange change;
    change.kind = kind;
    if (indexed) {
      if (data.size() < 4) {
        fail("short header change");
        return;
      }
      change.index = get_u32(data);
      data.remove_prefix(4);
    }
    auto strings = strings_of(data);
    if (!strings || strings->size() != 2 || !is_field_name((*strings)[0])) {
      fail("filter sent a malformed header change");
      return;
    }
    change.name = (*strings)[0];
    change.value = (*strings)[1];
    outcome_.header_changes.push_back(std::move(change));
  };
  switch (letter) {
    case 'h':
      header_change(HeaderChange::Kind::kAdd, false, kAddHeaders);
      return;
    case 'i':
      header_change(HeaderChange::Kind::kInsert, true, kAddHeaders);
      return;
    case 'm':
      header_change(HeaderChange::Kind::kChange, true, kChangeHeaders);
      return;
    case 'b':
      if ((actions_ & kChangeBody) == 0) {
        fail("filter replaced the body without negotiating it");
        return;
      }
      if (replacement_body_.size() + data.size() > max_body_bytes_) {
        fail("filter's replacement body is too large");
        return;
      }
      replacement_body_.append(data);
      body_replaced_ = true;
      return;
    case '+':
    case '2':
    case '-':
    case 'e': {
      const std::uint32_t permitted = letter == '+'   ? kAddRecipient
                                      : letter == '2' ? kAddRecipientWithArguments
                                      : letter == '-' ? kDeleteRecipient
                                                      : kChangeSender;
      auto strings = strings_of(data);
      // The address, then (for "2" and "e") its ESMTP arguments, if any.
      const std::size_t most = letter == '2' || letter == 'e' ? 2 : 1;
      if ((actions_ & permitted) == 0 || !strings || strings->size() > most) {
        fail(std::string("filter sent a malformed or unnegotiated '") + letter + "'");
        return;
      }
      std::string_view address = strings->front();
      if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
        address = address.substr(1, address.size() - 2);
      }
      if (address.empty() && letter != 'e') {
        fail(std::string("filter sent '") + letter + "' without an address");
        return;
      }
      if (letter == '-') {
        outcome_.removed_recipients.emplace_back(address);
      } else if (letter == 'e') {
        outcome_.new_sender.emplace(address);
      } else {
        outcome_.added_recipients.emplace_back(address);
      }
      return;
    }
    case 'q': {
      auto strings = strings_of(data);
      if ((actions_ & kQuarantine) == 0 || !strings || strings->size() != 1) {
        fail("filter sent a malformed or unnegotiated quarantine");
        return;
      }
      outcome_.quarantine_reason = std::string(strings->front());
      return;
    }
    default:
      fail(std::string("filter sent '") + letter + "', which tern does not take");
      return;
  }
}

void Client::finish() {
  if (body_replaced_) {
    outcome_.new_body = std::move(replacement_body_);
  }
  // The filter's last word on the body leaves it ready for the next message;
  // an answer before that (accept at CONNECT, a refused sender) may leave it
  // ignoring the rest of the connection, so that one ends.
  reusable_ = step_ == Step::kEndOfBody;
  if (!reusable_) {
    send(kQuitLetter, {});
  }
  state_ = State::kDone;
}

void Client::fail(std::string why) {
  output_.clear();  // the caller closes the connection: nothing more goes out
  error_ = std::move(why);
  state_ = State::kFailed;
}

}  // namespace tern::milter
