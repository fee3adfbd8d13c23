// SPDX-License-Identifier: Apache-2.0
#include "mailauth/authentication_results.hpp"

#include "base/ascii.hpp"

namespace tern::mailauth {
namespace {

// RFC 2045 §5.1 token characters: printable ASCII but SP, CTLs and tspecials.
bool is_token_char(char c) {
  return c > 0x20 && c < 0x7F &&
         std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!is_token_char(c)) {
      return false;
    }
  }
  return true;
}

// §2.2 pvalue: a token, a domain, or [local-part] "@" domain; anything else is
// written as a quoted-string.
std::string value_text(std::string_view value) {
  std::size_t at = value.rfind('@');
  if (is_token(value) ||
      (at != std::string_view::npos && (at == 0 || is_token(value.substr(0, at))) &&
       is_token(value.substr(at + 1)))) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  }
  return out + "\"";
}

MethodResult make(std::string method, AuthResult result, std::string reason = {}) {
  MethodResult r;
  r.method = std::move(method);
  r.result = result;
  r.reason = std::move(reason);
  return r;
}

std::string_view skip_cfws(std::string_view s) {
  while (!s.empty()) {
    if (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n') {
      s.remove_prefix(1);
    } else if (s.front() == '(') {
      // RFC 5322 §3.2.2 comments nest.
      int depth = 0;
      std::size_t i = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\') {
          ++i;
        } else if (s[i] == '(') {
          ++depth;
        } else if (s[i] == ')' && --depth == 0) {
          break;
        }
      }
      s.remove_prefix(i < s.size() ? i + 1 : s.size());
    } else {
      break;
    }
  }
  return s;
}

}  // namespace

MethodResult spf_method_result(const SpfEvaluator& spf) {
  const SpfResult& r = spf.result();
  MethodResult out = make("spf", r.result, r.problem);
  out.properties.emplace_back(spf.identity() == SpfIdentity::kHelo ? "smtp.helo" : "smtp.mailfrom",
                              spf.domain());
  return out;
}

std::vector<MethodResult> dkim_method_results(const std::vector<DkimResult>& results) {
  std::vector<MethodResult> out;
  if (results.empty()) {
    out.push_back(make("dkim", AuthResult::kNone));
  }
  for (const DkimResult& r : results) {
    MethodResult m = make("dkim", r.result, r.reason);
    if (!r.domain.empty()) {
      m.properties.emplace_back("header.d", r.domain);
      m.properties.emplace_back("header.s", r.selector);
      m.properties.emplace_back("header.a", r.algorithm);
      // RFC 6008 §4: the first 8 characters identify the signature.
      m.properties.emplace_back("header.b", r.b.substr(0, 8));
    }
    out.push_back(std::move(m));
  }
  return out;
}

MethodResult dmarc_method_result(const DmarcResult& dmarc, std::string_view from_domain) {
  MethodResult out =
      make("dmarc", dmarc.result,
           dmarc.result == AuthResult::kPass || dmarc.result == AuthResult::kFail ? std::string()
                                                                                  : dmarc.problem);
  out.properties.emplace_back("header.from", std::string(from_domain));
  if (dmarc.record) {
    out.properties.emplace_back("policy.dmarc", std::string(dmarc_policy_name(dmarc.policy)));
  }
  return out;
}

MethodResult arc_method_result(const ArcResult& arc) {
  MethodResult out = make("arc", arc.result, arc.problem);
  if (arc.instances > 0) {
    out.properties.emplace_back("arc.chain", std::to_string(arc.instances));
  }
  return out;
}

MethodResult iprev_method_result(const IprevResult& iprev, const dns::IpAddress& ip) {
  MethodResult out = make("iprev", iprev.result, iprev.problem);
  out.properties.emplace_back("policy.iprev", ip.format());
  return out;
}

std::string format_authentication_results(std::string_view authserv_id,
                                          const std::vector<MethodResult>& results) {
  std::string out = "Authentication-Results: " + std::string(authserv_id);
  if (results.empty()) {
    return out + "; none\r\n";
  }
  for (const MethodResult& r : results) {
    out += ";\r\n\t" + r.method + "=" + std::string(auth_result_name(r.result));
    if (!r.reason.empty()) {
      out += " reason=" + value_text(r.reason);
    }
    for (const auto& [name, value] : r.properties) {
      out += " " + name + "=" + value_text(value);
    }
  }
  return out + "\r\n";
}

bool claims_authserv_id(std::string_view field_value, std::string_view authserv_id) {
  std::string_view s = skip_cfws(field_value);
  std::size_t end = 0;
  while (end < s.size() && s[end] != ';' && s[end] != ' ' && s[end] != '\t' && s[end] != '(' &&
         s[end] != '\r' && s[end] != '\n') {
    ++end;
  }
  return end > 0 && ascii::iequals(s.substr(0, end), authserv_id);
}

}  // namespace tern::mailauth
