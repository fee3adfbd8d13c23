// SPDX-License-Identifier: Apache-2.0
// Output is conservative: CRLF everywhere, fields folded at 78 (RFC 5322 §2.1.1),
// 7-bit unless the content needs 8 bits, boundaries that cannot occur in the data.
#include "mime/builder.hpp"

#include <array>
#include <cstdio>
#include <ctime>

#include "mime/ascii.hpp"
#include "mime/charset.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"

namespace tern::mime {

namespace {

using ascii::is_wsp;

constexpr std::size_t kFoldAt = 78;

bool is_ascii_printable(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 32 || u > 126) {
      return false;
    }
  }
  return true;
}

bool has_8bit(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return true;
    }
  }
  return false;
}

// RFC 5322 §3.2.3 atext.
bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(c) != std::string_view::npos;
}

// RFC 2045 §5.1 token.
bool is_token(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 ||
        std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string quoted_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  }
  return out + "\"";
}

// Text safe inside an RFC 5322 comment: parentheses and backslashes escaped,
// controls dropped.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 32 || u == 127) {
      continue;
    }
    if (c == '(' || c == ')' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

// A HELO argument usable as Domain or address-literal (RFC 5321 §4.1.2), loosely.
bool is_domain_or_literal(std::string_view s) {
  if (s.empty() || s.size() > 255) {
    return false;
  }
  if (s.front() == '[') {
    return s.back() == ']' && s.find_first_of("[]\\ ", 1) == s.size() - 1;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_')) {
      return false;
    }
  }
  return true;
}

std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') {
        continue;  // the LF that follows writes the CRLF
      }
      out += "\r\n";  // a bare CR is a line end too (RFC 5322 §2.3 forbids it alone)
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

bool needs_qp(std::string_view text) {
  std::size_t line = 0;
  for (char c : text) {
    if (c == '\n') {
      line = 0;
      continue;
    }
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || (u < 32 && c != '\t' && c != '\r') || ++line > 998) {
      return true;  // RFC 5322 §2.1.1: at most 998 characters per line in 7bit
    }
  }
  return false;
}

// 64-bit FNV-1a, for boundary material that depends on the content.
std::uint64_t fnv1a(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// "=_" cannot occur in base64 or quoted-printable output, and the loop makes sure the
// delimiter does not occur in the raw content either (RFC 2046 §5.1.1).
std::string choose_boundary(std::string_view content, std::int64_t time) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "=_tern_%016llx",
                  static_cast<unsigned long long>(
                      fnv1a(content, static_cast<std::uint64_t>(time) * 31 + attempt)));
    std::string boundary = buf;
    if (content.find("--" + boundary) == std::string_view::npos) {
      return boundary;
    }
  }
}

void add_text_body(std::string& out, std::string_view utf8) {
  std::string text = crlf_lines(sanitize_utf8(utf8));
  if (needs_qp(text)) {
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    out += encode_quoted_printable(text);
  } else {
    out += "Content-Type: text/plain; charset=us-ascii\r\n";
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += text;
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) {
    out += "\r\n";
  }
}

}  // namespace

std::string format_date(std::int64_t unix_seconds, int utc_offset_minutes) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto local = static_cast<std::time_t>(unix_seconds + std::int64_t{utc_offset_minutes} * 60);
  std::tm tm{};
  gmtime_r(&local, &tm);
  int offset = utc_offset_minutes < 0 ? -utc_offset_minutes : utc_offset_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d %c%02d%02d",
                kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec, utc_offset_minutes < 0 ? '-' : '+', offset / 60, offset % 60);
  return buf;
}

std::string fold_field(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  std::size_t line = out.size();
  std::size_t i = 0;
  bool first = true;
  while (i < value.size()) {
    // The next segment: blanks, then a run of non-blanks. Folding may happen only
    // before its blanks (RFC 5322 §2.2.3), never before the first word.
    std::size_t j = i;
    while (j < value.size() && is_wsp(value[j])) {
      ++j;
    }
    while (j < value.size() && !is_wsp(value[j])) {
      ++j;
    }
    std::size_t len = j - i;
    if (!first && line + len > kFoldAt && is_wsp(value[i])) {
      out += "\r\n";
      line = 0;
    }
    out.append(value.substr(i, len));
    line += len;
    first = false;
    i = j;
  }
  out += "\r\n";
  return out;
}

std::string unstructured_field(std::string_view name, std::string_view utf8) {
  std::string text(utf8);
  for (char& c : text) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return fold_field(name, encode_words(sanitize_utf8(text)));
}

std::string format_mailbox(std::string_view display_name, std::string_view addr) {
  if (display_name.empty()) {
    return std::string(addr);
  }
  std::string name;
  if (!is_ascii_printable(display_name)) {
    name = encode_words(sanitize_utf8(display_name));
  } else {
    bool phrase = true;  // a sequence of atoms separated by single spaces
    for (char c : display_name) {
      phrase = phrase && (is_atext(c) || c == ' ');
    }
    phrase = phrase && display_name.front() != ' ' && display_name.back() != ' ' &&
             display_name.find("  ") == std::string_view::npos;
    name = phrase ? std::string(display_name) : quoted_string(display_name);
  }
  return name + " <" + std::string(addr) + ">";
}

std::string format_mailbox(std::string_view display_name, const address::EmailAddress& addr) {
  return format_mailbox(display_name, address::render_mailbox(addr, has_8bit(addr.local_part)));
}

std::string received_field(const ReceivedInfo& info) {
  // RFC 5321 §4.4: From-domain By-domain Opt-info ";" date-time.
  std::string v = "from ";
  std::string literal = "[" + info.client_ip + "]";
  if (info.client_ip.empty()) {
    // A local-socket client: no address, so no TCP-info (§4.4 Extended-Domain).
    v += is_domain_or_literal(info.helo) ? info.helo
                                         : "unknown (HELO " + comment_text(info.helo) + ")";
  } else if (is_domain_or_literal(info.helo)) {
    v += info.helo + " (";
    if (!info.reverse_dns.empty()) {
      v += comment_text(info.reverse_dns) + " ";
    }
    v += literal + ")";
  } else {
    // RFC 5321 §4.4 wants a Domain here; a bad HELO goes into a comment (Postfix
    // writes "unknown" the same way).
    v += "unknown (";
    if (!info.reverse_dns.empty()) {
      v += comment_text(info.reverse_dns) + " ";
    }
    v += literal + ") (HELO " + comment_text(info.helo) + ")";
  }
  v += " by " + info.by;
  v += " with " + (info.with.empty() ? std::string("ESMTP") : info.with);
  if (!info.tls.empty()) {
    v += " (" + comment_text(info.tls) + ")";
  }
  if (!info.id.empty()) {
    v += " id " + info.id;
  }
  if (!info.for_path.empty()) {
    v += " for " + info.for_path;
  }
  v += "; " + format_date(info.time, info.utc_offset_minutes);
  return fold_field("Received", v);
}

std::string authentication_results_field(std::string_view authserv_id,
                                         const std::vector<AuthResult>& results) {
  auto pvalue = [](std::string_view value) {
    // RFC 8601 §2.2 pvalue: a token, or [local-part] "@" domain; else quoted.
    std::size_t at = value.rfind('@');
    if (is_token(value) || (at != std::string_view::npos && is_token(value.substr(at + 1)) &&
                            (at == 0 || is_token(value.substr(0, at))))) {
      return std::string(value);
    }
    return quoted_string(value);
  };
  if (results.empty()) {
    return fold_field("Authentication-Results", std::string(authserv_id) + "; none");
  }
  // One result per line: the CRLF goes where RFC 8601 allows CFWS before ";"'s
  // methodspec; long results fold further at their own blanks.
  std::string out = "Authentication-Results: " + std::string(authserv_id) + ";";
  for (std::size_t r = 0; r < results.size(); ++r) {
    const AuthResult& result = results[r];
    std::string line = result.method + "=" + result.result;
    if (!result.reason.empty()) {
      line += " reason=" + quoted_string(result.reason);
    }
    for (const auto& [property, value] : result.properties) {
      line += " " + property + "=" + pvalue(value);
    }
    if (r + 1 < results.size()) {
      line += ";";
    }
    std::string folded = fold_field("", line);  // ": " prefix, then the folded value
    out += "\r\n\t" + folded.substr(2, folded.size() - 4);
  }
  return out + "\r\n";
}

std::string build_dsn(const DsnInfo& info, std::string_view original) {
  std::string original_crlf = crlf_lines(original);
  MessageTree tree = parse_message(original_crlf);
  std::string_view header = tree.root().header.in(original_crlf);
  bool header_8bit = has_8bit(header);
  bool any_8bit = has_8bit(original_crlf);

  // RFC 3464 §2.2 and §2.3; RFC 6533 for UTF-8 addresses.
  bool utf8_report = false;
  std::string status = "Reporting-MTA: dns; " + info.reporting_mta + "\r\n";
  if (!info.envelope_id.empty()) {
    status += "Original-Envelope-Id: " + info.envelope_id + "\r\n";
  }
  if (info.arrival_date) {
    status += "Arrival-Date: " + format_date(*info.arrival_date) + "\r\n";
  }
  auto address_type = [&utf8_report](std::string_view address) {
    if (has_8bit(address)) {
      utf8_report = true;
      return std::string("utf-8; ") + std::string(address);  // RFC 6533 §3
    }
    return std::string("rfc822; ") + std::string(address);
  };
  for (const DsnRecipient& r : info.recipients) {
    status += "\r\n";
    if (!r.original_recipient.empty()) {
      status += "Original-Recipient: " + address_type(r.original_recipient) + "\r\n";
    }
    status += "Final-Recipient: " + address_type(r.final_recipient) + "\r\n";
    status += "Action: " + r.action + "\r\n";
    status += "Status: " + r.status + "\r\n";
    if (!r.remote_mta.empty()) {
      status += "Remote-MTA: dns; " + r.remote_mta + "\r\n";
    }
    if (!r.diagnostic_code.empty()) {
      status += fold_field("Diagnostic-Code", "smtp; " + sanitize_utf8(r.diagnostic_code));
    }
    if (r.last_attempt) {
      status += "Last-Attempt-Date: " + format_date(*r.last_attempt) + "\r\n";
    }
    if (r.will_retry_until) {
      status += "Will-Retry-Until: " + format_date(*r.will_retry_until) + "\r\n";
    }
  }
  utf8_report = utf8_report || has_8bit(status);

  std::string returned = info.return_full_message ? original_crlf : std::string(header);
  std::string boundary = choose_boundary(returned + status + info.explanation, info.time);

  std::string out;
  out += fold_field("From", info.from);
  out += fold_field("To", info.to);
  out += unstructured_field("Subject", info.subject);
  out += "Date: " + format_date(info.time) + "\r\n";
  if (!info.message_id.empty()) {
    out += "Message-ID: " + info.message_id + "\r\n";
  }
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5; RFC 3464 §4
  out += "MIME-Version: 1.0\r\n";
  out += fold_field("Content-Type",
                    "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  out += "--" + boundary + "\r\n";
  out += "Content-Description: Notification\r\n";
  add_text_body(out, info.explanation);

  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Description: Delivery report\r\n";
  if (utf8_report) {
    out += "Content-Type: message/global-delivery-status\r\n";  // RFC 6533 §6.1
    out += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  } else {
    out += "Content-Type: message/delivery-status\r\n\r\n";
  }
  out += status;

  out += "\r\n--" + boundary + "\r\n";
  if (info.return_full_message) {
    out += "Content-Description: Undelivered Message\r\n";
    out += header_8bit ? "Content-Type: message/global\r\n" : "Content-Type: message/rfc822\r\n";
  } else {
    out += "Content-Description: Undelivered Message Headers\r\n";
    out += header_8bit ? "Content-Type: message/global-headers\r\n"
                       : "Content-Type: text/rfc822-headers\r\n";
  }
  if (info.return_full_message ? any_8bit : header_8bit) {
    out += "Content-Transfer-Encoding: 8bit\r\n";
  }
  out += "\r\n";
  out += returned;
  if (returned.size() < 2 || returned.compare(returned.size() - 2, 2, "\r\n") != 0) {
    out += "\r\n";
  }
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

std::string build_auto_reply(const AutoReply& reply) {
  std::string out;
  out += fold_field("From", reply.from);
  out += fold_field("To", reply.to);
  std::string subject = reply.subject.empty() ? "Auto: " + reply.original_subject : reply.subject;
  out += unstructured_field("Subject", subject);  // RFC 3834 §3.1.5
  out += "Date: " + format_date(reply.time) + "\r\n";
  if (!reply.message_id.empty()) {
    out += "Message-ID: " + reply.message_id + "\r\n";
  }
  if (!reply.original_message_id.empty()) {
    // RFC 3834 §3.1.4: In-Reply-To is the original's Message-ID; References is
    // its References (or In-Reply-To) followed by that Message-ID.
    out += fold_field("In-Reply-To", reply.original_message_id);
    std::string refs = unfold(reply.original_references);
    out += fold_field("References", refs.empty() ? reply.original_message_id
                                                 : refs + " " + reply.original_message_id);
  }
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5.1
  out += "MIME-Version: 1.0\r\n";
  if (reply.body_is_entity) {
    out += crlf_lines(reply.body);
    return out;
  }
  add_text_body(out, reply.body);
  return out;
}

}  // namespace tern::mime
