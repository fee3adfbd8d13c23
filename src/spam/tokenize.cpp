// SPDX-License-Identifier: Apache-2.0
// tokenize(): a message's features for the classifier. The MIME tree, transfer
// decoding and charset conversion are mime's; this file only decides which words
// and facts are worth a token. The choices follow SpamBayes' tokenizer (words of
// the decoded text, a bucket for long ones, prefixed header words, link hosts)
// and were kept or dropped by what they did to the SpamAssassin corpus accuracy
// (src/spam/corpus_test.cpp, src/spam/README.md).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/ascii.hpp"
#include "base/utf8.hpp"
#include "mime/charset.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"
#include "spam/spam.hpp"

namespace tern::spam {
namespace {

// Words shorter than this are mostly stop words and noise; longer ones are rare
// enough (base64 leftovers, hashes, CJK runs) that only their shape is kept.
constexpr std::size_t kMinWord = 3;
constexpr std::size_t kMaxWord = 20;
// A host, header value or name longer than this is cut: it only has to be a
// distinct name, and the cap bounds a token's memory.
constexpr std::size_t kMaxFact = 80;

// The distinct token texts in the order first seen, up to a cap: when a message
// has more, the first ones (headers, then the parts in order) are kept, which
// makes the subset deterministic.
class Collector {
 public:
  explicit Collector(std::size_t cap) : cap_(cap) {}

  bool full() const { return order_.size() >= cap_; }

  void add(std::string text) {
    if (full() || text.empty()) {
      return;
    }
    if (seen_.insert(text).second) {
      order_.push_back(std::move(text));
    }
  }

  void add(std::string_view prefix, std::string_view value) {
    std::string text;
    text.reserve(prefix.size() + std::min(value.size(), kMaxFact));
    text += prefix;
    text += value.substr(0, kMaxFact);
    add(std::move(text));
  }

  std::vector<std::string> take() { return std::move(order_); }

 private:
  std::size_t cap_;
  std::unordered_set<std::string> seen_;
  std::vector<std::string> order_;
};

bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Non-ASCII characters that separate words like ASCII punctuation does: the
// Latin-1 punctuation block (NBSP, ¡, «, », ...), general punctuation (dashes,
// smart quotes, ellipsis, zero-width spaces), symbols, arrows, box drawing and
// emoji, CJK punctuation, the BOM and the U+FFFD that charset conversion leaves
// for bytes it could not read. Every other non-ASCII character (letters of any
// script) is a word character.
bool is_separator(char32_t cp) {
  return (cp >= 0x80 && cp <= 0xbf) || cp == 0xd7 || cp == 0xf7 || (cp >= 0x2000 && cp <= 0x2bff) ||
         (cp >= 0x3000 && cp <= 0x3003) || cp == 0xfeff || cp == 0xfffd ||
         (cp >= 0x1f000 && cp <= 0x1faff);
}

// Chinese and Japanese are written without spaces, so a run of their characters
// would be one long "word" that only a skip: bucket could name; instead each
// pair of neighbouring characters is a word (character bigrams, the usual unit
// of CJK text retrieval), and a character on its own is one. Hangul is written
// with spaces and stays an ordinary word character.
bool is_cjk(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30ff) ||  // Hiragana, Katakana
         (cp >= 0x3400 && cp <= 0x9fff) ||  // CJK Unified Ideographs and Extension A
         (cp >= 0xf900 && cp <= 0xfaff) ||  // CJK Compatibility Ideographs
         (cp >= 0xff66 && cp <= 0xff9f);    // halfwidth Katakana
}

// Calls emit(word) for every maximal run of word characters in `text` (UTF-8),
// and for every CJK character bigram (is_cjk).
template <class Emit>
void for_each_word(std::string_view text, Emit&& emit) {
  std::size_t pos = 0;
  std::size_t start = std::string_view::npos;
  // The CJK character before the current one, and whether it began a run.
  std::size_t cjk_prev = std::string_view::npos;
  std::size_t cjk_prev_end = 0;
  bool cjk_alone = false;
  const auto close = [&](std::size_t end) {
    if (start != std::string_view::npos) {
      emit(text.substr(start, end - start));
      start = std::string_view::npos;
    }
  };
  const auto close_cjk = [&] {
    if (cjk_prev != std::string_view::npos && cjk_alone) {
      emit(text.substr(cjk_prev, cjk_prev_end - cjk_prev));
    }
    cjk_prev = std::string_view::npos;
  };
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {
      close_cjk();
      if (is_ascii_alnum(c)) {
        if (start == std::string_view::npos) {
          start = pos;
        }
      } else {
        close(pos);
      }
      ++pos;
      continue;
    }
    const std::size_t at = pos;
    const auto cp = utf8::next(text, pos);
    if (cp && is_cjk(*cp)) {
      close(at);
      if (cjk_prev != std::string_view::npos) {
        emit(text.substr(cjk_prev, pos - cjk_prev));
        cjk_alone = false;
      } else {
        cjk_alone = true;
      }
      cjk_prev = at;
      cjk_prev_end = pos;
      continue;
    }
    close_cjk();
    if (!cp) {
      close(at);  // an ill-formed byte (only in raw header text) separates words
      ++pos;
    } else if (is_separator(*cp)) {
      close(at);
    } else if (start == std::string_view::npos) {
      start = at;
    }
  }
  close(text.size());
  close_cjk();
}

// The token of one word: itself (ASCII lower-cased) when 3 to 20 bytes long; a
// longer one only by its first character and length rounded down to tens
// (SpamBayes' "skip:c N0"), since such strings are seldom repeated but their
// shape is telling; shorter ones give nothing. Numbers are words too: prices,
// phone numbers and years told more than they cost (on the SpamAssassin corpus
// dropping them, or bucketing them by length, lost 0.3 points of spam recall and
// added 2 false positives; README.md).
void add_word(Collector& out, std::string_view prefix, std::string_view word) {
  if (word.size() < kMinWord) {
    return;
  }
  std::string text(prefix);
  if (word.size() > kMaxWord) {
    std::size_t first = 1;
    if (static_cast<unsigned char>(word[0]) >= 0x80) {
      first = std::max<std::size_t>(1, utf8::sequence_length(word, 0));
    }
    text += "skip:";
    text += ascii::lower(word.substr(0, first));
    text += ' ';
    text += std::to_string(word.size() / 10 * 10);
  } else {
    text += ascii::lower(word);
  }
  out.add(std::move(text));
}

void add_words(Collector& out, std::string_view prefix, std::string_view text) {
  for_each_word(text, [&](std::string_view word) { add_word(out, prefix, word); });
}

bool starts_with_ci(std::string_view text, std::size_t pos, std::string_view prefix) {
  return text.size() - pos >= prefix.size() &&
         ascii::iequals(text.substr(pos, prefix.size()), prefix);
}

// The position of `needle` (lower case) in `text` at or after `from`, ASCII
// case-insensitively, or npos. Needles are short tag names, so the naive scan
// stays linear in practice.
std::size_t find_ci(std::string_view text, std::string_view needle, std::size_t from) {
  if (needle.empty() || text.size() < needle.size()) {
    return std::string_view::npos;
  }
  for (std::size_t i = from; i + needle.size() <= text.size(); ++i) {
    if (ascii::to_lower(text[i]) == needle[0] &&
        ascii::iequals(text.substr(i, needle.size()), needle)) {
      return i;
    }
  }
  return std::string_view::npos;
}

// `url:<host>` for a link's host, and `url:<last two labels>` for a longer one:
// spam's links are the most telling thing about it, and a spammer's many
// subdomains share the registered part. A dotted-quad host also gives `url:ip`.
// Returns how many bytes of `url` the scheme and authority take (0 when `url`
// has no host), so a scan of text can go on after them.
std::size_t add_url(Collector& out, std::string_view url) {
  std::size_t pos = 0;
  const auto scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos && scheme_end < 10) {
    pos = scheme_end + 3;
  } else if (!starts_with_ci(url, 0, "www.")) {
    return 0;  // mailto:, relative links, javascript: ... have no host to name
  }
  std::size_t end = pos;
  while (end < url.size()) {
    const char c = url[end];
    if (c == '/' || c == '?' || c == '#' || c == '\\' || c == '"' || c == '\'' || c == '<' ||
        c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      break;
    }
    ++end;
  }
  std::string_view authority = url.substr(pos, end - pos);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // RFC 3986 §3.2.1: userinfo@host
  }
  std::string host;
  for (char c : authority) {
    const auto u = static_cast<unsigned char>(c);
    if (is_ascii_alnum(u) || c == '-' || c == '.' || u >= 0x80) {
      host += ascii::to_lower(c);
    } else {
      break;  // ":port" and junk end the host
    }
    if (host.size() >= kMaxFact) {
      break;
    }
  }
  while (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  while (!host.empty() && host.front() == '.') {
    host.erase(0, 1);
  }
  if (host.empty()) {
    return end;
  }
  out.add("url:", host);
  const bool numeric = std::all_of(host.begin(), host.end(),
                                   [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
  if (numeric) {
    out.add("url:ip");
    return end;
  }
  const auto last_dot = host.rfind('.');
  if (last_dot != std::string::npos && last_dot > 0) {
    const auto second_dot = host.rfind('.', last_dot - 1);
    if (second_dot != std::string::npos) {
      out.add("url:", std::string_view(host).substr(second_dot + 1));
    }
  }
  return end;
}

// The URLs written out in text: "http://", "https://", "ftp://" and a bare
// "www." at the start of a word.
void add_text_urls(Collector& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size() && !out.full(); ++i) {
    const char c = ascii::to_lower(text[i]);
    if (c != 'h' && c != 'f' && c != 'w') {
      continue;
    }
    const bool boundary = i == 0 || !is_ascii_alnum(static_cast<unsigned char>(text[i - 1]));
    if (!boundary) {
      continue;
    }
    if (starts_with_ci(text, i, "http://") || starts_with_ci(text, i, "https://") ||
        starts_with_ci(text, i, "ftp://") || starts_with_ci(text, i, "www.")) {
      const std::size_t end = std::min(text.size(), i + 300);
      // Go on after the host, so that text made of "www." costs one host scan per
      // 300 bytes, not one per 4.
      i += std::max<std::size_t>(add_url(out, text.substr(i, end - i)), 1) - 1;
    }
  }
}

// --- HTML --------------------------------------------------------------------

// Tags whose presence is worth a token: images, forms and embedded content are
// what spam is made of and what list mail and personal mail rarely have.
bool is_fact_tag(std::string_view name) {
  static constexpr std::string_view kTags[] = {"img",    "form",  "input", "iframe", "script",
                                               "object", "embed", "font",  "table",  "map",
                                               "area",   "meta",  "base",  "center", "style"};
  return std::find(std::begin(kTags), std::end(kTags), name) != std::end(kTags);
}

// Tags that style text inside a word: dropping them without a space undoes the
// "V<b></b>iagra" trick. Every other tag separates words.
bool is_inline_tag(std::string_view name) {
  static constexpr std::string_view kTags[] = {
      "b", "i", "u", "font", "span", "em", "strong", "small", "big", "s", "strike", "sub", "sup"};
  return std::find(std::begin(kTags), std::end(kTags), name) != std::end(kTags);
}

// Decodes the character reference at html[pos] ('&') into `out`, returning the
// position after it; an unknown one is copied as text.
std::size_t decode_entity(std::string_view html, std::size_t pos, std::string& out) {
  // The longest reference read: "&#x10FFFF;" and the names below.
  const std::size_t limit = std::min(html.size(), pos + 12);
  std::size_t end = pos + 1;
  while (end < limit && html[end] != ';' && html[end] != '&' && html[end] != '<' &&
         !std::isspace(static_cast<unsigned char>(html[end]))) {
    ++end;
  }
  std::string_view name = html.substr(pos + 1, end - pos - 1);
  const std::size_t after = end < html.size() && html[end] == ';' ? end + 1 : end;
  if (!name.empty() && name[0] == '#') {
    const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    const auto value = ascii::to_number<std::uint32_t>(name.substr(hex ? 2 : 1), hex ? 16 : 10);
    if (!value) {
      out += '&';
      return pos + 1;
    }
    const char32_t cp = *value;
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += ' ';
    } else {
      utf8::append(out, cp);
    }
    return after;
  }
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"amp", "&"},  {"lt", "<"},   {"gt", ">"},   {"quot", "\""},
      {"apos", "'"}, {"nbsp", " "}, {"copy", " "}, {"reg", " "}};
  for (const auto& [entity, text] : kNamed) {
    if (ascii::iequals(name, entity)) {
      out += text;
      return after;
    }
  }
  out += '&';
  return pos + 1;
}

// Reads the attributes of a tag (the text between its name and '>') and passes
// the URL of each href/src/action/background to add_url.
void scan_attributes(Collector& out, std::string_view attrs) {
  std::size_t i = 0;
  while (i < attrs.size()) {
    while (i < attrs.size() &&
           (std::isspace(static_cast<unsigned char>(attrs[i])) || attrs[i] == '/')) {
      ++i;
    }
    const std::size_t name_begin = i;
    while (i < attrs.size() && attrs[i] != '=' && attrs[i] != '/' &&
           !std::isspace(static_cast<unsigned char>(attrs[i]))) {
      ++i;
    }
    const std::string_view name = attrs.substr(name_begin, i - name_begin);
    while (i < attrs.size() && std::isspace(static_cast<unsigned char>(attrs[i]))) {
      ++i;
    }
    if (i >= attrs.size() || attrs[i] != '=') {
      if (i == name_begin) {
        ++i;  // a stray byte: skip it so the loop always advances
      }
      continue;
    }
    ++i;
    while (i < attrs.size() && std::isspace(static_cast<unsigned char>(attrs[i]))) {
      ++i;
    }
    std::string_view value;
    if (i < attrs.size() && (attrs[i] == '"' || attrs[i] == '\'')) {
      const char quote = attrs[i];
      const auto close = attrs.find(quote, i + 1);
      const std::size_t end = close == std::string_view::npos ? attrs.size() : close;
      value = attrs.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      const std::size_t begin = i;
      while (i < attrs.size() && !std::isspace(static_cast<unsigned char>(attrs[i]))) {
        ++i;
      }
      value = attrs.substr(begin, i - begin);
    }
    if (ascii::iequals(name, "href") || ascii::iequals(name, "src") ||
        ascii::iequals(name, "action") || ascii::iequals(name, "background")) {
      while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
        value.remove_prefix(1);
      }
      add_url(out, value.substr(0, 300));
    }
  }
}

// The visible text of an HTML part: tags, comments, and script and style
// content removed, character references decoded. Link hosts and the presence of
// a few tags go to `out` as tokens on the way. Lenient like browsers: an
// unclosed comment or tag runs to the end; a '<' not starting a tag is text.
std::string html_text(Collector& out, std::string_view html) {
  std::string text;
  text.reserve(html.size());
  std::size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '&') {
      i = decode_entity(html, i, text);
      continue;
    }
    if (c != '<') {
      text += c;
      ++i;
      continue;
    }
    if (html.compare(i, 4, "<!--") == 0) {
      const auto end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      text += ' ';
      continue;
    }
    std::size_t j = i + 1;
    const bool closing = j < html.size() && html[j] == '/';
    j += closing ? 1 : 0;
    const std::size_t name_begin = j;
    while (j < html.size() && is_ascii_alnum(static_cast<unsigned char>(html[j]))) {
      ++j;
    }
    const bool declaration = j == i + 1 && j < html.size() && (html[j] == '!' || html[j] == '?');
    if (j == name_begin && !declaration) {
      text += c;  // "a < b": not a tag
      ++i;
      continue;
    }
    // The tag ends at the first '>' outside a quoted attribute value.
    std::size_t end = j;
    while (end < html.size() && html[end] != '>') {
      if ((html[end] == '"' || html[end] == '\'') && html[end - 1] == '=') {
        const auto close = html.find(html[end], end + 1);
        end = close == std::string_view::npos ? html.size() : close;
        if (end == html.size()) {
          break;
        }
      }
      ++end;
    }
    const std::string name = ascii::lower(html.substr(name_begin, j - name_begin));
    if (!closing && !declaration) {
      if (is_fact_tag(name)) {
        out.add("html:", name);
      }
      scan_attributes(out, html.substr(j, std::min(end, html.size()) - j));
    }
    i = end < html.size() ? end + 1 : html.size();
    if (!closing && (name == "script" || name == "style")) {
      // Their content is code, not text (HTML 4.01 §18.2.1, §14.2.3).
      const auto close = find_ci(html, name == "script" ? "</script" : "</style", i);
      i = close == std::string_view::npos ? html.size() : close;
    }
    if (!is_inline_tag(name)) {
      text += ' ';
    }
  }
  return text;
}

// --- Headers -----------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// The lower-case domain of the address `addr_spec` ("local@domain"), or "".
std::string domain_of(std::string_view addr_spec) {
  const auto at = addr_spec.rfind('@');
  if (at == std::string_view::npos) {
    return {};
  }
  std::string domain;
  for (char c : addr_spec.substr(at + 1)) {
    const auto u = static_cast<unsigned char>(c);
    if (!is_ascii_alnum(u) && c != '-' && c != '.' && c != '_' && u < 0x80) {
      break;
    }
    domain += ascii::to_lower(c);
    if (domain.size() >= kMaxFact) {
      break;
    }
  }
  while (!domain.empty() && domain.back() == '.') {
    domain.pop_back();
  }
  return domain;
}

// The display name and the domain of the first mailbox of a From/Reply-To value
// (RFC 5322 §3.4): `Name <addr>`, or `addr (Name)`, the obsolete form still sent.
struct Mailbox {
  std::string name;  // decoded (RFC 2047), may be empty
  std::string domain;
};

Mailbox parse_mailbox(std::string_view raw_value) {
  const std::string value = mime::unfold(raw_value);
  std::string_view v = value;
  Mailbox box;
  const auto lt = v.find('<');
  if (lt != std::string_view::npos) {
    const auto gt = v.find('>', lt);
    box.domain =
        domain_of(v.substr(lt + 1, (gt == std::string_view::npos ? v.size() : gt) - lt - 1));
    std::string_view name = trim(v.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
    }
    box.name = mime::decode_words(name);
    return box;
  }
  const auto paren = v.find('(');
  std::string_view addr = trim(v.substr(0, paren));
  if (const auto comma = addr.find(','); comma != std::string_view::npos) {
    addr = addr.substr(0, comma);
  }
  box.domain = domain_of(addr);
  if (paren != std::string_view::npos) {
    const auto close = v.find(')', paren);
    box.name = mime::decode_words(
        v.substr(paren + 1, (close == std::string_view::npos ? v.size() : close) - paren - 1));
  }
  return box;
}

const mime::HeaderField* field(const mime::MessageTree& tree, std::string_view name) {
  return tree.root().field(tree.raw(), name);
}

void add_headers(Collector& out, const mime::MessageTree& tree) {
  const std::string_view raw = tree.raw();
  if (const auto* subject = field(tree, "Subject")) {
    const std::string text = mime::decode_words(subject->value.in(raw));
    add_words(out, "subject:", text);
  }
  std::string from_domain;
  if (const auto* from = field(tree, "From")) {
    Mailbox box = parse_mailbox(from->value.in(raw));
    add_words(out, "from-name:", box.name);
    from_domain = box.domain;
    out.add("from:", box.domain.empty() ? std::string_view("none") : box.domain);
  } else {
    out.add("from:none");
  }
  if (const auto* reply_to = field(tree, "Reply-To")) {
    Mailbox box = parse_mailbox(reply_to->value.in(raw));
    if (!box.domain.empty() && box.domain != from_domain) {
      out.add("reply-to:", box.domain);
    }
  }
  if (const auto* mid = field(tree, "Message-ID")) {
    const std::string value = mime::unfold(mid->value.in(raw));
    std::string domain = domain_of(value);
    out.add("mid:", domain.empty() ? std::string_view("none") : domain);
  } else {
    out.add("mid:absent");
  }
  const auto* mailer = field(tree, "X-Mailer");
  if (mailer == nullptr) {
    mailer = field(tree, "User-Agent");
  }
  if (mailer != nullptr) {
    const std::string value = mime::decode_words(mailer->value.in(raw));
    bool done = false;
    for_each_word(value, [&](std::string_view word) {
      if (!done) {
        out.add("x-mailer:", ascii::lower(word.substr(0, kMaxWord)));
        done = true;
      }
    });
  }
  // Facts of mail from people and lists (threading, list headers) against facts
  // of bulk senders' software.
  static constexpr std::string_view kFacts[] = {"List-Id", "List-Unsubscribe", "In-Reply-To",
                                                "References"};
  for (std::string_view name : kFacts) {
    if (field(tree, name) != nullptr) {
      out.add("has:", ascii::lower(name));
    }
  }
  const mime::ContentType& type = tree.root().content_type;
  out.add("ct:", type.from_header ? type.type + "/" + type.subtype : std::string("none"));
}

// --- Parts -------------------------------------------------------------------

// The lower-case extension of an attachment's file name, or "" when it has none
// or it is not a short alphanumeric one.
std::string extension(std::string_view filename) {
  const auto dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == filename.size()) {
    return {};
  }
  const std::string_view ext = filename.substr(dot + 1);
  if (ext.size() > 8 || !std::all_of(ext.begin(), ext.end(), [](char c) {
        return is_ascii_alnum(static_cast<unsigned char>(c));
      })) {
    return {};
  }
  return ascii::lower(ext);
}

void add_part(Collector& out, const mime::MessageTree& tree, const mime::Part& part) {
  const mime::ContentType& type = part.content_type;
  const std::string* charset = type.param("charset");
  if (charset != nullptr) {
    out.add("charset:", ascii::lower(trim(*charset)));
  }
  const std::string* filename = nullptr;
  if (part.disposition) {
    filename = part.disposition->param("filename");
  }
  if (filename == nullptr) {
    filename = type.param("name");
  }
  const bool is_text = type.is("text", "plain") || type.is("text", "html");
  const bool attached =
      filename != nullptr || (part.disposition && part.disposition->type == "attachment");
  if (filename != nullptr) {
    const std::string ext = extension(*filename);
    out.add("attach:", ext.empty() ? std::string_view("none") : std::string_view(ext));
  }
  if (!is_text || attached) {
    out.add("attach-type:", type.type + "/" + type.subtype);
  }
  if (!is_text || out.full()) {
    return;
  }
  // RFC 2045 §6: undo the transfer encoding, then the charset (RFC 2046 §4.1.2).
  const std::string text =
      mime::to_utf8(mime::decode_transfer(part.body.in(tree.raw()), part.encoding),
                    charset != nullptr ? std::string_view(*charset) : "");
  if (type.subtype == "html") {
    const std::string visible = html_text(out, text);
    add_text_urls(out, visible);
    add_words(out, "", visible);
  } else {
    add_text_urls(out, text);
    add_words(out, "", text);
  }
}

// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012),
// as its reference implementation computes it.
std::uint64_t rotl(std::uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

}  // namespace

std::uint64_t token_hash(std::string_view text) {
  // The key bytes 00..0f as two little-endian words, fixed forever.
  const std::uint64_t k0 = 0x0706050403020100ULL;
  const std::uint64_t k1 = 0x0f0e0d0c0b0a0908ULL;
  std::uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
  std::uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
  std::uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
  std::uint64_t v3 = k1 ^ 0x7465646279746573ULL;
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  const std::size_t whole = size - size % 8;
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load_le64(in + i);
    v3 ^= m;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(size & 0xff) << 56;
  for (std::size_t i = 0; i < size % 8; ++i) {
    last |= static_cast<std::uint64_t>(in[whole + i]) << (8 * i);
  }
  v3 ^= last;
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) {
    sip_round(v0, v1, v2, v3);
  }
  return v0 ^ v1 ^ v2 ^ v3;
}

std::vector<Token> tokenize(std::string_view raw, const TokenizeLimits& limits) {
  raw = raw.substr(0, limits.max_bytes);
  // Fewer parts than the parser's default: past a few hundred, more parts only
  // cost time, and the token cap is reached long before.
  mime::ParseLimits parse_limits;
  parse_limits.max_parts = 1000;
  const mime::MessageTree tree = mime::parse_message(raw, parse_limits);

  Collector out(limits.max_tokens);
  add_headers(out, tree);
  for (const mime::Part& part : tree.parts()) {
    if (out.full()) {
      break;
    }
    if (part.kind == mime::PartKind::kLeaf) {
      add_part(out, tree, part);
    }
  }

  std::vector<Token> tokens;
  for (std::string& text : out.take()) {
    tokens.push_back(Token{token_hash(text), std::move(text)});
  }
  std::sort(tokens.begin(), tokens.end(), [](const Token& a, const Token& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.text < b.text;
  });
  // A 64-bit collision between two texts keeps the first by text: the model
  // could not tell them apart anyway.
  tokens.erase(std::unique(tokens.begin(), tokens.end(),
                           [](const Token& a, const Token& b) { return a.hash == b.hash; }),
               tokens.end());
  return tokens;
}

}  // namespace tern::spam
