// SPDX-License-Identifier: Apache-2.0
// The Sender Rewriting Scheme (Shevek's SRS, as libsrs2 and postsrsd implement it):
// a forwarder rewrites the envelope sender of mail it forwards to an address at
// its own domain, so SPF at the next hop checks the forwarder, and a bounce to
// that address can be sent back to the original sender.
//
//   forward("user@origin.org")          → SRS0=HHHH=TT=origin.org=user@fwd.example
//   forward("SRS0=HHHH=TT=o.org=u@a.b") → SRS1=GGGG=a.b==HHHH=TT=o.org=u@fwd.example
//   forward("SRS1=GGGG=a.b==...@c.d")   → SRS1=KKKK=a.b==...@fwd.example (first hop kept)
//   reverse(SRS0 address)               → user@origin.org
//   reverse(SRS1 address)               → SRS0=HHHH=TT=o.org=u@a.b (back one hop)
//
// HHHH is the first `hash_length` characters of base64(HMAC-SHA1(secret, data)) over
// the lower-cased fields (compared case-insensitively: a hop may change the case of a
// local part); TT is the day number modulo 1024 in base32, and an SRS0 address older
// than `max_age_days` is refused. SRS1 addresses carry no timestamp of their own (the
// SRS0 inside does, checked by its own forwarder).
// Pure: no I/O, time passed in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace tern::domain {

struct SrsConfig {
  std::string secret;           // the HMAC key; must not be empty
  std::string domain;           // the domain of rewritten addresses (ours)
  int max_age_days = 21;        // libsrs2's default maximum age
  std::size_t hash_length = 4;  // base64 characters of the HMAC kept
};

class Srs {
 public:
  explicit Srs(SrsConfig config);

  // True when the local part starts with "SRS0" or "SRS1" followed by a separator
  // ('=', '+' or '-'), case-insensitively.
  static bool is_srs(std::string_view address);

  // The rewritten sender for forwarding `sender` ("local@domain"). A sender already
  // at our SRS domain is returned as is; SRS addresses become SRS1.
  // kInvalidInput when `sender` has no '@' or is empty.
  Result<std::string> forward(std::string_view sender, SystemTime now) const;

  // The address an SRS address at our domain stands for. Errors: kInvalidInput (not
  // SRS, malformed), kPermissionDenied (hash mismatch: forged), kLimitExceeded
  // (timestamp older than max_age_days or in the future).
  Result<std::string> reverse(std::string_view address, SystemTime now) const;

  const SrsConfig& config() const { return config_; }

 private:
  std::string hash(std::string_view a, std::string_view b, std::string_view c) const;
  bool hash_matches(std::string_view given, std::string_view a, std::string_view b,
                    std::string_view c) const;

  SrsConfig config_;
};

}  // namespace tern::domain
