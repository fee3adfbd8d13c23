// SPDX-License-Identifier: Apache-2.0
#include "mbox/mbox.hpp"

#include <algorithm>
#include <cstdio>
#include <span>

#include "base/ascii.hpp"
#include "base/civil_date.hpp"

namespace tern::mbox {
namespace {

std::vector<std::string_view> words(std::string_view s, std::string_view separators = " \t") {
  std::vector<std::string_view> out;
  for (std::size_t at = s.find_first_not_of(separators); at != std::string_view::npos;
       at = s.find_first_not_of(separators, at)) {
    const std::size_t end = s.find_first_of(separators, at);
    out.push_back(s.substr(at, end - at));
    at = end == std::string_view::npos ? s.size() : end;
  }
  return out;
}

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view kWeekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

// The index of `word` among `names` (ASCII case ignored), -1 when absent.
int index_of(std::string_view word, std::span<const std::string_view> names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (ascii::iequals(word, names[i])) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// "+hhmm" / "-hhmm" in seconds east of UTC.
std::optional<std::int64_t> zone_offset(std::string_view w) {
  if (w.size() != 5 || (w[0] != '+' && w[0] != '-')) {
    return std::nullopt;
  }
  auto hhmm = ascii::to_number<int>(w.substr(1));
  if (!hhmm || *hhmm % 100 >= 60) {
    return std::nullopt;
  }
  const std::int64_t seconds = (*hhmm / 100) * 3600 + (*hhmm % 100) * 60;
  return w[0] == '-' ? -seconds : seconds;
}

// Header lines of `message`: [begin, end) offsets of each physical line before
// the first empty one, and where the body starts.
struct HeaderLine {
  std::size_t begin = 0;
  std::size_t end = 0;    // past the line end
  std::string_view text;  // without the line end
};

std::vector<HeaderLine> header_lines(std::string_view message, std::size_t& body) {
  std::vector<HeaderLine> out;
  std::size_t at = 0;
  while (at < message.size()) {
    const std::size_t nl = message.find('\n', at);
    const std::size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
    std::string_view text = message.substr(at, (nl == std::string_view::npos ? end : nl) - at);
    if (!text.empty() && text.back() == '\r') {
      text.remove_suffix(1);
    }
    if (text.empty()) {
      body = at;
      return out;
    }
    out.push_back({at, end, text});
    at = end;
  }
  body = message.size();
  return out;
}

bool is_continuation(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

std::string_view field_name(std::string_view line) {
  const std::size_t colon = line.find(':');
  return colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
}

// A keyword as IMAP can carry it (RFC 9051 §9 flag-keyword: an atom).
bool is_keyword(std::string_view w) {
  return !w.empty() && w.front() != '\\' && std::all_of(w.begin(), w.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
  });
}

constexpr std::string_view kStatusFields[] = {
    "Status",         "X-Status",         "X-Keywords",
    "X-UID",          "X-IMAPbase",       "X-IMAP",
    "Content-Length", "X-Mozilla-Status", "X-Mozilla-Status2",
    "X-Mozilla-Keys"};

bool is_status_field(std::string_view name) {
  return std::any_of(std::begin(kStatusFields), std::end(kStatusFields),
                     [&](std::string_view f) { return ascii::iequals(f, name); });
}

}  // namespace

std::optional<std::int64_t> separator_date(std::string_view line) {
  if (line.substr(0, 5) != "From ") {
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  const auto w = words(line.substr(5));
  // The weekday: after the sender, or first when the sender is empty.
  std::size_t i = 0;
  while (i < w.size() && i < 2 && index_of(w[i], kWeekdays) < 0) {
    ++i;
  }
  if (i >= w.size() || index_of(w[i], kWeekdays) < 0 || i + 3 >= w.size()) {
    return std::nullopt;
  }
  const int month = index_of(w[i + 1], kMonths);
  const auto day = ascii::to_number<unsigned>(w[i + 2]);
  const auto time = words(w[i + 3], ":");
  if (month < 0 || !day || *day < 1 || *day > 31 || time.size() < 2 || time.size() > 3) {
    return std::nullopt;
  }
  const auto hour = ascii::to_number<int>(time[0]);
  const auto minute = ascii::to_number<int>(time[1]);
  const auto second = time.size() == 3 ? ascii::to_number<int>(time[2]) : std::optional<int>(0);
  if (!hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  // The year and an optional zone, in either order ("2023", "+0000 2024").
  std::optional<int> year;
  std::int64_t offset = 0;
  for (std::size_t k = i + 4; k < w.size(); ++k) {
    if (auto y = ascii::to_number<int>(w[k]); y && !year && *y >= 1900 && *y <= 9999) {
      year = y;
    } else if (auto z = zone_offset(w[k])) {
      offset = *z;
    } else if (!ascii::iequals(w[k], "UTC") && !ascii::iequals(w[k], "GMT")) {
      return std::nullopt;
    }
  }
  if (!year) {
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(*year, month + 1, static_cast<int>(*day));
  return days * 86400 + *hour * 3600 + *minute * 60 + *second - offset;
}

std::string_view unquote(std::string_view line) {
  const std::size_t quotes = line.find_first_not_of('>');
  if (quotes != 0 && quotes != std::string_view::npos && line.substr(quotes, 5) == "From ") {
    line.remove_prefix(1);
  }
  return line;
}

bool has_content_length(std::string_view message) {
  std::size_t body = 0;
  const auto lines = header_lines(message, body);
  return std::any_of(lines.begin(), lines.end(), [](const HeaderLine& line) {
    return ascii::iequals(field_name(line.text), "Content-Length");
  });
}

Status read_status(std::string_view message) {
  Status status;
  std::size_t body = 0;
  const auto lines = header_lines(message, body);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view name = field_name(lines[i].text);
    if (name.empty() || !is_status_field(name)) {
      continue;
    }
    std::string value(lines[i].text.substr(name.size() + 1));
    while (i + 1 < lines.size() && is_continuation(lines[i + 1].text)) {
      value += lines[++i].text;
    }
    if (ascii::iequals(name, "Status")) {
      status.seen = status.seen || value.find('R') != std::string::npos;
    } else if (ascii::iequals(name, "X-Status")) {
      status.answered = status.answered || value.find('A') != std::string::npos;
      status.flagged = status.flagged || value.find('F') != std::string::npos;
      status.deleted = status.deleted || value.find('D') != std::string::npos;
      status.draft = status.draft || value.find('T') != std::string::npos;
    } else if (ascii::iequals(name, "X-Mozilla-Status")) {
      const auto trimmed = words(value);
      if (auto bits = trimmed.empty() ? std::nullopt : ascii::to_number<unsigned>(trimmed[0], 16)) {
        status.seen = status.seen || (*bits & 0x1u) != 0;
        status.answered = status.answered || (*bits & 0x2u) != 0;
        status.flagged = status.flagged || (*bits & 0x4u) != 0;
        status.deleted = status.deleted || (*bits & 0x8u) != 0;
      }
    } else if (ascii::iequals(name, "X-Keywords") || ascii::iequals(name, "X-Mozilla-Keys")) {
      for (std::string_view k : words(value, " \t,")) {
        if (is_keyword(k) &&
            std::find(status.keywords.begin(), status.keywords.end(), k) == status.keywords.end()) {
          status.keywords.emplace_back(k);
        }
      }
    }
  }
  return status;
}

std::string without_status(std::string_view message) {
  std::size_t body = 0;
  const auto lines = header_lines(message, body);
  std::string out;
  out.reserve(message.size());
  bool skipping = false;
  for (const auto& line : lines) {
    if (!is_continuation(line.text)) {
      const std::string_view name = field_name(line.text);
      skipping = !name.empty() && is_status_field(name);
    }
    if (!skipping) {
      out.append(message.substr(line.begin, line.end - line.begin));
    }
  }
  out.append(message.substr(body));
  return out;
}

std::string separator_line(std::int64_t date) {
  const std::int64_t days = date >= 0 ? date / 86400 : (date - 86399) / 86400;
  const std::int64_t seconds = date - days * 86400;
  const CivilDate civil = civil_from_days(days);
  // 1970-01-01 was a Thursday; kWeekdays starts on Monday.
  const auto weekday = static_cast<std::size_t>(((days % 7) + 7 + 3) % 7);
  char out[80];
  std::snprintf(out, sizeof out, "From MAILER-DAEMON %s %s %2d %02d:%02d:%02d %lld",
                std::string(kWeekdays[weekday]).c_str(),
                std::string(kMonths[static_cast<std::size_t>(civil.month - 1)]).c_str(), civil.day,
                static_cast<int>(seconds / 3600), static_cast<int>(seconds / 60 % 60),
                static_cast<int>(seconds % 60), static_cast<long long>(civil.year));
  return out;
}

std::string base_field(std::uint32_t uid_validity, std::uint32_t uid_next,
                       const std::vector<std::string>& keywords) {
  std::string out = "X-IMAPbase: " + std::to_string(uid_validity) + " " + std::to_string(uid_next);
  for (const auto& k : keywords) {
    out += " " + k;
  }
  return out + "\n";
}

std::string status_fields(const Status& status, std::uint32_t uid, std::uint64_t content_length) {
  std::string out = status.seen ? "Status: RO\n" : "Status: O\n";
  std::string x;
  x += status.answered ? "A" : "";
  x += status.flagged ? "F" : "";
  x += status.draft ? "T" : "";
  x += status.deleted ? "D" : "";
  if (!x.empty()) {
    out += "X-Status: " + x + "\n";
  }
  if (!status.keywords.empty()) {
    out += "X-Keywords:";
    for (const auto& k : status.keywords) {
      out += " " + k;
    }
    out += "\n";
  }
  out += "X-UID: " + std::to_string(uid) + "\n";
  out += "Content-Length: " + std::to_string(content_length) + "\n";
  return out;
}

}  // namespace tern::mbox
