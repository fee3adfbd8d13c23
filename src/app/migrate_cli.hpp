// SPDX-License-Identifier: Apache-2.0
// `tern migrate` and `tern store checksum` (issue #9): copy a whole store from one
// backend to another keeping everything an IMAP or POP3 client, the queue or an
// administrator can observe, and prove it with a checksum listing computed the
// same way on both sides. The target must implement domain::StoreImport
// (store::postgres and store::sqlite; store::memory implements it for the tests,
// but a memory store named as a target would vanish with the process), so
// sqlite -> postgres -> sqlite round-trips.
//
// What is copied: domains; accounts with both password secrets and the quota;
// aliases; every mailbox with its UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ,
// subscription, special use and defined keywords; every message once per
// account, linked into its mailboxes with the same UIDs, modseqs, flags,
// keywords, internal and save dates; the change log of existing mailboxes
// (with the tombstones QRESYNC reports as VANISHED) and the account's modseq
// counter; every queue entry with its recipients' states, times and attempts;
// the TLS reports waiting for an HTTPS POST (ReportPost, with their attempts and
// schedule), the DMARC and TLS reports received from others, and the report
// cursors (the last period reported, each report inbox's last UID read), and the
// DMARC evaluations and TLS results recorded for reports not yet sent (hourly
// rows with their counts, StoreImport::export_report_rows); each account's Sieve
// scripts and which one is active (through the Directory port); the spam
// filter's models, the site-wide one and each account's (totals, every token's
// counts and every learned message key with its label, raw through
// StoreImport::export_spam_models/import_spam_models).
// Not copied: message and queue ids (each store allocates its own; IMAP
// OBJECTID EMAILIDs change), the change-log rows of deleted mailboxes, and the
// vacation replies recorded (Directory::note_vacation_reply; no port lists
// them), so a sender may get one more vacation reply from the target.
//
// The listing (`tern store checksum --list`) has one line per domain, account,
// alias, mailbox, entry (with the SHA-256 of the message bytes), vanished UID,
// queue entry (by position in id order), pending report post, received report,
// report cursor, recorded report row, Sieve script (with the SHA-256 of its
// text) and spam model that holds anything (by "site" or address, with its
// totals and the SHA-256 of its sorted token counts and of its learned keys), in
// a fixed order; its SHA-256 is the store's checksum.
// Password secrets appear only as a hash of a hash.
#pragma once

#include <string>
#include <vector>

#include "base/result.hpp"
#include "domain/ports.hpp"

namespace tern::app {

// How many of each kind a listing holds.
struct StoreCounts {
  std::uint64_t domains = 0, accounts = 0, aliases = 0, mailboxes = 0, messages = 0, entries = 0,
                vanished = 0, queue = 0, report_posts = 0, received_reports = 0, report_rows = 0,
                sieve_scripts = 0, spam_models = 0, spam_tokens = 0, spam_learned = 0;
  friend bool operator==(const StoreCounts&, const StoreCounts&) = default;
};

struct StoreListing {
  std::vector<std::string> lines;
  StoreCounts counts;
  std::string checksum;  // SHA-256 hex of the lines joined with "\n"
};

// Reads the whole store through its ports. Errors are the ports' own.
Result<StoreListing> store_listing(domain::Storage& storage);

// `tern migrate --from SOURCE --to TARGET [--no-verify]`; SOURCE and TARGET are a
// config file (its [store]) or a postgresql:// URL. Returns the exit status.
int migrate_command(const std::vector<std::string>& args);

// `tern store checksum [--list]` for the store of `config_path`.
int store_command(const std::vector<std::string>& args, const std::string& config_path);

}  // namespace tern::app
