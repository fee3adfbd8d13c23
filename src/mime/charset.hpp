// SPDX-License-Identifier: Apache-2.0
// Charset conversion to UTF-8 with ICU (ucnv), covering the MIME charsets Dovecot
// and the big clients handle, with alias normalisation.
#pragma once

#include <string>
#include <string_view>

namespace tern::mime {

// Converts `bytes` from `charset` (a MIME charset name or alias, any case, e.g.
// "iso-8859-1", "latin1", "windows-1252", "cp1251", "koi8-r", "gb2312", "gbk",
// "gb18030", "big5", "shift_jis", "sjis", "euc-jp", "euc-kr", "ks_c_5601-1987",
// "iso-2022-jp", "utf-7", "utf-16", "utf-32", "us-ascii") to UTF-8. Invalid bytes
// become U+FFFD; never fails. An unknown or empty charset is treated as UTF-8 when
// the bytes are valid UTF-8 and as windows-1252 otherwise (what readers show).
// us-ascii with 8-bit bytes is read the same way (RFC 6532 and mislabelled mail).
std::string to_utf8(std::string_view bytes, std::string_view charset);

// True when ICU knows `charset` (after tern's alias normalisation).
bool charset_known(std::string_view charset);

// True when `bytes` is well-formed UTF-8 (RFC 3629; no surrogates, no overlongs).
bool is_utf8(std::string_view bytes);

// Replaces every ill-formed UTF-8 sequence in `bytes` by U+FFFD.
std::string sanitize_utf8(std::string_view bytes);

}  // namespace tern::mime
