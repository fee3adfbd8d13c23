// SPDX-License-Identifier: Apache-2.0
#include "domain/summary.hpp"

#include <gtest/gtest.h>

#include "mime/facts/facts.hpp"

namespace tern::domain {
namespace {

std::string record() {
  return mime::facts::encode_facts(
      mime::facts::compute_facts("From: a@example.org\r\nSubject: Hello\r\n\r\nbody text\r\n"));
}

TEST(FillSummary, PartsPresentAreTakenAsTheyAre) {
  MessageSummary s;
  fill_summary(s, {true, "env", "hdr", "", "", std::nullopt},
               kSummaryEnvelope | kSummarySearchHeaders);
  EXPECT_TRUE(s.has_envelope);
  EXPECT_TRUE(s.has_search);
  EXPECT_EQ(s.envelope, "env");
  EXPECT_EQ(s.search_headers, "hdr");

  MessageSummary envelope_only;
  fill_summary(envelope_only, {true, "env", "", "", "", std::nullopt}, kSummaryEnvelope);
  EXPECT_TRUE(envelope_only.has_envelope);
  EXPECT_FALSE(envelope_only.has_search);  // no search part was asked for
  EXPECT_FALSE(envelope_only.has_order);
}

TEST(FillSummary, OrderKeysWhenAskedForAndStored) {
  MessageSummary s;
  fill_summary(s, {true, "env", "", "", "", "keys"}, kSummaryEnvelope | kSummaryOrder);
  EXPECT_TRUE(s.has_order);
  EXPECT_EQ(s.order, "keys");

  MessageSummary before_keys;  // stored before order keys: NULL
  fill_summary(before_keys, {true, "env", "", "", "", std::nullopt}, kSummaryOrder);
  EXPECT_FALSE(before_keys.has_order);

  MessageSummary not_asked;
  fill_summary(not_asked, {true, "env", "", "", "", "keys"}, kSummaryEnvelope);
  EXPECT_FALSE(not_asked.has_order);
  EXPECT_TRUE(not_asked.order.empty());

  auto split = mime::facts::split_facts(record());
  ASSERT_TRUE(split);
  ASSERT_TRUE(split->has_order);
  MessageSummary whole;  // a whole record split on the fly
  fill_summary(whole, {false, "", "", "", record(), std::nullopt}, kSummaryOrder);
  EXPECT_TRUE(whole.has_order);
  EXPECT_EQ(whole.order, split->order);
}

TEST(FillSummary, AWholeRecordIsSplitIntoTheAskedParts) {
  auto split = mime::facts::split_facts(record());
  ASSERT_TRUE(split);
  MessageSummary s;
  fill_summary(s, {false, "", "", "", record(), std::nullopt},
               kSummaryEnvelope | kSummarySearchText);
  EXPECT_TRUE(s.has_envelope);
  EXPECT_EQ(s.has_search, split->has_search);
  EXPECT_EQ(s.envelope, split->envelope);
  EXPECT_EQ(s.search_text, split->search_text);
  EXPECT_TRUE(s.search_headers.empty());  // not asked for
  EXPECT_TRUE(s.facts.empty());

  MessageSummary with_facts;
  fill_summary(with_facts, {false, "", "", "", record(), std::nullopt}, kSummaryFacts);
  EXPECT_EQ(with_facts.facts, split->record);
  EXPECT_TRUE(with_facts.envelope.empty());
}

TEST(FillSummary, UnreadableFactsStayAsTheyAre) {
  MessageSummary s;
  fill_summary(s, {false, "", "", "", "not a record", std::nullopt}, kSummaryEnvelope);
  EXPECT_FALSE(s.has_envelope);
  EXPECT_FALSE(s.has_search);
  EXPECT_EQ(s.facts, "not a record");
  EXPECT_TRUE(s.envelope.empty());
}

}  // namespace
}  // namespace tern::domain
