// SPDX-License-Identifier: Apache-2.0
#include "address/domain.hpp"

#include <cstdlib>
#include <memory>

#include <idn2.h>

#include "address/detail/syntax.hpp"

namespace tern::address {
namespace {

using detail::is_alpha;
using detail::is_digit;
using detail::is_hex_digit;
using detail::is_non_ascii;

struct IdnFree {
  void operator()(char* p) const { idn2_free(p); }
};

using IdnString = std::unique_ptr<char, IdnFree>;

bool has_non_ascii(std::string_view text) {
  for (char c : text) {
    if (is_non_ascii(static_cast<unsigned char>(c))) {
      return true;
    }
  }
  return false;
}

Error idn_error(int rc) {
  // libidn2 reports oversized labels and names with their own codes; keep them
  // apart from syntax so SMTP can answer "path too long" (RFC 5321 §4.5.3.1.10).
  if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT) {
    return fail(ErrorCode::kLimitExceeded, "domain label longer than 63 octets");
  }
  if (rc == IDN2_TOO_BIG_DOMAIN) {
    return fail(ErrorCode::kLimitExceeded, "domain longer than 255 octets");
  }
  return fail(ErrorCode::kInvalidInput, std::string("idna: ") + idn2_strerror(rc));
}

// RFC 5321 §4.1.2 Domain on an ASCII, already lower-cased name:
// sub-domain = Let-dig [Ldh-str]; labels of at most 63 octets (RFC 1035 §2.3.4).
Result<void> check_ldh_name(std::string_view name, std::size_t max_bytes) {
  if (name.size() > max_bytes) {
    return fail(ErrorCode::kLimitExceeded,
                "domain longer than " + std::to_string(max_bytes) + " octets");
  }
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      auto c = static_cast<unsigned char>(name[i]);
      if (!is_alpha(c) && !is_digit(c) && c != '-') {
        return fail(ErrorCode::kInvalidInput, "invalid character in domain");
      }
      continue;
    }
    std::string_view label = name.substr(label_start, i - label_start);
    if (label.empty()) {
      return fail(ErrorCode::kInvalidInput, "empty domain label");
    }
    if (label.size() > kMaxLabelBytes) {
      return fail(ErrorCode::kLimitExceeded, "domain label longer than 63 octets");
    }
    if (label.front() == '-' || label.back() == '-') {
      return fail(ErrorCode::kInvalidInput, "domain label starts or ends with a hyphen");
    }
    label_start = i + 1;
  }
  return ok();
}

// IDNA 2008 with the UTS #46 non-transitional mapping, as browsers and Postfix's
// SMTPUTF8 support do: it lower-cases and NFC-normalizes before encoding.
constexpr int kToAsciiFlags = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL | IDN2_USE_STD3_ASCII_RULES;

Result<std::string> idna_to_ascii(const std::string& name) {
  char* out = nullptr;
  int rc = idn2_to_ascii_8z(name.c_str(), &out, kToAsciiFlags);
  IdnString owned(out);
  if (rc != IDN2_OK) {
    return idn_error(rc);
  }
  return std::string(owned.get());
}

Result<std::string> idna_to_unicode(const std::string& ascii) {
  char* out = nullptr;
  int rc = idn2_to_unicode_8z8z(ascii.c_str(), &out, 0);
  IdnString owned(out);
  if (rc != IDN2_OK) {
    return idn_error(rc);
  }
  return std::string(owned.get());
}

bool has_a_label(std::string_view ascii) {
  std::size_t start = 0;
  while (start <= ascii.size()) {
    std::size_t dot = ascii.find('.', start);
    std::string_view label = ascii.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.starts_with("xn--")) {
      return true;
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return false;
}

// RFC 5321 §4.1.3 Snum: 1*3DIGIT with a value of 0-255.
bool parse_ipv4(std::string_view text) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    int value = 0;
    while (i < text.size() && is_digit(static_cast<unsigned char>(text[i])) && digits < 4) {
      value = value * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0 || digits > 3 || value > 255) {
      return false;
    }
    ++parts;
    if (parts == 4) {
      return i == text.size();
    }
    if (i >= text.size() || text[i] != '.') {
      return false;
    }
    ++i;
  }
}

// Parses a run of IPv6-hex groups separated by ':' ("" is zero groups). The last
// group may be an IPv4 address when `allow_v4` is set; it counts as two groups.
bool parse_hex_groups(std::string_view text, bool allow_v4, int& groups, bool& has_v4) {
  groups = 0;
  has_v4 = false;
  if (text.empty()) {
    return true;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t colon = text.find(':', start);
    std::string_view group =
        text.substr(start, colon == std::string_view::npos ? colon : colon - start);
    if (colon == std::string_view::npos && allow_v4 && group.find('.') != std::string_view::npos) {
      if (!parse_ipv4(group)) {
        return false;
      }
      has_v4 = true;
      groups += 2;
      return true;
    }
    if (group.empty() || group.size() > 4) {
      return false;
    }
    for (char c : group) {
      if (!is_hex_digit(static_cast<unsigned char>(c))) {
        return false;
      }
    }
    ++groups;
    if (colon == std::string_view::npos) {
      return true;
    }
    start = colon + 1;
  }
}

// RFC 5321 §4.1.3 IPv6-addr: IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp.
// "::" stands for at least two zero groups, so at most 6 groups (4 with an
// embedded IPv4 address, which counts as two) may be written around it.
bool parse_ipv6(std::string_view text) {
  std::size_t gap = text.find("::");
  if (gap == std::string_view::npos) {
    int groups = 0;
    bool v4 = false;
    return parse_hex_groups(text, true, groups, v4) && groups == 8;
  }
  if (text.find("::", gap + 1) != std::string_view::npos) {
    return false;
  }
  int left = 0;
  int right = 0;
  bool left_v4 = false;
  bool right_v4 = false;
  if (!parse_hex_groups(text.substr(0, gap), false, left, left_v4) ||
      !parse_hex_groups(text.substr(gap + 2), true, right, right_v4)) {
    return false;
  }
  return left + right <= 6;
}

// RFC 5321 §4.1.3 General-address-literal: Standardized-tag ":" 1*dcontent,
// Standardized-tag = Ldh-str, dcontent = %d33-90 / %d94-126.
bool parse_general_literal(std::string_view text) {
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return false;
  }
  std::string_view tag = text.substr(0, colon);
  for (char ch : tag) {
    auto c = static_cast<unsigned char>(ch);
    if (!is_alpha(c) && !is_digit(c) && c != '-') {
      return false;
    }
  }
  if (tag.back() == '-') {
    return false;
  }
  for (char ch : text.substr(colon + 1)) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || (c >= 91 && c <= 93)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string_view Domain::literal_value() const {
  if (!is_literal()) {
    return {};
  }
  std::string_view inner(ascii_);
  inner.remove_prefix(1);
  inner.remove_suffix(1);
  if (kind_ == DomainKind::kIpv4Literal) {
    return inner;
  }
  return inner.substr(inner.find(':') + 1);
}

Result<Domain> parse_domain(std::string_view text, const DomainOptions& options) {
  if (text.empty()) {
    return fail(ErrorCode::kInvalidInput, "empty domain");
  }
  if (text.size() > options.max_bytes) {
    return fail(ErrorCode::kLimitExceeded,
                "domain longer than " + std::to_string(options.max_bytes) + " octets");
  }
  bool non_ascii = has_non_ascii(text);
  if (non_ascii && !options.allow_utf8) {
    return fail(ErrorCode::kPermissionDenied, "non-ASCII domain without SMTPUTF8");
  }
  Domain domain;
  if (text.front() == '[') {
    if (!options.allow_literal) {
      return fail(ErrorCode::kPermissionDenied, "address literal not allowed here");
    }
    if (text.size() < 3 || text.back() != ']') {
      return fail(ErrorCode::kInvalidInput, "malformed address literal");
    }
    std::string_view inner = text.substr(1, text.size() - 2);
    // RFC 5321 §4.1.3: "IPv6:" is an ABNF string, so its case does not matter.
    if (detail::iequals(inner.substr(0, 5), "IPv6:")) {
      if (!parse_ipv6(inner.substr(5))) {
        return fail(ErrorCode::kInvalidInput, "malformed IPv6 address literal");
      }
      domain.kind_ = DomainKind::kIpv6Literal;
      domain.ascii_ = "[IPv6:" + ascii_lower(inner.substr(5)) + "]";
    } else if (parse_ipv4(inner)) {
      domain.kind_ = DomainKind::kIpv4Literal;
      domain.ascii_ = std::string(text);
    } else if (!inner.empty() && is_digit(static_cast<unsigned char>(inner.front())) &&
               inner.find(':') == std::string_view::npos) {
      return fail(ErrorCode::kInvalidInput, "malformed IPv4 address literal");
    } else if (parse_general_literal(inner)) {
      domain.kind_ = DomainKind::kGeneralLiteral;
      domain.ascii_ = std::string(text);
    } else {
      return fail(ErrorCode::kInvalidInput, "malformed address literal");
    }
    domain.unicode_ = domain.ascii_;
    return domain;
  }

  std::string ascii;
  if (non_ascii) {
    // Refuse empty labels before libidn2 sees them: it would merely drop some.
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '.' && (i == 0 || i + 1 == text.size() || text[i + 1] == '.')) {
        return fail(ErrorCode::kInvalidInput, "empty domain label");
      }
    }
    TERN_TRY(ascii, idna_to_ascii(std::string(text)));
  } else {
    ascii = ascii_lower(text);
  }
  TERN_TRY_VOID(check_ldh_name(ascii, options.max_bytes));
  if (has_a_label(ascii)) {
    // An A-label must decode and encode back to itself (RFC 5890 §2.3.2.1);
    // otherwise "xn--" junk would be stored as if it were a real IDN.
    TERN_TRY(auto unicode, idna_to_unicode(ascii));
    auto again = idna_to_ascii(unicode);
    if (!again || *again != ascii) {
      return fail(ErrorCode::kInvalidInput, "invalid A-label in domain");
    }
    domain.unicode_ = std::move(unicode);
  } else {
    domain.unicode_ = ascii;
  }
  domain.ascii_ = std::move(ascii);
  return domain;
}

Result<std::string> domain_to_ascii(std::string_view name) {
  if (!name.empty() && name.front() == '[') {
    return fail(ErrorCode::kInvalidInput, "an address literal is not a domain name");
  }
  TERN_TRY(auto domain, parse_domain(name));
  return std::string(domain.ascii());
}

Result<std::string> domain_to_unicode(std::string_view name) {
  if (!name.empty() && name.front() == '[') {
    return fail(ErrorCode::kInvalidInput, "an address literal is not a domain name");
  }
  TERN_TRY(auto domain, parse_domain(name));
  return std::string(domain.unicode());
}

}  // namespace tern::address
