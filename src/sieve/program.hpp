// SPDX-License-Identifier: Apache-2.0
// The compiled form of a Sieve script: what compile() checked and resolved, so
// that run() only evaluates. Internal to the sieve component.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sieve/sieve.hpp"

namespace tern::sieve::detail {

// A string argument. `expand` is set when the script requires "variables" and the
// text holds a "${" reference, which run() replaces (RFC 5229 §3).
struct Text {
  std::string text;
  bool expand = false;
};

using TextList = std::vector<Text>;

enum class Op {
  // Commands.
  kIf,  // branches: tests[i] guards blocks[i]; a final block without test is else
  kStop,
  kKeep,
  kDiscard,
  kRedirect,
  kFileInto,
  kSetFlag,
  kAddFlag,
  kRemoveFlag,
  kSet,
  kVacation,
  // Tests.
  kAddress,
  kEnvelope,
  kHeader,
  kExists,
  kSize,
  kAllOf,
  kAnyOf,
  kNot,
  kTrue,
  kFalse,
  kHasFlag,
  kString,
  kBody,
  kMailboxExists,
  kDate,
  kCurrentDate,
  kSpamTest,
};

enum class Comparator { kOctet, kAsciiCasemap, kAsciiNumeric };

enum class MatchType { kIs, kContains, kMatches, kValue, kCount };

// RFC 5231 §4.
enum class Relation { kGt, kGe, kLt, kLe, kEq, kNe };

enum class AddressPart { kAll, kLocalPart, kDomain, kUser, kDetail };

enum class BodyTransform { kText, kRaw, kContent };

struct Match {
  MatchType type = MatchType::kIs;
  Comparator comparator = Comparator::kAsciiCasemap;
  Relation relation = Relation::kEq;
  AddressPart part = AddressPart::kAll;
  // RFC 5260 §6 :index (1-based, 0 = every value) and :last.
  std::uint32_t index = 0;
  bool last = false;
};

// RFC 5229 §4.1 modifiers, as a bit set.
enum Modifier : unsigned {
  kLower = 1,
  kUpper = 2,
  kLowerFirst = 4,
  kUpperFirst = 8,
  kQuoteWildcard = 16,
  kLength = 32,
  kEncodeUrl = 64,
};

struct Node {
  Op op = Op::kTrue;
  std::size_t line = 0;
  Match match;
  // The positional string lists, in the order the grammar gives them: header
  // names and keys, the mailbox, the flag list, the variable name and value...
  TextList first;
  TextList second;
  std::optional<Text> variable;   // imap4flags' optional variable name
  std::uint64_t number = 0;       // size, vacation seconds
  bool over = false;              // size :over (else :under)
  bool copy = false;              // RFC 3894 :copy
  bool create = false;            // RFC 5490 :create
  bool percent = false;           // RFC 5235 spamtest :percent
  std::optional<TextList> flags;  // RFC 5232 :flags
  unsigned modifiers = 0;
  // body
  BodyTransform transform = BodyTransform::kText;
  TextList content_types;
  // date / currentdate: the date part, and the zone ("+0100") or original_zone
  std::optional<Text> date_part;
  std::optional<Text> zone;
  bool original_zone = false;
  // hasflag: the variables whose flags it reads (none: the internal variable)
  TextList variables;
  // vacation
  std::optional<Text> subject;
  std::optional<Text> from;
  std::optional<Text> handle;
  TextList addresses;
  bool mime = false;
  // Sub-tests (allof, anyof, not, and if's guards) and blocks (if's branches).
  std::vector<Node> tests;
  std::vector<std::vector<Node>> blocks;
};

struct Program {
  std::vector<std::string> required;
  bool variables = false;
  std::vector<Node> commands;
};

}  // namespace tern::sieve::detail
