// SPDX-License-Identifier: Apache-2.0
// Selected-state commands on messages (RFC 9051 §6.4): FETCH, STORE, COPY, MOVE,
// EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT.
#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "imap/arguments.hpp"
#include "mime/facts/facts.hpp"
#include "mime/facts/imap_string.hpp"
#include "mime/facts/section.hpp"
#include "services/imap/handlers.hpp"
#include "services/imap/handlers_internal.hpp"
#include "services/imap/object_id.hpp"

namespace tern::services::imap {

using tern::imap::FetchItem;
using tern::imap::ServerEngine;
using tern::imap::Status;

namespace {

// Entries read from the store at a time, with one message_summaries() read for
// them when the items need facts: a FETCH 1:* of a large mailbox costs a few
// hundred store round trips, not one per message.
constexpr std::size_t kFetchBatch = 1024;

// A literal holding `bytes` (RFC 9051 §4.3). NUL may not appear in a plain literal
// (CHAR8 excludes it), so outside BINARY it becomes "?" like Dovecot's; BINARY uses
// literal8 (RFC 3516 §4.2) when there is a NUL.
void append_literal(std::string& out, std::string_view bytes, bool binary) {
  bool has_nul = bytes.find('\0') != std::string_view::npos;
  if (binary && has_nul) {
    out += '~';
  }
  out += fmt::format("{{{}}}\r\n", bytes.size());
  std::size_t start = out.size();
  out.append(bytes);
  if (has_nul && !binary) {
    std::replace(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(), '\0', '?');
  }
}

std::string part_text(const std::vector<std::uint32_t>& part) {
  std::string out;
  for (auto n : part) {
    if (!out.empty()) {
      out += '.';
    }
    out += std::to_string(n);
  }
  return out;
}

bool sets_seen(const FetchItem& item) {
  switch (item.kind) {
    case FetchItem::Kind::kRfc822:
    case FetchItem::Kind::kRfc822Text:
      return true;
    case FetchItem::Kind::kBodySection:
    case FetchItem::Kind::kBinary:
      return !item.peek;
    default:
      return false;
  }
}

// The summary parts an item needs: ENVELOPE only its envelope (the store keeps it
// apart, so reading it decodes nothing); BODY, BODYSTRUCTURE, BINARY.SIZE and the
// sections the facts record without its search fields.
domain::SummaryParts summary_parts(const FetchItem& item) {
  switch (item.kind) {
    case FetchItem::Kind::kEnvelope:
      return domain::kSummaryEnvelope;
    case FetchItem::Kind::kBody:
    case FetchItem::Kind::kBodyStructure:
    case FetchItem::Kind::kBinarySize:
    case FetchItem::Kind::kRfc822Header:
    case FetchItem::Kind::kRfc822Text:
    case FetchItem::Kind::kBodySection:
    case FetchItem::Kind::kBinary:
    case FetchItem::Kind::kPreview:
      return domain::kSummaryFacts;
    default:
      return 0;
  }
}

// Items answered from the stored message facts alone (ENVELOPE, BODY[STRUCTURE],
// BINARY.SIZE) need no read of the message itself.
bool needs_raw_message(const FetchItem& item) {
  switch (item.kind) {
    case FetchItem::Kind::kRfc822:
    case FetchItem::Kind::kRfc822Header:
    case FetchItem::Kind::kRfc822Text:
    case FetchItem::Kind::kBodySection:
    case FetchItem::Kind::kBinary:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Handlers::Fetching {
  tern::imap::FetchCommand command;
  std::vector<mime::facts::Section> sections;  // parsed, per item (unused for others)
  std::vector<std::pair<std::uint32_t, domain::Uid>> targets;
  std::size_t next = 0;
  domain::SummaryParts parts = 0;  // what the items need of the stored facts
  bool needs_raw_message = false;  // the bytes themselves
  bool sets_seen = false;
  bool unknown_cte = false;
  bool expunge_issued = false;
};

// Defined here, where Fetching is complete.
Handlers::Handlers(Shared& shared, ConnectionInfo info) : shared_(shared), info_(std::move(info)) {}

Handlers::~Handlers() = default;

Next Handlers::fetch(const tern::imap::FetchCommand& c, ServerEngine& engine) {
  if (c.vanished && !qresync_) {
    // RFC 7162 §3.2.6: VANISHED is only valid once QRESYNC is enabled.
    engine.complete(Status::kBad, "", "VANISHED needs ENABLE QRESYNC first");
    return Next::kDone;
  }
  if (c.changed_since) {
    condstore_ = true;  // RFC 7162 §3.1.4: CHANGEDSINCE enables CONDSTORE
  }
  auto job = std::make_unique<Fetching>();
  job->command = c;
  for (const auto& item : c.items) {
    mime::facts::Section section;
    if (item.kind == FetchItem::Kind::kModSeq) {
      condstore_ = true;
    }
    if (item.kind == FetchItem::Kind::kBodySection) {
      auto parsed = mime::facts::parse_section(item.section);
      if (!parsed) {
        engine.complete(Status::kBad, "", fmt::format("invalid section \"{}\"", item.section));
        return Next::kDone;
      }
      section = std::move(*parsed);
    }
    job->sections.push_back(std::move(section));
    job->parts |= summary_parts(item);
    job->needs_raw_message = job->needs_raw_message || needs_raw_message(item);
    job->sets_seen = job->sets_seen || sets_seen(item);
  }
  auto targets = resolve(c.set, c.uid);
  if (!targets) {
    engine.complete(Status::kBad, "", "invalid message sequence number");
    return Next::kDone;
  }
  job->targets = std::move(*targets);
  if (c.vanished) {
    // RFC 7162 §3.2.6: UIDs in the set expunged after CHANGEDSINCE come first.
    auto changes =
        shared_.storage.mail()
            .changes_since(account_->id, selected_->id(), domain::ModSeq{*c.changed_since})
            .get();
    if (changes) {
      std::uint32_t largest = static_cast<std::uint32_t>(selected_->mailbox().uid_next) - 1;
      if (selected_->exists() > 0) {
        largest =
            std::max(largest, static_cast<std::uint32_t>(selected_->uid_at(selected_->exists())));
      }
      std::vector<std::uint32_t> vanished;
      for (auto uid : changes->vanished) {
        auto u = static_cast<std::uint32_t>(uid);
        if (c.set.contains(u, largest) && !selected_->msn_of(uid)) {
          vanished.push_back(u);
        }
      }
      std::sort(vanished.begin(), vanished.end());
      if (!vanished.empty()) {
        engine.untagged("VANISHED (EARLIER) " + compact_set(vanished));
      }
    }
  }
  job->sets_seen = job->sets_seen && !selected_->read_only();
  fetching_ = std::move(job);
  return fetch_some(engine);
}

Next Handlers::fetch_some(ServerEngine& engine) {
  if (!fetching_) {
    engine.complete(Status::kBad, "", "no FETCH in progress");
    return Next::kDone;
  }
  Fetching& job = *fetching_;
  const auto& c = job.command;
  auto& mail = shared_.storage.mail();
  std::size_t written = engine.output().size();
  while (job.next < job.targets.size()) {
    std::size_t end = std::min(job.next + kFetchBatch, job.targets.size());
    auto entries = mail.entries(account_->id, selected_->id(), job.targets[job.next].second,
                                job.targets[end - 1].second)
                       .get();
    if (!entries) {
      fetching_.reset();
      detail::complete_no(engine, entries.error());
      return Next::kDone;
    }
    // Entries ascend by UID (and the batch's targets too): lookups are binary
    // searches, with no per-message allocation.
    auto entry_of = [&](domain::Uid uid) -> domain::Entry* {
      auto it = std::lower_bound(entries->begin(), entries->end(), uid,
                                 [](const domain::Entry& e, domain::Uid u) { return e.uid < u; });
      return it != entries->end() && it->uid == uid ? &*it : nullptr;
    };
    std::vector<domain::Uid> unseen;
    for (auto& e : *entries) {
      if (job.sets_seen && !(e.flags & domain::kFlagSeen)) {
        unseen.push_back(e.uid);
      }
    }
    std::vector<domain::Uid> flagged_now;
    if (!unseen.empty()) {
      // RFC 9051 §6.4.5: BODY[] without .PEEK sets \Seen; the FETCH then reports the
      // new FLAGS whether asked for or not.
      domain::FlagChange change;
      change.op = domain::FlagOp::kAdd;
      change.flags = domain::kFlagSeen;
      auto result = mail.change_flags(account_->id, selected_->id(), unseen, change).get();
      if (result) {
        for (const auto& e : result->changed) {
          if (domain::Entry* known = entry_of(e.uid)) {
            *known = e;
          }
          selected_->saw_own_change(e);
          flagged_now.push_back(e.uid);
        }
        if (!result->changed.empty()) {
          changed();
        }
      }
    }
    // The facts the items need, for the entries answered below, in one read.
    // (The entries span the batch's UID range, which a sparse set only samples.)
    std::vector<domain::Uid> wanted;
    for (std::size_t i = job.next; i < end && job.parts != 0; ++i) {
      const domain::Entry* e = entry_of(job.targets[i].second);
      // RFC 7162 §3.1.4.1: CHANGEDSINCE leaves out messages not changed after it.
      if (e != nullptr &&
          !(c.changed_since && static_cast<std::uint64_t>(e->modseq) <= *c.changed_since)) {
        wanted.push_back(e->uid);
      }
    }
    std::vector<domain::MessageSummary> summaries;  // in the order of `wanted`: by UID
    if (!wanted.empty()) {
      auto read =
          mail.message_summaries(account_->id, selected_->id(), std::move(wanted), job.parts).get();
      if (!read) {
        fetching_.reset();
        detail::complete_no(engine, read.error());
        return Next::kDone;
      }
      summaries = std::move(*read);
    }
    auto summary_of = [&](domain::Uid uid) -> const domain::MessageSummary* {
      auto it = std::lower_bound(
          summaries.begin(), summaries.end(), uid,
          [](const domain::MessageSummary& s, domain::Uid u) { return s.uid < u; });
      return it != summaries.end() && it->uid == uid ? &*it : nullptr;
    };
    std::string out;  // one response line at a time, its buffer reused
    for (std::size_t i = job.next; i < end; ++i) {
      auto [msn, uid] = job.targets[i];
      const domain::Entry* found_entry = entry_of(uid);
      if (found_entry == nullptr) {
        job.expunge_issued = true;  // expunged by another session, not yet announced
        continue;
      }
      const domain::Entry& e = *found_entry;
      // RFC 7162 §3.1.4.1: CHANGEDSINCE leaves out messages not changed after it.
      if (c.changed_since && static_cast<std::uint64_t>(e.modseq) <= *c.changed_since) {
        continue;
      }
      std::string raw;
      mime::facts::Facts facts;
      std::string_view envelope;
      if (job.parts != 0 || job.needs_raw_message) {
        const domain::MessageSummary* summary = summary_of(uid);
        bool have_facts = false;
        if (summary != nullptr && (job.parts & domain::kSummaryFacts) != 0) {
          // FETCH needs no search fields (they are as large as the message's text).
          if (auto decoded = mime::facts::decode_facts(summary->facts, false)) {
            facts = std::move(*decoded);
            have_facts = true;
          }
        }
        const bool have_envelope = summary != nullptr && summary->has_envelope;
        const bool facts_missing =
            ((job.parts & domain::kSummaryFacts) != 0 && !have_facts) ||
            ((job.parts & domain::kSummaryEnvelope) != 0 && !have_envelope && !have_facts);
        if (job.needs_raw_message || facts_missing) {
          auto bytes = mail.read_message(account_->id, e.message).get();
          if (!bytes) {
            continue;
          }
          raw = std::move(*bytes);
        }
        // Facts missing (older deliveries) or unreadable are computed on the fly.
        if (facts_missing) {
          facts = mime::facts::compute_facts(raw);
        }
        envelope =
            have_envelope ? std::string_view(summary->envelope) : std::string_view(facts.envelope);
      }
      out.clear();
      fmt::format_to(std::back_inserter(out), "{} FETCH (", msn);
      bool first = true;
      auto next_item = [&]() {
        if (!first) {
          out += ' ';
        }
        first = false;
      };
      bool has_uid = false;
      bool has_flags = false;
      bool has_modseq = false;
      for (std::size_t k = 0; k < c.items.size(); ++k) {
        const FetchItem& item = c.items[k];
        using K = FetchItem::Kind;
        switch (item.kind) {
          case K::kUid:
            if (has_uid) {
              continue;
            }
            next_item();
            has_uid = true;
            fmt::format_to(std::back_inserter(out), "UID {}", static_cast<std::uint32_t>(uid));
            break;
          case K::kFlags:
            next_item();
            has_flags = true;
            fmt::format_to(std::back_inserter(out), "FLAGS ({})", selected_->flags_of(e));
            break;
          case K::kInternalDate:
            next_item();
            out += fmt::format("INTERNALDATE \"{}\"",
                               tern::imap::format_date_time(to_unix_seconds(e.internal_date)));
            break;
          case K::kEmailId:
            // RFC 8474 §5.3.
            next_item();
            out += fmt::format("EMAILID ({})", email_object_id(e));
            break;
          case K::kThreadId:
            // RFC 8474 §5.2: NIL, as for a server that computes no thread ids.
            next_item();
            out += "THREADID NIL";
            break;
          case K::kSaveDate:
            // RFC 8514 §4.2: when the message was saved in this mailbox.
            next_item();
            out += fmt::format("SAVEDATE \"{}\"",
                               tern::imap::format_date_time(to_unix_seconds(e.save_date)));
            break;
          case K::kRfc822Size:
            next_item();
            out += fmt::format("RFC822.SIZE {}", e.size);
            break;
          case K::kEnvelope:
            next_item();
            out += "ENVELOPE ";
            out += envelope;
            break;
          case K::kBody:
            next_item();
            out += "BODY " + facts.body;
            break;
          case K::kBodyStructure:
            next_item();
            out += "BODYSTRUCTURE " + facts.bodystructure;
            break;
          case K::kRfc822:
            next_item();
            out += "RFC822 ";
            append_literal(out, raw, false);
            break;
          case K::kRfc822Header:
          case K::kRfc822Text: {
            mime::facts::Section section;
            section.text = item.kind == K::kRfc822Header ? mime::facts::SectionText::kHeader
                                                         : mime::facts::SectionText::kText;
            auto bytes = mime::facts::body_section(raw, facts, section);
            next_item();
            out += item.kind == K::kRfc822Header ? "RFC822.HEADER " : "RFC822.TEXT ";
            append_literal(out, bytes ? *bytes : std::string(), false);
            break;
          }
          case K::kBodySection: {
            auto bytes = mime::facts::body_section(raw, facts, job.sections[k]);
            std::string_view octets = bytes ? std::string_view(*bytes) : std::string_view();
            next_item();
            out += fmt::format("BODY[{}]", tern::imap::ascii_upper(item.section));
            if (item.partial) {
              out += fmt::format("<{}>", item.partial->first);
              octets = mime::facts::partial(octets, item.partial->first, item.partial->second);
            }
            out += ' ';
            append_literal(out, octets, false);
            break;
          }
          case K::kBinary: {
            auto bytes = mime::facts::binary_section(raw, facts, item.part);
            next_item();
            out += fmt::format("BINARY[{}]", part_text(item.part));
            if (!bytes) {
              if (bytes.error().code == ErrorCode::kPermanent) {
                job.unknown_cte = true;
              }
              out += " NIL";
              break;
            }
            std::string_view octets = *bytes;
            if (item.partial) {
              out += fmt::format("<{}>", item.partial->first);
              octets = mime::facts::partial(octets, item.partial->first, item.partial->second);
            }
            out += ' ';
            append_literal(out, octets, true);
            break;
          }
          case K::kBinarySize: {
            auto size = mime::facts::binary_size(facts, item.part);
            if (!size && size.error().code == ErrorCode::kPermanent) {
              job.unknown_cte = true;
            }
            next_item();
            out += fmt::format("BINARY.SIZE[{}] {}", part_text(item.part), size ? *size : 0);
            break;
          }
          case K::kPreview:
            // RFC 8970 §3.2: the preview kept with the message; never NIL, even
            // for LAZY, since nothing is computed here.
            next_item();
            out += "PREVIEW ";
            mime::facts::append_string(out, facts.preview);
            break;
          case K::kModSeq:
            if (has_modseq) {
              continue;
            }
            next_item();
            has_modseq = true;
            fmt::format_to(std::back_inserter(out), "MODSEQ ({})",
                           static_cast<std::uint64_t>(e.modseq));
            break;
        }
      }
      // RFC 9051 §6.4.9: UID FETCH responses always carry the UID.
      if (c.uid && !has_uid) {
        next_item();
        fmt::format_to(std::back_inserter(out), "UID {}", static_cast<std::uint32_t>(uid));
      }
      bool seen_now = std::find(flagged_now.begin(), flagged_now.end(), uid) != flagged_now.end();
      if (!has_flags && seen_now) {
        next_item();
        has_flags = true;
        fmt::format_to(std::back_inserter(out), "FLAGS ({})", selected_->flags_of(e));
      }
      // RFC 7162 §3.1.4: with CONDSTORE on, FLAGS go with MODSEQ; CHANGEDSINCE
      // implies MODSEQ.
      if (!has_modseq && ((condstore_ && has_flags) || c.changed_since)) {
        next_item();
        fmt::format_to(std::back_inserter(out), "MODSEQ ({})",
                       static_cast<std::uint64_t>(e.modseq));
      }
      out += ')';
      engine.untagged(out);
    }
    job.next = end;
    if (engine.output().size() - written >= shared_.options.fetch_flush_bytes &&
        job.next < job.targets.size()) {
      return Next::kMore;  // the session writes what we have and calls resume()
    }
  }
  bool unknown_cte = job.unknown_cte;
  bool expunge_issued = job.expunge_issued;
  bool uid = c.uid;
  fetching_.reset();
  sync(engine, uid);
  if (unknown_cte) {
    // RFC 3516 §4.3.
    engine.complete(Status::kNo, "UNKNOWN-CTE", "cannot decode a part's transfer encoding");
  } else if (expunge_issued) {
    // RFC 9051 §7.1: the client may want to NOOP to learn of the expunges.
    engine.complete(Status::kOk, "EXPUNGEISSUED", "some messages were expunged");
  } else {
    engine.complete(Status::kOk, "", uid ? "UID FETCH completed" : "FETCH completed");
  }
  return Next::kDone;
}

Next Handlers::store(const tern::imap::StoreCommand& c, ServerEngine& engine) {
  if (c.unchanged_since) {
    condstore_ = true;  // RFC 7162 §3.1.3
  }
  if (selected_->read_only()) {
    engine.complete(Status::kNo, "READ-ONLY", "the mailbox is read-only");
    return Next::kDone;
  }
  auto targets = resolve(c.set, c.uid);
  if (!targets) {
    engine.complete(Status::kBad, "", "invalid message sequence number");
    return Next::kDone;
  }
  domain::FlagChange change;
  change.op = c.op == tern::imap::StoreCommand::Op::kAdd      ? domain::FlagOp::kAdd
              : c.op == tern::imap::StoreCommand::Op::kRemove ? domain::FlagOp::kRemove
                                                              : domain::FlagOp::kReplace;
  if (!parse_flags(c.flags, change.flags, change.keywords)) {
    engine.complete(Status::kBad, "", "invalid flag");
    return Next::kDone;
  }
  if (c.unchanged_since) {
    change.unchanged_since = domain::ModSeq{*c.unchanged_since};
  }
  std::string modified;  // RFC 7162 §3.1.3: MODIFIED response code
  std::vector<domain::Uid> uids;
  for (const auto& t : *targets) {
    uids.push_back(t.second);
  }
  auto& mail = shared_.storage.mail();
  // Marking messages junk or not junk ($Junk, $NotJunk: Thunderbird sets them,
  // moved or not) teaches the spam filter, for the messages that gain the mark
  // only: those without one before (their entries are read first, keywords
  // compared without case) and with one after the change.
  std::optional<domain::SpamLabel> lesson;
  const auto& spam = shared_.options.spam;
  if (spam && spam->learn_from_moves && change.op != domain::FlagOp::kRemove && !uids.empty()) {
    lesson = domain::lesson_of_keywords(change.keywords);
  }
  auto marked = [&lesson](const domain::Entry& e) {
    return std::any_of(e.keywords.begin(), e.keywords.end(), [&lesson](const std::string& k) {
      return domain::label_of_keyword(k) == lesson;
    });
  };
  std::vector<domain::Uid> marked_before;  // ascending
  if (lesson) {
    auto before = mail.entries(account_->id, selected_->id(), uids.front(), uids.back()).get();
    if (!before) {
      lesson.reset();  // which messages gain the mark is unknown: teach nothing
    } else {
      for (const auto& e : *before) {
        if (marked(e)) {
          marked_before.push_back(e.uid);
        }
      }
    }
  }
  if (!uids.empty()) {
    auto result = mail.change_flags(account_->id, selected_->id(), uids, change).get();
    if (!result) {
      detail::complete_no(engine, result.error());
      return Next::kDone;
    }
    for (const auto& e : result->changed) {
      selected_->saw_own_change(e);
    }
    if (!result->changed.empty()) {
      changed();
    }
    if (lesson) {
      std::vector<domain::Entry> taught;
      for (const auto& e : result->changed) {
        if (marked(e) && !std::binary_search(marked_before.begin(), marked_before.end(), e.uid)) {
          taught.push_back(e);
        }
      }
      if (!taught.empty()) {
        // Best effort: the flags are stored whatever the model makes of them.
        (void)domain::learn_entries(shared_.storage, account_->id, taught, *lesson,
                                    spam->max_learn_per_command, spam->totals.get());
      }
    }
    std::vector<std::uint32_t> conflicts;
    for (auto uid : result->conflicts) {
      auto msn = selected_->msn_of(uid);
      conflicts.push_back(c.uid ? static_cast<std::uint32_t>(uid) : msn.value_or(0));
    }
    std::sort(conflicts.begin(), conflicts.end());
    if (!conflicts.empty()) {
      modified = "MODIFIED " + compact_set(conflicts);
    }
    if (c.silent && condstore_) {
      // RFC 7162 §3.1.3: even with .SILENT, changed messages report their MODSEQ.
      for (const auto& e : result->changed) {
        auto msn = selected_->msn_of(e.uid);
        if (!msn) {
          continue;
        }
        std::string uid_item =
            c.uid ? fmt::format("UID {} ", static_cast<std::uint32_t>(e.uid)) : "";
        engine.untagged(fmt::format("{} FETCH ({}MODSEQ ({}))", *msn, uid_item,
                                    static_cast<std::uint64_t>(e.modseq)));
      }
    }
    if (!c.silent) {
      // RFC 9051 §6.4.6: the new flags of every message in the set.
      auto entries = mail.entries(account_->id, selected_->id(), uids.front(), uids.back()).get();
      if (entries) {
        for (const auto& e : *entries) {
          auto msn = selected_->msn_of(e.uid);
          if (!msn || !std::binary_search(uids.begin(), uids.end(), e.uid) ||
              std::find(result->conflicts.begin(), result->conflicts.end(), e.uid) !=
                  result->conflicts.end()) {
            continue;
          }
          std::string uid_item =
              c.uid ? fmt::format("UID {} ", static_cast<std::uint32_t>(e.uid)) : "";
          std::string modseq =
              condstore_ ? fmt::format(" MODSEQ ({})", static_cast<std::uint64_t>(e.modseq)) : "";
          engine.untagged(fmt::format("{} FETCH ({}FLAGS ({}){})", *msn, uid_item,
                                      selected_->flags_of(e), modseq));
        }
      }
    }
  }
  sync(engine, c.uid);
  engine.complete(Status::kOk, modified, c.uid ? "UID STORE completed" : "STORE completed");
  return Next::kDone;
}

Next Handlers::copy(const tern::imap::CopyCommand& c, ServerEngine& engine) {
  std::string_view name = c.move ? (c.uid ? "UID MOVE" : "MOVE") : (c.uid ? "UID COPY" : "COPY");
  if (c.move && selected_->read_only()) {
    engine.complete(Status::kNo, "READ-ONLY", "the mailbox is read-only");
    return Next::kDone;
  }
  std::string error;
  auto target = find_mailbox(c.mailbox, error);
  if (!target) {
    engine.complete(Status::kNo, "TRYCREATE", error);
    return Next::kDone;
  }
  auto targets = resolve(c.set, c.uid);
  if (!targets) {
    engine.complete(Status::kBad, "", "invalid message sequence number");
    return Next::kDone;
  }
  std::vector<domain::Uid> uids;
  for (const auto& t : *targets) {
    if (!selected_->is_expunged(t.second)) {
      uids.push_back(t.second);
    }
  }
  if (uids.empty()) {
    sync(engine, c.uid);
    engine.complete(Status::kOk, "", fmt::format("{} completed", name));
    return Next::kDone;
  }
  auto& mail = shared_.storage.mail();
  // Filing into Junk or out of it teaches the spam filter (the entries are read
  // before a MOVE takes them out of this mailbox).
  std::optional<domain::SpamLabel> lesson;
  std::vector<domain::Entry> taught;
  const auto& spam = shared_.options.spam;
  if (spam && spam->learn_from_moves) {
    lesson = domain::lesson_of_move(selected_->mailbox(), *target);
  }
  if (lesson) {
    auto sorted = uids;
    std::sort(sorted.begin(), sorted.end());
    auto entries = mail.entries(account_->id, selected_->id(), sorted.front(), sorted.back()).get();
    if (entries) {
      for (auto& e : *entries) {
        if (std::binary_search(sorted.begin(), sorted.end(), e.uid)) {
          taught.push_back(std::move(e));
        }
      }
    }
  }
  auto result = c.move ? mail.move(account_->id, selected_->id(), uids, target->id).get()
                       : mail.copy(account_->id, selected_->id(), uids, target->id).get();
  if (!result) {
    auto f = detail::failure_for(result.error());
    engine.complete(Status::kNo, f.code == "NONEXISTENT" ? "TRYCREATE" : f.code, f.text);
    return Next::kDone;
  }
  if (lesson && !taught.empty()) {
    // Best effort: the messages were filed whatever the model makes of them.
    (void)domain::learn_entries(shared_.storage, account_->id, taught, *lesson,
                                spam->max_learn_per_command, spam->totals.get());
  }
  std::string code;
  if (result->size() == uids.size()) {
    // RFC 4315 §3: COPYUID uidvalidity source-uids destination-uids, in one order.
    std::vector<std::uint32_t> from;
    std::vector<std::uint32_t> to;
    for (std::size_t i = 0; i < uids.size(); ++i) {
      from.push_back(static_cast<std::uint32_t>(uids[i]));
      to.push_back(static_cast<std::uint32_t>((*result)[i].uid));
    }
    code = fmt::format("COPYUID {} {} {}", static_cast<std::uint32_t>(target->uid_validity),
                       compact_set(from), compact_set(to));
  }
  if (c.move) {
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
    if (!code.empty()) {
      engine.untagged(fmt::format("OK [{}] moved", code));
    }
    for (const auto& line : selected_->announce_removal(uids, qresync_)) {
      engine.untagged(line);
    }
    sync(engine, true);
    changed();
    engine.complete(Status::kOk, "", fmt::format("{} completed", name));
    return Next::kDone;
  }
  // Sync before waking the others: a copy into the selected mailbox is this
  // session's to claim as \Recent (RFC 3501 §2.3.2, as Dovecot does).
  sync(engine, c.uid);
  changed();
  engine.complete(Status::kOk, code, fmt::format("{} completed", name));
  return Next::kDone;
}

std::vector<domain::Uid> Handlers::expunge_deleted(
    const std::optional<tern::imap::SequenceSet>& uid_set, ServerEngine& engine, bool announce) {
  auto& mail = shared_.storage.mail();
  auto entries =
      mail.entries(account_->id, selected_->id(), domain::Uid{1}, domain::Uid{0xffffffffu}).get();
  std::vector<domain::Uid> gone;
  if (!entries) {
    return gone;
  }
  std::uint32_t largest = entries->empty() ? 0 : static_cast<std::uint32_t>(entries->back().uid);
  auto in_set = [&](domain::Uid uid) {
    if (!uid_set) {
      return true;
    }
    if (uid_set->is_saved_result()) {
      return std::binary_search(saved_.begin(), saved_.end(), uid);  // RFC 5182 "$"
    }
    return uid_set->contains(static_cast<std::uint32_t>(uid), largest);
  };
  for (const auto& e : *entries) {
    if ((e.flags & domain::kFlagDeleted) && selected_->msn_of(e.uid) && in_set(e.uid)) {
      gone.push_back(e.uid);
    }
  }
  if (gone.empty()) {
    return gone;
  }
  if (!mail.expunge(account_->id, selected_->id(), gone).get()) {
    return {};
  }
  auto lines = selected_->announce_removal(gone, qresync_);
  if (announce) {
    for (const auto& line : lines) {
      engine.untagged(line);
    }
  }
  changed();
  return gone;
}

Next Handlers::expunge(const tern::imap::ExpungeCommand& c, ServerEngine& engine) {
  if (selected_->read_only()) {
    engine.complete(Status::kNo, "READ-ONLY", "the mailbox is read-only");
    return Next::kDone;
  }
  expunge_deleted(c.uids, engine, true);
  sync(engine, true);
  engine.complete(Status::kOk, "", c.uids ? "UID EXPUNGE completed" : "EXPUNGE completed");
  return Next::kDone;
}

Next Handlers::close(bool expunge, ServerEngine& engine) {
  // RFC 9051 §6.4.1: CLOSE expunges silently unless the mailbox is read-only;
  // UNSELECT (RFC 3691) never does.
  if (expunge && !selected_->read_only()) {
    expunge_deleted(std::nullopt, engine, false);
  }
  selected_.reset();
  saved_.clear();
  engine.complete(Status::kOk, "", expunge ? "CLOSE completed" : "UNSELECT completed");
  return Next::kDone;
}

}  // namespace tern::services::imap
