// SPDX-License-Identifier: Apache-2.0
#include "mime/tree_check.hpp"

#include <string_view>

namespace tern::mime {

namespace {

std::string where(PartIndex i, std::string_view what) {
  return "part " + std::to_string(i) + ": " + std::string(what);
}

// The gap before a body part or the epilogue must be an optional line end (absent
// when the body starts with the delimiter or a header's blank line took it), then
// "--boundary" (RFC 2046 §5.1.1), and the rest of that line.
bool is_delimiter_gap(std::string_view gap, std::string_view boundary) {
  if (gap.starts_with("\r\n")) {
    gap.remove_prefix(2);
  } else if (gap.starts_with("\n")) {
    gap.remove_prefix(1);
  }
  if (!gap.starts_with("--") || gap.substr(2, boundary.size()) != boundary) {
    return false;
  }
  std::size_t lf = gap.find('\n');
  return lf == std::string_view::npos || lf + 1 == gap.size();
}

}  // namespace

std::optional<std::string> find_inconsistency(const MessageTree& tree) {
  std::string_view raw = tree.raw();
  const auto& parts = tree.parts();
  if (parts.empty()) {
    return "no parts";
  }
  if (parts[0].whole != Range{0, raw.size()}) {
    return "part 0 does not cover the message";
  }
  for (PartIndex i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    if (p.whole.begin > p.whole.end || p.whole.end > raw.size()) {
      return where(i, "whole range out of bounds");
    }
    if (p.header.begin != p.whole.begin || p.header.end != p.body.begin ||
        p.body.end != p.whole.end || p.header.begin > p.header.end || p.body.begin > p.body.end) {
      return where(i, "whole != header + body");
    }
    std::size_t last = p.header.begin;
    for (const HeaderField& f : p.fields) {
      if (f.whole.begin < last || f.whole.end > p.header.end || f.name.begin != f.whole.begin ||
          f.name.end > f.value.begin || f.value.end > f.whole.end || f.value.begin > f.value.end) {
        return where(i, "header field out of order or outside the header");
      }
      last = f.whole.end;
    }
    if (i > 0) {
      if (p.parent >= i) {
        return where(i, "parent after child (not pre-order)");
      }
      if (p.depth != parts[p.parent].depth + 1) {
        return where(i, "depth does not match parent");
      }
    } else if (p.parent != kNoPart) {
      return where(i, "root has a parent");
    }
    for (PartIndex c : p.children) {
      if (c >= parts.size() || parts[c].parent != i) {
        return where(i, "child does not point back");
      }
    }
    switch (p.kind) {
      case PartKind::kLeaf:
        if (!p.children.empty()) {
          return where(i, "leaf with children");
        }
        break;
      case PartKind::kMessage:
        if (p.children.size() != 1 || parts[p.children[0]].whole != p.body) {
          return where(i, "message part without exactly one child covering its body");
        }
        break;
      case PartKind::kMultipart: {
        if (p.preamble.begin != p.body.begin) {
          return where(i, "preamble does not start the body");
        }
        std::size_t pos = p.preamble.end;
        for (PartIndex c : p.children) {
          const Part& child = parts[c];
          if (child.whole.begin < pos ||
              !is_delimiter_gap(raw.substr(pos, child.whole.begin - pos), p.boundary)) {
            return where(c, "gap before part is not a delimiter line");
          }
          pos = child.whole.end;
        }
        if (p.epilogue.end != p.body.end || p.epilogue.begin < pos) {
          return where(i, "epilogue does not end the body");
        }
        if (p.close_delimiter_seen) {
          std::string_view gap = raw.substr(pos, p.epilogue.begin - pos);
          if (!is_delimiter_gap(gap, p.boundary) ||
              gap.find("--" + p.boundary + "--") == std::string_view::npos) {
            return where(i, "gap before epilogue is not a close delimiter");
          }
        } else if (p.epilogue.begin != pos) {
          return where(i, "epilogue without a close delimiter");
        }
        break;
      }
    }
  }
  return std::nullopt;
}

}  // namespace tern::mime
