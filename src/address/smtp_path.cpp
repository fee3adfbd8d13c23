// SPDX-License-Identifier: Apache-2.0
#include "address/smtp_path.hpp"

#include "address/detail/syntax.hpp"

namespace tern::address {
namespace {

using detail::iequals;
using detail::is_alpha;
using detail::is_atext;
using detail::is_digit;
using detail::is_non_ascii;

Error non_ascii_error() {
  // RFC 6531 §3.5: refused with X.6.7, not as a syntax error.
  return fail(ErrorCode::kPermissionDenied, "non-ASCII address without SMTPUTF8");
}

// A left-to-right reader over one MAIL/RCPT argument.
class Cursor {
 public:
  Cursor(std::string_view text, const PathOptions& options) : s_(text), options_(options) {}

  std::size_t pos() const { return pos_; }

  bool at_end() const { return pos_ >= s_.size(); }

  char peek() const { return at_end() ? '\0' : s_[pos_]; }

  bool take(char c) {
    if (peek() == c && !at_end()) {
      ++pos_;
      return true;
    }
    return false;
  }

  void skip_spaces() {
    while (!at_end() && s_[pos_] == ' ') {
      ++pos_;
    }
  }

  // RFC 5321 §4.1.2 Local-part = Dot-string / Quoted-string, RFC 6531 §3.3
  // adding UTF-8 to atext and qtextSMTP. Returns the decoded local part.
  Result<std::string> local_part() {
    std::size_t start = pos_;
    std::string out;
    if (take('"')) {
      while (true) {
        if (at_end()) {
          return fail(ErrorCode::kInvalidInput, "unterminated quoted local part");
        }
        auto c = static_cast<unsigned char>(s_[pos_]);
        if (c == '"') {
          ++pos_;
          break;
        }
        if (c == '\\') {
          // quoted-pairSMTP = %d92 %d32-126
          ++pos_;
          if (at_end() || s_[pos_] < 32 || s_[pos_] > 126) {
            return fail(ErrorCode::kInvalidInput, "invalid quoted-pair in local part");
          }
          out += s_[pos_++];
          continue;
        }
        if (is_non_ascii(c)) {
          TERN_TRY(std::size_t n, utf8_run());
          out.append(s_.substr(pos_, n));
          pos_ += n;
          continue;
        }
        if (c < 32 || c > 126) {
          // qtextSMTP = %d32-33 / %d35-91 / %d93-126: no controls.
          return fail(ErrorCode::kInvalidInput, "control character in quoted local part");
        }
        out += static_cast<char>(c);
        ++pos_;
      }
    } else {
      // Dot-string = Atom *("." Atom)
      while (true) {
        std::size_t atom_start = pos_;
        while (!at_end()) {
          auto c = static_cast<unsigned char>(s_[pos_]);
          if (is_non_ascii(c)) {
            TERN_TRY(std::size_t n, utf8_run());
            pos_ += n;
            continue;
          }
          if (!is_atext(c)) {
            break;
          }
          ++pos_;
        }
        if (pos_ == atom_start) {
          return fail(ErrorCode::kInvalidInput,
                      pos_ == start ? "empty local part" : "empty atom in local part");
        }
        if (!take('.')) {
          break;
        }
      }
      out.assign(s_.substr(start, pos_ - start));
    }
    // RFC 5321 §4.5.3.1.1, counted as written on the wire.
    if (pos_ - start > options_.limits.max_local_part_bytes) {
      return fail(ErrorCode::kLimitExceeded,
                  "local part longer than " + std::to_string(options_.limits.max_local_part_bytes) +
                      " octets");
    }
    return out;
  }

  // The "@" between local part and domain; a missing one is told apart from a
  // local part that stopped at a byte it may not contain ("a b@x").
  Result<void> at_sign() {
    if (take('@')) {
      return ok();
    }
    if (at_end() || peek() == '>' || peek() == ' ') {
      return fail(ErrorCode::kInvalidInput, "missing '@' in mailbox");
    }
    return fail(ErrorCode::kInvalidInput, "invalid character in local part");
  }

  // The UTF-8 character at pos_ in a local part (RFC 6531 §3.3 UTF8-non-ascii):
  // its length, or why it is refused.
  Result<std::size_t> utf8_run() const {
    if (!options_.smtputf8) {
      return non_ascii_error();
    }
    std::size_t n = detail::utf8_sequence_length(s_, pos_);
    if (n == 0) {
      return fail(ErrorCode::kInvalidInput, "invalid UTF-8 in local part");
    }
    return n;
  }

  // Domain / address-literal after "@". The domain runs while bytes can belong
  // to one; parse_domain() then judges it.
  Result<Domain> domain() {
    std::size_t start = pos_;
    if (peek() == '[') {
      std::size_t close = s_.find(']', pos_);
      if (close == std::string_view::npos) {
        return fail(ErrorCode::kInvalidInput, "unterminated address literal");
      }
      pos_ = close + 1;
    } else {
      while (!at_end()) {
        auto c = static_cast<unsigned char>(s_[pos_]);
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && !is_non_ascii(c)) {
          break;
        }
        ++pos_;
      }
    }
    if (pos_ == start) {
      return fail(ErrorCode::kInvalidInput, "empty domain");
    }
    DomainOptions options;
    options.allow_utf8 = options_.smtputf8;
    options.max_bytes = options_.limits.max_domain_bytes;
    return parse_domain(s_.substr(start, pos_ - start), options);
  }

  // RFC 5321 §4.1.2 A-d-l = At-domain *( "," At-domain ) followed by ":";
  // RFC 5321 §4.1.1.3 and Appendix C: accepted, checked, and thrown away.
  Result<void> source_route() {
    while (true) {
      if (!take('@')) {
        return fail(ErrorCode::kInvalidInput, "malformed source route");
      }
      TERN_TRY(auto unused, domain());
      static_cast<void>(unused);
      if (take(':')) {
        return ok();
      }
      if (!take(',')) {
        return fail(ErrorCode::kInvalidInput, "malformed source route");
      }
    }
  }

 private:
  std::string_view s_;
  const PathOptions& options_;
  std::size_t pos_ = 0;
};

struct ParsedPath {
  std::optional<EmailAddress> mailbox;
  bool bare_postmaster = false;
  std::size_t end = 0;
};

Result<ParsedPath> parse_path(std::string_view argument, const PathOptions& options, bool forward) {
  Cursor in(argument, options);
  if (!options.strict) {
    in.skip_spaces();  // "MAIL FROM: <a@b>", accepted like Postfix does
  }
  std::size_t start = in.pos();
  if (in.at_end()) {
    return fail(ErrorCode::kInvalidInput, "missing path");
  }
  bool bracket = in.take('<');
  if (!bracket && options.strict) {
    return fail(ErrorCode::kInvalidInput, "path not enclosed in angle brackets");
  }
  ParsedPath out;
  bool routed = false;
  if (bracket && in.take('>')) {
    // RFC 5321 §4.1.1.2: the null reverse-path "<>" (bounces, DSNs).
    if (forward) {
      return fail(ErrorCode::kInvalidInput, "empty forward path");
    }
    out.end = in.pos();
  } else {
    if (bracket && in.peek() == '@') {
      TERN_TRY_VOID(in.source_route());
      routed = true;
    }
    TERN_TRY(auto local, in.local_part());
    EmailAddress mailbox;
    mailbox.local_part = std::move(local);
    bool ends_here = bracket ? in.peek() == '>' : (in.at_end() || in.peek() == ' ');
    if (forward && !routed && ends_here && iequals(mailbox.local_part, "postmaster")) {
      // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain must be accepted.
      out.bare_postmaster = true;
    } else {
      TERN_TRY_VOID(in.at_sign());
      TERN_TRY(auto domain, in.domain());
      mailbox.domain = std::move(domain);
    }
    if (bracket && !in.take('>')) {
      if (in.at_end() || in.peek() == ' ') {
        return fail(ErrorCode::kInvalidInput, "missing '>'");
      }
      return fail(ErrorCode::kInvalidInput, mailbox.domain.is_literal()
                                                ? "unexpected text after the address literal"
                                                : "invalid character in domain");
    }
    out.mailbox = std::move(mailbox);
    out.end = in.pos();
  }
  // RFC 5321 §4.5.3.1.3: 256 octets including "<" and ">".
  std::size_t path_bytes = out.end - start + (bracket ? 0 : 2);
  if (path_bytes > options.limits.max_path_bytes) {
    return fail(ErrorCode::kLimitExceeded,
                "path longer than " + std::to_string(options.limits.max_path_bytes) + " octets");
  }
  if (out.end < argument.size() && argument[out.end] != ' ') {
    return fail(ErrorCode::kInvalidInput, "unexpected text after the path");
  }
  return out;
}

}  // namespace

Result<ReversePath> parse_reverse_path(std::string_view argument, const PathOptions& options) {
  TERN_TRY(auto parsed, parse_path(argument, options, false));
  ReversePath path;
  path.mailbox = std::move(parsed.mailbox);
  path.end = parsed.end;
  return path;
}

Result<ForwardPath> parse_forward_path(std::string_view argument, const PathOptions& options) {
  TERN_TRY(auto parsed, parse_path(argument, options, true));
  ForwardPath path;
  path.mailbox = std::move(*parsed.mailbox);
  path.is_bare_postmaster = parsed.bare_postmaster;
  path.end = parsed.end;
  return path;
}

Result<EmailAddress> parse_email_address(std::string_view text, const PathOptions& options) {
  Cursor in(text, options);
  TERN_TRY(auto local, in.local_part());
  TERN_TRY_VOID(in.at_sign());
  TERN_TRY(auto domain, in.domain());
  if (!in.at_end()) {
    return fail(ErrorCode::kInvalidInput, "unexpected text after the address");
  }
  return EmailAddress{std::move(local), std::move(domain)};
}

std::string render_local_part(std::string_view local_part) {
  return detail::render_local(local_part);
}

std::string render_mailbox(const EmailAddress& address, bool unicode) {
  std::string out = render_local_part(address.local_part);
  if (!address.domain.empty()) {
    out += '@';
    out += unicode ? address.domain.unicode() : address.domain.ascii();
  }
  return out;
}

std::string render_path(const ReversePath& path, bool unicode) {
  if (path.is_null()) {
    return "<>";
  }
  return "<" + render_mailbox(*path.mailbox, unicode) + ">";
}

std::string render_path(const ForwardPath& path, bool unicode) {
  return "<" + render_mailbox(path.mailbox, unicode) + ">";
}

}  // namespace tern::address
