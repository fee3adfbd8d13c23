// SPDX-License-Identifier: Apache-2.0
#include "runtime/system_clock.hpp"

#include <array>
#include <set>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/connection.hpp"
#include "runtime/privileges.hpp"

namespace tern::runtime {
namespace {

TEST(SystemClock, MonotonicNeverGoesBack) {
  SystemClock clock;
  auto a = clock.monotonic();
  auto b = clock.monotonic();
  EXPECT_LE(a, b);
  EXPECT_GT(to_unix_seconds(clock.now()), 1'600'000'000);
}

TEST(LocalZone, FollowsTz) {
  // 2024-07-01 12:00 UTC: summer time in Berlin (+02:00); New York is -04:00.
  const SystemTime july = from_unix_seconds(1719835200);
  const char* saved = std::getenv("TZ");
  std::string restore = saved != nullptr ? saved : "";
  ::setenv("TZ", "Europe/Berlin", 1);
  ::tzset();
  EXPECT_EQ(local_zone_minutes(july), 120);
  ::setenv("TZ", "America/New_York", 1);
  ::tzset();
  EXPECT_EQ(local_zone_minutes(july), -240);
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(local_zone_minutes(july), 0);
  if (saved != nullptr) {
    ::setenv("TZ", restore.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(SystemRandom, FillsBuffersWithDifferentBytes) {
  SystemRandom random;
  std::array<std::uint8_t, 32> a{};
  std::array<std::uint8_t, 32> b{};
  random.fill(a);
  random.fill(b);
  EXPECT_NE(a, b);
}

TEST(ConnectionIds, AreShortUniqueAndBase32) {
  ConnectionIds ids;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = ids.next();
    EXPECT_EQ(id.size(), 13u);
    EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ConnectionIds, DifferForDifferentPrefixes) {
  ConnectionIds a(1);
  ConnectionIds b(2);
  EXPECT_NE(a.next(), b.next());
}

TEST(DropPrivileges, UnknownUserIsNotFound) {
  auto result = drop_privileges("no-such-user-tern", "");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(result.error().message, "drop privileges: unknown user no-such-user-tern");
}

TEST(DropPrivileges, AsRootSwitchesToNobodyAndCannotGoBack) {
  if (geteuid() != 0) {
    // Not root: dropping to another user must fail clearly.
    auto result = drop_privileges("nobody", "");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied);
    return;
  }
  // The process-wide change happens in a child so the test binary keeps root.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto result = drop_privileges("nobody", "nogroup");
    bool dropped = result && geteuid() != 0 && getuid() != 0 && setuid(0) != 0;
    _exit(dropped ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace tern::runtime
