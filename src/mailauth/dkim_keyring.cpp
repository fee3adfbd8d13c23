// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dkim_keyring.hpp"

#include <algorithm>

#include "mailauth/dkim_signer.hpp"

namespace tern::mailauth {
namespace {

bool same_domain(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

}  // namespace

void DkimKeyring::add(Entry entry) {
  entries_.push_back(std::move(entry));
}

bool DkimKeyring::signs_for(std::string_view domain) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.sign && e.key && same_domain(e.domain, domain);
  });
}

Result<std::string> DkimKeyring::sign(std::string_view message, std::string_view domain,
                                      std::uint64_t now) const {
  std::string fields;
  for (const Entry& entry : entries_) {
    if (!entry.sign || !entry.key || !same_domain(entry.domain, domain)) {
      continue;
    }
    DkimSignOptions options;
    options.domain = entry.domain;
    options.selector = entry.selector;
    options.timestamp = now;
    // Each signature covers the message as submitted, not the other signatures:
    // a verifier checks each independently (RFC 6376 §4), and a rotated-out key
    // failing must not take the others with it.
    auto field = dkim_sign(message, *entry.key, options);
    if (!field) {
      return field.error();
    }
    fields += *field;
  }
  return fields;
}

}  // namespace tern::mailauth
