// SPDX-License-Identifier: Apache-2.0
// services::imap::MailboxView: one session's picture of its selected mailbox — the
// message sequence number ↔ UID map, expunges not yet announced, and the modseq up
// to which the session has seen the store's changes (RFC 9051 §2.3.1.2, §7.4.1, §5.2).
//
// Message sequence numbers are per session: another session's expunge must not
// renumber this session's messages until this session is told with EXPUNGE, which
// RFC 9051 §7.4.1 forbids during FETCH, STORE and SEARCH (the non-UID forms, whose
// arguments are MSNs). So the view keeps an expunged message in its map, marked
// pending, until sync() is called with expunges allowed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/model.hpp"
#include "imap/sequence_set.hpp"

namespace tern::services::imap {

class MailboxView {
 public:
  // Starts a view over `mailbox` with its current `entries` (ascending UIDs).
  void reset(const domain::Mailbox& mailbox, const std::vector<domain::Entry>& entries,
             bool read_only);

  const domain::Mailbox& mailbox() const { return mailbox_; }

  domain::MailboxId id() const { return mailbox_.id; }

  bool read_only() const { return read_only_; }

  // Messages in the session's numbering (pending expunges included, RFC 9051 §7.4.1).
  std::uint32_t exists() const { return static_cast<std::uint32_t>(uids_.size()); }

  domain::Uid uid_at(std::uint32_t msn) const { return uids_[msn - 1]; }  // 1 <= msn <= exists()

  std::optional<std::uint32_t> msn_of(domain::Uid uid) const;
  bool is_expunged(domain::Uid uid) const;

  domain::ModSeq highest_modseq() const { return highest_; }

  // The (msn, uid) pairs a sequence set names, ascending. For UID sets, "*" is the
  // highest UID in the view, and UIDs not in the view are skipped (RFC 9051 §6.4.8).
  // For MSN sets, numbers above exists() make the set invalid: nullopt (the caller
  // answers BAD, RFC 9051 §6.4.5 "invalid message sequence number").
  std::optional<std::vector<std::pair<std::uint32_t, domain::Uid>>> resolve(
      const tern::imap::SequenceSet& set, bool uid) const;

  // \Recent (RFC 3501 §2.3.2): marks the messages of the view with after < uid <=
  // up_to as recent in this session (the UIDs the session claimed through the
  // ChangeHub, or, read-only, the ones no session has claimed yet).
  void add_recent(domain::Uid after, domain::Uid up_to);

  bool is_recent(domain::Uid uid) const {
    return std::binary_search(recent_.begin(), recent_.end(), uid);
  }

  // Recent messages in the session's numbering (the RECENT response's number).
  std::uint32_t recent_count() const { return static_cast<std::uint32_t>(recent_.size()); }

  // The FLAGS list of `entry` as this session sees it (with \Recent when it is).
  std::string flags_of(const domain::Entry& entry) const;

  // The session changed these entries itself (STORE) and already told the client.
  void saw_own_change(const domain::Entry& entry);
  // The session expunged `uid` itself and sent its EXPUNGE: returns the MSN it had.
  std::optional<std::uint32_t> remove(domain::Uid uid);
  // Removes `uids` from the view and returns the responses that announce it: one
  // "n EXPUNGE" per message, each MSN computed after the previous removal (RFC 9051
  // §7.4.1), or, once QRESYNC is enabled, one "VANISHED uid-set" (RFC 7162 §3.2.10).
  std::vector<std::string> announce_removal(std::vector<domain::Uid> uids, bool vanished);

  // Folds the store's changes since highest_modseq() into the view and returns the
  // untagged responses that tell the client (without "* " and CRLF): "n EXPUNGE"
  // (only when `expunges_allowed`, otherwise they wait), "n EXISTS" for new
  // messages, "n FETCH (UID u FLAGS (...))" for flag changes made by others (with
  // "MODSEQ (m)" when `with_modseq`, RFC 7162 §3.1.4).
  std::vector<std::string> sync(const domain::MailboxChanges& changes, bool expunges_allowed,
                                bool with_modseq = false, bool vanished = false);

 private:
  domain::Mailbox mailbox_;
  bool read_only_ = false;
  std::vector<domain::Uid> uids_;        // index = msn - 1, ascending
  std::vector<domain::ModSeq> modseqs_;  // last modseq the client was told about
  std::vector<domain::Uid> pending_;     // expunged in the store, not yet announced
  std::vector<domain::Uid> recent_;      // recent in this session, ascending
  domain::ModSeq highest_{};
};

// "1:3,7" from ascending numbers (RFC 9051 §9 sequence-set, RFC 4315 uid-set).
std::string compact_set(const std::vector<std::uint32_t>& ascending);

// "\Seen \Flagged $Junk" for FLAGS responses (RFC 9051 §2.3.2); `recent` adds the
// session flag \Recent first (RFC 3501 §2.3.2).
std::string format_flags(domain::Flags flags, const std::vector<std::string>& keywords,
                         bool recent = false);

}  // namespace tern::services::imap
