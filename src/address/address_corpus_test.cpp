// SPDX-License-Identifier: Apache-2.0
// Compares parse_address_list() with Stalwart mail-parser's expected parses of the
// From/To/Cc/Reply-To fields in ../shared/testdata/mime/mail-parser (read in place,
// never copied; see that folder's README).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "address/address_list.hpp"
#include "address/detail/syntax.hpp"
#include "address/domain.hpp"

namespace tern::address {
namespace {

namespace fs = std::filesystem;

// Just enough JSON for the fixture files: objects, arrays, strings, numbers,
// true/false/null. A malformed file fails the test.
struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  std::string text;  // string value, or the number's digits
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* find(std::string_view key) const {
    for (const auto& [name, value] : members) {
      if (name == key) {
        return &value;
      }
    }
    return nullptr;
  }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : s_(text) {}

  bool read(Json& out) {
    skip();
    if (pos_ >= s_.size()) {
      return false;
    }
    char c = s_[pos_];
    if (c == '{') {
      out.kind = Json::Kind::kObject;
      ++pos_;
      skip();
      if (take('}')) {
        return true;
      }
      do {
        Json key;
        skip();
        if (!read_string(key.text) || (skip(), !take(':'))) {
          return false;
        }
        Json value;
        if (!read(value)) {
          return false;
        }
        out.members.emplace_back(std::move(key.text), std::move(value));
        skip();
      } while (take(','));
      return take('}');
    }
    if (c == '[') {
      out.kind = Json::Kind::kArray;
      ++pos_;
      skip();
      if (take(']')) {
        return true;
      }
      do {
        Json value;
        if (!read(value)) {
          return false;
        }
        out.items.push_back(std::move(value));
        skip();
      } while (take(','));
      return take(']');
    }
    if (c == '"') {
      out.kind = Json::Kind::kString;
      return read_string(out.text);
    }
    for (std::string_view word : {"null", "true", "false"}) {
      if (s_.substr(pos_, word.size()) == word) {
        out.kind = word == "null" ? Json::Kind::kNull : Json::Kind::kBool;
        out.text = std::string(word);
        pos_ += word.size();
        return true;
      }
    }
    out.kind = Json::Kind::kNumber;
    std::size_t start = pos_;
    while (pos_ < s_.size() &&
           std::string_view("+-.0123456789eE").find(s_[pos_]) != std::string_view::npos) {
      ++pos_;
    }
    out.text = std::string(s_.substr(start, pos_ - start));
    return pos_ > start;
  }

 private:
  void skip() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool take(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool read_hex4(std::uint32_t& out) {
    if (pos_ + 4 > s_.size()) {
      return false;
    }
    out = static_cast<std::uint32_t>(std::stoul(std::string(s_.substr(pos_, 4)), nullptr, 16));
    pos_ += 4;
    return true;
  }

  bool read_string(std::string& out) {
    if (!take('"')) {
      return false;
    }
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') {
        return true;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) {
        return false;
      }
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!read_hex4(cp)) {
            return false;
          }
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            std::uint32_t low = 0;
            if (!read_hex4(low)) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          out += e;
          break;
      }
    }
    return false;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

fs::path testdata_dir() {
  const char* source = std::getenv("TERN_SOURCE_DIR");
  fs::path root = source != nullptr ? fs::path(source) : fs::path(TERN_TEST_SOURCE_DIR);
  return root / ".." / "shared" / "testdata" / "mime" / "mail-parser";
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

std::string lower(std::string_view s) {
  return ascii_lower(s);
}

// mail-parser writes a bare word ("Whomever", `<moderator>`) as a name or as an
// address without "@"; tern, like Dovecot, reads it as a local part with no
// domain (RFC 5322 has no reading for it; Dovecot's ENVELOPE gives
// ("Whomever" ...) no name and mailbox "Whomever"). Both forms compare equal here.
std::string expected_address(const Json& entry) {
  const Json* address = entry.find("address");
  if (address != nullptr && address->kind == Json::Kind::kString) {
    return lower(address->text);
  }
  const Json* name = entry.find("name");
  return name != nullptr && name->kind == Json::Kind::kString ? lower(name->text) : "";
}

std::string tern_address(const Mailbox& m) {
  if (m.domain.empty()) {
    return lower(m.local_part.empty() && m.display_name ? *m.display_name : m.local_part);
  }
  return lower(m.local_part + "@" + m.domain);
}

TEST(AddressCorpus, AgreesWithMailParserOnAddressFields) {
  fs::path dir = testdata_dir();
  if (!fs::is_directory(dir)) {
    if (in_ci()) {
      FAIL() << "conformance data missing under CI: " << dir;
    }
    GTEST_SKIP() << "no third-party test data at " << dir << " (../shared/testdata)";
  }
  std::size_t fields = 0;
  std::size_t names_compared = 0;
  for (const auto& file : fs::recursive_directory_iterator(dir)) {
    std::string path = file.path().string();
    if (file.path().extension() != ".json" || path.ends_with(".crlf.json")) {
      continue;
    }
    fs::path eml_path = file.path();
    eml_path.replace_extension(".eml");
    // The expected parse is of the message with every CR deleted (README).
    std::string eml;
    for (char c : read_file(eml_path)) {
      if (c != '\r') {
        eml += c;
      }
    }
    Json root;
    ASSERT_TRUE(JsonReader(read_file(file.path())).read(root)) << path;
    const Json* parts = root.find("parts");
    ASSERT_NE(parts, nullptr) << path;
    ASSERT_FALSE(parts->items.empty()) << path;
    const Json* headers = parts->items[0].find("headers");
    ASSERT_NE(headers, nullptr) << path;
    for (const Json& header : headers->items) {
      const Json* name = header.find("name");
      const Json* value = header.find("value");
      if (name == nullptr || value == nullptr || name->kind != Json::Kind::kString) {
        continue;
      }
      if (name->text != "from" && name->text != "to" && name->text != "cc" &&
          name->text != "reply_to") {
        continue;
      }
      const Json* address = value->find("Address");
      const Json* list = address != nullptr ? address->find("List") : nullptr;
      if (list == nullptr) {
        continue;
      }
      std::size_t start = std::stoul(header.find("offset_start")->text);
      std::size_t end = std::stoul(header.find("offset_end")->text);
      ASSERT_LE(start, end);
      ASSERT_LE(end, eml.size());
      std::string_view raw = std::string_view(eml).substr(start, end - start);
      SCOPED_TRACE(path + ": " + std::string(raw));
      ++fields;

      auto parsed = parse_address_list(raw);
      auto mailboxes = parsed.mailboxes();
      ASSERT_EQ(mailboxes.size(), list->items.size());
      for (std::size_t i = 0; i < mailboxes.size(); ++i) {
        const Json& entry = list->items[i];
        EXPECT_EQ(tern_address(*mailboxes[i]), expected_address(entry));
        // mail-parser decodes RFC 2047 words and replaces raw 8-bit bytes that
        // are not UTF-8, both the mime component's job; compare names only
        // where there is nothing to decode.
        const Json* expected_name = entry.find("name");
        const Json* expected_addr = entry.find("address");
        if (raw.find("=?") == std::string_view::npos && detail::is_utf8(raw) &&
            expected_name != nullptr && expected_name->kind == Json::Kind::kString &&
            expected_addr != nullptr && expected_addr->kind == Json::Kind::kString) {
          ASSERT_TRUE(mailboxes[i]->display_name.has_value() || !mailboxes[i]->comment.empty());
          std::string ours = mailboxes[i]->display_name.value_or(mailboxes[i]->comment);
          EXPECT_EQ(ours, expected_name->text);
          ++names_compared;
        }
      }
    }
  }
  // The corpus snapshot has 152 such fields; a much smaller count means the
  // walk above silently stopped matching the data layout.
  EXPECT_GE(fields, 150U);
  EXPECT_GE(names_compared, 100U);
}

}  // namespace
}  // namespace tern::address
