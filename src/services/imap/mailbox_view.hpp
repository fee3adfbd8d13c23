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

  // The keywords this session has told the client are defined in the mailbox
  // (RFC 9051 §7.3.5 FLAGS): the mailbox's keywords at reset(), plus those seen
  // since on its entries (saw_own_change(), sync()). Sorted, unique.
  const std::vector<std::string>& keywords() const { return keywords_; }

  // "FLAGS (...)" and "OK [PERMANENTFLAGS (...)] ..." (without "* " and CRLF) for
  // keywords(): the SELECT responses of RFC 9051 §7.3.5 and §7.1, and what a
  // session resends when a keyword appears. PERMANENTFLAGS is empty read-only
  // (RFC 9051 §6.3.3) and ends in \* otherwise: clients may create keywords.
  std::vector<std::string> flags_responses() const;

  // True, once, after saw_own_change() or sync() met a keyword not in keywords()
  // before: the caller must send flags_responses() before any FETCH that carries
  // it (Dovecot does the same; RFC 9051 §7.3.5 lets FLAGS be resent at any time).
  // sync() puts them at the front of its own responses and clears this itself.
  bool take_new_keywords();

  // Learns the keywords of `entries` (see take_new_keywords()) without folding them
  // into the view: for responses that show the store's current flags before the
  // changes are announced (FETCH).
  void learn_keywords(const std::vector<domain::Entry>& entries);

  // The session changed these entries itself (STORE) and will tell the client.
  // Learns the entry's keywords (see take_new_keywords()).
  void saw_own_change(const domain::Entry& entry);
  // The session expunged `uid` itself and sent its EXPUNGE: returns the MSN it had.
  std::optional<std::uint32_t> remove(domain::Uid uid);
  // Removes `uids` from the view and returns the responses that announce it: one
  // "n EXPUNGE" per message, each MSN computed after the previous removal (RFC 9051
  // §7.4.1), or, once QRESYNC is enabled, one "VANISHED uid-set" (RFC 7162 §3.2.10).
  std::vector<std::string> announce_removal(std::vector<domain::Uid> uids, bool vanished);

  // Folds the store's changes since highest_modseq() into the view and returns the
  // untagged responses that tell the client (without "* " and CRLF): first
  // flags_responses() when a changed entry carries a keyword the client has not been
  // told of (or take_new_keywords() was pending), then "n EXPUNGE"
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
  std::vector<std::string> keywords_;    // announced in FLAGS, sorted
  bool new_keywords_ = false;            // keywords_ grew since the last FLAGS
  domain::ModSeq highest_{};

  void learn_keywords(const std::vector<std::string>& keywords);
};

// "1:3,7" from ascending numbers (RFC 9051 §9 sequence-set, RFC 4315 uid-set).
std::string compact_set(const std::vector<std::uint32_t>& ascending);

// "\Seen \Flagged $Junk" for FLAGS responses (RFC 9051 §2.3.2); `recent` adds the
// session flag \Recent first (RFC 3501 §2.3.2).
std::string format_flags(domain::Flags flags, const std::vector<std::string>& keywords,
                         bool recent = false);

}  // namespace tern::services::imap
