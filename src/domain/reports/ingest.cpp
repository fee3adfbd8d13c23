// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/ingest.hpp"

#include "domain/reports/report_mail.hpp"

namespace tern::domain::reports {

Result<IngestSummary> ingest_message(ReportStore& store, std::string_view raw, SystemTime now) {
  IngestSummary summary;
  summary.messages = 1;
  TERN_TRY(auto reports, parse_report_message(raw));
  for (auto& report : reports) {
    report.received = now;
    TERN_TRY(bool stored, store.store_received_report(std::move(report)).get());
    ++(stored ? summary.stored : summary.duplicates);
  }
  return summary;
}

std::string ingest_cursor_name(const std::string& address, UidValidity uid_validity) {
  return "ingest:" + address + ":" + std::to_string(value_of(uid_validity));
}

Result<IngestSummary> ingest_inbox(Storage& storage, const std::string& address, SystemTime now) {
  TERN_TRY(auto account, storage.directory().find_account(address).get());
  if (!account) {
    return fail(ErrorCode::kNotFound, "no account " + address);
  }
  TERN_TRY(auto boxes, storage.mail().mailboxes(account->id).get());
  const Mailbox* inbox = nullptr;
  for (const auto& box : boxes) {
    if (box.name == "INBOX") {
      inbox = &box;
    }
  }
  if (inbox == nullptr) {
    return fail(ErrorCode::kNotFound, "no INBOX for " + address);
  }
  // The cursor is the last UID read, stored as seconds since the epoch; a new
  // UIDVALIDITY names a new cursor, so a recreated INBOX is read from its start.
  const std::string name = ingest_cursor_name(address, inbox->uid_validity);
  TERN_TRY(auto cursor, storage.reports().report_cursor(name).get());
  const auto last = cursor ? static_cast<std::uint32_t>(to_unix_seconds(*cursor)) : 0u;
  IngestSummary summary;
  if (last + 1 >= value_of(inbox->uid_next)) {
    return summary;
  }
  TERN_TRY(auto entries,
           storage.mail().entries(account->id, inbox->id, Uid{last + 1}, Uid{UINT32_MAX}).get());
  for (const auto& entry : entries) {
    TERN_TRY(auto raw, storage.mail().read_message(account->id, entry.message).get());
    auto one = ingest_message(storage.reports(), raw, now);
    ++summary.messages;
    if (one) {
      summary.stored += one->stored;
      summary.duplicates += one->duplicates;
    } else if (one.error().code == ErrorCode::kInvalidInput) {
      ++summary.unreadable;
    } else {
      return one.error();
    }
    TERN_TRY_VOID(
        storage.reports().set_report_cursor(name, from_unix_seconds(value_of(entry.uid))).get());
  }
  return summary;
}

}  // namespace tern::domain::reports
