// SPDX-License-Identifier: Apache-2.0
#include "services/imap/mailbox_view.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "domain/flags.hpp"

namespace tern::services::imap {

using domain::Uid;

void MailboxView::reset(const domain::Mailbox& mailbox, const std::vector<domain::Entry>& entries,
                        bool read_only) {
  mailbox_ = mailbox;
  read_only_ = read_only;
  keywords_ = std::move(mailbox_.keywords);
  mailbox_.keywords.clear();
  // Sized to the mailbox, not to the growth policy of push_back: a selected
  // mailbox's maps live as long as the session idles in it.
  uids_.clear();
  uids_.shrink_to_fit();
  uids_.reserve(entries.size());
  modseqs_.clear();
  modseqs_.shrink_to_fit();
  modseqs_.reserve(entries.size());
  pending_.clear();
  recent_.clear();
  for (const auto& e : entries) {
    uids_.push_back(e.uid);
    modseqs_.push_back(e.modseq);
    // A backend keeps Mailbox::keywords a superset of the entries' keywords; this
    // only costs a look at entries that carry keywords, and makes FLAGS complete
    // even over a store that predates the list.
    if (!e.keywords.empty()) {
      domain::define_keywords(keywords_, e.keywords);
    }
  }
  new_keywords_ = false;
  highest_ = mailbox.highest_modseq;
}

void MailboxView::learn_keywords(const std::vector<std::string>& keywords) {
  if (!keywords.empty() && domain::define_keywords(keywords_, keywords)) {
    new_keywords_ = true;
  }
}

void MailboxView::learn_keywords(const std::vector<domain::Entry>& entries) {
  for (const auto& entry : entries) {
    learn_keywords(entry.keywords);
  }
}

bool MailboxView::take_new_keywords() {
  return std::exchange(new_keywords_, false);
}

std::vector<std::string> MailboxView::flags_responses() const {
  constexpr std::string_view kSystem = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
  std::string keywords;
  for (const auto& k : keywords_) {
    keywords += ' ';
    keywords += k;
  }
  std::vector<std::string> out;
  out.push_back(fmt::format("FLAGS ({}{})", kSystem, keywords));
  // RFC 9051 §7.1 PERMANENTFLAGS: "\*" says new keywords may be created.
  out.push_back(read_only_ ? std::string("OK [PERMANENTFLAGS ()] read-only mailbox")
                           : fmt::format("OK [PERMANENTFLAGS ({}{} \\*)] flags permitted", kSystem,
                                         keywords));
  return out;
}

std::optional<std::uint32_t> MailboxView::msn_of(Uid uid) const {
  auto it = std::lower_bound(uids_.begin(), uids_.end(), uid);
  if (it == uids_.end() || *it != uid) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(it - uids_.begin()) + 1;
}

void MailboxView::add_recent(Uid after, Uid up_to) {
  auto first = std::upper_bound(uids_.begin(), uids_.end(), after);
  auto last = std::upper_bound(uids_.begin(), uids_.end(), up_to);
  if (first >= last) {
    return;
  }
  std::vector<Uid> merged;
  merged.reserve(recent_.size() + static_cast<std::size_t>(last - first));
  std::set_union(recent_.begin(), recent_.end(), first, last, std::back_inserter(merged));
  recent_.swap(merged);
}

std::string MailboxView::flags_of(const domain::Entry& entry) const {
  return format_flags(entry.flags, entry.keywords, is_recent(entry.uid));
}

bool MailboxView::is_expunged(Uid uid) const {
  return std::find(pending_.begin(), pending_.end(), uid) != pending_.end();
}

std::optional<std::vector<std::pair<std::uint32_t, Uid>>> MailboxView::resolve(
    const tern::imap::SequenceSet& set, bool uid) const {
  std::vector<std::pair<std::uint32_t, Uid>> out;
  if (set.is_saved_result()) {
    return std::nullopt;  // "$" needs SEARCHRES (RFC 5182), not supported yet
  }
  if (uid) {
    std::uint32_t largest = uids_.empty() ? 0 : static_cast<std::uint32_t>(uids_.back());
    for (const auto& range : set.resolve(largest)) {
      auto it = std::lower_bound(uids_.begin(), uids_.end(), Uid{range.first});
      for (; it != uids_.end() && static_cast<std::uint32_t>(*it) <= range.last; ++it) {
        out.emplace_back(static_cast<std::uint32_t>(it - uids_.begin()) + 1, *it);
      }
    }
    return out;
  }
  // RFC 9051 §6.4.8 / §9: "*" in an empty mailbox is an error for MSN sets, as is
  // any number above the message count.
  for (const auto& range : set.ranges()) {
    for (std::uint32_t n : {range.first, range.last}) {
      if (n == tern::imap::SequenceSet::kStar ? uids_.empty() : n > exists()) {
        return std::nullopt;
      }
    }
  }
  for (const auto& range : set.resolve(exists())) {
    for (std::uint32_t msn = range.first; msn <= range.last && msn != 0; ++msn) {
      out.emplace_back(msn, uids_[msn - 1]);
      if (msn == 0xffffffffu) {
        break;
      }
    }
  }
  return out;
}

void MailboxView::saw_own_change(const domain::Entry& entry) {
  learn_keywords(entry.keywords);
  if (auto msn = msn_of(entry.uid)) {
    modseqs_[*msn - 1] = std::max(modseqs_[*msn - 1], entry.modseq);
  }
}

std::optional<std::uint32_t> MailboxView::remove(Uid uid) {
  auto msn = msn_of(uid);
  if (msn) {
    uids_.erase(uids_.begin() + (*msn - 1));
    modseqs_.erase(modseqs_.begin() + (*msn - 1));
  }
  pending_.erase(std::remove(pending_.begin(), pending_.end(), uid), pending_.end());
  if (auto r = std::lower_bound(recent_.begin(), recent_.end(), uid);
      r != recent_.end() && *r == uid) {
    recent_.erase(r);
  }
  return msn;
}

std::vector<std::string> MailboxView::sync(const domain::MailboxChanges& changes,
                                           bool expunges_allowed, bool with_modseq, bool vanished) {
  std::vector<std::string> out;
  learn_keywords(changes.changed);
  if (take_new_keywords()) {
    out = flags_responses();  // before the FETCH or EXISTS that brings them
  }
  for (Uid uid : changes.vanished) {
    if (msn_of(uid) && !is_expunged(uid)) {
      pending_.push_back(uid);
    }
  }
  if (expunges_allowed) {
    std::vector<Uid> gone;
    gone.swap(pending_);
    auto removal = announce_removal(std::move(gone), vanished);
    out.insert(out.end(), removal.begin(), removal.end());
  }
  std::uint32_t before = exists();
  std::vector<const domain::Entry*> changed;
  for (const auto& entry : changes.changed) {
    changed.push_back(&entry);
  }
  std::sort(changed.begin(), changed.end(),
            [](const domain::Entry* a, const domain::Entry* b) { return a->uid < b->uid; });
  for (const domain::Entry* e : changed) {
    const domain::Entry& entry = *e;
    if (std::find(changes.vanished.begin(), changes.vanished.end(), entry.uid) !=
        changes.vanished.end()) {
      continue;
    }
    if (uids_.empty() || entry.uid > uids_.back()) {
      uids_.push_back(entry.uid);
      modseqs_.push_back(entry.modseq);
      continue;
    }
    auto msn = msn_of(entry.uid);
    if (!msn || is_expunged(entry.uid) || modseqs_[*msn - 1] >= entry.modseq) {
      continue;
    }
    modseqs_[*msn - 1] = entry.modseq;
    std::string modseq =
        with_modseq ? fmt::format(" MODSEQ ({})", static_cast<std::uint64_t>(entry.modseq)) : "";
    out.push_back(fmt::format("{} FETCH (UID {} FLAGS ({}){})", *msn,
                              static_cast<std::uint32_t>(entry.uid), flags_of(entry), modseq));
  }
  if (exists() != before) {
    out.push_back(fmt::format("{} EXISTS", exists()));
  }
  if (changes.highest > highest_) {
    highest_ = changes.highest;
  }
  return out;
}

std::vector<std::string> MailboxView::announce_removal(std::vector<Uid> uids, bool vanished) {
  std::vector<std::string> out;
  std::sort(uids.begin(), uids.end());
  std::vector<std::uint32_t> removed;
  for (Uid uid : uids) {
    if (auto msn = remove(uid)) {
      removed.push_back(static_cast<std::uint32_t>(uid));
      if (!vanished) {
        out.push_back(fmt::format("{} EXPUNGE", *msn));
      }
    }
  }
  if (vanished && !removed.empty()) {
    out.push_back("VANISHED " + compact_set(removed));
  }
  return out;
}

std::string compact_set(const std::vector<std::uint32_t>& ascending) {
  std::string out;
  std::size_t i = 0;
  while (i < ascending.size()) {
    std::size_t j = i;
    while (j + 1 < ascending.size() && ascending[j + 1] == ascending[j] + 1) {
      ++j;
    }
    if (!out.empty()) {
      out += ',';
    }
    out += j == i ? std::to_string(ascending[i]) : fmt::format("{}:{}", ascending[i], ascending[j]);
    i = j + 1;
  }
  return out;
}

std::string format_flags(domain::Flags flags, const std::vector<std::string>& keywords,
                         bool recent) {
  std::string out;
  auto add = [&out](std::string_view name) {
    if (!out.empty()) {
      out += ' ';
    }
    out += name;
  };
  if (recent) {
    add("\\Recent");
  }
  if (flags & domain::kFlagSeen) {
    add("\\Seen");
  }
  if (flags & domain::kFlagAnswered) {
    add("\\Answered");
  }
  if (flags & domain::kFlagFlagged) {
    add("\\Flagged");
  }
  if (flags & domain::kFlagDeleted) {
    add("\\Deleted");
  }
  if (flags & domain::kFlagDraft) {
    add("\\Draft");
  }
  for (const auto& k : keywords) {
    add(k);
  }
  return out;
}

}  // namespace tern::services::imap
