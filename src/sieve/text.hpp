// SPDX-License-Identifier: Apache-2.0
// What compile() and run() both need: encoded characters, comparators and match
// types, address checks and date parts. Internal to the sieve component.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "sieve/program.hpp"

namespace tern::sieve::detail {

// RFC 5228 §2.4.2.4: "${hex:..}" and "${unicode:..}" replaced by what they
// encode; malformed ones stay as written. Errors: kInvalidInput for a code point
// outside Unicode or a surrogate.
Result<std::string> decode_encoded_characters(std::string_view text);

// True when `address` is one mailbox with a local part and a domain, as redirect
// needs (RFC 5228 §4.2).
bool redirect_address(std::string_view address);

// True when `text` is an RFC 5322 mailbox-list, every mailbox with a domain, as
// vacation's :from must be (RFC 5230 §4.3).
bool mailbox_list(std::string_view text);

// "+hhmm" / "-hhmm" (RFC 5260 §4.1.1) in minutes east of UTC.
std::optional<int> parse_zone(std::string_view zone);

// RFC 5260 §4.2.
bool date_part_known(std::string_view part);

// The date part `part` of the instant `unix_seconds` seen in the zone
// `zone_minutes` east of UTC; nullopt for an unknown part.
std::optional<std::string> date_part(std::string_view part, std::int64_t unix_seconds,
                                     int zone_minutes);

// Whether `value` matches `key` under the match type and comparator (RFC 5228
// §2.7, RFC 5231 :value). :count is the caller's (it counts values, then uses
// relation_holds()). For :matches, `captures` (when not null) receives the
// match variables of RFC 5229 §3.2: [0] the whole value, then one per wildcard.
bool matches(const Match& match, std::string_view value, std::string_view key,
             std::vector<std::string>* captures);

// RFC 5231 §4: `value` <relation> `key` under the comparator's ordering.
bool relation_holds(Comparator comparator, Relation relation, std::string_view value,
                    std::string_view key);

// RFC 5235 §3.2: the normalized spamtest result for the spam filter's `score`
// (Environment::spam_score). Not tested (nullopt or NaN): "0". Otherwise the
// score clamped to [0, 1] and, without :percent, 1 + floor(9 × score): "1"
// clear (score below 1/9) .. "10" (score 1); with `percent`, floor(100 × score):
// "0" .. "100". Floor, not round, as Pigeonhole maps a score-type status, so a
// script moved from Dovecot sees the same numbers; a score just below the
// filter's ham cutoff (0.2) is "2", outside RFC 5235's example "ge 3". A
// millionth is added before the floor so that 0.29 is 29 percent, not 28.
std::string spamtest_result(std::optional<double> score, bool percent);

// RFC 5229 §4.1 :quotewildcard: "*", "?" and "\" escaped with "\".
std::string quote_wildcards(std::string_view text);

// The length in Unicode characters (RFC 5229 :length), bytes that are not
// UTF-8 counted one each.
std::size_t utf8_length(std::string_view text);

}  // namespace tern::sieve::detail
