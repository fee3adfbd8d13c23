// SPDX-License-Identifier: Apache-2.0
#include "mailauth/spf_record.hpp"

#include <algorithm>
#include <charconv>

#include "base/ascii.hpp"

namespace tern::mailauth {
namespace {

Error invalid(std::string message) {
  return fail(ErrorCode::kInvalidInput, std::move(message));
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

// RFC 7208 §7.1: delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
bool is_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// macro-literal = %x21-24 / %x26-7E
bool is_macro_literal(char c) {
  return (c >= 0x21 && c <= 0x24) || (c >= 0x26 && c <= 0x7E);
}

// A parsed "%{...}" body: letter, digits, reverse, delimiters.
struct MacroExpand {
  char letter = 0;
  int digits = 0;  // 0 = all parts
  bool reverse = false;
  std::string delimiters;
  std::size_t end = 0;  // position after the "}"
};

// Parses the macro-expand at text[pos] == '%' and text[pos + 1] == '{'.
Result<MacroExpand> parse_expand(std::string_view text, std::size_t pos, SpfMacroContextKind kind) {
  MacroExpand m;
  std::size_t i = pos + 2;
  if (i >= text.size()) {
    return invalid("unterminated macro");
  }
  char letter = ascii::to_lower(text[i]);
  bool explanation_only = letter == 'c' || letter == 'r' || letter == 't';
  if (std::string_view("slodiphcrtv").find(letter) == std::string_view::npos ||
      (explanation_only && kind != SpfMacroContextKind::kExplanation)) {
    return invalid("unknown macro letter");
  }
  m.letter = text[i++];
  std::size_t digits_start = i;
  while (i < text.size() && is_digit(text[i])) {
    ++i;
  }
  if (i > digits_start) {
    std::string_view digits = text.substr(digits_start, i - digits_start);
    if (digits.size() > 3) {
      digits = "999";
    }
    std::from_chars(digits.data(), digits.data() + digits.size(), m.digits);
    if (m.digits == 0) {
      // §7.1: "If a DIGIT is specified, the value MUST be nonzero."
      return invalid("macro digit transformer is zero");
    }
  }
  if (i < text.size() && ascii::to_lower(text[i]) == 'r') {
    m.reverse = true;
    ++i;
  }
  while (i < text.size() && is_delimiter(text[i])) {
    m.delimiters.push_back(text[i++]);
  }
  if (i >= text.size() || text[i] != '}') {
    return invalid("malformed macro");
  }
  m.end = i + 1;
  return m;
}

// RFC 7208 §7.3 / RFC 3986 §2.3: upper-case macro letters URL-escape all but
// the unreserved characters.
std::string url_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out;
}

std::string ip_dotted(const dns::IpAddress& ip) {
  if (ip.is_v4()) {
    return ip.format();
  }
  // §7.3: IPv6 %{i} is the 32 nibbles separated by dots.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : ip.bytes()) {
    if (!out.empty()) {
      out.push_back('.');
    }
    out.push_back(kHex[b >> 4]);
    out.push_back('.');
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string macro_value(char letter, const SpfMacroValues& v) {
  switch (ascii::to_lower(letter)) {
    case 's':
      return v.sender;
    case 'l':
      return v.local_part;
    case 'o':
      return v.sender_domain;
    case 'd':
      return v.domain;
    case 'i':
      return ip_dotted(v.ip);
    case 'p':
      return v.validated_name.empty() ? "unknown" : v.validated_name;
    case 'v':
      return v.ip.is_v4() ? "in-addr" : "ip6";
    case 'h':
      return v.helo;
    case 'c':
      return v.ip.format();
    case 'r':
      return v.receiver.empty() ? "unknown" : v.receiver;
    case 't':
      return std::to_string(v.timestamp);
    default:
      return {};
  }
}

// §7.3: split on the delimiters, optionally reverse, keep the right-most
// `digits` parts, join with ".".
std::string transform(const std::string& value, const MacroExpand& m) {
  std::string delimiters = m.delimiters.empty() ? "." : m.delimiters;
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delimiters.find(value[i]) != std::string::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (m.reverse) {
    std::reverse(parts.begin(), parts.end());
  }
  std::size_t keep = parts.size();
  if (m.digits > 0 && static_cast<std::size_t>(m.digits) < keep) {
    keep = static_cast<std::size_t>(m.digits);
  }
  std::string out;
  const std::size_t first = parts.size() - keep;
  for (std::size_t i = first; i < parts.size(); ++i) {
    if (i > first) {
      out.push_back('.');
    }
    out += parts[i];
  }
  return out;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) {
    return false;
  }
  bool alpha = false;
  bool hyphen = false;
  for (char c : label) {
    if (c == '-') {
      hyphen = true;
    } else if (!is_alnum(c)) {
      return false;
    }
    alpha = alpha || is_alpha(c);
  }
  return alpha || hyphen;
}

// Parses "/n" with no leading zero and n <= max (§12: ip4-cidr-length,
// ip6-cidr-length).
Result<int> parse_cidr(std::string_view digits, int max) {
  int n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
      (digits.size() > 1 && digits.front() == '0') || n > max) {
    return invalid("bad CIDR length");
  }
  return n;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

// Splits a trailing dual-cidr-length ("/24", "//64", "/24//64") off `arg`.
Result<void> take_dual_cidr(std::string_view& arg, SpfMechanism& m) {
  std::size_t dd = arg.rfind("//");
  if (dd != std::string_view::npos && all_digits(arg.substr(dd + 2))) {
    TERN_TRY(m.cidr6, parse_cidr(arg.substr(dd + 2), 128));
    arg = arg.substr(0, dd);
  } else if (dd != std::string_view::npos && dd + 2 == arg.size()) {
    return invalid("empty ip6 CIDR length");
  }
  std::size_t d = arg.rfind('/');
  if (d != std::string_view::npos && all_digits(arg.substr(d + 1))) {
    TERN_TRY(m.cidr4, parse_cidr(arg.substr(d + 1), 32));
    arg = arg.substr(0, d);
  } else if (d != std::string_view::npos && d + 1 == arg.size()) {
    return invalid("empty CIDR length");
  }
  return ok();
}

Result<std::string> parse_domain_spec(std::string_view spec) {
  if (spec.empty()) {
    return invalid("empty domain-spec");
  }
  TERN_TRY_VOID(validate_macro_string(spec, SpfMacroContextKind::kDomainSpec));
  if (!is_valid_domain_end(spec)) {
    return invalid("domain-spec \"" + std::string(spec) + "\" does not end in a top label");
  }
  return std::string(spec);
}

Result<SpfMechanism> parse_directive(std::string_view term) {
  SpfMechanism m;
  switch (term.front()) {
    case '+':
      m.qualifier = SpfQualifier::kPass;
      term.remove_prefix(1);
      break;
    case '-':
      m.qualifier = SpfQualifier::kFail;
      term.remove_prefix(1);
      break;
    case '~':
      m.qualifier = SpfQualifier::kSoftFail;
      term.remove_prefix(1);
      break;
    case '?':
      m.qualifier = SpfQualifier::kNeutral;
      term.remove_prefix(1);
      break;
    default:
      break;
  }
  std::size_t name_end = term.find_first_of(":/");
  std::string name = ascii::lower(term.substr(0, name_end));
  std::string_view rest = name_end == std::string_view::npos ? "" : term.substr(name_end);
  bool has_colon = !rest.empty() && rest.front() == ':';
  std::string_view arg = has_colon ? rest.substr(1) : rest;

  if (name == "all") {
    m.kind = SpfMechanismKind::kAll;
    if (!rest.empty()) {
      return invalid("all takes no argument");
    }
    return m;
  }
  if (name == "include" || name == "exists") {
    m.kind = name == "include" ? SpfMechanismKind::kInclude : SpfMechanismKind::kExists;
    if (!has_colon) {
      return invalid(name + " needs a domain");
    }
    TERN_TRY(m.domain_spec, parse_domain_spec(arg));
    return m;
  }
  if (name == "a" || name == "mx") {
    m.kind = name == "a" ? SpfMechanismKind::kA : SpfMechanismKind::kMx;
    TERN_TRY_VOID(take_dual_cidr(arg, m));
    if (has_colon) {
      TERN_TRY(m.domain_spec, parse_domain_spec(arg));
    } else if (!arg.empty()) {
      return invalid("malformed " + name);
    }
    return m;
  }
  if (name == "ptr") {
    m.kind = SpfMechanismKind::kPtr;
    if (has_colon) {
      TERN_TRY(m.domain_spec, parse_domain_spec(arg));
    } else if (!rest.empty()) {
      return invalid("malformed ptr");
    }
    return m;
  }
  if (name == "ip4" || name == "ip6") {
    bool v4 = name == "ip4";
    m.kind = v4 ? SpfMechanismKind::kIp4 : SpfMechanismKind::kIp6;
    if (!has_colon) {
      return invalid(name + " needs a network");
    }
    std::size_t slash = arg.find('/');
    if (slash != std::string_view::npos) {
      int& len = v4 ? m.cidr4 : m.cidr6;
      TERN_TRY(len, parse_cidr(arg.substr(slash + 1), v4 ? 32 : 128));
      arg = arg.substr(0, slash);
    }
    auto ip = dns::IpAddress::parse(arg);
    if (!ip || ip->is_v4() != v4) {
      return invalid(name + " network \"" + std::string(arg) + "\" is malformed");
    }
    m.network = *ip;
    return m;
  }
  return invalid("unknown mechanism \"" + name + "\"");
}

}  // namespace

std::string_view spf_mechanism_name(SpfMechanismKind kind) {
  switch (kind) {
    case SpfMechanismKind::kAll:
      return "all";
    case SpfMechanismKind::kInclude:
      return "include";
    case SpfMechanismKind::kA:
      return "a";
    case SpfMechanismKind::kMx:
      return "mx";
    case SpfMechanismKind::kPtr:
      return "ptr";
    case SpfMechanismKind::kIp4:
      return "ip4";
    case SpfMechanismKind::kIp6:
      return "ip6";
    case SpfMechanismKind::kExists:
      return "exists";
  }
  return "all";
}

bool is_spf_record(std::string_view text) {
  return text.size() >= 6 && ascii::iequals(text.substr(0, 6), "v=spf1") &&
         (text.size() == 6 || text[6] == ' ');
}

Result<SpfRecord> parse_spf_record(std::string_view text) {
  if (!is_spf_record(text)) {
    return invalid("not an SPF record");
  }
  for (char c : text) {
    // §12: terms are separated by SP; everything else is printable ASCII.
    if (c != ' ' && (c < 0x21 || c > 0x7E)) {
      return invalid("record has a character outside printable ASCII");
    }
  }
  SpfRecord record;
  std::size_t pos = 6;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view term = text.substr(pos, end - pos);
    pos = end;
    // modifier = name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    std::size_t n = 0;
    if (is_alpha(term[0])) {
      n = 1;
      while (n < term.size() &&
             (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.')) {
        ++n;
      }
    }
    if (n > 0 && n < term.size() && term[n] == '=') {
      std::string name = ascii::lower(term.substr(0, n));
      std::string_view value = term.substr(n + 1);
      if (name == "redirect" || name == "exp") {
        auto& slot = name == "redirect" ? record.redirect : record.explanation;
        if (slot) {
          return invalid(name + "= appears twice");
        }
        TERN_TRY(slot, parse_domain_spec(value));
      } else {
        // §6: unknown modifiers are ignored, but must be well-formed.
        TERN_TRY_VOID(validate_macro_string(value, SpfMacroContextKind::kDomainSpec));
      }
      continue;
    }
    TERN_TRY(SpfMechanism mechanism, parse_directive(term));
    record.mechanisms.push_back(std::move(mechanism));
  }
  return record;
}

Result<void> validate_macro_string(std::string_view text, SpfMacroContextKind kind) {
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '%') {
      if (i + 1 >= text.size()) {
        return invalid("lone % in macro string");
      }
      char next = text[i + 1];
      if (next == '%' || next == '_' || next == '-') {
        i += 2;
        continue;
      }
      if (next != '{') {
        return invalid("bad % escape in macro string");
      }
      TERN_TRY(MacroExpand m, parse_expand(text, i, kind));
      i = m.end;
      continue;
    }
    if (!is_macro_literal(c) && !(kind == SpfMacroContextKind::kExplanation && c == ' ')) {
      return invalid("bad character in macro string");
    }
    ++i;
  }
  return ok();
}

bool is_valid_domain_end(std::string_view spec) {
  if (spec.ends_with('}')) {
    // Ends in a macro-expand: valid if that "%{" is a real expand.
    std::size_t open = spec.rfind("%{");
    return open != std::string_view::npos && (open == 0 || spec[open - 1] != '%');
  }
  if (spec.ends_with('.')) {
    spec.remove_suffix(1);
  }
  std::size_t dot = spec.rfind('.');
  if (dot == std::string_view::npos) {
    return false;
  }
  return is_toplabel(spec.substr(dot + 1));
}

bool uses_validated_name(std::string_view text) {
  for (std::size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] == '%' && text[i + 1] == '%') {
      ++i;
    } else if (text[i] == '%' && text[i + 1] == '{' && ascii::to_lower(text[i + 2]) == 'p') {
      return true;
    }
  }
  return false;
}

std::string expand_macro_string(std::string_view text, const SpfMacroValues& values,
                                SpfMacroContextKind kind) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '%' || i + 1 >= text.size()) {
      out.push_back(text[i++]);
      continue;
    }
    char next = text[i + 1];
    if (next == '%') {
      out.push_back('%');
      i += 2;
    } else if (next == '_') {
      out.push_back(' ');
      i += 2;
    } else if (next == '-') {
      out += "%20";
      i += 2;
    } else {
      auto m = parse_expand(text, i, kind);
      if (!m) {
        // Requires: validated; keep the text rather than guess.
        out.push_back(text[i++]);
        continue;
      }
      std::string value = transform(macro_value(m->letter, values), *m);
      out += ascii::to_lower(m->letter) != m->letter ? url_escape(value) : value;
      i = m->end;
    }
  }
  if (kind == SpfMacroContextKind::kDomainSpec) {
    // §7.3: drop left-hand labels until the name fits in 253 octets.
    while (out.size() > 253) {
      std::size_t dot = out.find('.');
      if (dot == std::string::npos) {
        break;
      }
      out.erase(0, dot + 1);
    }
  }
  return out;
}

}  // namespace tern::mailauth
