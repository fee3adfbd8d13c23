// SPDX-License-Identifier: Apache-2.0
#include "base/escape.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("plain text"), "\"plain text\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("l1\r\nl2\tx"), "\"l1\\r\\nl2\\tx\"");
  EXPECT_EQ(json_string(std::string("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
}

TEST(JsonString, KeepsUtf8AndOtherBytes) {
  EXPECT_EQ(json_string("J\xc3\xb6rg \xe2\x82\xac /<>"), "\"J\xc3\xb6rg \xe2\x82\xac /<>\"");
}

TEST(AppendEscaped, HexStyleWritesControlsAsBackslashX) {
  std::string out = "k=";
  append_escaped(out, std::string("a\x01\"\n\x7f", 5), ControlEscape::kHex);
  EXPECT_EQ(out, "k=a\\x01\\\"\\n\\x7f");
}

TEST(AppendJsonString, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  out += '}';
  EXPECT_EQ(out, "{\"k\":\"v\"}");
}

}  // namespace
}  // namespace tern
