// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/compression.hpp"

#include <cstdint>
#include <cstring>

#include <zlib.h>

namespace tern::domain::reports {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

std::uint32_t le32(std::string_view s, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::uint16_t le16(std::string_view s, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

// Inflates `in` with zlib window bits `window` (16+15: gzip; -15: raw deflate),
// stopping at the stream's end. `multi`: restart after a gzip member ends, for
// concatenated members (RFC 1952 §2.2).
Result<std::string> inflate_all(std::string_view in, int window, bool multi,
                                std::size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, window) != Z_OK) {
    return fail(ErrorCode::kInternal, "inflateInit2 failed");
  }
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buffer[kChunk];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = kChunk;
    rc = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = kChunk - z.avail_out;
    if (out.size() + produced > max_bytes) {
      inflateEnd(&z);
      return fail(ErrorCode::kLimitExceeded, "report inflates past the size limit");
    }
    out.append(buffer, produced);
    if (rc == Z_STREAM_END) {
      if (multi && z.avail_in > 0 &&
          is_gzip(std::string_view(reinterpret_cast<const char*>(z.next_in), z.avail_in))) {
        inflateReset(&z);
        continue;
      }
      break;
    }
    if (rc != Z_OK || (z.avail_in == 0 && produced == 0)) {
      inflateEnd(&z);
      return fail(ErrorCode::kInvalidInput, "damaged compressed data");
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace

std::string gzip(std::string_view bytes) {
  z_stream z{};
  // 15 + 16: a gzip wrapper with a zero mtime and no name (deterministic output).
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

bool is_zip(std::string_view bytes) {
  return bytes.size() >= 4 && bytes.substr(0, 4) == std::string_view("PK\x03\x04", 4);
}

Result<std::string> gunzip(std::string_view bytes, std::size_t max_bytes) {
  if (!is_gzip(bytes)) {
    return fail(ErrorCode::kInvalidInput, "not gzip data");
  }
  return inflate_all(bytes, 15 + 16, true, max_bytes);
}

Result<std::string> unzip_first(std::string_view bytes, std::size_t max_bytes) {
  // Local file header (APPNOTE.TXT §4.3.7): signature, version, flags, method,
  // time, date, crc, compressed size, size, name length, extra length, name, extra.
  constexpr std::size_t kHeader = 30;
  if (!is_zip(bytes) || bytes.size() < kHeader) {
    return fail(ErrorCode::kInvalidInput, "not a zip archive");
  }
  const auto flags = le16(bytes, 6);
  const auto method = le16(bytes, 8);
  const auto compressed = le32(bytes, 18);
  const std::size_t start = kHeader + le16(bytes, 26) + le16(bytes, 28);
  if (start > bytes.size()) {
    return fail(ErrorCode::kInvalidInput, "truncated zip archive");
  }
  auto data = bytes.substr(start);
  // Bit 3: sizes follow the data (a data descriptor); deflate ends by itself, so
  // the whole rest is given to inflate.
  if ((flags & 0x08) == 0 && compressed <= data.size()) {
    data = data.substr(0, compressed);
  }
  if (method == 0) {
    if ((flags & 0x08) != 0) {
      return fail(ErrorCode::kInvalidInput, "stored zip entry without sizes");
    }
    if (data.size() > max_bytes) {
      return fail(ErrorCode::kLimitExceeded, "report exceeds the size limit");
    }
    return std::string(data);
  }
  if (method != 8) {
    return fail(ErrorCode::kInvalidInput, "unsupported zip compression method");
  }
  return inflate_all(data, -15, false, max_bytes);
}

}  // namespace tern::domain::reports
