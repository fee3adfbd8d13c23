// SPDX-License-Identifier: Apache-2.0
#include "services/smtp/transcript.hpp"

#include <charconv>

namespace tern::services::smtp {
namespace {

Result<std::string> unescape(std::string_view text, int line) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char c = text[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == '\\') {
      out += '\\';
    } else if (c == 'x' && i + 2 < text.size()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec != std::errc() || end != text.data() + i + 3) {
        return fail(ErrorCode::kInvalidInput, "line " + std::to_string(line) + ": bad \\x escape");
      }
      out += static_cast<char>(value);
      i += 2;
    } else {
      return fail(ErrorCode::kInvalidInput, "line " + std::to_string(line) + ": unknown escape");
    }
  }
  return out;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    auto start = s.find_first_not_of(' ');
    if (start == std::string_view::npos) {
      break;
    }
    s.remove_prefix(start);
    auto end = s.find(' ');
    out.push_back(s.substr(0, end));
    s.remove_prefix(end == std::string_view::npos ? s.size() : end);
  }
  return out;
}

bool to_number(std::string_view s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<Transcript> parse_transcript(std::string_view text) {
  Transcript t;
  int number = 0;
  while (!text.empty()) {
    auto lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text.remove_prefix(lf == std::string_view::npos ? text.size() : lf + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    auto bad = [&](std::string what) {
      return fail(ErrorCode::kInvalidInput, "line " + std::to_string(number) + ": " + what);
    };
    std::string_view head = line.substr(0, 2);
    std::string_view rest = line.size() > 3 ? line.substr(3) : std::string_view();
    if (head == "C:" || head == "C<" || head == "S:" || head == "S~") {
      if (line.size() > 2 && line[2] != ' ') {
        return bad("expected a space after " + std::string(head));
      }
      auto bytes = unescape(rest, number);
      if (!bytes) {
        return bytes.error();
      }
      TranscriptStep step;
      step.line = number;
      step.text = std::move(*bytes);
      if (head == "C:") {
        step.text += "\r\n";
      }
      step.kind = head[0] == 'C'   ? TranscriptStep::Kind::kSend
                  : head[1] == ':' ? TranscriptStep::Kind::kExpect
                                   : TranscriptStep::Kind::kExpectPrefix;
      t.steps.push_back(std::move(step));
      continue;
    }
    if (head != "! ") {
      return bad("unknown directive");
    }
    auto w = words(line.substr(2));
    if (w.empty()) {
      return bad("empty directive");
    }
    TranscriptStep step;
    step.line = number;
    if (w[0] == "role" && w.size() == 2) {
      t.role = std::string(w[1]);
    } else if (w[0] == "domain" && w.size() == 2) {
      t.domains.emplace_back(w[1]);
    } else if (w[0] == "user" && (w.size() == 3 || w.size() == 4)) {
      Transcript::User user{std::string(w[1]), std::string(w[2]), 0};
      if (w.size() == 4 && !to_number(w[3], user.quota)) {
        return bad("bad quota");
      }
      t.users.push_back(std::move(user));
    } else if (w[0] == "alias" && w.size() == 3) {
      t.aliases.emplace_back(std::string(w[1]), std::string(w[2]));
    } else if (w[0] == "limit" && w.size() == 3) {
      std::uint64_t value = 0;
      if (!to_number(w[2], value)) {
        return bad("bad limit value");
      }
      t.limits[std::string(w[1])] = value;
    } else if (w[0] == "tls" && w.size() == 1) {
      step.kind = TranscriptStep::Kind::kTls;
      t.steps.push_back(step);
    } else if (w[0] == "closed" && w.size() == 1) {
      step.kind = TranscriptStep::Kind::kClosed;
      t.steps.push_back(step);
    } else if (w[0] == "inbox" && w.size() == 3 && to_number(w[2], step.count)) {
      step.kind = TranscriptStep::Kind::kInbox;
      step.address = std::string(w[1]);
      t.steps.push_back(step);
    } else if (w[0] == "queue" && w.size() == 2 && to_number(w[1], step.count)) {
      step.kind = TranscriptStep::Kind::kQueue;
      t.steps.push_back(step);
    } else {
      return bad("unknown directive \"" + std::string(w[0]) + "\"");
    }
  }
  return t;
}

}  // namespace tern::services::smtp
