// SPDX-License-Identifier: Apache-2.0
// clamd's INSTREAM framing and replies. The replies are ClamAV 1.4's, as
// tests/integration/test_antivirus.py sees them from a real clamd.
#include "clamd/clamd.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern::clamd {
namespace {

using Kind = ScanResult::Kind;

TEST(Clamd, ChunkHeaderIsBigEndian) {
  EXPECT_EQ(chunk_header(0), (std::array<char, 4>{0, 0, 0, 0}));
  EXPECT_EQ(chunk_header(65536), (std::array<char, 4>{0, 1, 0, 0}));
  EXPECT_EQ(chunk_header(0x01020304u), (std::array<char, 4>{1, 2, 3, 4}));
  auto top = chunk_header(0xff000000u);
  EXPECT_EQ(static_cast<unsigned char>(top[0]), 0xffu);
  EXPECT_EQ(kInstream.size(), 10u);
  EXPECT_EQ(kInstream.back(), '\0');
}

TEST(Clamd, CleanAndInfected) {
  EXPECT_EQ(parse_reply(std::string_view("stream: OK\0", 11)), (ScanResult{Kind::kClean, ""}));
  EXPECT_EQ(parse_reply("stream: OK\n"), (ScanResult{Kind::kClean, ""}));
  EXPECT_EQ(parse_reply(std::string_view("stream: Tern.Test.Virus.UNOFFICIAL FOUND\0", 41)),
            (ScanResult{Kind::kInfected, "Tern.Test.Virus.UNOFFICIAL"}));
  EXPECT_EQ(parse_reply("stream: Win.Test.EICAR_HDB-1 FOUND"),
            (ScanResult{Kind::kInfected, "Win.Test.EICAR_HDB-1"}));
}

TEST(Clamd, ErrorsAreNeverClean) {
  auto limit = parse_reply(std::string_view("INSTREAM size limit exceeded. ERROR\0", 36));
  EXPECT_EQ(limit, (ScanResult{Kind::kError, "INSTREAM size limit exceeded."}));
  EXPECT_EQ(parse_reply("stream: Can't allocate memory ERROR").kind, Kind::kError);
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "", std::string_view("\0", 1), "\n", "OK", "stream:OK", "stream: ok", "stream: FOUND",
           "stream:  FOUND", "stream: OKAY", "PONG", " ERROR", "UNKNOWN COMMAND"}) {
    EXPECT_EQ(parse_reply(bad).kind, Kind::kError) << bad;
  }
  EXPECT_EQ(parse_reply("stream: a\x01 FOUND").kind, Kind::kError);
  EXPECT_EQ(parse_reply("stream: " + std::string(2000, 'x') + " FOUND").kind, Kind::kError);
}

}  // namespace
}  // namespace tern::clamd
