// SPDX-License-Identifier: Apache-2.0
#include "smtp/reply.hpp"

#include <algorithm>

namespace tern::smtp {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3463 §2: class "." subject "." detail, class 2/4/5, subject and detail of
// one to three digits.
bool is_enhanced_code(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
    return false;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) {
      ++i;
    }
    if (i == start || i - start > 3) {
      return false;
    }
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') {
        return false;
      }
      ++i;
    }
  }
  return i == s.size();
}

void append_text(std::string& out, std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
}

}  // namespace

Reply Reply::of(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), {std::move(text)}};
}

std::string render(const Reply& reply) {
  std::string out;
  std::string code = std::to_string(reply.code);
  if (reply.lines.empty()) {
    out += code;
    if (!reply.enhanced.empty()) {
      out += ' ';
      out += reply.enhanced;
    }
    out += "\r\n";
    return out;
  }
  for (std::size_t i = 0; i < reply.lines.size(); ++i) {
    out += code;
    // RFC 5321 §4.2.1: "-" after the code on every line but the last.
    out += (i + 1 < reply.lines.size()) ? '-' : ' ';
    if (!reply.enhanced.empty()) {
      out += reply.enhanced;
      if (!reply.lines[i].empty()) {
        out += ' ';
      }
    }
    append_text(out, reply.lines[i]);
    out += "\r\n";
  }
  return out;
}

Reply reply_for(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidInput:
      return Reply::of(501, "5.5.4", error.message);
    case ErrorCode::kNotFound:
      return Reply::of(550, "5.1.1", error.message);
    case ErrorCode::kPermissionDenied:
      return Reply::of(550, "5.7.1", error.message);
    case ErrorCode::kLimitExceeded:
      // RFC 3463 X.2.2 mailbox full; transient so the sender retries after the
      // user makes room (Postfix and Dovecot LMTP do the same by default).
      return Reply::of(452, "4.2.2", error.message);
    case ErrorCode::kPermanent:
      return Reply::of(554, "5.0.0", error.message);
    case ErrorCode::kTimeout:
      return Reply::of(451, "4.4.7", error.message);
    case ErrorCode::kCancelled:
      return Reply::of(421, "4.3.2", error.message);
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
    case ErrorCode::kTemporary:
    case ErrorCode::kIo:
    case ErrorCode::kCorrupt:
    case ErrorCode::kInternal:
      break;
  }
  return Reply::of(451, "4.3.0", error.message);
}

ReplyParser::ReplyParser(ReplyLimits limits) : limits_(limits) {}

void ReplyParser::receive(std::string_view bytes) {
  if (failed_) {
    return;
  }
  if (pos_ > 0 && pos_ == in_.size()) {
    in_.clear();
    pos_ = 0;
  }
  in_.append(bytes);
}

Result<std::optional<Reply>> ReplyParser::next() {
  if (failed_) {
    return *failed_;
  }
  auto fail_with = [&](ErrorCode code, std::string message) -> Result<std::optional<Reply>> {
    failed_ = Error{code, std::move(message)};
    return *failed_;
  };
  for (;;) {
    auto lf = in_.find('\n', pos_);
    if (lf == std::string::npos) {
      if (in_.size() - pos_ > limits_.max_line_bytes) {
        return fail_with(ErrorCode::kLimitExceeded, "reply line too long");
      }
      return std::optional<Reply>();
    }
    std::string_view line(in_.data() + pos_, lf - pos_);
    pos_ = lf + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.size() > limits_.max_line_bytes) {
      return fail_with(ErrorCode::kLimitExceeded, "reply line too long");
    }
    // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
    //                            Reply-code [ SP textstring ] CRLF
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      return fail_with(ErrorCode::kInvalidInput, "malformed reply line");
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599) {
      return fail_with(ErrorCode::kInvalidInput, "reply code out of range");
    }
    bool more = line.size() > 3 && line[3] == '-';
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    if (!in_reply_) {
      pending_ = Reply{code, {}, {}};
      in_reply_ = true;
    } else if (pending_.code != code) {
      return fail_with(ErrorCode::kInvalidInput, "continuation line with a different code");
    }
    if (pending_.lines.size() >= limits_.max_lines) {
      return fail_with(ErrorCode::kLimitExceeded, "reply has too many lines");
    }
    pending_.lines.emplace_back(text);
    if (more) {
      continue;
    }
    in_reply_ = false;
    Reply reply = std::move(pending_);
    pending_ = Reply{};
    // RFC 2034 §4: the enhanced code leads the text of every line.
    std::string first_code;
    bool all_enhanced = !reply.lines.empty();
    for (const auto& l : reply.lines) {
      auto space = l.find(' ');
      std::string_view word = std::string_view(l).substr(0, space);
      if (!is_enhanced_code(word) || word[0] != reply.lines[0][0] ||
          (!first_code.empty() && word != first_code)) {
        all_enhanced = false;
        break;
      }
      first_code = std::string(word);
    }
    if (all_enhanced && first_code[0] == static_cast<char>('0' + code / 100)) {
      reply.enhanced = first_code;
      for (auto& l : reply.lines) {
        auto space = l.find(' ');
        l = space == std::string::npos ? std::string() : l.substr(space + 1);
      }
    }
    return std::optional<Reply>(std::move(reply));
  }
}

}  // namespace tern::smtp
