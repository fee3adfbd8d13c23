// SPDX-License-Identifier: Apache-2.0
// Header value decoding. The leniencies follow what Dovecot, Thunderbird and GMime
// accept, because senders that break RFC 2047 and RFC 2231 are common.
#include "mime/header.hpp"

#include <algorithm>
#include <cstdlib>

#include "base/ascii.hpp"
#include "base/civil_date.hpp"
#include "mime/ascii.hpp"
#include "mime/charset.hpp"
#include "mime/transfer.hpp"

namespace tern::mime {

namespace {

using ascii::hex_digit;
using ascii::is_wsp;
using ascii::lower;

constexpr std::size_t kMaxEncodedWordCharset = 64;
constexpr int kMaxContinuations = 1000;
// Parameters kept per structured value; real fields have a handful, and assembly is
// quadratic in the count.
constexpr std::size_t kMaxParameters = 128;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = lower(c);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// RFC 2045 §5.1 tspecials plus blanks and controls end a token.
bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u == 127) {
    return false;
  }
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '/':
    case '[':
    case ']':
    case '?':
    case '=':
      return false;
    default:
      return true;
  }
}

// An RFC 2047 encoded word found in a value.
struct EncodedWord {
  std::size_t begin = 0;  // offset of "=?"
  std::size_t end = 0;    // offset just past "?="
  std::string_view charset;
  std::string bytes;  // decoded, still in `charset`
};

// Parses an encoded word at `pos` ("=?" already seen there). RFC 2047 §2 syntax with
// leniencies: any case for B/Q, a language suffix (RFC 2231 §5) dropped, blanks
// inside the text tolerated (some mailers forget to encode them).
// `last_close` is the offset of the last "?=" in `s` (npos when none): a word whose
// text starts after it cannot close, and skipping the search keeps decoding linear
// on input full of "=?" openers.
bool parse_word(std::string_view s, std::size_t pos, std::size_t last_close, EncodedWord& w) {
  std::size_t cs_begin = pos + 2;
  std::size_t q1 = s.find('?', cs_begin);
  if (q1 == std::string_view::npos || q1 == cs_begin || q1 - cs_begin > kMaxEncodedWordCharset) {
    return false;
  }
  std::string_view charset = s.substr(cs_begin, q1 - cs_begin);
  for (char c : charset) {
    if (is_space(c) || c == '=') {
      return false;
    }
  }
  if (q1 + 2 >= s.size() || s[q1 + 2] != '?') {
    return false;
  }
  char enc = lower(s[q1 + 1]);
  if (enc != 'b' && enc != 'q') {
    return false;
  }
  std::size_t text_begin = q1 + 3;
  if (last_close == std::string_view::npos || text_begin > last_close) {
    return false;
  }
  std::size_t close = s.find("?=", text_begin);
  if (close == std::string_view::npos) {
    return false;
  }
  std::string_view text = s.substr(text_begin, close - text_begin);
  if (std::size_t star = charset.find('*'); star != std::string_view::npos) {
    charset = charset.substr(0, star);
  }
  w.begin = pos;
  w.end = close + 2;
  w.charset = charset;
  if (enc == 'b') {
    w.bytes = decode_base64(text);
  } else {
    // RFC 2047 §4.2: '_' is a space, =XX an octet, the rest literal. Not the body
    // QP decoder: blanks at the end of a word are data here, not transport padding.
    w.bytes.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      int hi = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
      if (text[i] == '=' && hi >= 0 && lo >= 0) {
        w.bytes.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        w.bytes.push_back(text[i] == '_' ? ' ' : text[i]);
      }
    }
  }
  return true;
}

// Literal text outside encoded words: UTF-8 passes (RFC 6532), other 8-bit bytes
// are read in the fallback charset.
void append_text(std::string& out, std::string_view text, std::string_view fallback) {
  if (text.empty()) {
    return;
  }
  out += to_utf8(text, fallback);
}

}  // namespace

std::string unfold(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') {
      out.push_back(c);
    }
  }
  std::string_view t = trim(out);
  return std::string(t);
}

std::string decode_words(std::string_view value, std::string_view fallback_charset) {
  std::string s = unfold(value);
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;     // start of text not yet emitted
  std::size_t search = 0;  // where to look for the next "=?"
  // Bytes of adjacent words in one charset, converted together so that a character
  // split across two words (seen with B-encoded CJK) survives.
  std::string pending;
  std::string pending_charset;
  auto flush = [&] {
    if (!pending.empty()) {
      out += to_utf8(pending, pending_charset);
      pending.clear();
    }
  };
  bool last_was_word = false;
  std::size_t last_close = s.rfind("?=");
  while (true) {
    std::size_t at = s.find("=?", search);
    if (at == std::string::npos) {
      break;
    }
    EncodedWord w;
    if (!parse_word(s, at, last_close, w)) {
      search = at + 2;
      continue;
    }
    std::string_view between = std::string_view(s).substr(pos, at - pos);
    bool only_space = std::all_of(between.begin(), between.end(), is_wsp);
    // RFC 2047 §6.2: whitespace between adjacent encoded words is not displayed.
    if (!(last_was_word && only_space)) {
      flush();
      append_text(out, between, fallback_charset);
    }
    if (!pending.empty() && !iequals(pending_charset, w.charset)) {
      flush();
    }
    pending_charset.assign(w.charset);
    pending += w.bytes;
    last_was_word = true;
    pos = w.end;
    search = w.end;
  }
  flush();
  append_text(out, std::string_view(s).substr(pos), fallback_charset);
  return out;
}

std::string encode_words(std::string_view utf8) {
  auto needs_encoding = [](std::string_view word) {
    for (char c : word) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 127 || (u < 32 && c != '\t')) {
        return true;
      }
    }
    return word.find("=?") != std::string_view::npos;
  };
  // Split at single spaces; runs of words that need encoding become one sequence of
  // encoded words (the spaces inside a run are encoded, RFC 2047 §6.2).
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (true) {
    std::size_t sp = utf8.find(' ', start);
    words.push_back(
        utf8.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) {
      break;
    }
    start = sp + 1;
  }
  bool any = std::any_of(words.begin(), words.end(), needs_encoding);
  if (!any) {
    return std::string(utf8);
  }
  std::string out;
  auto encode_run = [&](std::string_view run) {
    // RFC 2047 §5 (3): in a phrase only letters, digits and "!*+-/" may stay literal
    // in Q; an encoded word is at most 75 characters (§2), so at most 63 of payload.
    constexpr std::size_t kPayload = 75 - 12;
    constexpr std::size_t kBase64Bytes = kPayload / 4 * 3;  // 45 bytes -> 60 characters
    // Whole UTF-8 characters with their Q form, so no word splits a sequence.
    std::vector<std::pair<std::string_view, std::string>> chars;
    std::size_t q_total = 0;
    for (std::size_t i = 0; i < run.size();) {
      auto u = static_cast<unsigned char>(run[i]);
      std::size_t len = std::min<std::size_t>(u < 0x80   ? 1
                                              : u < 0xE0 ? 2
                                              : u < 0xF0 ? 3
                                                         : 4,
                                              run.size() - i);
      std::string unit;
      for (std::size_t k = 0; k < len; ++k) {
        auto b = static_cast<unsigned char>(run[i + k]);
        bool literal = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                       b == '!' || b == '*' || b == '+' || b == '-' || b == '/';
        if (b == ' ') {
          unit.push_back('_');
        } else if (literal) {
          unit.push_back(static_cast<char>(b));
        } else {
          static constexpr char kHex[] = "0123456789ABCDEF";
          unit.push_back('=');
          unit.push_back(kHex[b >> 4]);
          unit.push_back(kHex[b & 0xF]);
        }
      }
      q_total += unit.size();
      chars.emplace_back(run.substr(i, len), std::move(unit));
      i += len;
    }
    // B when it is clearly shorter (CJK, Cyrillic, Greek); Q keeps mostly-Latin text
    // legible to readers that do not decode.
    bool use_b = (run.size() + 2) / 3 * 4 * 4 < q_total * 3;
    std::string word;  // Q: encoded text; B: raw bytes still to encode
    auto close_word = [&] {
      if (!out.empty() && out.back() != ' ') {
        out.push_back(' ');
      }
      if (use_b) {
        std::string b64 = encode_base64(word);
        b64.resize(b64.size() - 2);  // the CRLF encode_base64 ends its only line with
        out += "=?UTF-8?B?" + b64 + "?=";
      } else {
        out += "=?UTF-8?Q?" + word + "?=";
      }
      word.clear();
    };
    for (const auto& [bytes, q] : chars) {
      std::string_view piece = use_b ? bytes : std::string_view(q);
      if (!word.empty() && word.size() + piece.size() > (use_b ? kBase64Bytes : kPayload)) {
        close_word();
      }
      word += piece;
    }
    if (!word.empty()) {
      close_word();
    }
  };
  std::size_t i = 0;
  while (i < words.size()) {
    if (!needs_encoding(words[i])) {
      if (i > 0) {
        out.push_back(' ');
      }
      out += words[i];
      ++i;
      continue;
    }
    // Extend the run over following words that need encoding, and over blank words
    // between two such words (their spaces would otherwise vanish, RFC 2047 §6.2).
    std::size_t j = i;
    for (std::size_t k = i + 1; k < words.size(); ++k) {
      if (needs_encoding(words[k])) {
        j = k;
      } else if (!std::all_of(words[k].begin(), words[k].end(), is_wsp)) {
        break;
      }
    }
    std::string_view run =
        utf8.substr(static_cast<std::size_t>(words[i].data() - utf8.data()),
                    static_cast<std::size_t>(words[j].data() + words[j].size() - words[i].data()));
    if (i > 0) {
      out.push_back(' ');
    }
    encode_run(run);
    i = j + 1;
  }
  return out;
}

namespace {

// Skips blanks, line ends and RFC 5322 §3.2.2 comments (nested, with quoted-pairs).
std::size_t skip_cfws(std::string_view s, std::size_t i) {
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      int depth = 0;
      while (i < s.size()) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          i += 2;
          continue;
        }
        if (s[i] == '(') {
          ++depth;
        } else if (s[i] == ')') {
          if (--depth == 0) {
            ++i;
            break;
          }
        }
        ++i;
      }
    } else {
      break;
    }
  }
  return i;
}

std::size_t read_token(std::string_view s, std::size_t i) {
  while (i < s.size() && is_token_char(s[i])) {
    ++i;
  }
  return i;
}

// A raw parameter before RFC 2231 assembly.
struct RawParam {
  std::string name;  // lower case, without the section suffix
  int section = -1;  // -1: not a continuation
  bool extended = false;
  std::string value;
};

std::string percent_decode(std::string_view s) {
  auto hex = hex_digit;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
      continue;
    }
    out.push_back(s[i]);  // RFC 2231 §4 allows no bare '%'; keep it rather than lose it
  }
  return out;
}

// Plain (non-RFC 2231) values. RFC 2047 words inside quoted file names are a
// widespread violation (RFC 2047 §5 forbids them) that every client decodes; other
// parameters are left alone. A boundary stays byte for byte: it is compared with
// raw body lines, and "=?" or trailing blanks may be part of it.
std::string plain_value(std::string_view name, std::string_view v) {
  if (name == "boundary") {
    return std::string(v);
  }
  if ((name == "name" || name == "filename") && v.find("=?") != std::string_view::npos) {
    return decode_words(v);
  }
  return to_utf8(v, "");
}

}  // namespace

StructuredValue parse_structured(std::string_view s) {
  StructuredValue result;
  std::size_t i = skip_cfws(s, 0);
  std::size_t t = read_token(s, i);
  if (t > i) {
    result.value = lowered(s.substr(i, t - i));
    std::size_t j = skip_cfws(s, t);
    if (j < s.size() && s[j] == '/') {
      std::size_t k = skip_cfws(s, j + 1);
      std::size_t e = read_token(s, k);
      result.value += '/';
      result.value += lowered(s.substr(k, e - k));
      t = e;
    }
  }
  i = t;
  std::vector<RawParam> raw;
  while (i < s.size()) {
    i = skip_cfws(s, i);
    if (i >= s.size()) {
      break;
    }
    if (s[i] == ';') {
      ++i;
      continue;
    }
    std::size_t name_end = read_token(s, i);
    if (name_end == i) {
      // Not a parameter: skip to the next ';' (a stray quote or tspecial).
      std::size_t semi = s.find(';', i + 1);
      if (semi == std::string_view::npos) {
        break;
      }
      i = semi;
      continue;
    }
    std::string name = lowered(s.substr(i, name_end - i));
    i = skip_cfws(s, name_end);
    if (i >= s.size() || s[i] != '=') {
      continue;  // a name without a value carries nothing
    }
    i = skip_cfws(s, i + 1);
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) {
          ++i;
        }
        if (s[i] != '\r' && s[i] != '\n') {
          value.push_back(s[i]);
        }
        ++i;
      }
      ++i;  // the closing quote (or past the end when it is missing)
    } else {
      // Lenient: an unquoted value runs to the next ';' and may hold tspecials
      // and blanks (unquoted "name=a b.pdf" is common). It never runs across a
      // folded line break, nor into what reads as the next parameter when the
      // ';' before it is missing ("access-type=mail-server<CRLF> server=x"):
      // RFC 2045 §5.1 ends a token there, and Dovecot does too.
      std::size_t semi = s.find(';', i);
      std::size_t e = semi == std::string_view::npos ? s.size() : semi;
      for (std::size_t k = i; k < e; ++k) {
        if (s[k] == '\r' || s[k] == '\n') {
          e = k;
          break;
        }
        if (s[k] == ' ' || s[k] == '\t') {
          std::size_t n = k;
          while (n < e && (s[n] == ' ' || s[n] == '\t')) {
            ++n;
          }
          std::size_t name_after = read_token(s, n);
          std::size_t eq = name_after;
          while (eq < e && (s[eq] == ' ' || s[eq] == '\t')) {
            ++eq;
          }
          if (name_after > n && eq < e && s[eq] == '=') {
            e = k;
            break;
          }
        }
      }
      value = std::string(trim(s.substr(i, e - i)));
      i = e;
    }
    RawParam p;
    // RFC 2231 §3 and §4: name*N (continuation), name* (extended), name*N* (both).
    std::size_t star = name.find('*');
    if (star != std::string::npos) {
      std::string_view suffix = std::string_view(name).substr(star + 1);
      if (!suffix.empty() && suffix.back() == '*') {
        p.extended = true;
        suffix.remove_suffix(1);
      } else if (suffix.empty()) {
        p.extended = true;
      }
      if (!suffix.empty()) {
        bool digits =
            std::all_of(suffix.begin(), suffix.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || suffix.size() > 4) {
          continue;
        }
        p.section = std::atoi(std::string(suffix).c_str());
        if (p.section >= kMaxContinuations) {
          continue;
        }
      }
      name.resize(star);
    }
    p.name = std::move(name);
    p.value = std::move(value);
    raw.push_back(std::move(p));
    if (raw.size() >= kMaxParameters) {
      break;
    }
  }

  // Assemble: one parameter per name, in order of first appearance. An RFC 2231 form
  // wins over a plain one of the same name (RFC 2231-aware readers prefer it).
  std::vector<std::string> order;
  for (const RawParam& p : raw) {
    if (std::find(order.begin(), order.end(), p.name) == order.end()) {
      order.push_back(p.name);
    }
  }
  for (const std::string& name : order) {
    std::vector<const RawParam*> sections;
    const RawParam* plain = nullptr;
    const RawParam* extended = nullptr;
    for (const RawParam& p : raw) {
      if (p.name != name) {
        continue;
      }
      if (p.section >= 0) {
        sections.push_back(&p);
      } else if (p.extended) {
        if (extended == nullptr) {
          extended = &p;
        }
      } else if (plain == nullptr) {
        plain = &p;
      }
    }
    Parameter out;
    out.name = name;
    auto split_charset = [&out](std::string_view v) -> std::string_view {
      // charset'language'text (RFC 2231 §4); without both quotes it is plain text.
      std::size_t q1 = v.find('\'');
      std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
      if (q2 == std::string_view::npos) {
        return v;
      }
      out.charset = std::string(v.substr(0, q1));
      out.language = std::string(v.substr(q1 + 1, q2 - q1 - 1));
      return v.substr(q2 + 1);
    };
    if (!sections.empty()) {
      std::stable_sort(sections.begin(), sections.end(), [](const RawParam* a, const RawParam* b) {
        return a->section < b->section;
      });
      std::string bytes;
      bool any_extended = false;
      int expected = 0;
      for (const RawParam* p : sections) {
        if (p->section != expected) {
          if (p->section < expected) {
            continue;  // a duplicate section: the first one wins
          }
          // A gap: RFC 2231 §3 says the sections must be contiguous; keep what we
          // have rather than lose the value.
        }
        expected = p->section + 1;
        if (p->extended) {
          std::string_view v = p->value;
          if (p == sections.front() && p->section == 0) {
            v = split_charset(v);
          }
          bytes += percent_decode(v);
          any_extended = true;
        } else {
          bytes += p->value;
        }
      }
      out.value = any_extended && !out.charset.empty() ? to_utf8(bytes, out.charset)
                                                       : plain_value(name, bytes);
    } else if (extended != nullptr) {
      std::string_view v = split_charset(extended->value);
      std::string bytes = percent_decode(v);
      out.value = out.charset.empty() ? plain_value(name, bytes) : to_utf8(bytes, out.charset);
    } else if (plain != nullptr) {
      out.value = plain_value(name, plain->value);
    }
    result.params.push_back(std::move(out));
  }
  return result;
}

bool parse_content_type(std::string_view raw_value, ContentType& type) {
  StructuredValue v = parse_structured(raw_value);
  std::size_t slash = v.value.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == v.value.size()) {
    return false;  // RFC 2045 §5.2: an unusable Content-Type means the default
  }
  type.type = v.value.substr(0, slash);
  type.subtype = v.value.substr(slash + 1);
  type.params = std::move(v.params);
  type.from_header = true;
  return true;
}

TransferEncoding parse_transfer_encoding(std::string_view raw_value) {
  std::size_t i = skip_cfws(raw_value, 0);
  std::size_t e = read_token(raw_value, i);
  std::string token = lowered(raw_value.substr(i, e - i));
  if (token.empty() || token == "7bit") {
    return TransferEncoding::k7Bit;
  }
  if (token == "8bit") {
    return TransferEncoding::k8Bit;
  }
  if (token == "binary") {
    return TransferEncoding::kBinary;
  }
  if (token == "quoted-printable") {
    return TransferEncoding::kQuotedPrintable;
  }
  if (token == "base64") {
    return TransferEncoding::kBase64;
  }
  if (token == "x-uuencode" || token == "uuencode" || token == "x-uue") {
    return TransferEncoding::kUuencode;
  }
  return TransferEncoding::kUnknown;
}

// ----- dates (RFC 5322 §3.3, §4.3)

std::int64_t DateTime::unix_seconds() const {
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
         static_cast<std::int64_t>(zone_minutes) * 60;
}

namespace {

// The value's tokens: runs of letters, runs of digits, and single other
// characters; white space and comments (nested, with quoted-pairs) separate them.
std::vector<std::string_view> date_tokens(std::string_view v) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < v.size() && out.size() < 16) {
    const char c = v[i];
    if (c == '(') {
      int depth = 0;
      for (; i < v.size(); ++i) {
        if (v[i] == '\\') {
          ++i;
        } else if (v[i] == '(') {
          ++depth;
        } else if (v[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
      continue;
    }
    std::size_t start = i;
    if (alpha(c)) {
      while (i < v.size() && alpha(v[i])) {
        ++i;
      }
    } else if (digit(c)) {
      while (i < v.size() && digit(v[i])) {
        ++i;
      }
    } else {
      ++i;
      if (is_wsp(c) || c == '\r' || c == '\n') {
        continue;
      }
    }
    out.push_back(v.substr(start, i - start));
  }
  return out;
}

std::optional<int> small_number(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) {
    return std::nullopt;
  }
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');
  }
  return n;
}

// A zone name's offset in minutes (RFC 5322 §4.3). Military zones and names not
// known count as "-0000", as §4.3 says of the military ones: 0.
int zone_name(std::string_view name) {
  static constexpr struct {
    std::string_view name;
    int hours;
  } kZones[] = {{"UT", 0},   {"GMT", 0},  {"EST", -5}, {"EDT", -4}, {"CST", -6},
                {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};

  for (const auto& z : kZones) {
    if (ascii::iequals(name, z.name)) {
      return z.hours * 60;
    }
  }
  return 0;
}

}  // namespace

std::optional<DateTime> parse_date_time(std::string_view value) {
  const auto t = date_tokens(value);
  std::size_t i = 0;
  auto is_alpha = [](std::string_view s) {
    return !s.empty() && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'));
  };
  // [day-of-week ","]
  if (i < t.size() && is_alpha(t[i])) {
    ++i;
    if (i < t.size() && t[i] == ",") {
      ++i;
    }
  }
  if (i + 3 > t.size()) {
    return std::nullopt;
  }
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  DateTime dt;
  auto day = small_number(t[i], 2);
  int month = 0;
  for (int m = 0; m < 12; ++m) {
    if (ascii::iequals(t[i + 1], kMonths[m])) {
      month = m + 1;
    }
  }
  auto year = small_number(t[i + 2], 4);
  if (!day || *day < 1 || *day > 31 || month == 0 || !year) {
    return std::nullopt;
  }
  dt.day = *day;
  dt.month = month;
  dt.year = *year;
  // RFC 5322 §4.3: two-digit years below 50 are 20xx, other two- and three-digit
  // years have 1900 added.
  if (t[i + 2].size() == 2) {
    dt.year += dt.year < 50 ? 2000 : 1900;
  } else if (t[i + 2].size() == 3) {
    dt.year += 1900;
  }
  i += 3;
  // hour ":" minute [":" second]
  if (i + 3 <= t.size() && t[i + 1] == ":") {
    auto hour = small_number(t[i], 2);
    auto minute = small_number(t[i + 2], 2);
    if (!hour || !minute || *hour > 23 || *minute > 59) {
      return dt;
    }
    i += 3;
    int second = 0;
    if (i + 2 <= t.size() && t[i] == ":") {
      auto s = small_number(t[i + 1], 2);
      if (!s || *s > 60) {
        return dt;
      }
      second = *s;
      i += 2;
    }
    dt.hour = *hour;
    dt.minute = *minute;
    dt.second = second;
    dt.has_time = true;
    // zone: ("+" / "-") 4DIGIT, or an obsolete name
    if (i + 2 <= t.size() && (t[i] == "+" || t[i] == "-") && t[i + 1].size() == 4) {
      auto hh = small_number(t[i + 1].substr(0, 2), 2);
      auto mm = small_number(t[i + 1].substr(2), 2);
      if (hh && mm && *mm < 60) {
        dt.zone_minutes = (t[i] == "-" ? -1 : 1) * (*hh * 60 + *mm);
      }
    } else if (i < t.size() && is_alpha(t[i])) {
      dt.zone_minutes = zone_name(t[i]);
    }
  }
  return dt;
}

// ----- message ids (RFC 5322 §3.6.4)

std::vector<std::string> message_ids(std::string_view value, std::size_t max_ids) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t open = value.find('<', i);
    if (open == std::string_view::npos) {
      break;
    }
    std::string id;
    bool quoted = false;
    bool blank = false;
    bool at = false;
    std::size_t j = open + 1;
    for (; j < value.size() && value[j] != '>' && value[j] != '<'; ++j) {
      const char c = value[j];
      if (c == '"') {
        quoted = !quoted;
      } else if (c == '\\' && quoted && j + 1 < value.size()) {
        id.push_back(value[++j]);
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        blank = true;  // folding white space inside: dropped
      } else {
        at |= c == '@' && !quoted;
        id.push_back(c);
      }
    }
    if (j < value.size() && value[j] == '>') {
      if (!id.empty() && (at || !blank)) {
        out.push_back(std::move(id));
      }
      ++j;
    }
    i = j;
  }
  if (out.size() > max_ids) {
    out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(max_ids));
  }
  return out;
}

// ----- base subject (RFC 5256 §2.1)

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii::iequals(s.substr(0, prefix.size()), prefix);
}

// subj-blob = "[" *BLOBCHAR "]" *WSP: its length at the start of `s`, or 0.
std::size_t blob_at(std::string_view s) {
  if (s.empty() || s[0] != '[') {
    return 0;
  }
  std::size_t i = 1;
  while (i < s.size() && s[i] != '[' && s[i] != ']') {
    ++i;
  }
  if (i == s.size() || s[i] != ']') {
    return 0;
  }
  ++i;
  while (i < s.size() && s[i] == ' ') {
    ++i;
  }
  return i;
}

// subj-leader = (*subj-blob subj-refwd) / WSP, with
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":": its length, or 0.
std::size_t leader_at(std::string_view s) {
  if (!s.empty() && s[0] == ' ') {
    return 1;
  }
  std::size_t i = 0;
  while (std::size_t blob = blob_at(s.substr(i))) {
    i += blob;
  }
  if (starts_with_nocase(s.substr(i), "re")) {
    i += 2;
  } else if (starts_with_nocase(s.substr(i), "fwd")) {
    i += 3;
  } else if (starts_with_nocase(s.substr(i), "fw")) {
    i += 2;
  } else {
    return 0;
  }
  while (i < s.size() && s[i] == ' ') {
    ++i;
  }
  i += blob_at(s.substr(i));
  return i < s.size() && s[i] == ':' ? i + 1 : 0;
}

}  // namespace

std::string base_subject(std::string_view subject, bool* reply_or_forward) {
  bool artifact = false;
  // (1) Tabs and line breaks become spaces; runs of spaces one space.
  std::string text;
  text.reserve(subject.size());
  for (char c : subject) {
    if (c == '\t' || c == '\r' || c == '\n') {
      c = ' ';
    }
    if (c == ' ' && !text.empty() && text.back() == ' ') {
      continue;
    }
    text.push_back(c);
  }
  std::string_view s = text;
  while (true) {
    // (2) Trailing subj-trailer: "(fwd)" or WSP, repeatedly.
    while (true) {
      if (!s.empty() && s.back() == ' ') {
        s.remove_suffix(1);
      } else if (s.size() >= 5 && ascii::iequals(s.substr(s.size() - 5), "(fwd)")) {
        s.remove_suffix(5);
        artifact = true;
      } else {
        break;
      }
    }
    // (3)-(5) Leaders, and a leading blob when something is left after it.
    while (true) {
      if (std::size_t leader = leader_at(s)) {
        artifact |= s[0] != ' ';  // a subj-refwd, not just a blank
        s.remove_prefix(leader);
        continue;
      }
      // No leader here, so none starts after any blob of this run either (the
      // run ends in the same text): the run's blobs go at once, as long as
      // something is left, and leaders are looked for again after it. One
      // blob per look made a subject of many "[x]" quadratic.
      bool removed = false;
      for (std::size_t blob = blob_at(s); blob > 0 && blob < s.size(); blob = blob_at(s)) {
        s.remove_prefix(blob);
        removed = true;
      }
      if (!removed) {
        break;
      }
    }
    // (6) A "[fwd: ... ]" wrapper: unwrap and start again from (2).
    if (s.size() >= 6 && starts_with_nocase(s, "[fwd:") && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      artifact = true;
      continue;
    }
    if (reply_or_forward != nullptr) {
      *reply_or_forward = artifact;
    }
    return std::string(s);
  }
}

}  // namespace tern::mime
