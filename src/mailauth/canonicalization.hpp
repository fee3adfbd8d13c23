// SPDX-License-Identifier: Apache-2.0
// DKIM canonicalisation (RFC 6376 §3.4) of header fields and bodies, and the
// split of a raw message into header fields and body that DKIM signs. Shared by
// the DKIM verifier and signer (and by ARC, RFC 8617 §5.1.1, which reuses it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailauth/dkim_signature.hpp"

namespace tern::mailauth {

// One header field of a raw message, as received.
struct RawHeaderField {
  std::string_view name;  // the field name, without the colon or trailing white space
  // The whole field: name, colon, value and every folded continuation line,
  // including the final line break. Views into the message.
  std::string_view raw;
};

// A raw message split at the blank line. Lines may end in CRLF or bare LF (an
// MTA stores either); canonicalisation produces CRLF in both cases, which is
// what a signer saw on the wire.
struct SplitMessage {
  std::vector<RawHeaderField> fields;  // in message order
  std::string_view body;               // after the blank line; "" if none
};

// Splits `message` into header fields and body. A leading mbox "From " line is
// skipped; a header line without a colon ends the header (RFC 5322 §2.2 has no
// such line; what follows is treated as body, as dkimpy and OpenDKIM do).
// The views live as long as `message`.
SplitMessage split_message(std::string_view message);

// Canonicalises one header field (RFC 6376 §3.4.1, §3.4.2), line breaks as
// CRLF. With `with_crlf` false the final CRLF is dropped, as for the
// DKIM-Signature field itself in the signed data (§3.7).
std::string canonicalize_header(Canonicalization c, std::string_view raw_field,
                                bool with_crlf = true);

// The signed header data for the names of an h= list (RFC 6376 §5.4.2): for
// each name, the last instance not yet used, scanning upward, canonicalised; a
// name with no instance left contributes nothing. Shared by the DKIM verifier and
// signer and by ARC-Message-Signature (RFC 8617 §4.1.2).
std::string select_signed_headers(const SplitMessage& split, const std::vector<std::string>& names,
                                  Canonicalization c);

// `raw_field` (a signature field: DKIM-Signature, ARC-Message-Signature,
// ARC-Seal) with the value of its b= tag removed and everything else kept, as
// RFC 6376 §3.7 signs it; nullopt if the value is no tag-list with a b= tag.
std::optional<std::string> blank_b_value(std::string_view raw_field);

// Streams a body through simple or relaxed canonicalisation (RFC 6376 §3.4.3,
// §3.4.4) without holding the whole body: trailing empty lines are counted, not
// stored, and emitted only when content follows. Bare LF and CRLF both end a
// line. Memory is O(1) beyond the output the caller drains.
class BodyCanonicalizer {
 public:
  explicit BodyCanonicalizer(Canonicalization c) : canon_(c) {}

  // Appends the canonical form of `bytes` (as far as it is decided) to `out`.
  void feed(std::string_view bytes, std::string& out);

  // Appends what is still pending at the end of the body. Call once.
  void finish(std::string& out);

 private:
  void emit_content(char c, std::string& out);
  void end_line(std::string& out);

  Canonicalization canon_;
  std::uint64_t empty_lines_ = 0;
  bool line_has_content_ = false;
  bool pending_wsp_ = false;
  bool pending_cr_ = false;
  bool emitted_any_ = false;
};

// The canonical body in one string; convenience for tests and small bodies.
std::string canonicalize_body(Canonicalization c, std::string_view body);

}  // namespace tern::mailauth
