// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/downgrade.hpp"

#include <algorithm>
#include <vector>

#include "mime/message.hpp"
#include "mime/transfer.hpp"

namespace tern::services::delivery {

namespace {

constexpr std::string_view kQpField = "Content-Transfer-Encoding: quoted-printable\r\n";
constexpr std::string_view k7BitField = "Content-Transfer-Encoding: 7bit\r\n";

bool has_8bit(std::string_view bytes) {
  return std::any_of(bytes.begin(), bytes.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

struct Edit {
  std::size_t begin = 0;
  std::size_t end = 0;  // == begin for an insertion
  std::string text;
};

// Replaces the part's Content-Transfer-Encoding field, or adds one just before
// the blank line that ends its header.
void set_encoding(std::string_view raw, const mime::Part& part, std::string_view field,
                  std::vector<Edit>& edits) {
  if (const mime::HeaderField* cte = part.field(raw, "Content-Transfer-Encoding")) {
    edits.push_back({cte->whole.begin, cte->whole.end, std::string(field)});
    return;
  }
  const std::string_view header = part.header.in(raw);
  std::size_t at = part.header.end;
  if (header.ends_with("\r\n\r\n")) {
    at -= 2;
  } else if (header.ends_with("\n\n")) {
    at -= 1;
  } else if (header.empty()) {
    at = part.whole.begin;  // no fields: the part starts with its blank line
  }
  edits.push_back({at, at, std::string(field)});
}

}  // namespace

std::optional<std::string> downgrade_to_7bit(std::string_view raw) {
  const mime::MessageTree tree = mime::parse_message(raw);
  std::vector<Edit> edits;
  for (const mime::Part& part : tree.parts()) {
    if (has_8bit(part.header.in(raw))) {
      return std::nullopt;  // RFC 6532 headers need SMTPUTF8, not a downgrade
    }
    const bool eight_bit_label = part.encoding == mime::TransferEncoding::k8Bit ||
                                 part.encoding == mime::TransferEncoding::kBinary;
    if (part.kind != mime::PartKind::kLeaf) {
      if (eight_bit_label) {
        set_encoding(raw, part, k7BitField, edits);
      }
      continue;
    }
    const std::string_view body = part.body.in(raw);
    if (!has_8bit(body)) {
      continue;
    }
    if (part.encoding != mime::TransferEncoding::k8Bit &&
        part.encoding != mime::TransferEncoding::k7Bit) {
      return std::nullopt;
    }
    set_encoding(raw, part, kQpField, edits);
    edits.push_back({part.body.begin, part.body.end, mime::encode_quoted_printable(body)});
  }
  std::stable_sort(edits.begin(), edits.end(),
                   [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(raw.size() + raw.size() / 4);
  std::size_t pos = 0;
  for (const Edit& edit : edits) {
    out.append(raw.substr(pos, edit.begin - pos));
    out += edit.text;
    pos = edit.end;
  }
  out.append(raw.substr(pos));
  return out;
}

}  // namespace tern::services::delivery
