// SPDX-License-Identifier: Apache-2.0
// Building a MessageSummary (model.hpp) from what a backend stored, the same way
// in every SQL backend: message_summaries() reads each message's part rows
// (envelope, search headers, search text, the record without its search fields)
// when the append split the facts, and the whole facts record when it did not
// (stored before the split existed, or facts that were no readable record).
// The SQL that reads them stays per backend.
#pragma once

#include <optional>
#include <string>

#include "domain/model.hpp"

namespace tern::domain {

// The columns of one message_summaries() row. `parts_present`: every part row
// the query joined was there, so the part fields hold the stored parts (empty
// for a part not asked for) and `facts` the record when kSummaryFacts was asked.
// Otherwise `facts` holds the whole stored facts and the part fields are unused.
struct StoredSummary {
  bool parts_present = false;
  std::string envelope;
  std::string search_headers;
  std::string search_text;
  std::string facts;
  std::optional<std::string> order;  // none: not asked for, or stored before order keys
};

// Fills `summary`'s facts fields from `stored` for the parts `what`:
// - parts present: taken as they are; has_search is true when a search part was
//   asked for (the split wrote the search rows), has_order when the order keys
//   were asked for and stored;
// - otherwise the stored facts are split on the fly (mime::facts::split_facts)
//   and the parts `what` asks for are kept; facts that do not split stay in
//   `facts` as they are, with has_envelope false (the caller derives what it
//   needs from the message).
// uid and message are left to the caller.
void fill_summary(MessageSummary& summary, StoredSummary stored, SummaryParts what);

}  // namespace tern::domain
