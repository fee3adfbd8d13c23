// SPDX-License-Identifier: Apache-2.0
// The canonical form of an account or alias address: the key every Directory
// lookup compares byte for byte (domain/ports.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::domain {

// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets,
// so an address is at most 254.
constexpr std::size_t kMaxAddressBytes = 254;

// Returns the canonical form of `address`: surrounding ASCII whitespace removed,
// and both the local part and the domain lower-cased (ASCII only; UTF-8 bytes
// are kept). Lower-casing the local part is what Postfix and Dovecot lookups do
// in practice, so "Alice@Example.ORG" and "alice@example.org" are one account.
//
// Errors (kInvalidInput, message names the problem):
//   - no '@', more than one '@', or an empty local part or domain;
//   - a space or other whitespace inside, or a control character (< 0x20, 0x7f);
//   - longer than kMaxAddressBytes after trimming;
//   - a domain with an empty label ("a..b", ".a", "a.").
// Quoted local parts (RFC 5321 §4.1.2 Quoted-string) are not supported as
// account names: their quoting would make two spellings of one mailbox.
Result<std::string> normalize_address(std::string_view address);

// The two halves of an address. Views into the string passed to split_address().
struct AddressParts {
  std::string_view local;
  std::string_view domain;
};

// Splits `address` at its '@' without changing it. Errors (kInvalidInput): no '@',
// more than one, or an empty half. Lifetime: the views point into `address`.
Result<AddressParts> split_address(std::string_view address);

// The domain of a stored (normalized) address: what follows its last '@', or ""
// when it has none. Unlike split_address() it never fails, for the backends that
// file an account or alias under its domain. Lifetime: a view into `address`.
std::string_view domain_of(std::string_view address);

}  // namespace tern::domain
