// SPDX-License-Identifier: Apache-2.0
// The signing keys of our domains ([[dkim]] in the config) and signing with all
// of a domain's active keys at once, for mail we send (RFC 6376 §5).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mailauth/dkim_crypto.hpp"

namespace tern::mailauth {

// Immutable once built; shared by every submission session (const member
// functions are thread-safe: signing only reads the keys).
class DkimKeyring {
 public:
  // One key of one domain. `sign` false: published for rotation, never used.
  struct Entry {
    std::string domain;    // lower case
    std::string selector;  // lower case
    bool sign = true;
    std::shared_ptr<const DkimPrivateKey> key;
  };

  // Adds a key. Several keys per domain are allowed (selector rotation: every
  // entry with sign = true signs).
  void add(Entry entry);

  // True when some entry of `domain` (any case) signs.
  bool signs_for(std::string_view domain) const;

  // Signs `message` (CRLF line ends, header and body) once with every signing key
  // of `domain` (any case; the RFC5322.From domain, so that DMARC aligns,
  // RFC 7489 §3.1.1) and returns the DKIM-Signature fields, each ending in CRLF,
  // to put at the top of the header; "" when the domain has no signing key.
  // Relaxed/relaxed canonicalisation, the RFC 6376 §5.4.1 header set with From,
  // To, Cc, Subject, Date, Reply-To, Message-ID, MIME-Version and Content-Type
  // over-signed (§8.15), t= set to `now` (seconds since the epoch).
  // Errors: those of dkim_sign() (kInvalidInput without a From field).
  Result<std::string> sign(std::string_view message, std::string_view domain,
                           std::uint64_t now) const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace tern::mailauth
