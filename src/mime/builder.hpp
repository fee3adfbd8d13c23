// SPDX-License-Identifier: Apache-2.0
// What tern writes itself: trace and authentication header fields, delivery status
// notifications and automatic replies, as RFC-correct CRLF text folded at 78.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "address/smtp_path.hpp"

namespace tern::mime {

// Formats a date-time (RFC 5322 §3.3): "Fri, 27 Nov 2026 14:13:41 +0100".
// `unix_seconds` is UTC; `utc_offset_minutes` is the zone to show it in.
std::string format_date(std::int64_t unix_seconds, int utc_offset_minutes = 0);

// Returns "Name: value" folded at whitespace so that no line exceeds 78 characters
// where possible (RFC 5322 §2.1.1; a word longer than a line stays whole, up to the
// 998 limit the caller must respect), ending in CRLF. `value` must not contain CR
// or LF; runs of blanks are kept. Folding inserts CRLF before an existing blank
// (RFC 5322 §2.2.3), so unfolding gives back `value` exactly.
std::string fold_field(std::string_view name, std::string_view value);

// An unstructured field (Subject, Comments, ...) from UTF-8 text: RFC 2047 encoded
// words when the text is not printable ASCII, then folded. CR and LF in `utf8` are
// replaced by spaces.
std::string unstructured_field(std::string_view name, std::string_view utf8);

// A mailbox for From/To: `display name <addr>`, the name quoted when needed
// (RFC 5322 §3.2.4) or RFC 2047-encoded when not ASCII (RFC 2047 §5 (3)); just
// `addr` when `display_name` is empty. `addr` is the rendered address
// (address::render_mailbox()).
std::string format_mailbox(std::string_view display_name, std::string_view addr);

// The same for a parsed address, rendered by address::render_mailbox(): A-labels,
// or U-labels when the local part is UTF-8 (RFC 6532 §3.2 needs UTF-8 then anyway).
std::string format_mailbox(std::string_view display_name, const address::EmailAddress& addr);

// The facts of one SMTP/LMTP transaction for its Received: field (RFC 5321 §4.4).
struct ReceivedInfo {
  std::string helo;         // the EHLO/HELO argument as sent
  std::string reverse_dns;  // the client's verified reverse DNS name; empty if none
  std::string client_ip;    // "192.0.2.1" or "IPv6:2001:db8::1" (address-literal form);
                            // "" for a local-socket client: no TCP-info is written
  std::string by;           // this server's host name
  std::string with;         // protocol (RFC 3848): "SMTP", "ESMTP", "ESMTPS", "ESMTPA",
                            // "ESMTPSA", "LMTP", "UTF8SMTPS", ...
  std::string id;           // the queue or message id; empty to omit
  std::string for_path;     // the recipient ("<a@b>") when there is exactly one; else ""
  std::string tls;          // "TLSv1.3 cipher=TLS_AES_128_GCM_SHA256"; "" without TLS
  std::int64_t time = 0;    // unix seconds
  int utc_offset_minutes = 0;
};

// Returns the Received: field (RFC 5321 §4.4 Time-stamp-line / RFC 5322 §3.6.7):
//   Received: from helo (rdns [ip]) by host with ESMTPS (tls) id X for <a@b>; date
// or, without a client address, "from helo by host with LMTP ..." (Extended-Domain
// as a bare Domain, the form Dovecot writes for UNIX-socket LMTP clients).
// folded, ending in CRLF. A HELO argument that is not a valid domain or literal is
// sent as a comment-safe string (its parentheses and backslashes escaped).
std::string received_field(const ReceivedInfo& info);

// One method result of an Authentication-Results field (RFC 8601 §2.2).
struct AuthResult {
  std::string method;  // "spf", "dkim", "dmarc", "arc", "auth", "iprev"
  std::string result;  // "pass", "fail", "softfail", "neutral", "none", "temperror", ...
  std::string reason;  // free text; "" to omit (RFC 8601 §2.2 reasonspec)
  // ptype.property=value pairs in order: {"smtp.mailfrom", "a@b"}, {"header.d", "x"}.
  std::vector<std::pair<std::string, std::string>> properties;
};

// Returns the Authentication-Results: field (RFC 8601 §2.2) for `authserv_id`
// (this server's name), one result per folded line, "none" when `results` is empty.
// Values are written as tokens when they are tokens or addresses, quoted otherwise.
std::string authentication_results_field(std::string_view authserv_id,
                                         const std::vector<AuthResult>& results);

// One recipient of a DSN (RFC 3464 §2.3).
struct DsnRecipient {
  std::string final_recipient;     // the address, e.g. "user@example.com"
  std::string original_recipient;  // the ORCPT address (RFC 3461 §4.2), "" if none
  std::string action;              // "failed", "delayed", "delivered", "relayed", "expanded"
  std::string status;              // RFC 3463 code, "5.1.1"
  std::string remote_mta;          // host name of the remote MTA, "" if none
  std::string diagnostic_code;     // the remote reply, e.g. "550 5.1.1 no such user"
  std::optional<std::int64_t> last_attempt;      // unix seconds
  std::optional<std::int64_t> will_retry_until;  // for "delayed"
};

// A delivery status notification to build (RFC 3464, RFC 3461 §6).
struct DsnInfo {
  std::string reporting_mta;  // this server's host name
  std::string from;           // e.g. "Mail Delivery System <MAILER-DAEMON@host>" (formatted)
  std::string to;             // the original envelope sender (formatted mailbox)
  std::string subject = "Undelivered Mail Returned to Sender";  // UTF-8
  std::string message_id;                                       // "<id@host>"
  std::string envelope_id;  // the ENVID (RFC 3461 §4.4), "" if none
  std::string explanation;  // the human-readable part, UTF-8
  std::optional<std::int64_t> arrival_date;
  std::int64_t time = 0;             // the DSN's Date
  bool return_full_message = false;  // RET=FULL: the whole message, else its header
  std::vector<DsnRecipient> recipients;
};

// Returns the complete DSN message (header and body, CRLF): multipart/report;
// report-type=delivery-status (RFC 6522) with a text/plain explanation, a
// message/delivery-status part (RFC 3464 §2), and the original message as
// message/rfc822 (message/global when it holds 8-bit or UTF-8 headers, RFC 6533 §6)
// or its header as text/rfc822-headers (RFC 6533 §6.3: message/global-headers when
// 8-bit). `Auto-Submitted: auto-replied` marks it (RFC 3834 §5). The boundary is
// chosen not to occur in `original`. Never fails; `original` may be any bytes.
std::string build_dsn(const DsnInfo& info, std::string_view original);

// An automatic reply (vacation, RFC 3834; Sieve vacation RFC 5230).
struct AutoReply {
  std::string from;              // formatted mailbox of the responder
  std::string to;                // formatted mailbox of the original sender
  std::string subject;           // UTF-8; "" means "Auto: " + original_subject (RFC 3834 §3.1.5)
  std::string original_subject;  // decoded UTF-8 subject of the message replied to
  std::string original_message_id;  // "<id@x>" of the message replied to, "" if none
  std::string original_references;  // its References field value, "" if none
  std::string message_id;           // "<id@host>" of the reply
  std::int64_t time = 0;
  std::string body;  // UTF-8 text
  // The body is a MIME entity (its own header fields, a blank line, its body),
  // as Sieve vacation :mime gives it (RFC 5230 §4.4), written as is.
  bool body_is_entity = false;
};

// Returns the reply message (CRLF): Auto-Submitted: auto-replied (RFC 3834 §5.1),
// In-Reply-To and References (RFC 3834 §3.1.4, RFC 5322 §3.6.4), a text/plain;
// charset=utf-8 body, quoted-printable when not 7-bit.
std::string build_auto_reply(const AutoReply& reply);

}  // namespace tern::mime
