// SPDX-License-Identifier: Apache-2.0
#include "imap/mailbox_name.hpp"

#include <cstdint>
#include <vector>

#include "base/utf8.hpp"

namespace tern::imap {
namespace {

// RFC 3501 §5.1.3: modified BASE64 uses "," instead of "/".
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int alphabet_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == ',') {
    return 63;
  }
  return -1;
}

// Decodes one UTF-8 sequence at `pos`; false when malformed.
bool next_code_point(std::string_view text, std::size_t& pos, std::uint32_t& cp) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char b0 = byte(pos);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    ++pos;
    return true;
  }
  if ((b0 & 0xe0) == 0xc0) {
    length = 2;
    cp = b0 & 0x1f;
    min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    length = 3;
    cp = b0 & 0x0f;
    min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    length = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return false;
  }
  if (pos + length > text.size()) {
    return false;
  }
  for (std::size_t i = 1; i < length; ++i) {
    unsigned char b = byte(pos + i);
    if ((b & 0xc0) != 0x80) {
      return false;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return false;
  }
  pos += length;
  return true;
}

Error invalid(std::string_view why) {
  return Error{ErrorCode::kInvalidInput, std::string(why)};
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t pos = 0;
  std::uint32_t cp = 0;
  while (pos < text.size()) {
    if (!next_code_point(text, pos, cp)) {
      return false;
    }
  }
  return true;
}

Result<std::string> decode_mutf7(std::string_view name) {
  std::string out;
  std::size_t i = 0;
  while (i < name.size()) {
    char c = name[i];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      return invalid("8-bit byte in a modified UTF-7 mailbox name");
    }
    // RFC 3501 §5.1.3: only printable US-ASCII represents itself; anything else
    // (controls included) must be in a "&...-" run, so a raw one is not canonical.
    if (u < 0x20 || u == 0x7f) {
      return invalid("control character in a modified UTF-7 mailbox name");
    }
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    std::size_t end = name.find('-', i + 1);
    if (end == std::string_view::npos) {
      return invalid("unterminated \"&\" in mailbox name");
    }
    if (end == i + 1) {
      out += '&';  // "&-"
      i = end + 1;
      continue;
    }
    // Modified base64 → UTF-16BE → code points.
    std::uint32_t bits = 0;
    int nbits = 0;
    std::vector<std::uint16_t> units;
    for (std::size_t k = i + 1; k < end; ++k) {
      int v = alphabet_value(name[k]);
      if (v < 0) {
        return invalid("invalid modified base64 in mailbox name");
      }
      bits = (bits << 6) | static_cast<std::uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push_back(static_cast<std::uint16_t>((bits >> nbits) & 0xffff));
      }
    }
    // Leftover bits must be fewer than 6 and zero (canonical encoding).
    if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0) {
      return invalid("non-canonical modified base64 in mailbox name");
    }
    if (units.empty()) {
      return invalid("empty modified base64 run in mailbox name");
    }
    std::string decoded;
    for (std::size_t k = 0; k < units.size(); ++k) {
      std::uint32_t cp = units[k];
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (k + 1 >= units.size() || units[k + 1] < 0xdc00 || units[k + 1] > 0xdfff) {
          return invalid("broken UTF-16 surrogate pair in mailbox name");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (units[k + 1] - 0xdc00);
        ++k;
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return invalid("broken UTF-16 surrogate pair in mailbox name");
      }
      // RFC 3501 §5.1.3: printable US-ASCII must represent itself, never be encoded.
      if (cp >= 0x20 && cp <= 0x7e) {
        return invalid("encoded printable ASCII in mailbox name");
      }
      utf8::append(decoded, cp);
    }
    out += decoded;
    i = end + 1;
    // Two adjacent encoded runs ("&AAA-&BBB-") are not canonical either.
    if (i < name.size() && name[i] == '&' && i + 1 < name.size() && name[i + 1] != '-') {
      return invalid("adjacent encoded runs in mailbox name");
    }
  }
  return out;
}

Result<std::string> encode_mutf7(std::string_view name) {
  std::string out;
  std::size_t pos = 0;
  std::vector<std::uint16_t> pending;
  auto flush = [&] {
    if (pending.empty()) {
      return;
    }
    out += '&';
    std::uint32_t bits = 0;
    int nbits = 0;
    for (std::uint16_t unit : pending) {
      bits = (bits << 16) | unit;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += kAlphabet[(bits >> nbits) & 0x3f];
      }
    }
    if (nbits > 0) {
      out += kAlphabet[(bits << (6 - nbits)) & 0x3f];
    }
    out += '-';
    pending.clear();
  };
  while (pos < name.size()) {
    std::uint32_t cp = 0;
    if (!next_code_point(name, pos, cp)) {
      return invalid("mailbox name is not valid UTF-8");
    }
    if (cp >= 0x20 && cp <= 0x7e) {
      flush();
      out += static_cast<char>(cp);
      if (cp == '&') {
        out += '-';
      }
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      pending.push_back(static_cast<std::uint16_t>(0xd800 + (cp >> 10)));
      pending.push_back(static_cast<std::uint16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      pending.push_back(static_cast<std::uint16_t>(cp));
    }
  }
  flush();
  return out;
}

}  // namespace tern::imap
