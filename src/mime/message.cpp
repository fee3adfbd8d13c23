// SPDX-License-Identifier: Apache-2.0
// One linear pass over the message with a stack of open parts and their boundaries,
// as Dovecot's and GMime's streaming parsers do, so a boundary line of any open
// multipart ends every part inside it (RFC 2046 §5.1.2).
#include "mime/message.hpp"

#include <algorithm>
#include <cstring>

#include "mime/ascii.hpp"
#include "mime/header.hpp"

namespace tern::mime {

namespace {

using ascii::is_wsp;
using ascii::lower;

// RFC 5322 §2.2: printable US-ASCII except colon. 8-bit bytes are accepted in names
// too (junk seen in the wild); blanks and controls are not.
bool is_field_name_char(unsigned char c) {
  return c > 32 && c != 127 && c != ':';
}

// Which of the MIME fields a name is, compared without allocating.
enum class Known {
  kNone,
  kType,
  kEncoding,
  kDisposition,
  kId,
  kDescription,
  kLanguage,
  kLocation,
  kMd5
};

Known classify(std::string_view name) {
  if (name.size() < 10 || !iequals(name.substr(0, 8), "content-")) {
    return Known::kNone;
  }
  std::string_view rest = name.substr(8);
  if (iequals(rest, "type")) {
    return Known::kType;
  }
  if (iequals(rest, "transfer-encoding")) {
    return Known::kEncoding;
  }
  if (iequals(rest, "disposition")) {
    return Known::kDisposition;
  }
  if (iequals(rest, "id")) {
    return Known::kId;
  }
  if (iequals(rest, "description")) {
    return Known::kDescription;
  }
  if (iequals(rest, "language")) {
    return Known::kLanguage;
  }
  if (iequals(rest, "location")) {
    return Known::kLocation;
  }
  if (iequals(rest, "md5")) {
    return Known::kMd5;
  }
  return Known::kNone;
}

// Where Part keeps the raw value of each MIME field that is not parsed further.
std::optional<Range> Part::*raw_value_member(Known k) {
  switch (k) {
    case Known::kId:
      return &Part::content_id;
    case Known::kDescription:
      return &Part::content_description;
    case Known::kLanguage:
      return &Part::content_language;
    case Known::kLocation:
      return &Part::content_location;
    default:
      return &Part::content_md5;
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return ascii::iequals(a, b);
}

namespace {

const std::string* find_param(const std::vector<Parameter>& params, std::string_view name) {
  for (const auto& p : params) {
    if (iequals(p.name, name)) {
      return &p.value;
    }
  }
  return nullptr;
}

}  // namespace

const std::string* ContentType::param(std::string_view name) const {
  return find_param(params, name);
}

bool ContentType::is(std::string_view t, std::string_view s) const {
  return iequals(type, t) && iequals(subtype, s);
}

const std::string* ContentDisposition::param(std::string_view name) const {
  return find_param(params, name);
}

const HeaderField* Part::field(std::string_view raw, std::string_view name) const {
  for (const auto& f : fields) {
    if (iequals(f.name.in(raw), name)) {
      return &f;
    }
  }
  return nullptr;
}

// Builds a MessageTree in one pass. Positions are byte offsets into raw_; `lf_` is the
// number of LF bytes before `pos`, kept so line counts cost nothing extra.
class TreeBuilder {
 public:
  TreeBuilder(std::string_view raw, const ParseLimits& limits) : raw_(raw), limits_(limits) {
    tree_.raw_ = raw;
  }

  MessageTree build() {
    std::size_t pos = start_part(kNoPart, 0, 0, false);
    while (pos < raw_.size()) {
      if (active_.empty()) {  // no boundary can end anything: only the line count is left
        lf_ += count_lf(pos, raw_.size());
        pos = raw_.size();
        break;
      }
      std::size_t line_end = next_line(pos);
      if (raw_[pos] == '-' && pos + 1 < raw_.size() && raw_[pos + 1] == '-') {
        if (const Boundary* b = match(pos, line_end)) {
          pos = on_delimiter(*b, pos, line_end);
          continue;
        }
      }
      ++lf_;
      pos = line_end;
    }
    // End of data: everything still open ends here (RFC 2046 §5.1.2 leaves a missing
    // close delimiter to the reader; all deployed readers keep the last part).
    close_open(0, raw_.size(), lf_at_end());
    for (const Part& p : tree_.parts_) {
      if (p.depth > tree_.max_depth_) {
        tree_.max_depth_ = p.depth;
      }
    }
    return std::move(tree_);
  }

 private:
  struct Boundary {
    PartIndex part;
    std::size_t open_index;  // position of the multipart in open_
    std::string text;        // a copy: parts_ may reallocate while the boundary is open
  };

  // Open parts from the root to the innermost, with LF counts at their starts.
  struct Open {
    PartIndex part;
    std::size_t lf_at_body;
    std::size_t region_begin;  // where the current content of this part began
    std::size_t claim_floor;   // a delimiter may claim the line end before it down to here
  };

  std::size_t next_line(std::size_t pos) const {
    const void* lf = std::memchr(raw_.data() + pos, '\n', raw_.size() - pos);
    return lf == nullptr ? raw_.size()
                         : static_cast<std::size_t>(static_cast<const char*>(lf) - raw_.data()) + 1;
  }

  std::size_t lf_at_end() const { return lf_; }

  std::size_t count_lf(std::size_t begin, std::size_t end) const {
    std::size_t n = 0;
    const char* p = raw_.data() + begin;
    const char* stop = raw_.data() + end;
    while (p < stop) {
      const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(stop - p));
      if (lf == nullptr) {
        break;
      }
      ++n;
      p = static_cast<const char*>(lf) + 1;
    }
    return n;
  }

  // The longest active boundary that the line at `pos` starts with ("--" boundary),
  // or nullptr. Longest, so boundaries that are prefixes of each other still nest.
  // Junk after the boundary is accepted (Dovecot's rule).
  const Boundary* match(std::size_t pos, std::size_t line_end) const {
    std::string_view line = raw_.substr(pos + 2, line_end - pos - 2);
    // Innermost first, so a boundary reused by a nested multipart belongs to the
    // inner one (RFC 2046 §5.1.2 forbids the reuse; Dovecot resolves it this way).
    const Boundary* best = nullptr;
    for (auto it = active_.rbegin(); it != active_.rend(); ++it) {
      const Boundary& b = *it;
      if (line.size() >= b.text.size() &&
          std::memcmp(line.data(), b.text.data(), b.text.size()) == 0 &&
          (best == nullptr || b.text.size() > best->text.size())) {
        best = &b;
      }
    }
    return best;
  }

  // Creates a part starting at `begin`, parses its header and opens its body. Returns
  // the position where scanning continues.
  std::size_t start_part(PartIndex parent, std::uint32_t depth, std::size_t begin, bool in_digest) {
    PartIndex index = static_cast<PartIndex>(tree_.parts_.size());
    tree_.parts_.emplace_back();
    Part& part = tree_.parts_.back();
    part.parent = parent;
    part.depth = depth;
    part.whole.begin = begin;
    part.header.begin = begin;
    if (in_digest) {
      // RFC 2046 §5.1.5: in a digest the default is message/rfc822.
      part.content_type.type = "message";
      part.content_type.subtype = "rfc822";
    }
    std::size_t lf_at_header = lf_;
    std::size_t body = parse_header(index);
    Part& p = tree_.parts_[index];
    p.header_lines =
        lf_ - lf_at_header + ((p.header.size() > 0 && raw_[p.header.end - 1] != '\n') ? 1 : 0);
    open_.push_back(Open{index, lf_, body, body});
    return open_body(index, body);
  }

  // Scans header lines from the part's start until a blank line, a boundary line of an
  // open multipart, or the end. Returns the body start.
  std::size_t parse_header(PartIndex index) {
    Part& part = tree_.parts_[index];
    std::size_t pos = part.header.begin;
    std::size_t header_bytes = 0;
    bool field_open = false;  // a continuation line extends the last field
    while (true) {
      if (pos >= raw_.size()) {
        part.header.end = pos;
        break;
      }
      std::size_t line_end = next_line(pos);
      std::size_t content_end = line_end;
      if (content_end > pos && raw_[content_end - 1] == '\n') {
        --content_end;
        if (content_end > pos && raw_[content_end - 1] == '\r') {
          --content_end;
        }
      }
      if (content_end == pos) {  // the blank line that ends the header (RFC 5322 §2.1)
        if (line_end > pos && raw_[line_end - 1] == '\n') {
          ++lf_;
        }
        part.header.end = line_end;
        break;
      }
      if (!active_.empty() && raw_[pos] == '-' && pos + 1 < raw_.size() && raw_[pos + 1] == '-' &&
          match(pos, line_end) != nullptr) {
        // A boundary before the blank line: the header ends, the body is empty
        // (Dovecot and GMime do the same; the delimiter is handled by the caller).
        part.header.end = pos;
        part.body.begin = pos;
        return pos;
      }
      header_bytes += line_end - pos;
      if (header_bytes > limits_.max_header_bytes && !part.degraded.header_size) {
        part.degraded.header_size = true;
        tree_.degraded_ = true;
      }
      bool indexing = !part.degraded.header_size && part.fields.size() < limits_.max_fields;
      if (!indexing && part.fields.size() >= limits_.max_fields && !part.degraded.header_size) {
        part.degraded.header_size = true;
        tree_.degraded_ = true;
      }
      if (is_wsp(raw_[pos])) {
        if (field_open) {  // RFC 5322 §2.2.3: folded continuation
          HeaderField& f = part.fields.back();
          f.value.end = content_end;
          f.whole.end = line_end;
          if (f.whole.size() > limits_.max_field_bytes) {
            part.fields.pop_back();
            part.degraded.field_size = true;
            tree_.degraded_ = true;
            field_open = false;
          }
        }
      } else {
        field_open = false;
        std::size_t colon = pos;
        while (colon < content_end && is_field_name_char(static_cast<unsigned char>(raw_[colon]))) {
          ++colon;
        }
        std::size_t name_end = colon;
        while (colon < content_end && is_wsp(raw_[colon])) {  // "Subject : x" (obs-optional)
          ++colon;
        }
        if (colon < content_end && raw_[colon] == ':' && name_end > pos && indexing) {
          if (line_end - pos > limits_.max_field_bytes) {
            part.degraded.field_size = true;
            tree_.degraded_ = true;
          } else {
            part.fields.push_back(HeaderField{Range{pos, name_end}, Range{colon + 1, content_end},
                                              Range{pos, line_end}});
            field_open = true;
          }
        }
      }
      if (line_end > pos && raw_[line_end - 1] == '\n') {
        ++lf_;
      }
      pos = line_end;
    }
    part.body.begin = part.header.end;
    return part.header.end;
  }

  // Interprets the MIME fields of a parsed header and opens the body: a multipart
  // pushes its boundary, a message/rfc822 starts its encapsulated message.
  std::size_t open_body(PartIndex index, std::size_t body) {
    bool seen[9] = {};
    Part* part = &tree_.parts_[index];
    for (const HeaderField& f : part->fields) {
      Known k = classify(f.name.in(raw_));
      auto slot = static_cast<std::size_t>(k);
      if (k == Known::kNone || seen[slot]) {
        continue;  // RFC 2045 gives no meaning to repeats; the first one wins, as in Dovecot
      }
      seen[slot] = true;
      std::string_view value = f.value.in(raw_);
      switch (k) {
        case Known::kType:
          parse_content_type(value, part->content_type);
          break;
        case Known::kEncoding:
          part->encoding = parse_transfer_encoding(value);
          part->encoding_value = f.value;
          break;
        case Known::kDisposition: {
          StructuredValue sv = parse_structured(value);
          if (!sv.value.empty()) {
            part->disposition = ContentDisposition{std::move(sv.value), std::move(sv.params)};
          }
          break;
        }
        case Known::kId:
        case Known::kDescription:
        case Known::kLanguage:
        case Known::kLocation:
        case Known::kMd5:
          part->*raw_value_member(k) = f.value;
          break;
        case Known::kNone:
          break;
      }
    }

    const ContentType& ct = part->content_type;
    bool multipart = iequals(ct.type, "multipart");
    const std::string* boundary = multipart ? ct.param("boundary") : nullptr;
    // RFC 2046 §5.2.1: message/rfc822 may only be 7bit, 8bit or binary; an encoded
    // one (and message/global under base64 or QP, RFC 6532 §3.5) is opaque here
    // because its bytes are not in the raw message.
    bool identity = part->encoding == TransferEncoding::k7Bit ||
                    part->encoding == TransferEncoding::k8Bit ||
                    part->encoding == TransferEncoding::kBinary;
    bool message = iequals(ct.type, "message") && identity &&
                   (iequals(ct.subtype, "rfc822") || iequals(ct.subtype, "global"));
    if ((boundary == nullptr || boundary->empty()) && !message) {
      return body;  // a leaf (a multipart without a boundary has no parts to find)
    }
    if (part->depth + 1 > limits_.max_depth) {
      part->degraded.depth = true;
      part->content_type = ContentType{};
      tree_.degraded_ = true;
      return body;
    }
    if (tree_.parts_.size() >= limits_.max_parts) {
      part->degraded.part_count = true;
      tree_.degraded_ = true;
      if (message) {
        part->content_type = ContentType{};
        return body;
      }
    }
    if (message) {
      part->kind = PartKind::kMessage;
      std::uint32_t depth = part->depth + 1;
      part->children.push_back(static_cast<PartIndex>(tree_.parts_.size()));
      return start_part(index, depth, body, false);
    }
    part->kind = PartKind::kMultipart;
    part->boundary = *boundary;
    part->preamble = Range{body, body};
    if (!part->degraded.part_count) {
      active_.push_back(Boundary{index, open_.size() - 1, part->boundary});
    }
    return body;
  }

  // Ends every open part deeper than open_[keep] at `end` (LF count `lf_end`).
  void close_open(std::size_t keep, std::size_t end, std::size_t lf_end) {
    while (open_.size() > keep) {
      finish(open_.back(), end, lf_end);
      PartIndex gone = open_.back().part;
      open_.pop_back();
      while (!active_.empty() && active_.back().part == gone) {
        active_.pop_back();
      }
    }
  }

  void finish(const Open& o, std::size_t end, std::size_t lf_end) {
    Part& p = tree_.parts_[o.part];
    if (p.header.end > end) {  // a delimiter took the header's last line end
      p.header.end = end;
      for (auto it = p.fields.rbegin(); it != p.fields.rend() && it->whole.end > end; ++it) {
        it->whole.end = end;
        it->value.end = std::min(it->value.end, end);
        it->name.end = std::min(it->name.end, end);
      }
      p.header_lines =
          count_lf(p.header.begin, end) + ((p.header.size() > 0 && raw_[end - 1] != '\n') ? 1 : 0);
    }
    if (p.body.begin > end) {
      p.body.begin = end;
    }
    p.whole.end = end;
    p.body.end = end;
    std::size_t lf_body = o.lf_at_body > lf_end ? lf_end : o.lf_at_body;
    p.body_lines = lf_end - lf_body + ((p.body.size() > 0 && raw_[end - 1] != '\n') ? 1 : 0);
    if (p.kind == PartKind::kMultipart) {
      if (p.close_delimiter_seen) {
        p.epilogue = Range{o.region_begin < end ? o.region_begin : end, end};
      } else {
        p.epilogue = Range{end, end};
        if (p.children.empty()) {
          p.preamble = Range{p.body.begin, end};
        }
      }
    }
  }

  // A delimiter line for multipart `b` at `pos`. Returns where scanning continues.
  std::size_t on_delimiter(const Boundary& b, std::size_t pos, std::size_t line_end) {
    const Open& innermost = open_.back();
    // RFC 2046 §5.1.1: the line end before the delimiter is part of it, even when it
    // is the blank line that ended a part's header (Dovecot gives BODY[n.MIME]
    // without that blank line then). Only a multipart's own first delimiter right
    // after its header leaves the header whole (the preamble is absent, not a CRLF),
    // and an epilogue keeps the close line's line end.
    const Part& inner = tree_.parts_[innermost.part];
    bool own_region = innermost.part == b.part || inner.close_delimiter_seen;
    std::size_t floor = own_region ? innermost.claim_floor : inner.whole.begin;
    std::size_t end = pos;
    std::size_t lf_end = lf_;
    if (end > floor && raw_[end - 1] == '\n') {
      --end;
      --lf_end;
      if (end > floor && raw_[end - 1] == '\r') {
        --end;
      }
    }
    PartIndex mp = b.part;
    std::size_t mp_open = b.open_index;
    bool close = line_end - pos >= b.text.size() + 4 && raw_[pos + 2 + b.text.size()] == '-' &&
                 raw_[pos + 3 + b.text.size()] == '-';
    std::size_t after = line_end;
    std::size_t lf_after = lf_ + ((line_end > pos && raw_[line_end - 1] == '\n') ? 1 : 0);

    if (!close && tree_.parts_.size() >= limits_.max_parts) {
      // Out of parts: this multipart is split no further; its last child (or its
      // preamble) runs on, boundary lines included.
      tree_.parts_[mp].degraded.part_count = true;
      tree_.degraded_ = true;
      for (std::size_t i = 0; i < active_.size(); ++i) {
        if (active_[i].part == mp) {
          active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      }
      lf_ = lf_after;
      return after;
    }

    close_open(mp_open + 1, end, lf_end);
    Part& multipart = tree_.parts_[mp];
    if (multipart.children.empty() && !multipart.close_delimiter_seen) {
      multipart.preamble = Range{multipart.body.begin, end};
    }
    lf_ = lf_after;
    if (close) {
      multipart.close_delimiter_seen = true;
      // After the close delimiter the boundary no longer delimits (RFC 2046 §5.1.1:
      // the epilogue is to be ignored), so drop it from the active set.
      while (!active_.empty() && active_.back().part == mp) {
        active_.pop_back();
      }
      // The close line keeps its line end: an outer delimiter that follows at once
      // claims nothing from it (Dovecot ends the part after "--b--" CRLF).
      open_[mp_open].region_begin = after;
      open_[mp_open].claim_floor = after;
      return after;
    }
    PartIndex child = static_cast<PartIndex>(tree_.parts_.size());
    multipart.children.push_back(child);
    bool digest = iequals(multipart.content_type.subtype, "digest");
    return start_part(mp, multipart.depth + 1, after, digest);
  }

  std::string_view raw_;
  const ParseLimits& limits_;
  MessageTree tree_;
  std::vector<Open> open_;
  std::vector<Boundary> active_;
  std::size_t lf_ = 0;
};

MessageTree parse_message(std::string_view raw, const ParseLimits& limits) {
  return TreeBuilder(raw, limits).build();
}

}  // namespace tern::mime
