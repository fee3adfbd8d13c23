// SPDX-License-Identifier: Apache-2.0
#include "base/result.hpp"

#include <gtest/gtest.h>

namespace tern {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) {
    return fail(ErrorCode::kInvalidInput, "not positive");
  }
  return v;
}

Result<int> doubled(int v) {
  TERN_TRY(int x, parse_positive(v));
  return x * 2;
}

TEST(Result, CarriesValueOrError) {
  EXPECT_EQ(*parse_positive(3), 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidInput);
}

TEST(Result, TryPropagatesErrors) {
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_EQ(doubled(0).error().message, "not positive");
}

TEST(Result, ContextIsPrefixed) {
  Error e{ErrorCode::kIo, "disk full"};
  EXPECT_EQ(e.with_context("append").message, "append: disk full");
  EXPECT_EQ(error_code_name(ErrorCode::kLimitExceeded), "limit_exceeded");
}

}  // namespace
}  // namespace tern
