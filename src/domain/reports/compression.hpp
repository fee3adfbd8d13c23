// SPDX-License-Identifier: Apache-2.0
// The containers reports travel in: gzip (RFC 1952; DMARC RFC 9990 §3.5.2 and
// TLS-RPT RFC 8460 §5.3 both use it) and, because deployed reporters (Google among
// them) send DMARC reports as .zip, the first file of a ZIP archive. Decompression
// is bounded: a report that inflates past `max_bytes` is refused, not expanded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::domain::reports {

// The largest report this code will inflate (a day of reports from a big sender
// is a few MiB of XML; 64 MiB leaves room without letting a zip bomb through).
inline constexpr std::size_t kMaxReportBytes = 64 * 1024 * 1024;

// Compresses `bytes` as one gzip member (no file name, mtime 0: the output depends
// on the input alone).
std::string gzip(std::string_view bytes);

// True when `bytes` starts with the gzip magic (1f 8b) or a ZIP local file header.
bool is_gzip(std::string_view bytes);
bool is_zip(std::string_view bytes);

// Inflates a gzip stream (concatenated members too). kInvalidInput for a damaged
// stream, kLimitExceeded past `max_bytes`.
Result<std::string> gunzip(std::string_view bytes, std::size_t max_bytes = kMaxReportBytes);

// The first file of a ZIP archive (stored or deflated; the local header is enough,
// the central directory is not read). Errors as gunzip().
Result<std::string> unzip_first(std::string_view bytes, std::size_t max_bytes = kMaxReportBytes);

}  // namespace tern::domain::reports
