// SPDX-License-Identifier: Apache-2.0
#include "imap/arguments.hpp"

#include <array>

#include <fmt/format.h>

#include "base/ascii.hpp"
#include "base/civil_date.hpp"

namespace tern::imap {
namespace {

bool is_ctl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x1f || u == 0x7f;
}

// RFC 9051 §9: ATOM-CHAR = <any CHAR except atom-specials>; CHAR is 7-bit.
bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x80 || is_ctl(c)) {
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
    case ']':
      return false;
    default:
      return true;
  }
}

bool is_astring_char(char c) {
  return is_atom_char(c) || c == ']';
}

bool is_list_char(char c) {
  return is_astring_char(c) || c == '%' || c == '*';
}

using ascii::iequals;

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int month_number(std::string_view name) {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (iequals(name, kMonths[i])) {
      return static_cast<int>(i) + 1;
    }
  }
  return 0;
}

int days_in_month(std::int64_t y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[static_cast<std::size_t>(m - 1)];
}

bool all_digits(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

int to_int(std::string_view digits) {
  int v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
  }
  return v;
}

// Parses "d-Mon-yyyy" / "dd-Mon-yyyy" into days since the epoch; -1 if invalid.
bool parse_date_text(std::string_view text, std::int64_t& days) {
  std::size_t dash1 = text.find('-');
  std::size_t dash2 = dash1 == std::string_view::npos ? dash1 : text.find('-', dash1 + 1);
  if (dash2 == std::string_view::npos) {
    return false;
  }
  std::string_view day = text.substr(0, dash1);
  std::string_view month = text.substr(dash1 + 1, dash2 - dash1 - 1);
  std::string_view year = text.substr(dash2 + 1);
  if (day.size() > 2 || !all_digits(day) || year.size() != 4 || !all_digits(year)) {
    return false;
  }
  int m = month_number(month);
  int d = to_int(day);
  int y = to_int(year);
  if (m == 0 || d < 1 || d > days_in_month(y, m)) {
    return false;
  }
  days = days_from_civil(y, m, d);
  return true;
}

}  // namespace

Arguments::Arguments(const RawCommand& command) : command_(command), text_(command.bytes) {
  end_ = text_.size();
  if (end_ > 0 && text_[end_ - 1] == '\n') {
    --end_;
    if (end_ > 0 && text_[end_ - 1] == '\r') {
      --end_;
    }
  }
  // Skip "tag SP name".
  std::size_t sp = text_.find(' ');
  pos_ = sp == std::string_view::npos ? end_ : sp + 1;
  while (pos_ < end_ && text_[pos_] != ' ') {
    ++pos_;
  }
}

Error Arguments::bad(std::string_view what) const {
  return Error{ErrorCode::kInvalidInput, std::string(what)};
}

bool Arguments::at_end() const {
  return pos_ >= end_;
}

Result<void> Arguments::end() {
  if (!at_end()) {
    return bad("unexpected arguments");
  }
  return ok();
}

Result<void> Arguments::space() {
  if (pos_ < end_ && text_[pos_] == ' ') {
    ++pos_;
    return ok();
  }
  return bad(at_end() ? "missing argument" : "expected a space");
}

bool Arguments::accept(char c) {
  if (pos_ < end_ && text_[pos_] == c) {
    ++pos_;
    return true;
  }
  return false;
}

char Arguments::peek() const {
  return pos_ < end_ ? text_[pos_] : '\0';
}

std::optional<Arguments::Literal> Arguments::literal_at(std::size_t pos) const {
  std::size_t brace = pos;
  if (brace < end_ && text_[brace] == '~') {
    ++brace;
  }
  if (brace >= text_.size() || text_[brace] != '{') {
    return std::nullopt;
  }
  std::size_t close = text_.find('}', brace);
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  std::size_t payload = close + 1;
  if (payload < text_.size() && text_[payload] == '\r') {
    ++payload;
  }
  if (payload >= text_.size() || text_[payload] != '\n') {
    return std::nullopt;
  }
  ++payload;
  // Only what the reader framed as a literal is one: find its recorded span.
  for (const auto& span : command_.literals) {
    if (span.offset == payload) {
      return Literal{text_.substr(span.offset, span.size), span.offset + span.size};
    }
  }
  return std::nullopt;
}

Result<std::string> Arguments::quoted() {
  std::size_t i = pos_ + 1;
  std::string out;
  while (i < end_) {
    char c = text_[i];
    if (c == '"') {
      pos_ = i + 1;
      return out;
    }
    if (c == '\\') {
      if (i + 1 < end_ && (text_[i + 1] == '"' || text_[i + 1] == '\\')) {
        out += text_[i + 1];
        i += 2;
        continue;
      }
      return bad("invalid escape in quoted string");
    }
    if (c == '\r' || c == '\n' || c == '\0') {
      return bad("invalid character in quoted string");
    }
    out += c;
    ++i;
  }
  return bad("unterminated quoted string");
}

Result<std::string> Arguments::string() {
  if (peek() == '"') {
    return quoted();
  }
  if (auto literal = literal_at(pos_)) {
    pos_ = literal->end;
    return std::string(literal->payload);
  }
  return bad("expected a string");
}

Result<Arguments::LiteralValue> Arguments::literal() {
  if (auto literal = literal_at(pos_)) {
    bool binary = text_[pos_] == '~';
    pos_ = literal->end;
    return LiteralValue{std::string(literal->payload), binary};
  }
  return bad("expected a literal");
}

Result<std::string> Arguments::atom() {
  std::size_t start = pos_;
  while (pos_ < end_ && is_atom_char(text_[pos_])) {
    ++pos_;
  }
  if (pos_ == start) {
    return bad("expected an atom");
  }
  return std::string(text_.substr(start, pos_ - start));
}

Result<std::string> Arguments::astring() {
  if (peek() == '"' || literal_at(pos_)) {
    return string();
  }
  std::size_t start = pos_;
  while (pos_ < end_ && is_astring_char(text_[pos_])) {
    ++pos_;
  }
  if (pos_ == start) {
    return bad("expected an astring");
  }
  return std::string(text_.substr(start, pos_ - start));
}

Result<std::optional<std::string>> Arguments::nstring() {
  if (pos_ + 3 <= end_ && iequals(text_.substr(pos_, 3), "NIL") &&
      (pos_ + 3 == end_ || !is_astring_char(text_[pos_ + 3]))) {
    pos_ += 3;
    return std::optional<std::string>();
  }
  TERN_TRY(auto s, string());
  return std::optional<std::string>(std::move(s));
}

Result<std::string> Arguments::mailbox() {
  TERN_TRY(auto name, astring());
  if (iequals(name, "INBOX")) {
    return std::string("INBOX");
  }
  return name;
}

Result<std::string> Arguments::list_mailbox() {
  if (peek() == '"' || literal_at(pos_)) {
    return string();
  }
  std::size_t start = pos_;
  while (pos_ < end_ && is_list_char(text_[pos_])) {
    ++pos_;
  }
  if (pos_ == start) {
    return bad("expected a mailbox pattern");
  }
  return std::string(text_.substr(start, pos_ - start));
}

Result<std::uint64_t> Arguments::number64() {
  std::size_t start = pos_;
  std::uint64_t value = 0;
  while (pos_ < end_ && text_[pos_] >= '0' && text_[pos_] <= '9') {
    if (value > (0x7fffffffffffffffULL - 9) / 10) {
      pos_ = start;
      return bad("number too large");
    }
    value = value * 10 + static_cast<std::uint64_t>(text_[pos_] - '0');
    ++pos_;
  }
  if (pos_ == start) {
    return bad("expected a number");
  }
  return value;
}

Result<std::uint32_t> Arguments::number() {
  std::size_t start = pos_;
  TERN_TRY(auto value, number64());
  if (value > 0xffffffffULL) {
    pos_ = start;
    return bad("number too large");
  }
  return static_cast<std::uint32_t>(value);
}

Result<std::uint32_t> Arguments::nz_number() {
  std::size_t start = pos_;
  TERN_TRY(auto value, number());
  if (value == 0 || text_[start] == '0') {
    pos_ = start;
    return bad("expected a non-zero number");
  }
  return value;
}

Result<SequenceSet> Arguments::sequence_set(bool allow_saved) {
  std::size_t start = pos_;
  while (pos_ < end_ && text_[pos_] != ' ' && text_[pos_] != ')') {
    ++pos_;
  }
  auto set = SequenceSet::parse(text_.substr(start, pos_ - start), allow_saved);
  if (!set) {
    pos_ = start;
  }
  return set;
}

Result<std::string> Arguments::flag() {
  std::size_t start = pos_;
  bool system = accept('\\');
  auto name = atom();
  if (!name) {
    pos_ = start;
    return bad("expected a flag");
  }
  return system ? "\\" + *name : *name;
}

Result<std::vector<std::string>> Arguments::flag_list() {
  std::size_t start = pos_;
  if (!accept('(')) {
    return bad("expected a flag list");
  }
  std::vector<std::string> flags;
  if (accept(')')) {
    return flags;
  }
  while (true) {
    auto f = flag();
    if (!f) {
      pos_ = start;
      return f.error();
    }
    flags.push_back(std::move(*f));
    if (accept(')')) {
      return flags;
    }
    if (!accept(' ')) {
      pos_ = start;
      return bad("expected a space or \")\" in a flag list");
    }
  }
}

Result<std::int64_t> Arguments::date_time() {
  // "dd-Mon-yyyy hh:mm:ss +zzzz" — 26 characters between the quotes.
  constexpr std::size_t kLength = 26;
  if (peek() != '"' || pos_ + kLength + 2 > end_ || text_[pos_ + kLength + 1] != '"') {
    return bad("expected a date-time");
  }
  std::string_view s = text_.substr(pos_ + 1, kLength);
  std::string day(s.substr(0, 2));
  if (day[0] == ' ') {
    day.erase(0, 1);  // date-day-fixed = (SP DIGIT) / 2DIGIT
  }
  std::int64_t days = 0;
  std::string date = day + std::string(s.substr(2, 9));
  std::string_view time = s.substr(12, 8);
  std::string_view zone = s.substr(21, 5);
  if (s[11] != ' ' || s[20] != ' ' || !parse_date_text(date, days) || time[2] != ':' ||
      time[5] != ':' || !all_digits(time.substr(0, 2)) || !all_digits(time.substr(3, 2)) ||
      !all_digits(time.substr(6, 2)) || (zone[0] != '+' && zone[0] != '-') ||
      !all_digits(zone.substr(1))) {
    return bad("invalid date-time");
  }
  int hh = to_int(time.substr(0, 2));
  int mm = to_int(time.substr(3, 2));
  int ss = to_int(time.substr(6, 2));
  int zh = to_int(zone.substr(1, 2));
  int zm = to_int(zone.substr(3, 2));
  if (hh > 23 || mm > 59 || ss > 60 || zm > 59) {
    return bad("invalid date-time");
  }
  std::int64_t offset = (zh * 3600 + zm * 60) * (zone[0] == '-' ? -1 : 1);
  pos_ += kLength + 2;
  return days * 86400 + hh * 3600 + mm * 60 + ss - offset;
}

Result<std::int64_t> Arguments::date() {
  std::size_t start = pos_;
  bool quoted_form = accept('"');
  std::size_t text_start = pos_;
  while (pos_ < end_ && text_[pos_] != ' ' && text_[pos_] != '"' && text_[pos_] != ')') {
    ++pos_;
  }
  std::int64_t days = 0;
  if (!parse_date_text(text_.substr(text_start, pos_ - text_start), days) ||
      (quoted_form && !accept('"'))) {
    pos_ = start;
    return bad("invalid date");
  }
  return days * 86400;
}

Result<std::string> Arguments::word() {
  std::size_t start = pos_;
  while (pos_ < end_ && text_[pos_] != ' ' && !is_ctl(text_[pos_])) {
    ++pos_;
  }
  if (pos_ == start) {
    return bad("expected a word");
  }
  return std::string(text_.substr(start, pos_ - start));
}

std::string format_date_time(std::int64_t unix_seconds) {
  std::int64_t days = unix_seconds >= 0 ? unix_seconds / 86400 : (unix_seconds - 86399) / 86400;
  std::int64_t rest = unix_seconds - days * 86400;
  const CivilDate date = civil_from_days(days);
  return fmt::format("{:02}-{}-{:04} {:02}:{:02}:{:02} +0000", date.day,
                     kMonths[static_cast<std::size_t>(date.month - 1)], date.year, rest / 3600,
                     (rest / 60) % 60, rest % 60);
}

}  // namespace tern::imap
