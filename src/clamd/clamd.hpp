// SPDX-License-Identifier: Apache-2.0
// clamd: the wire format of ClamAV's scanning daemon, sans-IO. A message is
// scanned with INSTREAM: the command, then the bytes in chunks each led by its
// length (4 bytes, network order), then a chunk of length 0; clamd answers one
// line and closes. Commands sent as "z<NAME>\0" are answered with NUL-terminated
// replies (clamd(8), "COMMANDS"). The connecting and the timeouts are the
// caller's (services/smtp/antivirus.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::clamd {

// INSTREAM with NUL-terminated replies.
inline constexpr std::string_view kInstream{"zINSTREAM\0", 10};

// The chunk size the client sends. clamd reads any size up to its
// StreamMaxLength in total; 64 KiB keeps each write and clamd's buffer small.
inline constexpr std::size_t kChunkBytes = 64 * 1024;

// The 4-byte length that leads a chunk; chunk_header(0) ends the stream.
std::array<char, 4> chunk_header(std::uint32_t length);

struct ScanResult {
  enum class Kind {
    kClean,     // "stream: OK"
    kInfected,  // "stream: <signature> FOUND"
    kError,     // "... ERROR", or a reply this parser does not know
  };
  Kind kind = Kind::kError;
  // kInfected: the signature name ("Eicar-Signature"); kError: clamd's text
  // (or what was wrong with the reply), for the log.
  std::string detail;

  bool operator==(const ScanResult&) const = default;
};

// Reads one reply to INSTREAM, with or without its terminating NUL or newline.
// Anything malformed (empty, too long, no "stream: " label, an empty signature
// name) is kError: a scan that cannot be read is never taken as clean.
ScanResult parse_reply(std::string_view reply);

// The most a reply may hold; a longer one is malformed.
inline constexpr std::size_t kMaxReplyBytes = 1024;

}  // namespace tern::clamd
