// SPDX-License-Identifier: Apache-2.0
// SASLprep (RFC 4013), the stringprep profile (RFC 3454) SASL mechanisms use to
// compare user names and passwords: the same password typed with a soft hyphen,
// a no-break space or a compatibility character ("Ⅸ") must match its plain form.
//
// Who calls it (docs/adr/0008-authentication.md):
//   - domain::make_credentials() prepares a password being set with kStored
//     before hashing it (argon2id) and deriving SCRAM's keys (RFC 5802 §2.2);
//   - domain::authenticate() prepares the password being checked (PLAIN, LOGIN,
//     IMAP LOGIN, POP3 PASS; RFC 4616 §2) and the authcid with kQuery;
//   - domain::find_scram_credential() prepares the SCRAM username with kQuery
//     (RFC 5802 §5.1); the SCRAM client prepares its own password.
//
// The steps (RFC 4013 §2, done by ICU's USPREP_RFC4013_SASLPREP profile, whose
// tables are Unicode 3.2 as RFC 3454 requires):
//   1. map: non-ASCII spaces (C.1.2) to U+0020, "commonly mapped to nothing"
//      characters (B.1, e.g. U+00AD SOFT HYPHEN) to nothing;
//   2. normalise with NFKC (Unicode 3.2);
//   3. refuse prohibited output: controls, private use, non-characters,
//      surrogates, tagging and the other C.* tables of §2.3;
//   4. check bidi (RFC 3454 §6): a string with right-to-left characters must
//      start and end with one and contain no left-to-right character;
//   5. unassigned code points (A.1): kStored refuses them, kQuery lets them
//      through (RFC 3454 §7: a query may hold characters a later Unicode
//      assigns; a stored string must not).
//
// SASLprep does not fold case: "USER" stays "USER".
//
// One known difference from RFC 3454's tables, in queries only: ICU's bidi check
// takes today's bidi class for code points unassigned in Unicode 3.2 (U+063D is
// an Arabic letter now), where tables D.1/D.2 list none, so such a query may be
// refused or accepted on the bidi rule where the tables decide otherwise. It
// cannot change a login: a prepared query holding an unassigned code point never
// equals a prepared stored string, which holds none. saslprep_test.cpp checks
// everything else against an independent implementation (Python's stringprep).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::sasl {

// Which RFC 3454 §7 profile applies.
enum class SaslprepProfile {
  kStored,  // a string being stored (a password being set): unassigned = error
  kQuery,   // a string being compared (a login): unassigned code points allowed
};

// Input longer than this (in UTF-8 bytes) is refused: no SASL message or login
// line tern accepts carries more, and it bounds the memory one call uses.
constexpr std::size_t kMaxSaslprepBytes = 8192;

// Prepares `text` (UTF-8) and returns the prepared string (UTF-8). The result
// may be empty (a string of soft hyphens maps to nothing): callers decide
// whether that is acceptable. ASCII text without controls comes back
// unchanged without calling ICU.
//
// Errors (all kInvalidInput, the message names the rule):
//   - `text` is not valid UTF-8 (overlong forms and encoded surrogates included),
//     or longer than kMaxSaslprepBytes;
//   - prohibited output (RFC 4013 §2.3), e.g. U+0007, U+E000, U+FFFE;
//   - a bidi violation (RFC 4013 §2.4), e.g. U+0627 U+0031;
//   - with kStored, an unassigned code point (RFC 4013 §2.5), e.g. U+0237.
// kInternal if ICU cannot load the profile's data (a broken installation).
//
// Pure and thread-safe (the ICU profile is loaded once and shared read-only).
Result<std::string> saslprep(std::string_view text, SaslprepProfile profile);

// saslprep(text, kQuery), or `text` as given when SASLprep refuses it or maps it
// to nothing. For strings the other side compares, where refusing is not ours to
// do: the SCRAM client's username and password (a server that stored them
// unprepared still matches), the SCRAM server's authcid (no account has a name
// SASLprep refuses, so the exchange fails at the proof like a wrong password).
std::string saslprep_or_as_is(std::string text);

}  // namespace tern::sasl
