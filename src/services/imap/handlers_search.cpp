// SPDX-License-Identifier: Apache-2.0
// SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4). Flag, size, date, UID
// and sequence keys are answered from the entries. Header and text keys match the
// search fields of the message's facts (mime/facts: RFC 2047-decoded header values,
// transfer-decoded and charset-converted text parts, all Unicode case-folded), so a
// search parses no message; SENTBEFORE/SENTON/SENTSINCE read the Date field.
//
// The mailbox is searched in chunks of kSearchBatch entries: one entries() read and,
// when the key needs them, one message_summaries() read of just the search fields it
// names (the folded header lines for SUBJECT, the text for BODY) per chunk, so a
// search of a large mailbox makes a few hundred store round trips, not one per
// message, and holds one chunk in memory.
#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>
#include <string.h>  // memmem

#include "base/civil_date.hpp"
#include "imap/thread.hpp"
#include "mime/facts/facts.hpp"
#include "mime/facts/imap_string.hpp"
#include "mime/facts/order.hpp"
#include "mime/facts/text.hpp"
#include "mime/header.hpp"
#include "services/imap/handlers.hpp"
#include "services/imap/handlers_internal.hpp"
#include "services/imap/object_id.hpp"

namespace tern::services::imap {

using tern::imap::SearchKey;
using tern::imap::ServerEngine;
using tern::imap::Status;

namespace {

constexpr std::uint32_t kSearchBatch = 1024;  // entries per store round trip

// Both sides are case-folded already (mime::facts::fold_case()). glibc's memmem
// (two-way, vectorised first-byte scan) is several times faster than
// string_view::find on long texts with a rare first byte.
bool contains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) {
    return true;
  }
  return memmem(haystack.data(), haystack.size(), needle.data(), needle.size()) != nullptr;
}

std::string_view header_block(std::string_view raw) {
  std::size_t end = raw.find("\r\n\r\n");
  return end == std::string_view::npos ? raw : raw.substr(0, end + 2);
}

// The unfolded values of every field named `name` (RFC 5322 §2.2.3).
std::vector<std::string> header_values(std::string_view raw, std::string_view name) {
  std::vector<std::string> values;
  std::string_view block = header_block(raw);
  std::string* current = nullptr;
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t eol = block.find('\n', pos);
    std::string_view line =
        block.substr(pos, (eol == std::string_view::npos ? block.size() : eol) - pos);
    pos = eol == std::string_view::npos ? block.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (current != nullptr) {
        current->append(line);
      }
      continue;
    }
    current = nullptr;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    std::string_view field = line.substr(0, colon);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) {
      field.remove_suffix(1);
    }
    if (ascii::iequals(field, name)) {
      values.emplace_back(line.substr(colon + 1));
      current = &values.back();
    }
  }
  return values;
}

// The day (days since the epoch) of the message's Date field as written. SENT*
// keys compare dates "disregarding time and timezone" (RFC 9051 §6.4.4).
std::optional<std::int64_t> sent_day(std::string_view raw) {
  auto values = header_values(raw, "Date");
  if (values.empty()) {
    return std::nullopt;
  }
  auto date = mime::parse_date_time(values[0]);
  if (!date) {
    return std::nullopt;
  }
  return days_from_civil(date->year, date->month, date->day);
}

struct Candidate {
  std::uint32_t msn = 0;
  const domain::Entry* entry = nullptr;
  const domain::MessageSummary* summary = nullptr;  // the chunk's read, when the key needs it
  std::optional<std::string> raw;                   // read on first need
  std::optional<mime::facts::Facts> facts;  // computed when the summary has no search fields
};

// The search fields a candidate is matched against.
struct SearchFields {
  std::string_view headers;
  std::string_view text;
};

// The summary parts `key` needs (domain::SummaryPart bits): none for keys answered
// from the entry alone.
domain::SummaryParts parts_for(const SearchKey& key) {
  using K = SearchKey::Kind;
  domain::SummaryParts parts = 0;
  switch (key.kind) {
    case K::kBcc:
    case K::kCc:
    case K::kFrom:
    case K::kTo:
    case K::kSubject:
    case K::kHeader:
      parts = domain::kSummarySearchHeaders;
      break;
    case K::kBody:
      parts = domain::kSummarySearchText;
      break;
    case K::kText:
      parts = domain::kSummarySearchHeaders | domain::kSummarySearchText;
      break;
    default:
      break;
  }
  for (const auto& child : key.children) {
    parts |= parts_for(child);
  }
  return parts;
}

class Matcher {
 public:
  Matcher(domain::MailStore& mail, domain::AccountId account, const MailboxView& view,
          std::uint32_t max_uid, const std::vector<domain::Uid>& saved, std::int64_t now)
      : mail_(mail),
        account_(account),
        view_(view),
        exists_(view.exists()),
        max_uid_(max_uid),
        saved_(saved),
        now_(now) {}

  bool match(const SearchKey& key, Candidate& c) {
    using K = SearchKey::Kind;
    const domain::Entry& e = *c.entry;
    auto day = [](SystemTime t) {
      return to_unix_seconds(t) >= 0 ? to_unix_seconds(t) / 86400
                                     : (to_unix_seconds(t) - 86399) / 86400;
    };
    std::int64_t key_day = key.date / 86400;
    switch (key.kind) {
      case K::kAll:
        return true;
      case K::kAnswered:
        return e.flags & domain::kFlagAnswered;
      case K::kDeleted:
        return e.flags & domain::kFlagDeleted;
      case K::kDraft:
        return e.flags & domain::kFlagDraft;
      case K::kFlagged:
        return e.flags & domain::kFlagFlagged;
      case K::kSeen:
        return e.flags & domain::kFlagSeen;
      case K::kUnanswered:
        return !(e.flags & domain::kFlagAnswered);
      case K::kUndeleted:
        return !(e.flags & domain::kFlagDeleted);
      case K::kUndraft:
        return !(e.flags & domain::kFlagDraft);
      case K::kUnflagged:
        return !(e.flags & domain::kFlagFlagged);
      case K::kUnseen:
        return !(e.flags & domain::kFlagSeen);
      // RFC 3501 §6.4.4: RECENT, NEW (RECENT UNSEEN), OLD (NOT RECENT); in an
      // IMAP4rev2 session no message is recent.
      case K::kRecent:
        return view_.is_recent(e.uid);
      case K::kNew:
        return view_.is_recent(e.uid) && !(e.flags & domain::kFlagSeen);
      case K::kOld:
        return !view_.is_recent(e.uid);
      case K::kKeyword:
      case K::kUnkeyword: {
        bool has = std::any_of(e.keywords.begin(), e.keywords.end(),
                               [&](const std::string& k) { return ascii::iequals(k, key.text); });
        return key.kind == K::kKeyword ? has : !has;
      }
      // RFC 9051 §6.4.4: substring matches on the decoded header values and the
      // decoded text parts, case-insensitively (Unicode case folding).
      case K::kBcc:
        return header_contains(c, "bcc", folded(key));
      case K::kCc:
        return header_contains(c, "cc", folded(key));
      case K::kFrom:
        return header_contains(c, "from", folded(key));
      case K::kTo:
        return header_contains(c, "to", folded(key));
      case K::kSubject:
        return header_contains(c, "subject", folded(key));
      case K::kHeader:
        return header_contains(c, ascii::lower(key.field), folded(key));
      case K::kBody:
        return contains(search_fields(c).text, folded(key));
      case K::kText:
        return contains(search_fields(c).headers, folded(key)) ||
               contains(search_fields(c).text, folded(key));
      case K::kBefore:
        return day(e.internal_date) < key_day;
      case K::kOn:
        return day(e.internal_date) == key_day;
      case K::kSince:
        return day(e.internal_date) >= key_day;
      // RFC 8514 §4.3: the same against the save date. Every mailbox keeps one
      // (the store sets it at APPEND, COPY and MOVE), so SAVEDATESUPPORTED is ALL.
      case K::kSavedBefore:
        return day(e.save_date) < key_day;
      case K::kSavedOn:
        return day(e.save_date) == key_day;
      case K::kSavedSince:
        return day(e.save_date) >= key_day;
      case K::kSaveDateSupported:
        return true;
      // RFC 8474 §6: exactly the objectid; no THREADID is ever given (§5.2).
      case K::kEmailId:
        return email_object_id(e) == key.text;
      case K::kThreadId:
        return false;
      case K::kSentBefore:
      case K::kSentOn:
      case K::kSentSince: {
        auto sent = sent_day(raw(c));
        if (!sent) {
          return false;
        }
        return key.kind == K::kSentBefore ? *sent < key_day
               : key.kind == K::kSentOn   ? *sent == key_day
                                          : *sent >= key_day;
      }
      case K::kLarger:
        return e.size > key.number;
      case K::kSmaller:
        return e.size < key.number;
      // RFC 5032 §3: the INTERNALDATE at least `number` seconds ago, or less.
      case K::kOlder:
        return to_unix_seconds(e.internal_date) <= now_ - static_cast<std::int64_t>(key.number);
      case K::kYounger:
        return to_unix_seconds(e.internal_date) > now_ - static_cast<std::int64_t>(key.number);
      case K::kUid:
      case K::kSequenceSet:
        if (key.set.is_saved_result()) {
          return std::binary_search(saved_.begin(), saved_.end(), e.uid);  // RFC 5182 "$"
        }
        return key.kind == K::kUid ? key.set.contains(static_cast<std::uint32_t>(e.uid), max_uid_)
                                   : key.set.contains(c.msn, exists_);
      case K::kModSeq:
        // RFC 7162 §3.1.5: messages whose modseq is at least the value. Only the
        // whole-message modseq is kept, so every entry name means the same.
        return static_cast<std::uint64_t>(e.modseq) >= key.number;
      case K::kNot:
        return !match(key.children[0], c);
      case K::kOr:
        return match(key.children[0], c) || match(key.children[1], c);
      case K::kAnd:
        for (const auto& child : key.children) {
          if (!match(child, c)) {
            return false;
          }
        }
        return true;
    }
    return false;
  }

 private:
  const std::string& raw(Candidate& c) {
    if (!c.raw) {
      auto bytes = mail_.read_message(account_, c.entry->message).get();
      c.raw = bytes ? std::move(*bytes) : std::string();
    }
    return *c.raw;
  }

  // The search fields from the chunk's summaries; derived from the message for a
  // record written before they existed (facts version 1) or one that cannot be read.
  SearchFields search_fields(Candidate& c) {
    if (c.summary != nullptr && c.summary->has_search) {
      return {c.summary->search_headers, c.summary->search_text};
    }
    if (!c.facts) {
      c.facts = mime::facts::compute_facts(raw(c));
    }
    return {c.facts->search_headers, c.facts->search_text};
  }

  // The search string of `key`, case-folded once per SEARCH.
  const std::string& folded(const SearchKey& key) {
    auto it = folded_.find(&key);
    if (it == folded_.end()) {
      it = folded_.emplace(&key, mime::facts::fold_case(key.text)).first;
    }
    return it->second;
  }

  // `field` lower-case. RFC 9051 §6.4.4: HEADER with an empty string matches every
  // message that has the field.
  bool header_contains(Candidate& c, std::string_view field, std::string_view needle) {
    std::string_view lines = search_fields(c).headers;
    while (!lines.empty()) {
      std::size_t eol = lines.find('\n');
      std::string_view line = lines.substr(0, eol);
      lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 1);
      if (line.size() > field.size() && line[field.size()] == ':' &&
          line.substr(0, field.size()) == field &&
          contains(line.substr(field.size() + 1), needle)) {
        return true;
      }
    }
    return false;
  }

  domain::MailStore& mail_;
  domain::AccountId account_;
  const MailboxView& view_;
  std::uint32_t exists_;
  std::uint32_t max_uid_;
  const std::vector<domain::Uid>& saved_;
  std::int64_t now_;  // Unix seconds, for OLDER and YOUNGER
  std::unordered_map<const SearchKey*, std::string> folded_;
};

bool mentions_modseq(const SearchKey& key) {
  if (key.kind == SearchKey::Kind::kModSeq) {
    return true;
  }
  return std::any_of(key.children.begin(), key.children.end(), mentions_modseq);
}

// Messages stored before order keys existed have none; their keys are derived
// from the ENVELOPE (order_keys_of()), which SORT and THREAD do not read
// otherwise. Reads those messages' ENVELOPEs into `summaries` in one more call.
Result<void> read_missing_envelopes(domain::MailStore& mail, domain::AccountId account,
                                    domain::MailboxId mailbox,
                                    std::vector<domain::MessageSummary>& summaries) {
  std::vector<domain::Uid> missing;
  for (const auto& s : summaries) {
    if (!s.has_order && s.has_envelope) {
      missing.push_back(s.uid);
    }
  }
  if (missing.empty()) {
    return ok();
  }
  TERN_TRY(auto envelopes,
           mail.message_summaries(account, mailbox, missing, domain::kSummaryEnvelope).get());
  // Both lists ascend by UID.
  auto e = envelopes.begin();
  for (auto& s : summaries) {
    while (e != envelopes.end() && e->uid < s.uid) {
      ++e;
    }
    if (e != envelopes.end() && e->uid == s.uid && !s.has_order) {
      s.envelope = std::move(e->envelope);
      s.has_envelope = e->has_envelope;
    }
  }
  return ok();
}

// Walks the messages of the session's view in MSN order, kSearchBatch entries per
// store read, and calls `on_match(candidate)` for each one `key` matches. `extra`
// names summary parts to read besides those the key needs (the order keys of SORT
// and THREAD, and then the ENVELOPEs of messages stored without them). Only
// the view's messages count: one that arrived after its last EXISTS is not visible
// yet, one expunged elsewhere is gone from the entries. `now` (Unix seconds) is
// what OLDER and YOUNGER count back from.
template <class OnMatch>
Result<void> each_match(domain::MailStore& mail, domain::AccountId account, const MailboxView& view,
                        const std::vector<domain::Uid>& saved, const SearchKey& key,
                        domain::SummaryParts extra, std::int64_t now, OnMatch&& on_match) {
  const std::uint32_t exists = view.exists();
  const std::uint32_t max_uid = exists == 0 ? 0 : static_cast<std::uint32_t>(view.uid_at(exists));
  Matcher matcher(mail, account, view, max_uid, saved, now);
  const domain::SummaryParts parts = parts_for(key) | extra;
  for (std::uint32_t first = 1; first <= exists; first += kSearchBatch) {
    const std::uint32_t last = std::min(exists, first + kSearchBatch - 1);
    auto entries = mail.entries(account, view.id(), view.uid_at(first), view.uid_at(last)).get();
    if (!entries) {
      return entries.error();
    }
    std::vector<domain::MessageSummary> summaries;
    if (parts != 0 && !entries->empty()) {
      std::vector<domain::Uid> uids;
      uids.reserve(entries->size());
      for (const auto& e : *entries) {
        uids.push_back(e.uid);
      }
      auto read = mail.message_summaries(account, view.id(), uids, parts).get();
      if (!read) {
        return read.error();
      }
      summaries = std::move(*read);
      if ((parts & domain::kSummaryOrder) != 0 && (parts & domain::kSummaryEnvelope) == 0) {
        TERN_TRY_VOID(read_missing_envelopes(mail, account, view.id(), summaries));
      }
    }
    // Both lists ascend by UID; a summary may be missing (expunged in between).
    auto summary = summaries.begin();
    for (const auto& e : *entries) {
      auto msn = view.msn_of(e.uid);
      if (!msn) {
        continue;
      }
      while (summary != summaries.end() && summary->uid < e.uid) {
        ++summary;
      }
      Candidate candidate{*msn, &e, nullptr, std::nullopt, std::nullopt};
      if (summary != summaries.end() && summary->uid == e.uid) {
        candidate.summary = &*summary;
      }
      if (matcher.match(key, candidate)) {
        on_match(candidate);
      }
    }
  }
  return ok();
}

// What one SORT criterion compares for a message: a number (ARRIVAL, DATE, SIZE)
// or an i;unicode-casemap key (the others; RFC 5256 §7), kept in the text of its
// SortTable.
struct SortValue {
  std::int64_t number = 0;
  std::size_t text_at = 0;
  std::size_t text_size = 0;
};

// One message SORT orders (RFC 5256 §3): its values are SortTable::values
// [first, first + criteria), in the criteria's order.
struct SortRow {
  std::uint32_t msn = 0;
  domain::Uid uid{};
  std::uint32_t answer = 0;  // what the SORT response lists: the MSN or the UID
  std::size_t first = 0;
};

// The rows of one SORT, flat: all values in one vector and all key text in one
// string, so that sorting a large mailbox makes no allocation per message.
struct SortTable {
  std::vector<SortRow> rows;
  std::vector<SortValue> values;
  std::string text;

  std::string_view text_of(const SortValue& v) const {
    return std::string_view(text).substr(v.text_at, v.text_size);
  }
};

// The matched message's ENVELOPE: the stored one, or derived from the message
// when the stored facts cannot be read. An empty envelope when even that fails.
mime::facts::Envelope envelope_of(domain::MailStore& mail, domain::AccountId account,
                                  const Candidate& m) {
  std::string derived;
  std::string_view text;
  if (m.summary != nullptr && m.summary->has_envelope) {
    text = m.summary->envelope;
  } else {
    auto raw = mail.read_message(account, m.entry->message).get();
    derived = mime::facts::compute_facts(raw ? *raw : std::string()).envelope;
    text = derived;
  }
  auto read = mime::facts::read_envelope(text);
  return read ? std::move(*read) : mime::facts::Envelope{};
}

// The matched message's order keys (mime/facts/order.hpp): the stored ones, read
// with its summary (kSummaryOrder). A message stored before order keys existed
// has none; they are then derived as delivery derives them, from its ENVELOPE
// (envelope_of()) and, when the References ids are needed (`references`:
// THREAD=REFERENCES), its first References field.
mime::facts::OrderKeys order_keys_of(domain::MailStore& mail, domain::AccountId account,
                                     const Candidate& m, bool references) {
  if (m.summary != nullptr && m.summary->has_order) {
    if (auto keys = mime::facts::decode_order_keys(m.summary->order)) {
      return std::move(*keys);
    }
  }
  std::optional<std::string> field;
  if (references) {
    auto raw = mail.read_message(account, m.entry->message).get();
    auto values = raw ? header_values(*raw, "References") : std::vector<std::string>{};
    if (!values.empty()) {
      field = std::move(values.front());
    }
  }
  return mime::facts::order_keys(envelope_of(mail, account, m), field);
}

// The value `key` compares for the message of `entry`, whose order keys are
// `keys` (read only when some criterion needs them); key text goes to `text`.
SortValue sort_value(tern::imap::SortCriterion::Key key, const domain::Entry& entry,
                     const mime::facts::OrderKeys& keys, std::string& text) {
  using Key = tern::imap::SortCriterion::Key;
  const std::int64_t arrival = to_unix_seconds(entry.internal_date);
  auto keyed = [&](std::string_view k) {
    SortValue v{0, text.size(), k.size()};
    text.append(k);
    return v;
  };
  switch (key) {
    case Key::kArrival:
      return {arrival, 0, 0};
    case Key::kSize:
      return {static_cast<std::int64_t>(entry.size), 0, 0};
    case Key::kDate:
      // RFC 5256 §2.2: the INTERNALDATE without a readable Date.
      return {keys.sent.value_or(arrival), 0, 0};
    case Key::kSubject:
      return keyed(keys.subject);
    case Key::kFrom:
      return keyed(keys.from);
    case Key::kTo:
      return keyed(keys.to);
    case Key::kCc:
      return keyed(keys.cc);
    case Key::kDisplayFrom:
      return keyed(keys.display_from);
    case Key::kDisplayTo:
      return keyed(keys.display_to);
  }
  return {};
}

// <0, 0, >0 as `a` sorts before, with or after `b` on one criterion alone.
int compare_values(const SortTable& table, const SortValue& a, const SortValue& b, bool reverse) {
  int order = a.number < b.number ? -1 : (b.number < a.number ? 1 : 0);
  if (order == 0) {
    order = table.text_of(a).compare(table.text_of(b));
    order = (order > 0) - (order < 0);  // compare() may return any magnitude
  }
  return reverse ? -order : order;
}

// RFC 9051 §6.4.4, RFC 5256 §3: the charsets a search string may come in.
bool supported_charset(std::string_view charset) {
  return charset == "UTF-8" || charset == "US-ASCII";
}

// What the THREAD algorithms need of a matched message; with `references`
// (THREAD=REFERENCES, RFC 5256 §3) also its Message-ID and references.
tern::imap::ThreadMessage thread_message(domain::MailStore& mail, domain::AccountId account,
                                         const Candidate& m, bool uid, bool references) {
  const domain::Entry& e = *m.entry;
  auto keys = order_keys_of(mail, account, m, references);
  tern::imap::ThreadMessage t;
  t.number = uid ? static_cast<std::uint32_t>(e.uid) : m.msn;
  t.msn = m.msn;
  t.sent = keys.sent.value_or(to_unix_seconds(e.internal_date));
  t.subject = std::move(keys.subject);
  t.reply_or_forward = keys.reply_or_forward;
  if (references) {
    t.message_id = std::move(keys.message_id);
    t.references = std::move(keys.references);
  }
  return t;
}

// RFC 5182 §2.1: what SAVE keeps of `uids` (the matches in the order the command
// answers them): all, or with MIN and/or MAX alone just the first and/or last.
// "$" is a set: returned ascending.
std::vector<domain::Uid> saved_uids(const std::vector<domain::Uid>& uids,
                                    const tern::imap::SearchReturn& r) {
  std::vector<domain::Uid> kept;
  if ((r.min || r.max) && !r.all && !r.count && !uids.empty()) {
    if (r.min) {
      kept.push_back(uids.front());
    }
    if (r.max && (kept.empty() || kept.front() != uids.back())) {
      kept.push_back(uids.back());
    }
  } else {
    kept = uids;
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

// RFC 4731 §3.1: the ESEARCH response for `found` (in the order the command
// answers: ascending for SEARCH, sorted for SORT, RFC 5267 §3.2); "" when SAVE is
// the only option (RFC 5182 §2.1). MIN, MAX and ALL are left out when nothing
// matched; MODSEQ when `modseq` is not 0.
std::string esearch_line(std::string_view tag, bool uid, const tern::imap::SearchReturn& r,
                         const std::vector<std::uint32_t>& found, std::uint64_t modseq) {
  if (!r.min && !r.max && !r.all && !r.count) {
    return "";
  }
  std::string out = fmt::format("ESEARCH (TAG \"{}\")", tag);
  if (uid) {
    out += " UID";
  }
  if (r.min && !found.empty()) {
    out += fmt::format(" MIN {}", found.front());
  }
  if (r.max && !found.empty()) {
    out += fmt::format(" MAX {}", found.back());
  }
  if (r.all && !found.empty()) {
    out += " ALL " + compact_set(found);
  }
  if (r.count) {
    out += fmt::format(" COUNT {}", found.size());
  }
  if (modseq != 0) {
    out += fmt::format(" MODSEQ {}", modseq);
  }
  return out;
}

}  // namespace

Next Handlers::search(const tern::imap::SearchCommand& c, ServerEngine& engine) {
  bool save = c.return_opts && c.return_opts->save;
  if (save) {
    saved_.clear();  // RFC 5182 §2.1: a failed SAVE search leaves "$" empty
  }
  if (c.charset && !supported_charset(*c.charset)) {
    engine.complete(Status::kNo, "BADCHARSET (UTF-8 US-ASCII)", "unsupported charset");
    return Next::kDone;
  }
  bool uses_modseq = mentions_modseq(c.key);
  if (uses_modseq) {
    condstore_ = true;  // RFC 7162 §3.1
  }
  std::uint64_t highest = 0;
  std::vector<std::uint32_t> found;  // MSNs or UIDs, ascending
  std::vector<domain::Uid> found_uids;
  auto walked =
      each_match(shared_.storage.mail(), account_->id, *selected_, saved_, c.key, 0,
                 to_unix_seconds(shared_.clock.now()), [&](const Candidate& m) {
                   const domain::Entry& e = *m.entry;
                   found.push_back(c.uid ? static_cast<std::uint32_t>(e.uid) : m.msn);
                   found_uids.push_back(e.uid);
                   highest = std::max<std::uint64_t>(highest, static_cast<std::uint64_t>(e.modseq));
                 });
  if (!walked) {
    detail::complete_no(engine, walked.error());
    return Next::kDone;
  }
  std::string out;
  // RFC 9051 §6.4.4 (App. E 4): IMAP4rev2 answers a plain SEARCH as RETURN (ALL).
  std::optional<tern::imap::SearchReturn> return_opts = c.return_opts;
  if (!return_opts && level_.search_as_esearch()) {
    return_opts = tern::imap::SearchReturn{.all = true};
  }
  if (!return_opts) {
    out = "SEARCH";
    for (auto n : found) {
      out += fmt::format(" {}", n);
    }
    if (uses_modseq && highest != 0) {
      // RFC 7162 §3.1.5: the highest modseq of the messages found.
      out += fmt::format(" (MODSEQ {})", highest);
    }
  } else {
    const auto& r = *return_opts;
    if (save) {
      saved_ = saved_uids(found_uids, r);
    }
    out = esearch_line(engine.current_tag(), c.uid, r, found, uses_modseq ? highest : 0);
  }
  if (!out.empty()) {
    engine.untagged(out);
  }
  sync(engine, c.uid);
  engine.complete(Status::kOk, "", c.uid ? "UID SEARCH completed" : "SEARCH completed");
  return Next::kDone;
}

Next Handlers::sort(const tern::imap::SortCommand& c, ServerEngine& engine) {
  if (c.return_opts && c.return_opts->save) {
    saved_.clear();  // RFC 5182 §2.1: a failed SAVE leaves "$" empty
  }
  if (!supported_charset(c.charset)) {
    engine.complete(Status::kNo, "BADCHARSET (UTF-8 US-ASCII)", "unsupported charset");
    return Next::kDone;
  }
  bool uses_modseq = mentions_modseq(c.key);
  if (uses_modseq) {
    condstore_ = true;  // RFC 7162 §3.1
  }
  using Key = tern::imap::SortCriterion::Key;
  const bool needs_keys =
      std::any_of(c.criteria.begin(), c.criteria.end(), [](const tern::imap::SortCriterion& s) {
        return s.key != Key::kArrival && s.key != Key::kSize;
      });
  const domain::SummaryParts order_parts = needs_keys ? domain::kSummaryOrder : 0;
  auto& mail = shared_.storage.mail();
  std::uint64_t highest = 0;
  SortTable table;
  const std::size_t n = c.criteria.size();
  auto walked = each_match(
      mail, account_->id, *selected_, saved_, c.key, order_parts,
      to_unix_seconds(shared_.clock.now()), [&](const Candidate& m) {
        const domain::Entry& e = *m.entry;
        const auto keys =
            needs_keys ? order_keys_of(mail, account_->id, m, false) : mime::facts::OrderKeys{};
        table.rows.push_back(
            {m.msn, e.uid, c.uid ? static_cast<std::uint32_t>(e.uid) : m.msn, table.values.size()});
        for (const auto& criterion : c.criteria) {
          table.values.push_back(sort_value(criterion.key, e, keys, table.text));
        }
        highest = std::max<std::uint64_t>(highest, static_cast<std::uint64_t>(e.modseq));
      });
  if (!walked) {
    detail::complete_no(engine, walked.error());
    return Next::kDone;
  }
  // RFC 5256 §3: the criteria in order, then the MSN ("an implicit sort criterion
  // of sequence number", which REVERSE does not reverse).
  auto& rows = table.rows;
  std::sort(rows.begin(), rows.end(), [&](const SortRow& a, const SortRow& b) {
    for (std::size_t i = 0; i < n; ++i) {
      if (int order = compare_values(table, table.values[a.first + i], table.values[b.first + i],
                                     c.criteria[i].reverse);
          order != 0) {
        return order < 0;
      }
    }
    return a.msn < b.msn;
  });
  std::string out;
  if (c.return_opts) {
    // ESORT (RFC 5267 §3.2): the ESEARCH form, in the sorted order.
    std::vector<std::uint32_t> sorted;
    sorted.reserve(rows.size());
    for (const auto& row : rows) {
      sorted.push_back(row.answer);
    }
    if (c.return_opts->save) {
      std::vector<domain::Uid> uids;
      uids.reserve(rows.size());
      for (const auto& row : rows) {
        uids.push_back(row.uid);
      }
      saved_ = saved_uids(uids, *c.return_opts);
    }
    out = esearch_line(engine.current_tag(), c.uid, *c.return_opts, sorted,
                       uses_modseq ? highest : 0);
  } else {
    out = "SORT";
    for (const auto& row : rows) {
      out += fmt::format(" {}", row.answer);
    }
    if (uses_modseq && highest != 0) {
      out += fmt::format(" (MODSEQ {})", highest);  // RFC 7162 §3.1.5
    }
  }
  if (!out.empty()) {
    engine.untagged(out);
  }
  // RFC 5256 §3: no EXPUNGE during SORT, as during SEARCH; UID SORT may have them.
  sync(engine, c.uid);
  engine.complete(Status::kOk, "", c.uid ? "UID SORT completed" : "SORT completed");
  return Next::kDone;
}

Next Handlers::thread(const tern::imap::ThreadCommand& c, ServerEngine& engine) {
  if (!supported_charset(c.charset)) {
    engine.complete(Status::kNo, "BADCHARSET (UTF-8 US-ASCII)", "unsupported charset");
    return Next::kDone;
  }
  if (mentions_modseq(c.key)) {
    condstore_ = true;  // RFC 7162 §3.1
  }
  const bool references = c.algorithm == tern::imap::ThreadCommand::Algorithm::kReferences;
  auto& mail = shared_.storage.mail();
  std::vector<tern::imap::ThreadMessage> messages;
  auto walked =
      each_match(mail, account_->id, *selected_, saved_, c.key, domain::kSummaryOrder,
                 to_unix_seconds(shared_.clock.now()), [&](const Candidate& m) {
                   messages.push_back(thread_message(mail, account_->id, m, c.uid, references));
                 });
  if (!walked) {
    detail::complete_no(engine, walked.error());
    return Next::kDone;
  }
  const std::string threads = references ? tern::imap::thread_references(std::move(messages))
                                         : tern::imap::thread_ordered_subject(std::move(messages));
  engine.untagged(threads.empty() ? "THREAD" : "THREAD " + threads);
  // RFC 5256 §3: no EXPUNGE during THREAD; UID THREAD may have them.
  sync(engine, c.uid);
  engine.complete(Status::kOk, "", c.uid ? "UID THREAD completed" : "THREAD completed");
  return Next::kDone;
}

}  // namespace tern::services::imap
