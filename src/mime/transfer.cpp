// SPDX-License-Identifier: Apache-2.0
// Transfer decoding is lenient (RFC 2045 §6.7 and §6.8 ask readers to be robust);
// encoding is strict, for what tern writes itself.
#include "mime/transfer.hpp"

#include <array>
#include <cstdint>

#include "mime/ascii.hpp"

namespace tern::mime {

namespace {

using ascii::hex_digit;
using ascii::is_wsp;

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kHex[] = "0123456789ABCDEF";

constexpr std::array<std::int8_t, 256> make_base64_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  for (int i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}

constexpr auto kBase64Table = make_base64_table();

}  // namespace

std::string decode_base64(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') {
      // RFC 2045 §6.8: padding ends the data. A '=' in the middle of a quantum ends
      // it too; what follows is not base64 we could align.
      break;
    }
    std::int8_t v = kBase64Table[static_cast<unsigned char>(c)];
    if (v < 0) {
      continue;  // line ends, blanks and junk are ignored (RFC 2045 §6.8)
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  std::size_t n = in.size();
  while (i < n) {
    char c = in[i];
    if (c == '=') {
      if (i + 2 < n && hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2])));
        i += 3;
        continue;
      }
      // A soft line break: '=' then optional blanks (added in transit) and a line end.
      std::size_t j = i + 1;
      while (j < n && is_wsp(in[j])) {
        ++j;
      }
      if (j < n && in[j] == '\n') {
        i = j + 1;
        continue;
      }
      if (j + 1 < n && in[j] == '\r' && in[j + 1] == '\n') {
        i = j + 2;
        continue;
      }
      if (j == n) {  // '=' at the very end: a soft break with the line end cut off
        i = n;
        continue;
      }
      out.push_back('=');  // RFC 2045 §6.7 note (2): keep a bad escape literally
      ++i;
      continue;
    }
    if (is_wsp(c)) {
      // RFC 2045 §6.7 rule (3): blanks at the end of a line were added in transit.
      std::size_t j = i;
      while (j < n && is_wsp(in[j])) {
        ++j;
      }
      if (j == n || in[j] == '\n' || (in[j] == '\r' && j + 1 < n && in[j + 1] == '\n')) {
        i = j;
        continue;
      }
      out.append(in.substr(i, j - i));
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

std::string decode_uuencode(std::string_view in) {
  std::string out;
  std::size_t pos = 0;
  bool started = false;
  while (pos < in.size()) {
    std::size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = in.size();
    }
    std::string_view line = in.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!started) {
      started = line.substr(0, 6) == "begin ";
      continue;
    }
    if (line == "end" || line.empty()) {
      if (line == "end") {
        break;
      }
      continue;
    }
    // Each line: a length character, then groups of four characters of six bits
    // each, offset by 32 (and '`' for zero).
    auto six = [](char c) { return static_cast<unsigned>((c - 32) & 0x3F); };
    std::size_t len = six(line[0]);
    if (len == 0) {
      continue;
    }
    std::string_view data = line.substr(1);
    std::size_t produced = 0;
    for (std::size_t k = 0; k + 1 < data.size() && produced < len; k += 4) {
      unsigned a = six(data[k]);
      unsigned b = six(data[k + 1]);
      unsigned c = k + 2 < data.size() ? six(data[k + 2]) : 0;
      unsigned d = k + 3 < data.size() ? six(data[k + 3]) : 0;
      unsigned triple = (a << 18) | (b << 12) | (c << 6) | d;
      for (int s = 16; s >= 0 && produced < len; s -= 8) {
        out.push_back(static_cast<char>((triple >> s) & 0xFF));
        ++produced;
      }
    }
  }
  return out;
}

std::string decode_transfer(std::string_view body, TransferEncoding encoding) {
  switch (encoding) {
    case TransferEncoding::kBase64:
      return decode_base64(body);
    case TransferEncoding::kQuotedPrintable:
      return decode_quoted_printable(body);
    case TransferEncoding::kUuencode:
      return decode_uuencode(body);
    default:
      return std::string(body);
  }
}

std::string encode_base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4 + (in.size() / 57 + 1) * 2);
  std::size_t line = 0;
  auto emit = [&](char c) {
    out.push_back(c);
    if (++line == 76) {  // RFC 2045 §6.8: at most 76 characters per line
      out += "\r\n";
      line = 0;
    }
  };
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<std::uint32_t>(byte(i)) << 16) |
                      (static_cast<std::uint32_t>(byte(i + 1)) << 8) | byte(i + 2);
    emit(kBase64Alphabet[(v >> 18) & 0x3F]);
    emit(kBase64Alphabet[(v >> 12) & 0x3F]);
    emit(kBase64Alphabet[(v >> 6) & 0x3F]);
    emit(kBase64Alphabet[v & 0x3F]);
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<std::uint32_t>(byte(i)) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<std::uint32_t>(byte(i + 1)) << 8;
    }
    emit(kBase64Alphabet[(v >> 18) & 0x3F]);
    emit(kBase64Alphabet[(v >> 12) & 0x3F]);
    emit(i + 1 < in.size() ? kBase64Alphabet[(v >> 6) & 0x3F] : '=');
    emit('=');
  }
  if (line > 0) {
    out += "\r\n";
  }
  return out;
}

std::string encode_quoted_printable(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 8);
  std::string line;  // the current output line, without its line end
  auto flush = [&](bool hard) {
    out += line;
    out += hard ? "\r\n" : "=\r\n";
    line.clear();
  };
  // Appends one encoded unit, breaking the line softly first when the unit plus the
  // soft-break '=' would pass 76 characters (RFC 2045 §6.7 rule (5)).
  auto put = [&](std::string_view unit) {
    if (line.size() + unit.size() > 75) {
      flush(false);
    }
    line += unit;
  };
  std::size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') {
      flush(true);
      i += 2;
      continue;
    }
    if (c == '\n') {
      flush(true);
      ++i;
      continue;
    }
    auto u = static_cast<unsigned char>(c);
    bool at_line_end = i + 1 == in.size() || in[i + 1] == '\n' ||
                       (in[i + 1] == '\r' && i + 2 < in.size() && in[i + 2] == '\n');
    bool escape = u == '=' || u > 126 || (u < 32 && c != '\t') ||
                  (is_wsp(c) && at_line_end) ||  // rule (3): no trailing blanks
                  (c == '.' && line.empty()) ||  // SMTP dot-stuffing safety
                  (c == 'F' && line.empty() && in.substr(i, 5) == "From ");
    if (escape) {
      char buf[3] = {'=', kHex[u >> 4], kHex[u & 0xF]};
      put(std::string_view(buf, 3));
    } else {
      put(std::string_view(&c, 1));
    }
    ++i;
  }
  if (!line.empty()) {
    out += line;
  }
  return out;
}

}  // namespace tern::mime
