// SPDX-License-Identifier: Apache-2.0
#include "mime/facts/section.hpp"

#include <string>
#include <string_view>

#include "mime/facts/imap_string.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"

namespace tern::mime::facts {
namespace {

Error bad_section(std::string_view spec) {
  return fail(ErrorCode::kInvalidInput, "bad section \"" + std::string(spec) + "\"");
}

bool consume_keyword(std::string_view& s, std::string_view keyword) {
  if (s.size() < keyword.size() || !iequals(s.substr(0, keyword.size()), keyword)) {
    return false;
  }
  s.remove_prefix(keyword.size());
  return true;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

// RFC 9051 §9: ATOM-CHAR is any CHAR except atom-specials.
bool is_astring_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' &&
         c != '"' && c != '\\';
}

// Parses "(" header-fld-name *(SP header-fld-name) ")".
bool parse_field_list(std::string_view s, std::vector<std::string>& fields) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') {
    return false;
  }
  s = s.substr(1, s.size() - 2);
  while (!s.empty()) {
    std::string name;
    if (s.front() == '"') {
      std::size_t i = 1;
      for (; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          ++i;
        }
        name.push_back(s[i]);
      }
      if (i >= s.size()) {
        return false;
      }
      s.remove_prefix(i + 1);
    } else {
      std::size_t i = 0;
      while (i < s.size() && is_astring_char(s[i])) {
        name.push_back(s[i++]);
      }
      s.remove_prefix(i);
    }
    if (name.empty()) {
      return false;
    }
    fields.push_back(ascii_upper(name));
    if (!s.empty()) {
      if (s.front() != ' ' || s.size() == 1) {
        return false;
      }
      s.remove_prefix(1);
    }
  }
  return !fields.empty();
}

// The name of the header field starting at `line` (up to the colon, trailing
// blanks removed), or empty for a line that is not a field.
std::string_view field_name(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return {};
  }
  std::string_view name = line.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
    name.remove_suffix(1);
  }
  return name;
}

// RFC 9051 §6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT over one header block.
std::string filter_header(std::string_view header, const std::vector<std::string>& fields,
                          bool keep_listed) {
  std::string out;
  bool keep = false;
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t eol = header.find('\n', pos);
    eol = eol == std::string_view::npos ? header.size() : eol + 1;
    const std::string_view line = header.substr(pos, eol - pos);
    pos = eol;
    if (line == "\n" || line == "\r\n") {
      break;  // the blank line ending the header
    }
    if (line.front() != ' ' && line.front() != '\t') {
      const std::string_view name = field_name(line);
      bool listed = false;
      for (const std::string& f : fields) {
        listed = listed || iequals(f, name);
      }
      keep = !name.empty() && listed == keep_listed;
    }
    if (keep) {
      out.append(line);
      if (line.back() != '\n') {
        out += "\r\n";  // a header cut off by the end of the message
      }
    }
  }
  // The blank line is part of the result; it follows the message's own line ends.
  const std::size_t first_lf = header.find('\n');
  out += first_lf != std::string_view::npos && first_lf > 0 && header[first_lf - 1] != '\r'
             ? "\n"
             : "\r\n";
  return out;
}

std::string_view slice(std::string_view raw, std::uint64_t begin, std::uint64_t end) {
  if (begin > raw.size() || end > raw.size() || begin > end) {
    return {};  // facts from another message: never read outside `raw`
  }
  return raw.substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
}

Result<const PartFacts*> find(const Facts& facts, const std::vector<std::uint32_t>& part) {
  TERN_TRY(const std::uint32_t index, resolve_part(facts, part));
  return &facts.parts[index];
}

}  // namespace

Result<Section> parse_section(std::string_view spec) {
  Section section;
  std::string_view s = spec;
  while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
    if (s.front() == '0') {
      return bad_section(spec);  // nz-number
    }
    std::uint64_t n = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      n = n * 10 + static_cast<std::uint64_t>(s.front() - '0');
      if (n > 0xffffffffu) {
        return bad_section(spec);
      }
      s.remove_prefix(1);
    }
    section.part.push_back(static_cast<std::uint32_t>(n));
    if (s.empty()) {
      return section;
    }
    if (s.front() != '.') {
      return bad_section(spec);
    }
    s.remove_prefix(1);
    if (s.empty()) {
      return bad_section(spec);
    }
  }
  if (s.empty()) {
    return section;
  }
  if (consume_keyword(s, "HEADER.FIELDS.NOT")) {
    section.text = SectionText::kHeaderFieldsNot;
  } else if (consume_keyword(s, "HEADER.FIELDS")) {
    section.text = SectionText::kHeaderFields;
  } else if (consume_keyword(s, "HEADER")) {
    section.text = SectionText::kHeader;
  } else if (consume_keyword(s, "TEXT")) {
    section.text = SectionText::kText;
  } else if (consume_keyword(s, "MIME")) {
    section.text = SectionText::kMime;
    if (section.part.empty()) {
      return bad_section(spec);  // RFC 9051 §9: section-text "MIME" follows a part
    }
  } else {
    return bad_section(spec);
  }
  if (section.text == SectionText::kHeaderFields || section.text == SectionText::kHeaderFieldsNot) {
    if (s.empty() || s.front() != ' ' || !parse_field_list(s.substr(1), section.fields)) {
      return bad_section(spec);
    }
    return section;
  }
  if (!s.empty()) {
    return bad_section(spec);
  }
  return section;
}

Result<std::uint32_t> resolve_part(const Facts& facts, const std::vector<std::uint32_t>& part) {
  if (facts.parts.empty()) {
    return fail(ErrorCode::kNotFound, "no such part");
  }
  std::uint32_t index = 0;
  bool first = true;
  for (std::uint32_t n : part) {
    const PartFacts* p = &facts.parts[index];
    // RFC 9051 §6.4.5: the numbers of a message/rfc822 part continue in the
    // encapsulated message's body. The message itself is not such a part until a
    // number selected it: for a top-level message/rfc822, 1 is its body (the
    // encapsulated message) and 1.N continues inside.
    if (p->kind == PartKind::kMessage && !p->children.empty() && (index != 0 || !first)) {
      index = p->children.front();
      p = &facts.parts[index];
    }
    if (p->kind == PartKind::kMultipart) {
      if (n == 0 || n > p->children.size()) {
        return fail(ErrorCode::kNotFound, "no such part");
      }
      index = p->children[n - 1];
    } else if (n != 1) {
      return fail(ErrorCode::kNotFound, "no such part");
    }
    first = false;
  }
  return index;
}

Result<std::string> body_section(std::string_view raw, const Facts& facts, const Section& section) {
  TERN_TRY(const PartFacts* p, find(facts, section.part));
  if (section.text == SectionText::kNone) {
    if (section.part.empty()) {
      return std::string(raw);
    }
    return std::string(slice(raw, p->body_begin, p->body_end));
  }
  if (section.text == SectionText::kMime) {
    if (section.part.empty()) {
      return fail(ErrorCode::kInvalidInput, "MIME needs a part number");
    }
    return std::string(slice(raw, p->header_begin, p->body_begin));
  }
  // HEADER and TEXT of a message/rfc822 part refer to the encapsulated message.
  if (!section.part.empty() && p->kind == PartKind::kMessage && !p->children.empty()) {
    p = &facts.parts[p->children.front()];
  }
  const std::string_view header = slice(raw, p->header_begin, p->body_begin);
  switch (section.text) {
    case SectionText::kHeader:
      return std::string(header);
    case SectionText::kText:
      return std::string(slice(raw, p->body_begin, p->body_end));
    case SectionText::kHeaderFields:
      return filter_header(header, section.fields, true);
    case SectionText::kHeaderFieldsNot:
      return filter_header(header, section.fields, false);
    case SectionText::kNone:
    case SectionText::kMime:
      break;
  }
  return fail(ErrorCode::kInternal, "unhandled section text");
}

Result<std::string> binary_section(std::string_view raw, const Facts& facts,
                                   const std::vector<std::uint32_t>& part) {
  if (part.empty()) {
    return std::string(raw);
  }
  TERN_TRY(const PartFacts* p, find(facts, part));
  if (!p->binary_decodable) {
    return fail(ErrorCode::kPermanent, "unknown-cte");
  }
  const std::string_view body = slice(raw, p->body_begin, p->body_end);
  if (p->kind != PartKind::kLeaf) {
    return std::string(body);
  }
  return decode_transfer(body, p->encoding);
}

Result<std::uint64_t> binary_size(const Facts& facts, const std::vector<std::uint32_t>& part) {
  if (part.empty()) {
    return facts.size;
  }
  TERN_TRY(const PartFacts* p, find(facts, part));
  if (!p->binary_decodable) {
    return fail(ErrorCode::kPermanent, "unknown-cte");
  }
  return p->binary_size;
}

std::string_view partial(std::string_view octets, std::uint64_t origin,
                         std::optional<std::uint64_t> length) {
  if (origin >= octets.size()) {
    return {};
  }
  octets.remove_prefix(static_cast<std::size_t>(origin));
  if (length && *length < octets.size()) {
    octets = octets.substr(0, static_cast<std::size_t>(*length));
  }
  return octets;
}

}  // namespace tern::mime::facts
