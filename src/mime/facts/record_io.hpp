// SPDX-License-Identifier: Apache-2.0
// The varint framing the stored records of this folder share (the facts encoding,
// the order keys): unsigned LEB128 integers and length-prefixed strings, and a
// bounds-checked reader for them. Internal to mime/facts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::mime::facts::record_io {

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

// A bounds-checked reader over a record; every getter fails instead of reading
// past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) {
        return false;
      }
      const auto b = static_cast<unsigned char>(in_[pos_++]);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && b > 1) {
        return false;
      }
      v |= static_cast<std::uint64_t>(b & 0x7fu) << shift;
      if ((b & 0x80u) == 0) {
        return true;
      }
    }
    return false;
  }

  bool byte(std::uint8_t& b) {
    if (pos_ >= in_.size()) {
      return false;
    }
    b = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }

  bool string(std::string& s) {
    std::uint64_t n = 0;
    if (!varint(n) || n > remaining()) {
      return false;
    }
    s.assign(in_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

  // A string's length and bounds, without copying it.
  bool skip_string() {
    std::uint64_t n = 0;
    if (!varint(n) || n > remaining()) {
      return false;
    }
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

  std::size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace tern::mime::facts::record_io
