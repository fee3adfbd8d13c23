// SPDX-License-Identifier: Apache-2.0
// SMTP envelope paths (RFC 5321 §4.1.1.2, §4.1.1.3, §4.1.2; RFC 6531 UTF-8):
// the argument of MAIL FROM: and RCPT TO:, parsed strictly with a precise error
// kind, and rendered back.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "address/domain.hpp"
#include "base/result.hpp"

namespace tern::address {

// RFC 5321 §4.5.3.1.1–§4.5.3.1.3 size limits, in octets.
struct PathLimits {
  std::size_t max_local_part_bytes = 64;
  std::size_t max_domain_bytes = kMaxDomainBytes;  // 255
  std::size_t max_path_bytes = 256;                // including "<" and ">"
};

struct PathOptions {
  // The client sent the SMTPUTF8 parameter (RFC 6531 §3.4): UTF-8 is allowed
  // in the local part and as U-labels in the domain. Without it, any non-ASCII
  // byte is kPermissionDenied.
  bool smtputf8 = false;
  // Strict RFC 5321 syntax. When false (the default, Postfix's
  // strict_rfc821_envelopes = no), two common client faults are accepted:
  // spaces between the colon and the path ("MAIL FROM: <a@b>") and a path
  // without angle brackets ("MAIL FROM:a@b", ending at the first space).
  bool strict = false;
  PathLimits limits;
};

// A mailbox as SMTP carries it: `Local-part "@" ( Domain / address-literal )`.
struct EmailAddress {
  // The local part decoded: a Quoted-string is stored without its quotes and
  // with quoted-pairs resolved (`"a b"@x` → `a b`). Case is preserved (RFC 5321
  // §2.4: the local part is case-sensitive to everyone but its own domain).
  std::string local_part;
  Domain domain;

  bool operator==(const EmailAddress&) const = default;
};

// The argument of MAIL FROM.
struct ReversePath {
  std::optional<EmailAddress> mailbox;  // nullopt for the null path "<>"
  // Offset in the argument just after the path ("<...>" or the bare address);
  // ESMTP parameters, if any, start after the spaces that follow.
  std::size_t end = 0;

  bool is_null() const { return !mailbox.has_value(); }
};

// The argument of RCPT TO.
struct ForwardPath {
  // For "<Postmaster>" (RFC 5321 §4.1.1.3, any case): local_part is
  // "Postmaster" as written and domain is empty.
  EmailAddress mailbox;
  bool is_bare_postmaster = false;
  std::size_t end = 0;  // as in ReversePath::end
};

// Parses the MAIL FROM argument: everything after "MAIL FROM:" up to the end of
// the line (without CRLF). A source route ("<@a,@b:user@c>", RFC 5321 §4.1.1.2
// and Appendix C) is accepted and discarded. The path must be followed by the end
// of input or a space; what follows is the caller's (ESMTP parameters).
//
// Errors, and the reply the SMTP engine gives for each (RFC 3463 codes; MAIL
// uses X.1.7 "bad sender's mailbox address syntax", RCPT X.1.3 "bad destination
// mailbox address syntax"):
//   kInvalidInput      syntax: missing "<" or ">" (in strict mode), bad local
//                      part, bad domain or literal, "<Postmaster>" without a
//                      domain in MAIL, junk right after ">"
//                      → MAIL 501 5.1.7, RCPT 501 5.1.3;
//   kLimitExceeded     local part over 64, domain over 255 or path over 256
//                      octets (RFC 5321 §4.5.3.1.10 "501 Path too long")
//                      → MAIL 501 5.1.7, RCPT 501 5.1.3;
//   kPermissionDenied  non-ASCII without SMTPUTF8 (RFC 6531 §3.5)
//                      → MAIL 550 5.6.7, RCPT 553 5.6.7.
// The message names the problem in lower case ("local part longer than 64
// octets") and can be appended to the reply text.
Result<ReversePath> parse_reverse_path(std::string_view argument, const PathOptions& options = {});

// Parses the RCPT TO argument (after "RCPT TO:"). Same rules and errors as
// parse_reverse_path(), except that "<>" is kInvalidInput and "<Postmaster>"
// without a domain is accepted (RFC 5321 §4.1.1.3).
Result<ForwardPath> parse_forward_path(std::string_view argument, const PathOptions& options = {});

// Parses a bare mailbox "local@domain" (no brackets, no route, nothing after),
// with the same rules and errors as the paths. Used for configured addresses and
// for addresses taken from elsewhere (ORCPT, Sieve).
Result<EmailAddress> parse_email_address(std::string_view text, const PathOptions& options = {});

// Returns the local part in SMTP form: as it is when it is a Dot-string,
// otherwise as a Quoted-string with '"' and '\' escaped (RFC 5321 §4.1.2: quote
// only when needed).
std::string render_local_part(std::string_view local_part);

// Requires (for the render_* functions): a local part as the parsers produce it,
// without control characters; a CR or LF copied in from elsewhere would be
// written as it is. Check foreign addresses with parse_email_address() first.
//
// Returns "local@domain" with the A-label domain (Domain::ascii()); with
// `unicode` true, the U-label domain (for SMTPUTF8 sessions and display).
// For a bare Postmaster (empty domain), just the local part.
std::string render_mailbox(const EmailAddress& address, bool unicode = false);

// Returns the path in angle brackets: "<>" for the null reverse path,
// "<local@domain>" otherwise (source routes are never rendered).
std::string render_path(const ReversePath& path, bool unicode = false);
std::string render_path(const ForwardPath& path, bool unicode = false);

}  // namespace tern::address
