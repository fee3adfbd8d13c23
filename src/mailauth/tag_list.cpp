// SPDX-License-Identifier: Apache-2.0
#include "mailauth/tag_list.hpp"

#include <charconv>
#include <string>

#include "sasl/base64.hpp"

namespace tern::mailauth {
namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 6376 §3.2: tval = 1*VALCHAR, VALCHAR = %x21-3A / %x3C-7E (no ';').
bool is_valchar(char c) {
  return (c >= 0x21 && c <= 0x3A) || (c >= 0x3C && c <= 0x7E);
}

}  // namespace

std::string strip_fws(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (!is_fws_char(c)) {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> decode_base64_tag(std::string_view value) {
  return sasl::base64_decode(strip_fws(value));
}

Result<std::string> required_base64_tag(const std::vector<Tag>& tags, std::string_view name) {
  auto tag = find_tag(tags, name);
  if (!tag) {
    return fail(ErrorCode::kInvalidInput, "missing required tag " + std::string(name) + "=");
  }
  auto decoded = decode_base64_tag(tag->value);
  if (!decoded || decoded->empty()) {
    return fail(ErrorCode::kInvalidInput, std::string(name) + "= is not base64");
  }
  return std::move(*decoded);
}

std::vector<std::string> split_colon_list(std::string_view value) {
  std::vector<std::string> items;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = value.find(':', pos);
    items.push_back(strip_fws(value.substr(pos, end == std::string_view::npos ? end : end - pos)));
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + 1;
  }
  return items;
}

Result<std::uint64_t> parse_tag_number(std::string_view name, std::string_view value) {
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    return fail(ErrorCode::kInvalidInput, std::string(name) + "= is not a decimal number");
  }
  return n;
}

Result<std::vector<Tag>> parse_tag_list(std::string_view text) {
  std::vector<Tag> tags;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(';', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view spec = text.substr(pos, end - pos);
    std::size_t b = 0;
    while (b < spec.size() && is_fws_char(spec[b])) {
      ++b;
    }
    if (b == spec.size()) {
      // An empty spec is allowed only as the trailing ";" (RFC 6376 §3.2).
      if (end != text.size() &&
          text.find_first_not_of(" \t\r\n", end + 1) != std::string_view::npos) {
        return fail(ErrorCode::kInvalidInput, "empty tag-spec");
      }
      break;
    }
    std::size_t n = b;
    if (!is_alpha(spec[n])) {
      return fail(ErrorCode::kInvalidInput, "tag name must start with a letter");
    }
    while (n < spec.size() && (is_alpha(spec[n]) || is_digit(spec[n]) || spec[n] == '_')) {
      ++n;
    }
    std::string_view name = spec.substr(b, n - b);
    while (n < spec.size() && is_fws_char(spec[n])) {
      ++n;
    }
    if (n == spec.size() || spec[n] != '=') {
      return fail(ErrorCode::kInvalidInput, "tag \"" + std::string(name) + "\" has no \"=\"");
    }
    ++n;
    while (n < spec.size() && is_fws_char(spec[n])) {
      ++n;
    }
    std::size_t e = spec.size();
    while (e > n && is_fws_char(spec[e - 1])) {
      --e;
    }
    std::string_view value = spec.substr(n, e - n);
    for (char c : value) {
      if (!is_valchar(c) && !is_fws_char(c)) {
        return fail(ErrorCode::kInvalidInput,
                    "tag \"" + std::string(name) + "\" has an invalid character");
      }
    }
    if (find_tag(tags, name)) {
      return fail(ErrorCode::kInvalidInput, "tag \"" + std::string(name) + "\" appears twice");
    }
    tags.push_back(Tag{name, value, pos + n});
    if (end == text.size()) {
      break;
    }
    pos = end + 1;
  }
  return tags;
}

std::optional<Tag> find_tag(const std::vector<Tag>& tags, std::string_view name) {
  for (const Tag& tag : tags) {
    if (tag.name == name) {
      return tag;
    }
  }
  return std::nullopt;
}

}  // namespace tern::mailauth
