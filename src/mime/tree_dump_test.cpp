// SPDX-License-Identifier: Apache-2.0
// mime_tree_dump FILE [lf|crlf]: prints the parsed tree of a message file as JSON,
// for the corpus comparisons in corpus_test.py. With `lf` every CR is deleted first,
// with `crlf` every bare LF becomes CRLF (the two forms mail-parser was run on).
// Offsets refer to the converted bytes. A test tool, built only with the tests.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "base/escape.hpp"
#include "mime/charset.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"
#include "mime/tree_check.hpp"

namespace {

using namespace tern::mime;

// Names and values as JSON strings, invalid UTF-8 replaced first so the dump
// stays valid JSON.
std::string json_string(std::string_view s) {
  return tern::json_string(sanitize_utf8(s));
}

std::string range(Range r) {
  return "[" + std::to_string(r.begin) + "," + std::to_string(r.end) + "]";
}

std::string params_json(const std::vector<Parameter>& params) {
  std::string out = "{";
  for (std::size_t i = 0; i < params.size(); ++i) {
    out += (i ? "," : "") + json_string(params[i].name) + ":" + json_string(params[i].value);
  }
  return out + "}";
}

const char* kind_name(PartKind k) {
  switch (k) {
    case PartKind::kLeaf:
      return "leaf";
    case PartKind::kMultipart:
      return "multipart";
    case PartKind::kMessage:
      return "message";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: mime_tree_dump FILE [lf|crlf]\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string raw = ss.str();
  std::string mode = argc > 2 ? argv[2] : "";
  if (mode == "lf" || mode == "crlf") {
    std::string lf;
    for (char c : raw) {
      if (c != '\r') {
        lf.push_back(c);
      }
    }
    raw.clear();
    for (char c : lf) {
      if (c == '\n' && mode == "crlf") {
        raw.push_back('\r');
      }
      raw.push_back(c);
    }
  }
  MessageTree tree = parse_message(raw);
  auto problem = find_inconsistency(tree);
  std::string out = "{\"size\":" + std::to_string(raw.size()) +
                    ",\"problem\":" + (problem ? json_string(*problem) : "null") + ",\"parts\":[";
  for (std::size_t i = 0; i < tree.parts().size(); ++i) {
    const Part& p = tree.parts()[i];
    out += i ? "," : "";
    out += "{\"kind\":\"" + std::string(kind_name(p.kind)) + "\"";
    out += ",\"parent\":" + (p.parent == kNoPart ? std::string("null") : std::to_string(p.parent));
    out += ",\"type\":" + json_string(p.content_type.type);
    out += ",\"subtype\":" + json_string(p.content_type.subtype);
    out += ",\"from_header\":" + std::string(p.content_type.from_header ? "true" : "false");
    out += ",\"params\":" + params_json(p.content_type.params);
    if (p.disposition) {
      out += ",\"disposition\":" + json_string(p.disposition->type);
      out += ",\"disposition_params\":" + params_json(p.disposition->params);
    }
    out += ",\"whole\":" + range(p.whole) + ",\"header\":" + range(p.header) +
           ",\"body\":" + range(p.body);
    out += ",\"header_lines\":" + std::to_string(p.header_lines) +
           ",\"body_lines\":" + std::to_string(p.body_lines);
    if (p.kind == PartKind::kMultipart) {
      out += ",\"boundary\":" + json_string(p.boundary) + ",\"preamble\":" + range(p.preamble) +
             ",\"epilogue\":" + range(p.epilogue);
    }
    out += ",\"children\":[";
    for (std::size_t c = 0; c < p.children.size(); ++c) {
      out += (c ? "," : "") + std::to_string(p.children[c]);
    }
    out += "],\"fields\":[";
    for (std::size_t f = 0; f < p.fields.size(); ++f) {
      const HeaderField& field = p.fields[f];
      out += (f ? "," : "") + std::string("[") + json_string(field.name.in(raw)) + "," +
             json_string(decode_words(field.value.in(raw))) + "]";
    }
    out += "]";
    if (p.kind == PartKind::kLeaf) {
      std::string decoded = decode_transfer(p.body.in(raw), p.encoding);
      const std::string* charset = p.content_type.param("charset");
      out += ",\"decoded_base64\":" + json_string(encode_base64(decoded));
      out += ",\"text\":" + json_string(to_utf8(decoded, charset ? *charset : ""));
    }
    out += "}";
  }
  out += "]}\n";
  std::cout << out;
  return 0;
}
