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
  fill_summary(s, {true, "env", "hdr", "", ""}, kSummaryEnvelope | kSummarySearchHeaders);
  EXPECT_TRUE(s.has_envelope);
  EXPECT_TRUE(s.has_search);
  EXPECT_EQ(s.envelope, "env");
  EXPECT_EQ(s.search_headers, "hdr");

  MessageSummary envelope_only;
  fill_summary(envelope_only, {true, "env", "", "", ""}, kSummaryEnvelope);
  EXPECT_TRUE(envelope_only.has_envelope);
  EXPECT_FALSE(envelope_only.has_search);  // no search part was asked for
}

TEST(FillSummary, AWholeRecordIsSplitIntoTheAskedParts) {
  auto split = mime::facts::split_facts(record());
  ASSERT_TRUE(split);
  MessageSummary s;
  fill_summary(s, {false, "", "", "", record()}, kSummaryEnvelope | kSummarySearchText);
  EXPECT_TRUE(s.has_envelope);
  EXPECT_EQ(s.has_search, split->has_search);
  EXPECT_EQ(s.envelope, split->envelope);
  EXPECT_EQ(s.search_text, split->search_text);
  EXPECT_TRUE(s.search_headers.empty());  // not asked for
  EXPECT_TRUE(s.facts.empty());

  MessageSummary with_facts;
  fill_summary(with_facts, {false, "", "", "", record()}, kSummaryFacts);
  EXPECT_EQ(with_facts.facts, split->record);
  EXPECT_TRUE(with_facts.envelope.empty());
}

TEST(FillSummary, UnreadableFactsStayAsTheyAre) {
  MessageSummary s;
  fill_summary(s, {false, "", "", "", "not a record"}, kSummaryEnvelope);
  EXPECT_FALSE(s.has_envelope);
  EXPECT_FALSE(s.has_search);
  EXPECT_EQ(s.facts, "not a record");
  EXPECT_TRUE(s.envelope.empty());
}

}  // namespace
}  // namespace tern::domain
