// SPDX-License-Identifier: Apache-2.0
// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463):
// the server's reply model, the one mapping from tern::Error to a reply, and the
// client-side parser of (multi-line) replies for the outbound SMTP client.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::smtp {

// One reply. `code` is the three-digit basic code (RFC 5321 §4.2.1); `enhanced`
// the RFC 3463 status ("2.1.0") or "" for none (the greeting and 221/421 may
// carry one too; RFC 2034 §3 says every reply after EHLO should). Each element
// of `lines` is one line of text without CRLF; an empty vector renders as the
// code alone.
struct Reply {
  int code = 250;
  std::string enhanced;
  std::vector<std::string> lines;

  // A one-line reply.
  static Reply of(int code, std::string enhanced, std::string text);

  // 2yz, 3yz: positive; 4yz transient; 5yz permanent.
  bool is_positive() const { return code >= 200 && code < 400; }

  bool is_transient() const { return code >= 400 && code < 500; }

  bool is_permanent() const { return code >= 500; }

  bool operator==(const Reply&) const = default;
};

// Renders `reply` as the bytes sent on the wire: "250-first\r\n250 last\r\n". The
// enhanced code, when set, starts every line (RFC 2034 §4). CR, LF and other
// control characters in the text become spaces, so text that came from a peer
// (an error message naming an address) cannot inject a reply line.
std::string render(const Reply& reply);

// The one mapping from a tern error to a reply, used wherever a domain or
// storage error answers an SMTP command (ARCHITECTURE.md §6):
//   kInvalidInput       501 5.5.4   kNotFound          550 5.1.1
//   kPermissionDenied   550 5.7.1   kLimitExceeded     452 4.2.2 (quota)
//   kPermanent          554 5.0.0   kTimeout           451 4.4.7
//   kCancelled          421 4.3.2   kAlreadyExists, kConflict, kTemporary,
//   kIo, kCorrupt, kInternal        451 4.3.0
// The text is the error message (sanitized by render()).
Reply reply_for(const Error& error);

// ----- client side: parsing the replies a server sends (for outbound SMTP)

// Limits for ReplyParser. RFC 5321 §4.5.3.1.5: a reply line is at most 512
// octets with CRLF; servers exceed it in practice (long EHLO keywords, banners),
// so the default is generous but bounded.
struct ReplyLimits {
  std::size_t max_line_bytes = 4096;
  std::size_t max_lines = 100;
};

// Incremental parser of server replies. Feed bytes with receive(); next() yields
// complete replies in order. When every line of a reply starts with the same
// RFC 3463 status of the reply's class, it goes to Reply::enhanced and is removed
// from the lines. Accepts LF-only line ends from broken servers (a
// client must be liberal here; it never relays these bytes).
//
// Errors (next() returns them once, and the parser stays failed): kInvalidInput
// for a line that is not "ddd" followed by SP, "-" or end of line, for a
// continuation whose code differs from the first line, or for a code outside
// 200..599; kLimitExceeded for a line or reply over ReplyLimits.
class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {});

  void receive(std::string_view bytes);

  // A complete reply, nullopt when more bytes are needed, or an error.
  Result<std::optional<Reply>> next();

 private:
  ReplyLimits limits_;
  std::string in_;
  std::size_t pos_ = 0;
  Reply pending_;
  bool in_reply_ = false;
  std::optional<Error> failed_;
};

}  // namespace tern::smtp
