// SPDX-License-Identifier: Apache-2.0
// Preview (RFC 8970) and search text. HTML conversion is deliberately a small
// tokenizer, not a DOM: it only has to find the words a reader sees.
#include "mime/facts/text.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "mime/ascii.hpp"
#include "mime/charset.hpp"
#include "mime/facts/imap_string.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"

namespace tern::mime::facts {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    cp = 0xfffd;
  }
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

struct NamedEntity {
  std::string_view name;
  std::uint32_t code_point;
};

// The named references seen in real mail; the full HTML table has 2,000+ entries
// that mail almost never uses.
constexpr std::array<NamedEntity, 24> kEntities{{
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xa0},    {"copy", 0xa9},    {"reg", 0xae},     {"trade", 0x2122}, {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201c},
    {"rdquo", 0x201d}, {"bull", 0x2022},  {"euro", 0x20ac},  {"pound", 0xa3},   {"laquo", 0xab},
    {"raquo", 0xbb},   {"middot", 0xb7},  {"eacute", 0xe9},  {"zwnj", 0x200c},
}};

// Decodes the character reference at html[i] == '&'; returns the bytes consumed (0
// when it is not a reference, so the '&' is kept as text).
std::size_t decode_reference(std::string_view html, std::size_t i, std::string& out) {
  const std::size_t semi = html.find(';', i + 1);
  if (semi == std::string_view::npos || semi - i > 12) {
    return 0;
  }
  const std::string_view name = html.substr(i + 1, semi - i - 1);
  if (name.size() >= 2 && name[0] == '#') {
    std::uint32_t cp = 0;
    const bool hex = name[1] == 'x' || name[1] == 'X';
    for (std::size_t k = hex ? 2 : 1; k < name.size(); ++k) {
      const char c = name[k];
      const int digit = ascii::hex_digit(c);
      if (digit < 0 || (!hex && digit > 9)) {
        return 0;
      }
      cp = cp * (hex ? 16u : 10u) + static_cast<std::uint32_t>(digit);
      if (cp > 0x10ffff) {
        cp = 0x110000;  // stays invalid however many digits follow
      }
    }
    append_utf8(out, cp);
    return semi - i + 1;
  }
  for (const NamedEntity& e : kEntities) {
    if (e.name == name) {
      append_utf8(out, e.code_point);
      return semi - i + 1;
    }
  }
  return 0;
}

bool tag_is(std::string_view tag, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (iequals(tag, n)) {
      return true;
    }
  }
  return false;
}

// Appends `text` with whitespace runs collapsed into one space (none at the start
// of a line), so words from adjacent chunks stay apart.
void append_collapsed(std::string& out, std::string_view text) {
  for (char c : text) {
    if (is_space(c)) {
      if (!out.empty() && out.back() != ' ' && out.back() != '\n') {
        out.push_back(' ');
      }
    } else {
      out.push_back(c);
    }
  }
}

void end_line(std::string& out) {
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  if (!out.empty() && out.back() != '\n') {
    out.push_back('\n');
  }
}

// The text of a leaf as UTF-8, transfer-decoded and charset-converted.
std::string leaf_text(std::string_view raw, const Part& p) {
  const std::string decoded = decode_transfer(p.body.in(raw), p.encoding);
  const std::string* charset = p.content_type.param("charset");
  std::string utf8 = to_utf8(decoded, charset != nullptr ? *charset : std::string_view());
  if (p.content_type.subtype == "html") {
    return html_to_text(utf8);
  }
  return utf8;
}

bool is_attachment(const Part& p) {
  return p.disposition && p.disposition->type == "attachment";
}

const std::string* file_name(const Part& p) {
  if (p.disposition) {
    if (const std::string* name = p.disposition->param("filename")) {
      return name;
    }
  }
  return p.content_type.param("name");
}

}  // namespace

std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  std::size_t i = 0;
  std::string_view skip_until;  // non-empty inside <script>, <style>, <head>
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (html.substr(i, 4) == "<!--") {
        const std::size_t end = html.find("-->", i + 4);
        i = end == std::string_view::npos ? html.size() : end + 3;
        continue;
      }
      const std::size_t end = html.find('>', i + 1);
      const std::size_t close = end == std::string_view::npos ? html.size() : end;
      std::string_view tag = html.substr(i + 1, close - i - 1);
      i = end == std::string_view::npos ? html.size() : end + 1;
      const bool closing = !tag.empty() && tag.front() == '/';
      if (closing) {
        tag.remove_prefix(1);
      }
      std::size_t name_end = 0;
      while (name_end < tag.size() && !is_space(tag[name_end]) && tag[name_end] != '/' &&
             tag[name_end] != '>') {
        ++name_end;
      }
      const std::string_view name = tag.substr(0, name_end);
      if (!skip_until.empty()) {
        if (closing && iequals(name, skip_until)) {
          skip_until = {};
        }
        continue;
      }
      if (!closing && tag_is(name, {"script", "style", "head"})) {
        skip_until = tag_is(name, {"script"})  ? "script"
                     : tag_is(name, {"style"}) ? "style"
                                               : "head";
        continue;
      }
      if (tag_is(name, {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
                        "ul", "ol", "blockquote", "pre", "hr", "title"})) {
        end_line(out);
      } else if (tag_is(name, {"td", "th"})) {
        append_collapsed(out, " ");
      }
      continue;
    }
    if (!skip_until.empty()) {
      ++i;
      continue;
    }
    if (c == '&') {
      std::string decoded;
      const std::size_t used = decode_reference(html, i, decoded);
      if (used > 0) {
        // A no-break space is a space for reading and searching.
        append_collapsed(out, decoded == "\xc2\xa0" ? std::string_view(" ") : decoded);
        i += used;
        continue;
      }
    }
    append_collapsed(out, html.substr(i, 1));
    ++i;
  }
  end_line(out);
  if (!out.empty() && out.back() == '\n') {
    out.pop_back();
  }
  return out;
}

std::string make_preview(const MessageTree& tree) {
  const std::string_view raw = tree.raw();
  const auto& parts = tree.parts();
  // An attached message (message/rfc822) is someone else's text: not previewed.
  auto inside_message = [&](const Part& p) {
    for (PartIndex up = p.parent; up != kNoPart; up = parts[up].parent) {
      if (parts[up].kind == PartKind::kMessage) {
        return true;
      }
    }
    return false;
  };
  for (const Part& p : parts) {
    if (p.kind != PartKind::kLeaf || is_attachment(p) || p.content_type.type != "text" ||
        inside_message(p)) {
      continue;
    }
    const std::string text = leaf_text(raw, p);
    // RFC 8970 §3.3: the preview is for display, so line structure is dropped,
    // and so are quoted lines ("> ..."): the text they quote is older than this
    // message (Dovecot's previews leave them out too).
    std::string preview;
    std::size_t chars = 0;
    bool space = false;
    bool line_start = true;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size() && chars <= kMaxPreviewChars; ++i) {
      const auto u = static_cast<unsigned char>(text[i]);
      if (text[i] == '\n') {
        line_start = true;
        quoted = false;
        space = !preview.empty();
        continue;
      }
      if (line_start) {
        line_start = false;
        quoted = text[i] == '>';
      }
      if (quoted) {
        continue;
      }
      if (is_space(text[i])) {
        space = !preview.empty();
        continue;
      }
      const bool starts_char = (u & 0xc0u) != 0x80;
      if (starts_char) {
        if (chars + (space ? 1 : 0) >= kMaxPreviewChars) {
          break;
        }
        if (space) {
          preview.push_back(' ');
          ++chars;
          space = false;
        }
        ++chars;
      }
      preview.push_back(text[i]);
    }
    if (!preview.empty()) {
      return preview;
    }
  }
  return {};
}

std::string extract_search_text(const MessageTree& tree) {
  const std::string_view raw = tree.raw();
  std::string out;
  for (const Part& p : tree.parts()) {
    if (const std::string* name = file_name(p); name != nullptr && !name->empty()) {
      out += *name;
      out.push_back('\n');
    }
    if (p.kind == PartKind::kLeaf && p.content_type.type == "text" && !is_attachment(p)) {
      out += leaf_text(raw, p);
      out.push_back('\n');
    }
  }
  return out;
}

namespace {

// `utf8` with the ASCII letters from `first` to `first + 25` moved to the other
// case, when it is all ASCII (then ICU is not needed); nullopt otherwise.
std::optional<std::string> ascii_recased(std::string_view utf8, char first) {
  std::string out(utf8);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return std::nullopt;
    }
    if (c >= first && c < first + 26) {
      c = static_cast<char>(c ^ 0x20);
    }
  }
  return out;
}

icu::UnicodeString unicode_of(std::string_view utf8) {
  return icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<std::int32_t>(utf8.size())));
}

}  // namespace

std::string fold_case(std::string_view utf8) {
  if (auto ascii = ascii_recased(utf8, 'A')) {
    return std::move(*ascii);
  }
  // Full case folding (not lower-casing): "ß" folds to "ss" like "SS" does.
  icu::UnicodeString text = unicode_of(utf8);
  text.foldCase();
  std::string out;
  text.toUTF8String(out);
  return out;
}

std::string unicode_casemap(std::string_view utf8) {
  if (auto ascii = ascii_recased(utf8, 'a')) {
    return std::move(*ascii);
  }
  icu::UnicodeString text = unicode_of(utf8);
  icu::UnicodeString titled;
  for (std::int32_t i = 0; i < text.length();) {
    const UChar32 c = text.char32At(i);
    titled.append(u_totitle(c));
    i += U16_LENGTH(c);
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkd = icu::Normalizer2::getNFKDInstance(status);
  icu::UnicodeString decomposed;
  if (U_SUCCESS(status)) {
    decomposed = nfkd->normalize(titled, status);
  }
  std::string out;
  (U_SUCCESS(status) ? decomposed : titled).toUTF8String(out);
  return out;
}

std::string make_search_headers(const MessageTree& tree) {
  const std::string_view raw = tree.raw();
  std::string out;
  const Part& top = tree.parts()[0];
  for (const HeaderField& field : top.fields) {
    std::string name(field.name.in(raw));
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    // Unfolding first keeps an encoded word split by folding intact (RFC 2047 §2).
    std::string value = decode_words(unfold(field.value.in(raw)));
    for (char& c : value) {
      if (c == '\r' || c == '\n') {
        c = ' ';
      }
    }
    out += name;
    out += ':';
    out += fold_case(value);
    out += '\n';
  }
  return out;
}

}  // namespace tern::mime::facts
