// SPDX-License-Identifier: Apache-2.0
#include "mailauth/canonicalization.hpp"

#include "base/ascii.hpp"
#include "mailauth/tag_list.hpp"

namespace tern::mailauth {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

// The line starting at `pos`: [pos, end of line), and the position after its
// line break.
struct Line {
  std::string_view text;
  std::size_t next = 0;
};

Line line_at(std::string_view s, std::size_t pos) {
  std::size_t lf = s.find('\n', pos);
  if (lf == std::string_view::npos) {
    return Line{s.substr(pos), s.size()};
  }
  std::size_t end = lf;
  if (end > pos && s[end - 1] == '\r') {
    --end;
  }
  return Line{s.substr(pos, end - pos), lf + 1};
}

}  // namespace

SplitMessage split_message(std::string_view message) {
  SplitMessage out;
  std::size_t pos = 0;
  if (message.starts_with("From ")) {
    pos = line_at(message, 0).next;
  }
  while (pos < message.size()) {
    Line line = line_at(message, pos);
    if (line.text.empty()) {
      out.body = message.substr(line.next);
      return out;
    }
    std::size_t colon = line.text.find(':');
    if (is_wsp(line.text.front()) || colon == std::string_view::npos) {
      if (is_wsp(line.text.front()) && !out.fields.empty()) {
        // A stray continuation before any field is dropped below; one after a
        // field belongs to it.
      }
      out.body = message.substr(pos);
      return out;
    }
    std::size_t start = pos;
    pos = line.next;
    // Folded continuation lines start with WSP (RFC 5322 §2.2.3).
    while (pos < message.size() && is_wsp(message[pos])) {
      pos = line_at(message, pos).next;
    }
    std::string_view name = line.text.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) {
      name.remove_suffix(1);
    }
    out.fields.push_back(RawHeaderField{name, message.substr(start, pos - start)});
  }
  return out;
}

std::string canonicalize_header(Canonicalization c, std::string_view raw_field, bool with_crlf) {
  std::string out;
  out.reserve(raw_field.size() + 2);
  if (c == Canonicalization::kSimple) {
    // RFC 6376 §3.4.1: no change, except that line breaks are CRLF.
    std::size_t pos = 0;
    while (pos < raw_field.size()) {
      Line line = line_at(raw_field, pos);
      out.append(line.text);
      if (line.next <= raw_field.size() && raw_field[line.next - 1] == '\n') {
        out.append("\r\n");
      }
      pos = line.next;
    }
    if (!out.ends_with("\r\n")) {
      out.append("\r\n");
    }
  } else {
    // RFC 6376 §3.4.2: lower-case the name, unfold, reduce WSP runs to one SP,
    // drop WSP at the end of the value and around the colon.
    std::size_t colon = raw_field.find(':');
    std::string_view name = raw_field.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) {
      name.remove_suffix(1);
    }
    out.append(ascii::lower(name));
    out.push_back(':');
    bool pending_space = false;
    bool started = false;
    for (std::size_t i = colon == std::string_view::npos ? raw_field.size() : colon + 1;
         i < raw_field.size(); ++i) {
      char ch = raw_field[i];
      if (ch == '\r' || ch == '\n') {
        continue;
      }
      if (is_wsp(ch)) {
        pending_space = started;
        continue;
      }
      if (pending_space) {
        out.push_back(' ');
        pending_space = false;
      }
      out.push_back(ch);
      started = true;
    }
    out.append("\r\n");
  }
  if (!with_crlf) {
    out.resize(out.size() - 2);
  }
  return out;
}

std::string select_signed_headers(const SplitMessage& split, const std::vector<std::string>& names,
                                  Canonicalization c) {
  std::vector<bool> used(split.fields.size(), false);
  std::string out;
  for (const std::string& name : names) {
    for (std::size_t i = split.fields.size(); i-- > 0;) {
      if (!used[i] && ascii::iequals(split.fields[i].name, name)) {
        used[i] = true;
        out += canonicalize_header(c, split.fields[i].raw);
        break;
      }
    }
  }
  return out;
}

std::optional<std::string> blank_b_value(std::string_view raw_field) {
  std::size_t colon = raw_field.find(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  auto tags = parse_tag_list(raw_field.substr(colon + 1));
  if (!tags) {
    return std::nullopt;
  }
  auto b = find_tag(*tags, "b");
  if (!b) {
    return std::nullopt;
  }
  std::string out(raw_field);
  out.erase(colon + 1 + b->value_offset, b->value.size());
  return out;
}

void BodyCanonicalizer::emit_content(char c, std::string& out) {
  for (; empty_lines_ > 0; --empty_lines_) {
    out.append("\r\n");
  }
  if (pending_wsp_) {
    out.push_back(' ');
    pending_wsp_ = false;
  }
  out.push_back(c);
  line_has_content_ = true;
  emitted_any_ = true;
}

void BodyCanonicalizer::end_line(std::string& out) {
  // Relaxed: WSP at the end of a line is ignored (RFC 6376 §3.4.4 b).
  pending_wsp_ = false;
  if (line_has_content_) {
    out.append("\r\n");
    line_has_content_ = false;
  } else {
    // Empty lines are held back: at the end of the body they are ignored
    // (§3.4.3, §3.4.4 c).
    ++empty_lines_;
  }
}

void BodyCanonicalizer::feed(std::string_view bytes, std::string& out) {
  for (char c : bytes) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        end_line(out);
        continue;
      }
      emit_content('\r', out);
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      end_line(out);
    } else if (canon_ == Canonicalization::kRelaxed && is_wsp(c)) {
      // Relaxed: a run of WSP becomes one SP (§3.4.4 a); emitted only if content
      // follows on the line.
      pending_wsp_ = true;
    } else {
      emit_content(c, out);
    }
  }
}

void BodyCanonicalizer::finish(std::string& out) {
  if (pending_cr_) {
    pending_cr_ = false;
    emit_content('\r', out);
  }
  if (line_has_content_) {
    // A last line without a line break gets one.
    end_line(out);
  }
  // Simple: an empty body is one CRLF (§3.4.3). Relaxed: it stays empty
  // (§3.4.4 as corrected by erratum 3192... both dkimpy and OpenDKIM agree).
  if (canon_ == Canonicalization::kSimple && !emitted_any_) {
    out.append("\r\n");
  }
}

std::string canonicalize_body(Canonicalization c, std::string_view body) {
  std::string out;
  BodyCanonicalizer canon(c);
  canon.feed(body, out);
  canon.finish(out);
  return out;
}

}  // namespace tern::mailauth
