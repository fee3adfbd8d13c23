// SPDX-License-Identifier: Apache-2.0
// Reports other organisations send us, from mail into the ReportStore. Mail for the
// configured report address ([reports] inbox, e.g. "dmarc-reports@example.com",
// published as rua=/TLSRPT rua= for our domains) is delivered normally into that
// account's INBOX; ingest_inbox() then reads what arrived since its last run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "domain/ports.hpp"

namespace tern::domain::reports {

struct IngestSummary {
  std::size_t messages = 0;    // messages looked at
  std::size_t stored = 0;      // reports stored
  std::size_t duplicates = 0;  // reports already stored (re-sent or re-read)
  std::size_t unreadable = 0;  // messages without a readable report
};

// Reads every report in `raw` (parse_report_message()) and stores it, received at
// `now`. kInvalidInput when the message holds no readable report.
Result<IngestSummary> ingest_message(ReportStore& store, std::string_view raw, SystemTime now);

// The name of the ReportStore cursor that holds the last UID ingest_inbox() read
// from `address`'s INBOX of that UIDVALIDITY: "ingest:<address>:<uidvalidity>".
std::string ingest_cursor_name(const std::string& address, UidValidity uid_validity);

// Reads the INBOX messages of account `address` with UIDs above the cursor
// ingest_cursor_name() (kept in the ReportStore) and ingests them;
// messages without reports count as unreadable and are left alone. kNotFound when
// the account does not exist.
Result<IngestSummary> ingest_inbox(Storage& storage, const std::string& address, SystemTime now);

}  // namespace tern::domain::reports
