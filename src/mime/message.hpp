// SPDX-License-Identifier: Apache-2.0
// mime::MessageTree: an offset-based MIME tree over raw message bytes (RFC 5322,
// RFC 2045, RFC 2046). Parts point into the caller's buffer; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::mime {

// A half-open byte range [begin, end) into the raw message given to parse_message().
struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;

  std::size_t size() const { return end - begin; }

  bool empty() const { return begin == end; }

  // The bytes of this range in `raw`. Requires: `raw` is the buffer the tree was
  // parsed from.
  std::string_view in(std::string_view raw) const { return raw.substr(begin, end - begin); }

  bool operator==(const Range&) const = default;
};

// One header field as it appears in the message.
struct HeaderField {
  Range name;   // the field name, without the colon and without trailing blanks
  Range value;  // everything after the colon up to the field's final line end, folding
                // kept (so leading blanks and embedded CRLF/LF + WSP are included)
  Range whole;  // the whole field including its final line end
};

// A MIME parameter (RFC 2045 §5.1), after RFC 2231 continuations are joined and
// its charset is converted.
struct Parameter {
  std::string name;      // lower case, without any RFC 2231 `*N*` suffix
  std::string value;     // UTF-8 (RFC 2231 charset converted; RFC 2047 words decoded in
                         // name/filename, a common non-standard form); quotes and
                         // escapes removed. `boundary` is kept byte for byte.
  std::string charset;   // the RFC 2231 charset as written, empty when none
  std::string language;  // the RFC 2231 language tag, empty when none
};

// Content-Type (RFC 2045 §5). When the field is absent or unusable, the RFC 2045 §5.2
// default applies: text/plain; charset=us-ascii, or message/rfc822 inside
// multipart/digest (RFC 2046 §5.1.5).
struct ContentType {
  std::string type = "text";      // lower case
  std::string subtype = "plain";  // lower case
  std::vector<Parameter> params;  // in order of appearance, names lower case
  bool from_header = false;       // false when the default was applied

  // The value of parameter `name` (ASCII case-insensitive), or nullptr.
  const std::string* param(std::string_view name) const;

  // True when type/subtype equal `type`/`subtype` (ASCII case-insensitive).
  bool is(std::string_view type, std::string_view subtype) const;
};

// Content-Disposition (RFC 2183), when present.
struct ContentDisposition {
  std::string type;  // lower case: "inline", "attachment", ...
  std::vector<Parameter> params;

  const std::string* param(std::string_view name) const;
};

// Content-Transfer-Encoding (RFC 2045 §6). kUnknown keeps the body as is; readers
// treat it as 8bit-ish opaque data (RFC 2045 §6.4).
enum class TransferEncoding : std::uint8_t {
  k7Bit,  // also the default when the field is absent
  k8Bit,
  kBinary,
  kQuotedPrintable,
  kBase64,
  kUuencode,  // "x-uuencode", "uuencode", "x-uue": common in the wild, not an RFC value
  kUnknown,
};

// What a part holds.
enum class PartKind : std::uint8_t {
  kLeaf,       // a single body (text, image, application, ...)
  kMultipart,  // multipart/*: children are the body parts between the boundaries
  kMessage,    // message/rfc822 or message/global: exactly one child, the encapsulated
               // message (its header and body); see Part::children
};

// Why a part was degraded by ParseLimits; all false for an ordinary part.
struct Degraded {
  bool depth = false;        // nested too deep: a multipart/message kept as an opaque
                             // leaf with the default text/plain content type
  bool part_count = false;   // the part budget ran out while splitting this multipart; its
                             // last child runs to the end of its body
  bool header_size = false;  // header block above max_header_bytes: later fields not indexed
  bool field_size = false;   // a field above max_field_bytes was skipped (still in `header`)

  bool any() const { return depth || part_count || header_size || field_size; }
};

// Index of a part in MessageTree::parts().
using PartIndex = std::uint32_t;
inline constexpr PartIndex kNoPart = 0xffffffffu;

// One MIME entity. Part 0 is the whole message. Offsets refer to the raw message.
//
// Layout of a body part inside a multipart (RFC 2046 §5.1.1): the line end before a
// boundary delimiter belongs to the delimiter, so `whole` ends just before it.
//
//   whole   = header + body
//   header  = the header fields and the blank line that ends them (empty when the
//             part starts with a blank line; when no blank line exists, the header
//             runs to the end of the part and body is empty at the end)
//   body    = after the blank line to the end of the part
struct Part {
  PartKind kind = PartKind::kLeaf;
  PartIndex parent = kNoPart;  // kNoPart for part 0
  std::uint32_t depth = 0;     // 0 for part 0; +1 per multipart or message level

  Range whole;
  Range header;
  Range body;

  // Header fields in order. Lines that are not fields (no colon, a name with
  // illegal characters) are not listed but stay inside `header`.
  std::vector<HeaderField> fields;

  ContentType content_type;
  std::optional<ContentDisposition> disposition;
  TransferEncoding encoding = TransferEncoding::k7Bit;
  Range encoding_value;  // raw Content-Transfer-Encoding value, empty when absent

  // Raw values (as HeaderField::value, folding kept) of the first field of each name;
  // std::nullopt when the field is absent.
  std::optional<Range> content_id;           // RFC 2045 §7
  std::optional<Range> content_description;  // RFC 2045 §8
  std::optional<Range> content_language;     // RFC 3282
  std::optional<Range> content_location;     // RFC 2557
  std::optional<Range> content_md5;          // RFC 1864

  // kMultipart: the boundary (unquoted), the body parts in order, and the text
  // before the first and after the close delimiter. preamble is empty when the body
  // starts with a delimiter; epilogue is empty when the close delimiter is missing
  // (then the last child runs to the end of the body).
  std::string boundary;
  Range preamble;
  Range epilogue;
  bool close_delimiter_seen = false;

  // kMultipart: the body parts. kMessage: one index, the encapsulated message, whose
  // whole == this part's body, whose header is the embedded header and whose body is
  // the embedded body (multipart or leaf). kLeaf: empty.
  std::vector<PartIndex> children;

  // Line counts: the number of LF bytes in the range, plus one when the range is
  // non-empty and does not end with LF (a final line without line end still counts).
  std::size_t header_lines = 0;
  std::size_t body_lines = 0;

  Degraded degraded;

  // The first header field named `name` (ASCII case-insensitive), or nullptr.
  // Requires: `raw` is the buffer this part was parsed from.
  const HeaderField* field(std::string_view raw, std::string_view name) const;
};

// Resource limits for parse_message(). Exceeding any gives a degraded but complete
// tree (Part::degraded says where), never an error: every byte of the message is
// still covered by some part.
// Line length needs no limit of its own: the parser never buffers a line (lines are
// found with memchr and only offsets are kept), and a header line counts against
// max_field_bytes and max_header_bytes.
struct ParseLimits {
  std::uint32_t max_depth = 50;              // multipart/message nesting; deeper is a leaf
  std::uint32_t max_parts = 10000;           // total parts in the tree (Dovecot's default)
  std::size_t max_header_bytes = 1 << 20;    // per header block; later fields not indexed
  std::size_t max_field_bytes = 256 * 1024;  // per field (all its folded lines)
  std::size_t max_fields = 10000;            // per header block; later fields not indexed
};

// A parsed message. Holds a view of the raw bytes: `raw` must outlive the tree and
// must not change while the tree is used. Movable, copyable, immutable after parsing.
class MessageTree {
 public:
  MessageTree() = default;

  std::string_view raw() const { return raw_; }

  // All parts in depth-first pre-order (a parent before its children; siblings in
  // order). Part 0 is the message.
  const std::vector<Part>& parts() const { return parts_; }

  const Part& root() const { return parts_.front(); }

  const Part& part(PartIndex index) const { return parts_[index]; }

  // True when any part was degraded by the limits.
  bool degraded() const { return degraded_; }

  // The maximum Part::depth in the tree.
  std::uint32_t max_depth() const { return max_depth_; }

 private:
  friend class TreeBuilder;
  std::string_view raw_;
  std::vector<Part> parts_;
  bool degraded_ = false;
  std::uint32_t max_depth_ = 0;
};

// Parses `raw` into a tree. Never fails: any byte string gives a tree whose part 0
// covers all of `raw` (an empty string gives one empty text/plain part). Lenient like
// deployed clients (RFC 2045/2046 leave error handling to the reader): LF-only line
// ends, missing close delimiters (the last part runs to the end), boundaries in
// quotes, junk after a delimiter's blanks, 8-bit bytes in headers, missing blank
// line after the header. A boundary line of any ancestor multipart also ends an
// inner one (as Dovecot and GMime do). Time is linear in the size of `raw` times the
// nesting depth; memory is bounded by `limits`.
// Lifetime: the tree refers to `raw`; `raw` must outlive it.
MessageTree parse_message(std::string_view raw, const ParseLimits& limits = {});

// ASCII case-insensitive equality for field names and tokens.
bool iequals(std::string_view a, std::string_view b);

}  // namespace tern::mime
