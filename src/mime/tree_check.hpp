// SPDX-License-Identifier: Apache-2.0
// A checker for the structural promises of MessageTree, for tests, fuzzers and
// debug assertions in readers that trust part offsets.
#pragma once

#include <optional>
#include <string>

#include "mime/message.hpp"

namespace tern::mime {

// Returns a description of the first broken invariant of `tree`, or std::nullopt
// when all hold:
//  - part 0 covers the whole raw message; every range lies inside its part and
//    whole = header + body;
//  - parts are in pre-order, each child's parent and depth match;
//  - a kMessage part has one child covering exactly its body;
//  - a kMultipart body is tiled, in order and without overlap, by the preamble, the
//    children and the epilogue, and every gap between them is a delimiter line of
//    the part's boundary (so re-serialising the ranges gives back the exact bytes);
//  - header fields are in order inside the header block.
// Costs O(size of the tree); reads no part bodies except the delimiter gaps.
std::optional<std::string> find_inconsistency(const MessageTree& tree);

}  // namespace tern::mime
