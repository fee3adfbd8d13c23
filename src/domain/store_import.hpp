// SPDX-License-Identifier: Apache-2.0
// domain::StoreImport: the port `tern migrate` writes a whole store through
// (issue #9). The ordinary ports allocate UIDs and modseqs themselves; a copy of
// a store must keep them, or every IMAP client's cache (UIDVALIDITY + UID,
// CONDSTORE/QRESYNC modseqs, RFC 7162 §3.1) is silently invalidated. These
// methods take them as given.
//
// The order of use (app/migrate_cli.cpp): Directory::add_domain, add_account
// (credentials and quota as given), add_alias; then per account import_mailbox
// for every mailbox, import_message for every message, import_changes once; then
// import_queued per queue entry; export_report_rows on the source and
// import_report_rows on the target; export_spam_models on the source and
// import_spam_models on the target. The target is expected to be empty: the
// methods refuse to overwrite anything that already holds mail.
//
// Every method is one transaction with the common error contract of ports.hpp.
// Backends that implement it: store::memory, store::sqlite, store::postgres.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "domain/model.hpp"
#include "domain/ports.hpp"

namespace tern::domain {

// One mailbox entry of an imported message, exactly as in the source store.
struct ImportEntry {
  MailboxId mailbox{};  // the TARGET store's id (from import_mailbox)
  Uid uid{};
  ModSeq modseq{};
  Flags flags = 0;
  std::vector<std::string> keywords;  // sorted, unique
  SystemTime save_date{};
};

// The rows behind ReportStore's aggregates, as record_dmarc()/record_tls() left
// them (report_model.hpp encodings, hours as report_hour()): the DMARC
// evaluations and TLS results recorded for reports not yet sent. `tern migrate`
// copies them so the target reports the current period in full.
struct RecordedReportRows {
  struct Dmarc {
    std::string domain;
    std::int64_t hour = 0;
    std::string row;  // encode_dmarc_row()
    std::uint64_t count = 0;
    friend bool operator==(const Dmarc&, const Dmarc&) = default;
  };

  struct DmarcPolicy {
    std::string domain;
    std::int64_t hour = 0;
    std::string policy;  // encode_dmarc_policy()
    friend bool operator==(const DmarcPolicy&, const DmarcPolicy&) = default;
  };

  struct Tls {
    std::string domain;
    std::int64_t hour = 0;
    std::string policy;  // encode_tls_policy()
    std::string detail;  // encode_tls_detail()
    std::uint64_t count = 0;
    friend bool operator==(const Tls&, const Tls&) = default;
  };

  // Each sorted by its key (domain, hour, then the encoded strings bytewise).
  std::vector<Dmarc> dmarc;
  std::vector<DmarcPolicy> dmarc_policies;
  std::vector<Tls> tls;
  friend bool operator==(const RecordedReportRows&, const RecordedReportRows&) = default;
};

// One spam filter model (SpamStore) as stored: its message totals, every token's
// counts and every learned message key. `tern migrate` copies the models raw:
// the SpamStore port reads only the counts of tokens it is asked for.
struct SpamModelRows {
  struct Learned {
    std::string message_key;
    SpamLabel label = SpamLabel::kSpam;
    friend bool operator==(const Learned&, const Learned&) = default;
  };

  std::optional<AccountId> account;  // nullopt: the site-wide model
  std::uint64_t spam_messages = 0;
  std::uint64_t ham_messages = 0;
  std::vector<SpamTokenCount> tokens;  // strictly ascending by token (as uint64); none at 0/0
  std::vector<Learned> learned;        // strictly ascending by message_key (bytewise)
  friend bool operator==(const SpamModelRows&, const SpamModelRows&) = default;
};

// Whether `models` may be imported (StoreImport::import_spam_models): each model
// named once, its tokens and learned keys strictly ascending (so each once), no
// token at 0/0 and no empty key. kInvalidInput otherwise. Shared by the backends.
inline Result<void> check_spam_models(const std::vector<SpamModelRows>& models) {
  for (std::size_t i = 0; i < models.size(); ++i) {
    const auto& m = models[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (models[j].account == m.account) {
        return fail(ErrorCode::kInvalidInput, "a spam model given twice");
      }
    }
    for (std::size_t t = 0; t < m.tokens.size(); ++t) {
      if (m.tokens[t].spam == 0 && m.tokens[t].ham == 0) {
        return fail(ErrorCode::kInvalidInput, "a spam token counted 0/0");
      }
      if (t > 0 && m.tokens[t - 1].token >= m.tokens[t].token) {
        return fail(ErrorCode::kInvalidInput, "spam tokens not strictly ascending");
      }
    }
    for (std::size_t k = 0; k < m.learned.size(); ++k) {
      if (m.learned[k].message_key.empty()) {
        return fail(ErrorCode::kInvalidInput, "empty spam message key");
      }
      if (k > 0 && !(m.learned[k - 1].message_key < m.learned[k].message_key)) {
        return fail(ErrorCode::kInvalidInput, "learned spam message keys not strictly ascending");
      }
    }
  }
  return ok();
}

// Whether the model holds anything (an export leaves out models that do not).
inline bool spam_model_holds_anything(const SpamModelRows& model) {
  return model.spam_messages != 0 || model.ham_messages != 0 || !model.tokens.empty() ||
         !model.learned.empty();
}

// Gathers the rows of an export_spam_models() read from tables keyed by account
// id (0: the site-wide model), in any order. take() gives the models that hold
// anything, the site's first and then by account id, each with its tokens by
// token (uint64: tables that store the int64 bit pattern order them otherwise).
class SpamModelCollector {
 public:
  SpamModelRows& model(std::int64_t id) {
    auto [it, added] = models_.try_emplace(id);
    if (added && id != 0) {
      it->second.account = AccountId{id};
    }
    return it->second;
  }

  std::vector<SpamModelRows> take() {
    std::vector<SpamModelRows> out;
    for (auto& [id, m] : models_) {
      // A totals row a change made without changing anything holds nothing.
      if (!spam_model_holds_anything(m)) {
        continue;
      }
      std::sort(m.tokens.begin(), m.tokens.end(),
                [](const auto& a, const auto& b) { return a.token < b.token; });
      out.push_back(std::move(m));
    }
    models_.clear();
    return out;
  }

 private:
  std::map<std::int64_t, SpamModelRows> models_;
};

class StoreImport {
 public:
  virtual ~StoreImport() = default;

  // Gives the account a mailbox named `mailbox.name` with exactly its
  // special_use, uid_validity, uid_next, highest_modseq, subscribed and keywords
  // (`id` and `account` are ignored). A mailbox of that name that exists and has
  // no entries (the INBOX add_account creates) takes these values; one that has
  // entries is kAlreadyExists. Writes no change-log row. Returns the mailbox.
  virtual Async<Mailbox> import_mailbox(AccountId account, Mailbox mailbox) = 0;

  // Stores `message` once (raw, internal_date, facts as for append()) and links
  // it into every entry's mailbox with the entry's UID, modseq, flags, keywords
  // and save date. Quota is not checked (the source accepted the mail) but
  // used_bytes grows; mailbox uid_next/highest_modseq and the change log are not
  // touched (import_mailbox and import_changes set them). kNotFound for a mailbox
  // that is not the account's; kAlreadyExists when a UID is taken; kInvalidInput
  // for no entries, UID 0 or a UID >= the mailbox's uid_next.
  virtual Async<MessageId> import_message(AccountId account, NewMessage message,
                                          std::vector<ImportEntry> entries) = 0;

  // Appends `changes` (ascending modseq; mailbox ids of the TARGET store) to the
  // account's change log, records a tombstone for every kMessageExpunged row (so
  // changes_since() reports those UIDs as vanished), and raises the account's
  // modseq counter to at least `modseq`, so the next change gets a larger one.
  virtual Async<void> import_changes(AccountId account, std::vector<AccountChange> changes,
                                     ModSeq modseq) = 0;

  // Enqueues `raw` with the entry's sender, recipients (with their states and
  // last replies), envid, ret, envelope, created, next_attempt, attempts and
  // delay_warned. kActive entries arrive kQueued (their lease belonged to the
  // source's workers); kHeld stays held. Returns the new entry's id.
  virtual Async<QueueId> import_queued(QueuedMessage entry, std::string raw) = 0;

  // Every recorded report row of this store (the source side of a migrate).
  virtual Async<RecordedReportRows> export_report_rows() = 0;
  // Adds `rows` to this store's: counts add up on equal keys (so an import into
  // an empty store reproduces the source), a DMARC policy replaces the hour's.
  // kInvalidInput for an empty domain or a zero count.
  virtual Async<void> import_report_rows(RecordedReportRows rows) = 0;

  // Every spam filter model of this store that holds anything (totals, tokens or
  // learned keys), in one consistent read: the site-wide model first, then the
  // accounts' by ascending id.
  virtual Async<std::vector<SpamModelRows>> export_spam_models() = 0;
  // Makes each of `models` exactly what it gives (whatever the model held
  // before goes), all in one transaction; models not named are left alone.
  // kInvalidInput unless check_spam_models() accepts them, kNotFound for an
  // account that does not exist; on an error nothing changes.
  virtual Async<void> import_spam_models(std::vector<SpamModelRows> models) = 0;
};

}  // namespace tern::domain
