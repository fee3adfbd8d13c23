// SPDX-License-Identifier: Apache-2.0
#include "imap/command_reader.hpp"

#include <algorithm>
#include <limits>

#include "base/ascii.hpp"

namespace tern::imap {
namespace {

// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR = ATOM-CHAR /
// resp-specials. ATOM-CHAR excludes "(", ")", "{", SP, CTL, "%", "*", DQUOTE, "\".
bool is_tag_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x1f || u >= 0x7f) {
    return false;
  }
  switch (c) {
    case '(':
    case ')':
    case '{':
    case ' ':
    case '%':
    case '*':
    case '"':
    case '\\':
    case '+':
      return false;
    default:
      return true;
  }
}

// RFC 7888 §5: the LITERAL- ceiling for non-synchronizing literals.
constexpr std::uint64_t kLiteralMinusMax = 4096;

using ascii::iequals;

}  // namespace

bool is_valid_tag(std::string_view tag) {
  return !tag.empty() && std::all_of(tag.begin(), tag.end(), is_tag_char);
}

bool find_literal_marker(std::string_view line, LiteralMarker& out) {
  if (line.empty() || line.back() != '}') {
    return false;
  }
  std::size_t close = line.size() - 1;
  std::size_t open = line.rfind('{', close);
  if (open == std::string_view::npos) {
    return false;
  }
  std::string_view digits = line.substr(open + 1, close - open - 1);
  bool non_sync = false;
  if (!digits.empty() && digits.back() == '+') {
    non_sync = true;
    digits.remove_suffix(1);
  }
  // RFC 9051 §9: number = 1*DIGIT (63-bit for number64 in literal8 lengths).
  if (digits.empty() || digits.size() > 18) {
    return false;
  }
  std::uint64_t size = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return false;
    }
    size = size * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out.size = size;
  out.non_synchronizing = non_sync;
  out.binary = open > 0 && line[open - 1] == '~';
  out.start = out.binary ? open - 1 : open;
  return true;
}

void CommandReader::receive(std::span<const char> bytes) {
  compact();
  buffer_.append(bytes.data(), bytes.size());
}

void CommandReader::compact() {
  // Keep the buffer from growing with consumed bytes; cheap because it only
  // happens when at least half of it is dead.
  if (pos_ > 0 && pos_ * 2 >= buffer_.size()) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

void CommandReader::discard_buffered_input() {
  buffer_.clear();
  pos_ = 0;
  reset_command();
  state_ = State::kLine;
}

std::string CommandReader::take_buffered_input() {
  std::string rest = buffer_.substr(pos_);
  discard_buffered_input();
  return rest;
}

ReaderEvent CommandReader::need_input() {
  // Everything received is consumed: an idle connection keeps no more buffer than a
  // command line needs (a large APPEND or pipelined burst must not stay allocated
  // for the rest of the session).
  if (pos_ == buffer_.size()) {
    if (buffer_.capacity() > kKeptCapacity) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
    pos_ = 0;
  }
  return NeedInput{};
}

void CommandReader::reset_command() {
  // Swapped, not assigned: assigning an empty string keeps the old capacity (the
  // bytes of a refused command), swapping hands it to `fresh` to free.
  RawCommand fresh;
  std::swap(current_, fresh);
  is_append_ = false;
  literal_left_ = 0;
  skipping_ = false;
  pending_rejection_ = Rejected{};
  continuation_owed_ = false;
}

ReaderEvent CommandReader::next() {
  while (true) {
    if (continuation_owed_) {
      continuation_owed_ = false;
      return SendContinuation{};
    }
    const std::size_t available = buffer_.size() - pos_;
    if (state_ == State::kLiteral) {
      std::size_t take = std::min(available, literal_left_);
      current_.bytes.append(buffer_, pos_, take);
      pos_ += take;
      literal_left_ -= take;
      if (literal_left_ > 0) {
        return need_input();
      }
      state_ = State::kLine;
      continue;
    }
    if (state_ == State::kSkipLiteral) {
      std::size_t take = std::min(available, literal_left_);
      pos_ += take;
      literal_left_ -= take;
      if (literal_left_ > 0) {
        compact();
        return need_input();
      }
      state_ = State::kLine;
      continue;
    }
    // A line: up to LF. RFC 9051 requires CRLF; a bare LF is accepted as a line end
    // (as Dovecot does) and the CR, if any, is dropped from the text.
    std::size_t lf = buffer_.find('\n', pos_);
    if (lf == std::string::npos) {
      if (available > limits_.max_line_bytes) {
        Rejected rejected{current_.tag, "command line too long", false, true};
        discard_buffered_input();
        return rejected;
      }
      return need_input();
    }
    std::string_view line(buffer_.data() + pos_, lf + 1 - pos_);
    if (line.size() > limits_.max_line_bytes + 2) {
      Rejected rejected{current_.tag, "command line too long", false, true};
      discard_buffered_input();
      return rejected;
    }
    pos_ = lf + 1;
    if (line_mode_ && current_.bytes.empty() && !skipping_) {
      std::string_view text = line.substr(0, line.size() - 1);
      if (!text.empty() && text.back() == '\r') {
        text.remove_suffix(1);
      }
      return Line{std::string(text)};
    }
    auto event = on_line(line);
    if (!std::holds_alternative<NeedInput>(event)) {
      return event;
    }
  }
}

ReaderEvent CommandReader::on_line(std::string_view line_with_lf) {
  std::string_view text = line_with_lf.substr(0, line_with_lf.size() - 1);
  if (!text.empty() && text.back() == '\r') {
    text.remove_suffix(1);
  }
  const bool first_line = current_.bytes.empty() && !skipping_;
  if (first_line) {
    std::size_t tag_end = 0;
    while (tag_end < text.size() && is_tag_char(text[tag_end])) {
      ++tag_end;
    }
    if (tag_end == 0 || tag_end == text.size() || text[tag_end] != ' ') {
      skipping_ = true;
      if (tag_end > 0 && tag_end == text.size()) {
        pending_rejection_ = Rejected{std::string(text), "missing command", false, false};
      } else {
        pending_rejection_ = Rejected{"", "missing or invalid tag", false, false};
      }
    } else {
      current_.tag = std::string(text.substr(0, tag_end));
      std::size_t name_end = tag_end + 1;
      while (name_end < text.size() && text[name_end] != ' ') {
        ++name_end;
      }
      current_.name = std::string(text.substr(tag_end + 1, name_end - tag_end - 1));
      // "UID" prefixes another command; only APPEND carries message literals.
      is_append_ = iequals(current_.name, "APPEND");
    }
  }
  if (!skipping_) {
    current_.bytes.append(line_with_lf);
    if (current_.bytes.size() >
        (is_append_ ? limits_.max_append_command_bytes : limits_.max_command_bytes)) {
      skipping_ = true;
      pending_rejection_ = Rejected{current_.tag, "command too long", true, false};
    }
  }

  LiteralMarker marker;
  if (!find_literal_marker(text, marker)) {
    // The command is complete.
    if (skipping_) {
      Rejected rejected = pending_rejection_;
      reset_command();
      return rejected;
    }
    RawCommand done = std::move(current_);
    reset_command();
    return done;
  }

  const std::uint64_t limit = is_append_ ? limits_.max_append_bytes : limits_.max_literal_bytes;
  std::string too_big_reason;
  if (limits_.literal_minus && marker.non_synchronizing && marker.size > kLiteralMinusMax) {
    too_big_reason = "non-synchronizing literal larger than 4096 bytes (LITERAL-)";
  } else if (marker.size > limit) {
    too_big_reason = "literal too large";
  } else if (!is_append_ && current_.bytes.size() + marker.size > limits_.max_command_bytes) {
    too_big_reason = "command too long";
  } else if (is_append_ && current_.bytes.size() + marker.size > limits_.max_append_command_bytes) {
    too_big_reason = "APPEND too large (all its messages together)";
  } else if (current_.literals.size() >= limits_.max_literals) {
    too_big_reason = "too many literals";
  }
  if (!too_big_reason.empty() && !skipping_) {
    skipping_ = true;
    pending_rejection_ = Rejected{current_.tag, too_big_reason, true, false};
  }

  if (skipping_) {
    if (!marker.non_synchronizing) {
      // RFC 9051 §7.5: the client waits for "+" before sending a synchronizing
      // literal; answering BAD instead ends the command, and the client sends
      // nothing more of it.
      Rejected rejected = pending_rejection_;
      reset_command();
      return rejected;
    }
    // A non-synchronizing literal is coming regardless (RFC 7888 §4, option 1):
    // read past it without storing it, then answer.
    literal_left_ = static_cast<std::size_t>(
        std::min<std::uint64_t>(marker.size, std::numeric_limits<std::size_t>::max()));
    state_ = State::kSkipLiteral;
    return NeedInput{};
  }

  current_.literals.push_back(
      LiteralSpan{current_.bytes.size(), static_cast<std::size_t>(marker.size), marker.binary});
  literal_left_ = static_cast<std::size_t>(marker.size);
  state_ = State::kLiteral;
  if (!marker.non_synchronizing) {
    continuation_owed_ = true;
  }
  return NeedInput{};
}

}  // namespace tern::imap
