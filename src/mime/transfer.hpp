// SPDX-License-Identifier: Apache-2.0
// Content-Transfer-Encoding decoding and encoding (RFC 2045 §6): base64,
// quoted-printable, uuencode, and the identity encodings.
#pragma once

#include <string>
#include <string_view>

#include "mime/message.hpp"

namespace tern::mime {

// Decodes base64 (RFC 2045 §6.8) leniently like deployed readers: characters
// outside the alphabet (line ends, blanks, junk) are skipped, missing padding is
// accepted, decoding stops at the first `=` that ends a quantum. A trailing lone
// sextet (not enough bits for a byte) is dropped. Never fails.
std::string decode_base64(std::string_view in);

// Decodes quoted-printable (RFC 2045 §6.7) leniently: `=XX` with upper- or lower-case
// hex is decoded; `=` followed by optional blanks and a line end is a soft line break;
// any other `=` is kept literally (RFC 2045 §6.7 note (2) recommends exactly this);
// trailing blanks before a line end are removed (rule (3)); line ends are kept as
// they are (CRLF stays CRLF, LF stays LF). Never fails.
std::string decode_quoted_printable(std::string_view in);

// Decodes a uuencoded body ("begin mode name" ... "end"); lines before `begin` are
// skipped. Returns the bytes decoded so far when the data is cut short. Never fails.
std::string decode_uuencode(std::string_view in);

// Decodes `body` according to `encoding`; 7bit, 8bit, binary and unknown encodings
// return the body unchanged.
std::string decode_transfer(std::string_view body, TransferEncoding encoding);

// Encodes base64 in lines of 76 characters ended by CRLF (RFC 2045 §6.8); the last
// line is ended too; an empty input gives an empty output.
std::string encode_base64(std::string_view in);

// Encodes quoted-printable (RFC 2045 §6.7) with lines of at most 76 characters and
// CRLF line ends: CRLF and bare LF in the input are line breaks (text mode); other
// bytes outside 33..126 (except inner blanks), `=`, and blanks before a line end are
// escaped; a leading `.` or "From " is escaped so the output survives SMTP and mbox.
std::string encode_quoted_printable(std::string_view in);

}  // namespace tern::mime
