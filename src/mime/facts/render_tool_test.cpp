// SPDX-License-Identifier: Apache-2.0
// mime_facts_render: prints the FETCH items tern serves for a message file, the way
// the IMAP server sends them after "* n FETCH (". A test tool (built with the tests)
// for the Dovecot differential test and for looking at a message by hand:
//
//   mime_facts_render MESSAGE [ITEM...]
//
// ITEMs: ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE PREVIEW BODY[section]<o.n>
// BINARY[part] BINARY.SIZE[part]; default "ENVELOPE BODYSTRUCTURE BODY[1.MIME]
// BINARY.SIZE[1]". Everything is rendered from facts that went through
// encode_facts()/decode_facts(), so it is what a stored message serves.
// Exit status: 0 ok, 1 usage or I/O error, 3 when an item fails (UNKNOWN-CTE, bad
// section); the reason is on stderr.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "mime/facts/facts.hpp"
#include "mime/facts/imap_string.hpp"
#include "mime/facts/section.hpp"

namespace {

using namespace tern::mime::facts;

struct Item {
  std::string name;     // BODY, BINARY, BINARY.SIZE
  std::string section;  // between [ and ]
  std::optional<std::uint64_t> origin;
  std::optional<std::uint64_t> length;
};

bool parse_item(const std::string& text, Item& item) {
  const std::size_t open = text.find('[');
  if (open == std::string::npos) {
    item.name = text;
    return true;
  }
  const std::size_t close = text.rfind(']');
  if (close == std::string::npos || close < open) {
    return false;
  }
  item.name = text.substr(0, open);
  item.section = text.substr(open + 1, close - open - 1);
  const std::string rest = text.substr(close + 1);
  if (!rest.empty()) {
    std::uint64_t o = 0;
    std::uint64_t n = 0;
    if (std::sscanf(rest.c_str(), "<%lu.%lu>", &o, &n) == 2) {
      item.origin = o;
      item.length = n;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: mime_facts_render MESSAGE [ITEM...]\n";
    return 1;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 1;
  }
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> items(argv + 2, argv + argc);
  if (items.empty()) {
    items = {"ENVELOPE", "BODYSTRUCTURE", "BODY[1.MIME]", "BINARY.SIZE[1]"};
  }
  auto stored = decode_facts(encode_facts(compute_facts(raw)));
  if (!stored) {
    std::cerr << "facts round trip failed: " << stored.error().message << "\n";
    return 1;
  }
  const Facts& facts = *stored;
  std::string out;
  int status = 0;
  for (const std::string& text : items) {
    Item item;
    if (!parse_item(text, item)) {
      std::cerr << "bad item " << text << "\n";
      return 1;
    }
    std::string rendered;
    if (item.name == "ENVELOPE") {
      rendered = "ENVELOPE " + facts.envelope;
    } else if (item.name == "BODY" && text == "BODY") {
      rendered = "BODY " + facts.body;
    } else if (item.name == "BODYSTRUCTURE") {
      rendered = "BODYSTRUCTURE " + facts.bodystructure;
    } else if (item.name == "RFC822.SIZE") {
      rendered = "RFC822.SIZE ";
      append_number(rendered, facts.size);
    } else if (item.name == "PREVIEW") {
      rendered = "PREVIEW ";
      append_string(rendered, facts.preview);
    } else {
      auto section = parse_section(item.section);
      std::vector<std::uint32_t> part = section ? section->part : std::vector<std::uint32_t>{};
      tern::Result<std::string> octets = tern::fail(tern::ErrorCode::kInvalidInput, "bad item");
      if (item.name == "BODY" && section) {
        octets = body_section(raw, facts, *section);
      } else if (item.name == "BINARY" && section && section->text == SectionText::kNone) {
        octets = binary_section(raw, facts, part);
      } else if (item.name == "BINARY.SIZE" && section && section->text == SectionText::kNone) {
        auto size = binary_size(facts, part);
        if (!size && size.error().code == tern::ErrorCode::kNotFound) {
          size = 0;  // a missing part is empty, as Dovecot answers
        }
        if (!size) {
          std::cerr << text << ": " << size.error().message << "\n";
          status = 3;
          continue;
        }
        rendered = "BINARY.SIZE[" + item.section + "] ";
        append_number(rendered, *size);
      } else {
        std::cerr << text << ": bad item\n";
        status = 3;
        continue;
      }
      if (rendered.empty()) {
        rendered = item.name + "[" + item.section + "]";
        if (item.origin) {
          rendered += "<";
          append_number(rendered, *item.origin);
          rendered += ">";
        }
        rendered += " ";
        if (!octets) {
          if (octets.error().code != tern::ErrorCode::kNotFound) {
            std::cerr << text << ": " << octets.error().message << "\n";
            status = 3;
            continue;
          }
          rendered += "{0}\r\n";  // a missing part is empty, as Dovecot answers
        } else {
          const std::string_view value =
              item.origin ? partial(*octets, *item.origin, item.length) : *octets;
          // Section contents are always sent as a literal, like Dovecot does.
          rendered += "{";
          append_number(rendered, value.size());
          rendered += "}\r\n";
          rendered.append(value);
        }
      }
    }
    if (!out.empty()) {
      out.push_back(' ');
    }
    out += rendered;
  }
  std::cout << out;
  return status;
}
