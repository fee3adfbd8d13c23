// SPDX-License-Identifier: Apache-2.0
// The Sieve grammar (RFC 5228 §8): text to a tree of commands and tests, before
// any command is known. Internal to the sieve component; compile() checks the
// tree against what each command takes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "sieve/sieve.hpp"

namespace tern::sieve::detail {

struct Argument {
  enum class Kind { kTag, kNumber, kStrings };
  Kind kind = Kind::kStrings;
  std::string tag;  // kTag: lower case, without the colon
  std::uint64_t number = 0;
  std::vector<std::string> strings;  // kStrings: one string, or a bracketed list
  bool list = false;                 // written in brackets
  std::size_t line = 0;
};

struct Syntax {
  std::string name;  // lower case (identifiers are case-insensitive, §2.9)
  std::size_t line = 0;
  std::vector<Argument> args;
  std::vector<Syntax> tests;  // one test, or a parenthesised test-list
  bool test_list = false;
  bool has_block = false;
  std::vector<Syntax> block;
};

// "line N: message" as compile() reports it.
Error syntax_error(std::size_t line, std::string_view message);

// Parses `text` into its commands. Errors: kInvalidInput with the line.
Result<std::vector<Syntax>> parse(std::string_view text, const CompileLimits& limits);

}  // namespace tern::sieve::detail
