// SPDX-License-Identifier: Apache-2.0
#include "mime/facts/imap_string.hpp"

namespace tern::mime::facts {

bool fits_quoted(std::string_view value) {
  if (value.size() > kMaxQuotedOctets) {
    return false;
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    // RFC 9051 §9: QUOTED-CHAR is any TEXT-CHAR (CHAR minus CR LF); controls other
    // than TAB are legal but clients choke on them, so they go into a literal.
    if (u >= 0x80 || (u < 0x20 && u != '\t') || u == 0x7f) {
      return false;
    }
  }
  return true;
}

void append_string(std::string& out, std::string_view value) {
  if (fits_quoted(value)) {
    out.push_back('"');
    for (char c : value) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    out.push_back('"');
    return;
  }
  out.push_back('{');
  append_number(out, value.size());
  out += "}\r\n";
  for (char c : value) {
    out.push_back(c == '\0' ? '?' : c);
  }
}

void append_nstring(std::string& out, std::string_view value, bool present) {
  if (!present) {
    out += "NIL";
    return;
  }
  append_string(out, value);
}

void append_unfolded_string(std::string& out, std::string_view value) {
  std::string unfolded;
  unfolded.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') {
      unfolded.push_back(c);
    }
  }
  append_string(out, unfolded);
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  std::size_t len = 0;
  do {
    buf[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  while (len > 0) {
    out.push_back(buf[--len]);
  }
}

namespace {

// A cursor over an ENVELOPE; every read fails softly (false) at malformed input.
class EnvelopeReader {
 public:
  explicit EnvelopeReader(std::string_view text) : s_(text) {}

  bool accept(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  bool at_end() const { return i_ == s_.size(); }

  bool nstring(std::optional<std::string>& out) {
    if (s_.substr(i_, 3) == "NIL") {
      i_ += 3;
      out.reset();
      return true;
    }
    std::string value;
    if (accept('"')) {
      while (i_ < s_.size() && s_[i_] != '"') {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
          ++i_;
        }
        value.push_back(s_[i_++]);
      }
      if (!accept('"')) {
        return false;
      }
    } else if (accept('{')) {
      std::size_t n = 0;
      std::size_t digits = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9' && digits < 10) {
        n = n * 10 + static_cast<std::size_t>(s_[i_++] - '0');
        ++digits;
      }
      if (digits == 0 || s_.substr(i_, 3) != "}\r\n" || n > s_.size() - i_ - 3) {
        return false;
      }
      i_ += 3;
      value.assign(s_.substr(i_, n));
      i_ += n;
    } else {
      return false;
    }
    out = std::move(value);
    return true;
  }

  bool address_list(std::vector<EnvelopeAddress>& out) {
    if (s_.substr(i_, 3) == "NIL") {
      i_ += 3;
      return true;
    }
    if (!accept('(')) {
      return false;
    }
    do {
      EnvelopeAddress a;
      if (!accept('(') || !nstring(a.name) || !accept(' ') || !nstring(a.adl) || !accept(' ') ||
          !nstring(a.mailbox) || !accept(' ') || !nstring(a.host) || !accept(')')) {
        return false;
      }
      out.push_back(std::move(a));
    } while (!accept(')'));
    return true;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

Result<Envelope> read_envelope(std::string_view text) {
  EnvelopeReader r(text);
  Envelope e;
  bool ok = r.accept('(') && r.nstring(e.date) && r.accept(' ') && r.nstring(e.subject);
  for (auto* list : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
    ok = ok && r.accept(' ') && r.address_list(*list);
  }
  ok = ok && r.accept(' ') && r.nstring(e.in_reply_to) && r.accept(' ') &&
       r.nstring(e.message_id) && r.accept(')') && r.at_end();
  if (!ok) {
    return Error{ErrorCode::kCorrupt, "malformed ENVELOPE"};
  }
  return e;
}

}  // namespace tern::mime::facts
