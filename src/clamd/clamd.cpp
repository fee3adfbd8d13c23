// SPDX-License-Identifier: Apache-2.0
#include "clamd/clamd.hpp"

namespace tern::clamd {

std::array<char, 4> chunk_header(std::uint32_t length) {
  return {static_cast<char>((length >> 24) & 0xff), static_cast<char>((length >> 16) & 0xff),
          static_cast<char>((length >> 8) & 0xff), static_cast<char>(length & 0xff)};
}

namespace {

bool printable(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return false;
    }
  }
  return true;
}

ScanResult error(std::string detail) {
  return {ScanResult::Kind::kError, std::move(detail)};
}

}  // namespace

ScanResult parse_reply(std::string_view reply) {
  // clamd ends a z-command's reply with NUL (an n-command's with a newline).
  while (!reply.empty() && (reply.back() == '\0' || reply.back() == '\n')) {
    reply.remove_suffix(1);
  }
  if (reply.empty()) {
    return error("empty reply");
  }
  if (reply.size() > kMaxReplyBytes || !printable(reply)) {
    return error("malformed reply");
  }
  // "INSTREAM size limit exceeded. ERROR" and other refusals of the command
  // itself carry no "stream: " label.
  constexpr std::string_view kError = " ERROR";
  if (reply.size() > kError.size() && reply.ends_with(kError)) {
    return error(std::string(reply.substr(0, reply.size() - kError.size())));
  }
  constexpr std::string_view kLabel = "stream: ";
  if (!reply.starts_with(kLabel)) {
    return error("unexpected reply: " + std::string(reply));
  }
  std::string_view verdict = reply.substr(kLabel.size());
  if (verdict == "OK") {
    return {ScanResult::Kind::kClean, ""};
  }
  constexpr std::string_view kFound = " FOUND";
  if (verdict.size() > kFound.size() && verdict.ends_with(kFound)) {
    std::string_view name = verdict.substr(0, verdict.size() - kFound.size());
    if (name.find_first_not_of(' ') != std::string_view::npos) {
      return {ScanResult::Kind::kInfected, std::string(name)};
    }
  }
  return error("unexpected reply: " + std::string(reply));
}

}  // namespace tern::clamd
