// SPDX-License-Identifier: Apache-2.0
// Text derived from a message for display and search: the RFC 8970 preview and the
// plain text of every text part (HTML converted), for SEARCH BODY/TEXT and JMAP.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mime/message.hpp"

namespace tern::mime::facts {

// The most characters (Unicode scalar values) a preview holds (RFC 8970 §3.3: "SHOULD
// limit ... to 200 preview characters"; records written before kept up to 256, the
// MUST NOT).
inline constexpr std::size_t kMaxPreviewChars = 200;

// The RFC 8970 preview of a message: the first text/* leaf that is not an attachment
// and not inside an attached message (pre-order, so the first alternative a sender
// wrote), transfer-decoded, converted to UTF-8 from its charset, HTML converted to
// text, quoted lines (starting with ">") left out, runs of whitespace (line ends
// included) collapsed to one space, trimmed, and cut to at most kMaxPreviewChars
// characters at a character boundary. Empty when the message has no such part or
// only whitespace in it (RFC 8970 §3.2 allows an empty preview).
std::string make_preview(const MessageTree& tree);

// Everything a body search should match, as UTF-8: the decoded text of every
// text/* leaf (HTML converted to text) and the file names of attachments
// (Content-Disposition filename or Content-Type name), separated by line ends, in
// pre-order. Work and output are linear in the message size.
std::string extract_search_text(const MessageTree& tree);

// The top-level header fields as SEARCH matches them (RFC 9051 §6.4.4 HEADER,
// SUBJECT, FROM, TO, CC, BCC, TEXT): one line per field in order, "name:value\n",
// the name ASCII lower-cased, the value unfolded, RFC 2047 decoded to UTF-8 (raw
// 8-bit read as UTF-8 or windows-1252) with any CR or LF turned into a space, and
// case-folded with fold_case().
std::string make_search_headers(const MessageTree& tree);

// Unicode default case folding (ICU u_strFoldCase) of UTF-8 text, so that
// case-insensitive matching is a byte comparison ("Straße" and "STRASSE" fold
// alike). Ill-formed UTF-8 becomes U+FFFD. ASCII is only lower-cased.
std::string fold_case(std::string_view utf8);

// The i;unicode-casemap key of UTF-8 text (RFC 5051 §2): every character mapped
// to its simple titlecase, then decomposed (NFKD); two strings collate as their
// keys compare octet by octet. SORT and THREAD collate with it (RFC 5256 §7).
// Ill-formed UTF-8 becomes U+FFFD. ASCII is only upper-cased.
std::string unicode_casemap(std::string_view utf8);

// Converts HTML (already UTF-8) to plain text: tags removed; <script>, <style> and
// <head> contents dropped; block elements (p, div, br, li, tr, h1-h6, ...) end a line;
// character references decoded (numeric ones and the common named ones; unknown
// names kept as written); whitespace runs inside a line collapsed to one space.
// Never fails; tolerant of broken markup (an unclosed tag runs to the end).
std::string html_to_text(std::string_view html);

}  // namespace tern::mime::facts
