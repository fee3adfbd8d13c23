// SPDX-License-Identifier: Apache-2.0
#include "sieve/text.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "address/address_list.hpp"
#include "base/ascii.hpp"
#include "base/civil_date.hpp"
#include "base/utf8.hpp"
#include "mime/ascii.hpp"

namespace tern::sieve::detail {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// One "${hex:...}" or "${unicode:...}" at the start of `text` (after "${"
// has been seen). Returns the bytes it encodes and sets `length` to what it
// spans; nullopt when it is malformed (and stays as written).
Result<std::optional<std::string>> encoded(std::string_view text, std::size_t& length) {
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return std::optional<std::string>();
  }
  std::string_view kind = text.substr(2, colon - 2);
  bool hex = ascii::iequals(kind, "hex");
  if (!hex && !ascii::iequals(kind, "unicode")) {
    return std::optional<std::string>();
  }
  std::size_t pos = colon + 1;
  std::string out;
  bool any = false;
  bool blank_before = true;
  while (pos < text.size() && text[pos] != '}') {
    if (is_blank(text[pos])) {
      blank_before = true;
      ++pos;
      continue;
    }
    if (!blank_before) {
      return std::optional<std::string>();
    }
    std::size_t start = pos;
    std::uint32_t value = 0;
    while (pos < text.size() && mime::ascii::hex_digit(text[pos]) >= 0) {
      if (!hex && value > 0x10ffff) {
        break;  // refused below, without overflowing
      }
      value = value * 16 + static_cast<std::uint32_t>(mime::ascii::hex_digit(text[pos]));
      ++pos;
    }
    std::size_t digits = pos - start;
    if (digits == 0 || (hex && digits != 2)) {
      return std::optional<std::string>();
    }
    if (!hex && (digits > 8 || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))) {
      if (pos < text.size() && mime::ascii::hex_digit(text[pos]) >= 0) {
        return std::optional<std::string>();
      }
      return Error{ErrorCode::kInvalidInput, "invalid unicode character in ${unicode:...}"};
    }
    if (hex) {
      out += static_cast<char>(value);
    } else {
      utf8::append(out, value);
    }
    any = true;
    blank_before = false;
  }
  if (pos >= text.size() || !any) {
    return std::optional<std::string>();
  }
  length = pos + 1;
  return std::optional<std::string>(std::move(out));
}

// The next character of `text` at `pos` under the comparator: one byte for
// i;octet, one UTF-8 sequence otherwise (a stray byte counts as one).
std::size_t char_length(Comparator comparator, std::string_view text, std::size_t pos) {
  if (comparator == Comparator::kOctet) {
    return 1;
  }
  std::size_t n = utf8::sequence_length(text, pos);
  return n == 0 ? 1 : n;
}

bool same_char(Comparator comparator, char a, char b) {
  return comparator == Comparator::kOctet ? a == b : ascii::to_lower(a) == ascii::to_lower(b);
}

// One element of a :matches pattern.
struct Piece {
  enum Kind { kLiteral, kStar, kOne } kind;

  char c = 0;
};

std::vector<Piece> pattern_pieces(std::string_view key) {
  std::vector<Piece> pieces;
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c == '\\' && i + 1 < key.size()) {
      pieces.push_back(Piece{Piece::kLiteral, key[++i]});
    } else if (c == '*') {
      pieces.push_back(Piece{Piece::kStar});
    } else if (c == '?') {
      pieces.push_back(Piece{Piece::kOne});
    } else {
      pieces.push_back(Piece{Piece::kLiteral, c});
    }
  }
  return pieces;
}

// Glob matching with "*" taking as little as it can (RFC 5229 §3.2), in
// O(|value|·|key|): on a mismatch only the most recent "*" grows, which finds a
// match whenever one exists, and leaves each earlier "*" at its shortest.
bool glob(Comparator comparator, std::string_view value, std::string_view key,
          std::vector<std::string>* captures) {
  std::vector<Piece> pieces = pattern_pieces(key);
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // per wildcard: value [begin, end)
  std::vector<std::size_t> wildcard_of(pieces.size(), 0);
  std::size_t wildcards = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].kind != Piece::kLiteral) {
      wildcard_of[i] = wildcards++;
    }
  }
  spans.assign(wildcards, {0, 0});
  std::size_t v = 0;
  std::size_t p = 0;
  std::size_t star = pieces.size();  // the last "*" seen
  std::size_t star_value = 0;        // where its span ends now
  while (v < value.size() || p < pieces.size()) {
    if (p < pieces.size()) {
      const Piece& piece = pieces[p];
      if (piece.kind == Piece::kStar) {
        star = p;
        star_value = v;
        spans[wildcard_of[p]] = {v, v};
        ++p;
        continue;
      }
      if (v < value.size()) {
        if (piece.kind == Piece::kOne) {
          std::size_t n = char_length(comparator, value, v);
          spans[wildcard_of[p]] = {v, v + n};
          v += n;
          ++p;
          continue;
        }
        if (same_char(comparator, piece.c, value[v])) {
          ++v;
          ++p;
          continue;
        }
      }
    }
    if (star == pieces.size() || star_value >= value.size()) {
      return false;
    }
    star_value += char_length(comparator, value, star_value);
    spans[wildcard_of[star]].second = star_value;
    v = star_value;
    p = star + 1;
  }
  if (captures != nullptr) {
    captures->clear();
    captures->emplace_back(value);
    for (const auto& [begin, end] : spans) {
      captures->emplace_back(value.substr(begin, end - begin));
    }
  }
  return true;
}

// RFC 4790 §9.1: the number of the leading digits, leading zeros dropped; a
// value without one is positive infinity (nullopt).
std::optional<std::string_view> numeric(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') {
    ++digits;
  }
  if (digits == 0) {
    return std::nullopt;
  }
  std::string_view number = s.substr(0, digits);
  while (number.size() > 1 && number.front() == '0') {
    number.remove_prefix(1);
  }
  return number;
}

// <0, 0, >0 as `a` orders before, with or after `b`.
int order(Comparator comparator, std::string_view a, std::string_view b) {
  if (comparator == Comparator::kAsciiNumeric) {
    auto x = numeric(a);
    auto y = numeric(b);
    if (!x || !y) {
      return (x ? 0 : 1) - (y ? 0 : 1);
    }
    if (x->size() != y->size()) {
      return x->size() < y->size() ? -1 : 1;
    }
    return x->compare(*y) < 0 ? -1 : x->compare(*y) > 0 ? 1 : 0;
  }
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (comparator == Comparator::kAsciiCasemap) {
      x = static_cast<unsigned char>(ascii::to_lower(static_cast<char>(x)));
      y = static_cast<unsigned char>(ascii::to_lower(static_cast<char>(y)));
    }
    if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  return a.size() == b.size() ? 0 : a.size() < b.size() ? -1 : 1;
}

bool contains(Comparator comparator, std::string_view value, std::string_view key) {
  if (key.empty()) {
    return true;
  }
  for (std::size_t i = 0; i + key.size() <= value.size(); ++i) {
    std::size_t j = 0;
    while (j < key.size() && same_char(comparator, value[i + j], key[j])) {
      ++j;
    }
    if (j == key.size()) {
      return true;
    }
  }
  return false;
}

std::string two(std::int64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%02lld", static_cast<long long>(v % 100));
  return buf;
}

std::string zone_text(int minutes, bool colon) {
  char sign = minutes < 0 ? '-' : '+';
  int m = minutes < 0 ? -minutes : minutes;
  return std::string(1, sign) + two(m / 60) + (colon ? ":" : "") + two(m % 60);
}

}  // namespace

Result<std::string> decode_encoded_characters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      std::size_t length = 0;
      TERN_TRY(auto decoded, encoded(text.substr(i), length));
      if (decoded) {
        out += *decoded;
        i += length;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

bool redirect_address(std::string_view address) {
  auto list = address::parse_address_list(address);
  auto mailboxes = list.mailboxes();
  return !list.has_errors() && mailboxes.size() == 1 && !mailboxes[0]->local_part.empty() &&
         !mailboxes[0]->domain.empty() && !mailboxes[0]->display_name &&
         mailboxes[0]->route.empty();
}

bool mailbox_list(std::string_view text) {
  auto list = address::parse_address_list(text);
  auto mailboxes = list.mailboxes();
  return !list.has_errors() && !mailboxes.empty() &&
         std::all_of(mailboxes.begin(), mailboxes.end(), [](const address::Mailbox* m) {
           return !m->local_part.empty() && !m->domain.empty();
         });
}

std::optional<int> parse_zone(std::string_view zone) {
  if (zone.size() != 5 || (zone[0] != '+' && zone[0] != '-')) {
    return std::nullopt;
  }
  for (std::size_t i = 1; i < 5; ++i) {
    if (zone[i] < '0' || zone[i] > '9') {
      return std::nullopt;
    }
  }
  int hours = (zone[1] - '0') * 10 + (zone[2] - '0');
  int minutes = (zone[3] - '0') * 10 + (zone[4] - '0');
  if (minutes > 59) {
    return std::nullopt;
  }
  int total = hours * 60 + minutes;
  return zone[0] == '-' ? -total : total;
}

bool date_part_known(std::string_view part) {
  return date_part(part, 0, 0).has_value();
}

std::optional<std::string> date_part(std::string_view part, std::int64_t unix_seconds,
                                     int zone_minutes) {
  std::int64_t local = unix_seconds + static_cast<std::int64_t>(zone_minutes) * 60;
  std::int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  auto seconds = static_cast<unsigned>(local - days * 86400);
  CivilDate date = civil_from_days(days);
  unsigned hour = seconds / 3600;
  unsigned minute = seconds / 60 % 60;
  unsigned second = seconds % 60;
  char year[16];
  std::snprintf(year, sizeof year, "%04lld", static_cast<long long>(date.year));
  std::string ymd = std::string(year) + "-" + two(date.month) + "-" + two(date.day);
  std::string hms = two(hour) + ":" + two(minute) + ":" + two(second);
  std::string lowered = ascii::lower(part);
  if (lowered == "year") {
    return std::string(year);
  }
  if (lowered == "month") {
    return two(date.month);
  }
  if (lowered == "day") {
    return two(date.day);
  }
  if (lowered == "date") {
    return ymd;
  }
  if (lowered == "julian") {
    // RFC 5260 §4.2: the Modified Julian Day, 1858-11-17 being day 0.
    return std::to_string(days + 40587);
  }
  if (lowered == "hour") {
    return two(hour);
  }
  if (lowered == "minute") {
    return two(minute);
  }
  if (lowered == "second") {
    return two(second);
  }
  if (lowered == "time") {
    return hms;
  }
  if (lowered == "iso8601") {
    return ymd + "T" + hms + zone_text(zone_minutes, true);
  }
  if (lowered == "std11") {
    static constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                              "Thu", "Fri", "Sat"};
    static constexpr std::array<std::string_view, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    auto weekday = static_cast<std::size_t>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    return std::string(kDays[weekday]) + ", " + std::to_string(date.day) + " " +
           std::string(kMonths[static_cast<std::size_t>(date.month - 1)]) + " " + year + " " + hms +
           " " + zone_text(zone_minutes, false);
  }
  if (lowered == "zone") {
    return zone_text(zone_minutes, false);
  }
  if (lowered == "weekday") {
    return std::to_string(((days % 7) + 11) % 7);
  }
  return std::nullopt;
}

bool matches(const Match& match, std::string_view value, std::string_view key,
             std::vector<std::string>* captures) {
  switch (match.type) {
    case MatchType::kIs:
      return order(match.comparator, value, key) == 0;
    case MatchType::kContains:
      return contains(match.comparator, value, key);
    case MatchType::kMatches:
      return glob(match.comparator, value, key, captures);
    case MatchType::kValue:
      return relation_holds(match.comparator, match.relation, value, key);
    case MatchType::kCount:
      return false;  // counted by the caller
  }
  return false;
}

bool relation_holds(Comparator comparator, Relation relation, std::string_view value,
                    std::string_view key) {
  int c = order(comparator, value, key);
  switch (relation) {
    case Relation::kGt:
      return c > 0;
    case Relation::kGe:
      return c >= 0;
    case Relation::kLt:
      return c < 0;
    case Relation::kLe:
      return c <= 0;
    case Relation::kEq:
      return c == 0;
    case Relation::kNe:
      return c != 0;
  }
  return false;
}

std::string spamtest_result(std::optional<double> score, bool percent) {
  if (!score || std::isnan(*score)) {
    return "0";
  }
  double ratio = std::clamp(*score, 0.0, 1.0);
  constexpr double kEpsilon = 1e-6;
  auto value = percent ? static_cast<int>(std::floor(ratio * 100 + kEpsilon))
                       : 1 + static_cast<int>(std::floor(ratio * 9 + kEpsilon));
  return std::to_string(value);
}

std::string quote_wildcards(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); i += char_length(Comparator::kAsciiCasemap, text, i)) {
    ++n;
  }
  return n;
}

}  // namespace tern::sieve::detail
