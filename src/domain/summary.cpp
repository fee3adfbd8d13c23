// SPDX-License-Identifier: Apache-2.0
#include "domain/summary.hpp"

#include "mime/facts/facts.hpp"

namespace tern::domain {

void fill_summary(MessageSummary& summary, StoredSummary stored, SummaryParts what) {
  if (stored.parts_present) {
    summary.has_envelope = true;
    summary.has_search = (what & (kSummarySearchHeaders | kSummarySearchText)) != 0;
    summary.envelope = std::move(stored.envelope);
    summary.search_headers = std::move(stored.search_headers);
    summary.search_text = std::move(stored.search_text);
    if ((what & kSummaryOrder) != 0 && stored.order) {
      summary.has_order = true;
      summary.order = std::move(*stored.order);
    }
    summary.facts = std::move(stored.facts);
    return;
  }
  auto split = mime::facts::split_facts(stored.facts);
  if (!split) {
    summary.facts = std::move(stored.facts);
    return;
  }
  summary.has_envelope = true;
  summary.has_search = split->has_search;
  if ((what & kSummaryEnvelope) != 0) {
    summary.envelope = std::move(split->envelope);
  }
  if ((what & kSummarySearchHeaders) != 0) {
    summary.search_headers = std::move(split->search_headers);
  }
  if ((what & kSummarySearchText) != 0) {
    summary.search_text = std::move(split->search_text);
  }
  if ((what & kSummaryOrder) != 0 && split->has_order) {
    summary.has_order = true;
    summary.order = std::move(split->order);
  }
  if ((what & kSummaryFacts) != 0) {
    summary.facts = std::move(split->record);
  }
}

}  // namespace tern::domain
