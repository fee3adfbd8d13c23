// SPDX-License-Identifier: Apache-2.0
// Authenticated-state commands (RFC 9051 §6.3): SELECT/EXAMINE, CREATE, DELETE,
// RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "imap/mailbox_name.hpp"
#include "mime/facts/facts.hpp"
#include "mime/facts/imap_string.hpp"
#include "services/imap/handlers.hpp"
#include "services/imap/handlers_internal.hpp"
#include "services/imap/object_id.hpp"

namespace tern::services::imap {

using tern::imap::ServerEngine;
using tern::imap::Status;

namespace {

constexpr char kDelimiter = '/';

// The quoted (or literal) form of a mailbox name in LIST/STATUS responses.
std::string quote(std::string_view name) {
  std::string out;
  mime::facts::append_string(out, name);
  return out;
}

// A name or pattern as sent: modified UTF-7 until UTF8=ACCEPT is enabled, then
// UTF-8 as is (RFC 6855 §3: "&" is then just a character).
Result<std::string> decode_pattern(const std::string& wire, bool utf8) {
  if (!utf8) {
    return tern::imap::decode_mutf7(wire);
  }
  if (!tern::imap::is_valid_utf8(wire)) {
    return fail(ErrorCode::kInvalidInput, "invalid UTF-8");
  }
  return wire;
}

// `utf8` (valid UTF-8) in Unicode Normalization Form C; ASCII is returned as is.
std::string to_nfc(const std::string& utf8) {
  if (std::all_of(utf8.begin(), utf8.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return utf8;
  }
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(error);
  if (U_FAILURE(error)) {
    return utf8;
  }
  icu::UnicodeString normalized = nfc->normalize(icu::UnicodeString::fromUTF8(utf8), error);
  if (U_FAILURE(error)) {
    return utf8;
  }
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

// Storage names are UTF-8 (ARCHITECTURE.md §4); on the wire they are modified
// UTF-7 until UTF8=ACCEPT is enabled (RFC 9051 §5.1.3, RFC 6855 §3).
Result<std::string> decode_wire_name(const std::string& wire, bool utf8) {
  if (wire == "INBOX") {
    return wire;
  }
  auto decoded = decode_pattern(wire, utf8);
  if (!decoded) {
    return decoded.error();
  }
  std::string name = std::move(*decoded);
  // RFC 9051 §6.3.4: a trailing delimiter only says children are intended.
  while (name.size() > 1 && name.back() == kDelimiter) {
    name.pop_back();
  }
  if (name.empty() || name.front() == kDelimiter || name.find("//") != std::string::npos) {
    return fail(ErrorCode::kInvalidInput, "invalid mailbox name");
  }
  // RFC 9051 §5.1: names are Net-Unicode (RFC 5198): no control characters, and
  // NFC. A denormalized name is converted, so SELECT finds what CREATE made.
  if (std::any_of(name.begin(), name.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      })) {
    return fail(ErrorCode::kInvalidInput, "control characters in the mailbox name");
  }
  name = to_nfc(name);
  if (name.size() >= 5 && ascii::iequals(name.substr(0, 5), "INBOX") &&
      (name.size() == 5 || name[5] == kDelimiter)) {
    name.replace(0, 5, "INBOX");  // INBOX is case-insensitive (RFC 9051 §5.1)
  }
  return name;
}

domain::SpecialUse special_use_of(std::string_view attribute) {
  using domain::SpecialUse;
  for (SpecialUse use :
       {SpecialUse::kAll, SpecialUse::kArchive, SpecialUse::kDrafts, SpecialUse::kFlagged,
        SpecialUse::kJunk, SpecialUse::kSent, SpecialUse::kTrash}) {
    if (ascii::iequals(domain::special_use_attribute(use), attribute)) {
      return use;
    }
  }
  return SpecialUse::kNone;
}

bool has_children(const std::vector<domain::Mailbox>& all, const std::string& name) {
  std::string prefix = name + kDelimiter;
  return std::any_of(all.begin(), all.end(),
                     [&](const domain::Mailbox& m) { return m.name.rfind(prefix, 0) == 0; });
}

// Every mailbox by name, plus the levels of hierarchy above them that are no
// mailbox (nullptr), sorted by name.
std::vector<std::pair<std::string, const domain::Mailbox*>> with_placeholders(
    const std::vector<domain::Mailbox>& all) {
  std::map<std::string, const domain::Mailbox*> names;
  for (const auto& m : all) {
    names[m.name] = &m;
  }
  for (const auto& m : all) {
    for (std::size_t slash = m.name.find(kDelimiter); slash != std::string::npos;
         slash = m.name.find(kDelimiter, slash + 1)) {
      names.emplace(m.name.substr(0, slash), nullptr);  // keeps an existing mailbox
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace

std::string Handlers::list_line(const domain::Mailbox& m, const std::vector<domain::Mailbox>& all,
                                bool show_subscribed, std::string_view extended) const {
  std::string attrs = has_children(all, m.name) ? "\\HasChildren" : "\\HasNoChildren";
  if (show_subscribed && m.subscribed) {
    attrs += " \\Subscribed";
  }
  auto use = domain::special_use_attribute(m.special_use);
  if (!use.empty()) {
    attrs += ' ';
    attrs += use;
  }
  std::string line = fmt::format("LIST ({}) \"/\" {}", attrs, quoted_name(m.name));
  if (!extended.empty()) {
    line += ' ';
    line += extended;
  }
  return line;
}

std::string Handlers::oldname_item(const std::string& wire, const std::string& stored) const {
  auto supplied = decode_pattern(wire, level_.utf8_names());
  if (!level_.rev2() || !supplied) {
    return "";
  }
  while (supplied->size() > 1 && supplied->back() == kDelimiter) {
    supplied->pop_back();
  }
  if (*supplied == stored || ascii::iequals(*supplied, stored)) {
    return "";  // the same name (INBOX is case-insensitive)
  }
  return fmt::format("(\"OLDNAME\" ({}))", quoted_name(*supplied));
}

std::string Handlers::quoted_name(const std::string& stored) const {
  std::string wire = wire_name(stored);
  if (level_.utf8_names() && tern::imap::is_valid_utf8(wire)) {
    // RFC 6855 §3 / RFC 9051 §4.3: a quoted string may carry UTF-8 once enabled.
    bool printable = std::all_of(wire.begin(), wire.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u != 0x7f;
    });
    if (printable && wire.size() <= mime::facts::kMaxQuotedOctets) {
      std::string out = "\"";
      for (char c : wire) {
        if (c == '"' || c == '\\') {
          out += '\\';
        }
        out += c;
      }
      return out + '"';
    }
  }
  return quote(wire);
}

std::string Handlers::wire_name(const std::string& stored) const {
  if (level_.utf8_names()) {
    return stored;
  }
  auto encoded = tern::imap::encode_mutf7(stored);
  return encoded ? *encoded : stored;
}

std::optional<domain::Mailbox> Handlers::find_mailbox(const std::string& wire, std::string& error) {
  auto name = decode_wire_name(wire, level_.utf8_names());
  if (!name) {
    error = "invalid mailbox name";
    return std::nullopt;
  }
  auto all = shared_.storage.mail().mailboxes(account_->id).get();
  if (!all) {
    error = "mailbox list unavailable";
    return std::nullopt;
  }
  for (auto& m : *all) {
    if (m.name == *name) {
      return std::move(m);
    }
  }
  error = "no such mailbox";
  return std::nullopt;
}

Next Handlers::select(const tern::imap::SelectCommand& c, ServerEngine& engine) {
  if (selected_) {
    // RFC 7162 §3.2.11: the client learns where the old mailbox's responses end.
    engine.untagged("OK [CLOSED] previous mailbox closed");
  }
  selected_.reset();  // RFC 9051 §6.3.2: SELECT first deselects, even when it fails
  saved_.clear();     // RFC 5182 §2.1
  if (c.qresync && !qresync_) {
    engine.complete(Status::kBad, "", "QRESYNC parameter needs ENABLE QRESYNC first");
    return Next::kDone;
  }
  if (c.condstore) {
    condstore_ = true;  // RFC 7162 §3.1: a CONDSTORE-enabling command
  }
  std::string error;
  auto mailbox = find_mailbox(c.mailbox, error);
  if (!mailbox) {
    engine.complete(Status::kNo, "NONEXISTENT", error);
    return Next::kDone;
  }
  auto entries = shared_.storage.mail()
                     .entries(account_->id, mailbox->id, domain::Uid{1}, domain::Uid{0xffffffffu})
                     .get();
  if (!entries) {
    detail::complete_no(engine, entries.error());
    return Next::kDone;
  }
  MailboxView view;
  view.reset(*mailbox, *entries, c.read_only);
  std::uint32_t first_unseen = 0;
  for (std::size_t i = 0; i < entries->size(); ++i) {
    if (!((*entries)[i].flags & domain::kFlagSeen)) {
      first_unseen = static_cast<std::uint32_t>(i + 1);
      break;
    }
  }
  // RFC 3501 §6.3.1 (IMAP4rev1) required responses, in Dovecot's order; FLAGS and
  // PERMANENTFLAGS list the mailbox's keywords (RFC 9051 §7.3.5, §7.1).
  for (const auto& line : view.flags_responses()) {
    engine.untagged(line);
  }
  engine.untagged(fmt::format("{} EXISTS", view.exists()));
  selected_ = std::move(view);
  if (level_.recent()) {
    claim_recent(domain::Uid{0});  // RFC 3501 §2.3.2: SELECT claims what no one has seen
    engine.untagged(fmt::format("{} RECENT", selected_->recent_count()));
  }
  if (level_.select_lists_mailbox()) {
    // RFC 9051 §6.3.2 (App. E 10): the mailbox's LIST response.
    auto all = shared_.storage.mail().mailboxes(account_->id).get();
    if (all) {
      engine.untagged(list_line(*mailbox, *all, false, oldname_item(c.mailbox, mailbox->name)));
    }
  }
  if (first_unseen != 0 && level_.select_sends_unseen()) {
    engine.untagged(fmt::format("OK [UNSEEN {}] first unseen", first_unseen));
  }
  engine.untagged(fmt::format("OK [UIDVALIDITY {}] UIDs valid",
                              static_cast<std::uint32_t>(mailbox->uid_validity)));
  engine.untagged(fmt::format("OK [UIDNEXT {}] predicted next UID",
                              static_cast<std::uint32_t>(mailbox->uid_next)));
  // RFC 8474 §4.2: every SELECT/EXAMINE of a server with OBJECTID names it.
  engine.untagged(fmt::format("OK [MAILBOXID ({})] mailbox id", mailbox_object_id(*mailbox)));
  // RFC 7162 §3.1.2.1: every SELECT/EXAMINE of a server with CONDSTORE says it.
  engine.untagged(
      fmt::format("OK [HIGHESTMODSEQ {}] highest",
                  std::max<std::uint64_t>(1, static_cast<std::uint64_t>(mailbox->highest_modseq))));
  if (c.qresync && c.qresync->uid_validity == static_cast<std::uint32_t>(mailbox->uid_validity)) {
    // RFC 7162 §3.2.5.1: what vanished and what changed since the client's modseq.
    // The store keeps exact tombstones, so the known-sequence-set hint is not needed.
    auto changes = shared_.storage.mail()
                       .changes_since(account_->id, mailbox->id, domain::ModSeq{c.qresync->modseq})
                       .get();
    if (changes) {
      std::uint32_t largest = static_cast<std::uint32_t>(mailbox->uid_next) - 1;
      std::vector<std::uint32_t> vanished;
      for (auto uid : changes->vanished) {
        auto u = static_cast<std::uint32_t>(uid);
        if (!c.qresync->known_uids || c.qresync->known_uids->contains(u, largest)) {
          vanished.push_back(u);
        }
      }
      std::sort(vanished.begin(), vanished.end());
      if (!vanished.empty()) {
        engine.untagged("VANISHED (EARLIER) " + compact_set(vanished));
      }
      std::sort(changes->changed.begin(), changes->changed.end(),
                [](const domain::Entry& a, const domain::Entry& b) { return a.uid < b.uid; });
      for (const auto& e : changes->changed) {
        auto msn = selected_->msn_of(e.uid);
        if (!msn) {
          continue;
        }
        engine.untagged(fmt::format("{} FETCH (UID {} FLAGS ({}) MODSEQ ({}))", *msn,
                                    static_cast<std::uint32_t>(e.uid), selected_->flags_of(e),
                                    static_cast<std::uint64_t>(e.modseq)));
      }
    }
  }
  engine.complete(Status::kOk, c.read_only ? "READ-ONLY" : "READ-WRITE",
                  c.read_only ? "EXAMINE completed" : "SELECT completed");
  return Next::kDone;
}

Next Handlers::create(const tern::imap::CreateCommand& c, ServerEngine& engine) {
  auto name = decode_wire_name(c.mailbox, level_.utf8_names());
  if (!name) {
    engine.complete(Status::kNo, "CANNOT", "invalid mailbox name");
    return Next::kDone;
  }
  if (*name == "INBOX") {
    engine.complete(Status::kNo, "ALREADYEXISTS", "INBOX always exists");
    return Next::kDone;
  }
  domain::SpecialUse use = domain::SpecialUse::kNone;
  if (c.special_use.size() > 1) {
    engine.complete(Status::kNo, "USEATTR", "one special use per mailbox");
    return Next::kDone;
  }
  if (!c.special_use.empty()) {
    use = special_use_of(c.special_use[0]);
    if (use == domain::SpecialUse::kNone) {
      // RFC 6154 §3: an unknown or unsupported attribute.
      engine.complete(Status::kNo, "USEATTR", "unsupported special-use attribute");
      return Next::kDone;
    }
  }
  // RFC 9051 §6.3.4: superior names that do not exist yet are created too.
  auto& mail = shared_.storage.mail();
  auto existing = mail.mailboxes(account_->id).get();
  for (std::size_t slash = name->find(kDelimiter); slash != std::string::npos && existing;
       slash = name->find(kDelimiter, slash + 1)) {
    std::string parent = name->substr(0, slash);
    bool found = std::any_of(existing->begin(), existing->end(),
                             [&](const domain::Mailbox& m) { return m.name == parent; });
    if (!found) {
      (void)mail.create_mailbox(account_->id, parent, domain::SpecialUse::kNone).get();
    }
  }
  auto created = mail.create_mailbox(account_->id, *name, use).get();
  if (!created) {
    detail::complete_no(engine, created.error());
    return Next::kDone;
  }
  if (auto oldname = oldname_item(c.mailbox, *name); !oldname.empty()) {
    // RFC 9051 §6.3.4: the name was normalized; say which one was created.
    engine.untagged(fmt::format("LIST () \"/\" {} {}", quoted_name(*name), oldname));
  }
  changed();
  // RFC 8474 §4.1: the created mailbox's MAILBOXID in the tagged OK.
  engine.complete(Status::kOk, fmt::format("MAILBOXID ({})", mailbox_object_id(*created)),
                  "CREATE completed");
  return Next::kDone;
}

Next Handlers::remove(const tern::imap::DeleteCommand& c, ServerEngine& engine) {
  std::string error;
  auto mailbox = find_mailbox(c.mailbox, error);
  if (!mailbox) {
    engine.complete(Status::kNo, "NONEXISTENT", error);
    return Next::kDone;
  }
  if (mailbox->name == "INBOX") {
    engine.complete(Status::kNo, "CANNOT", "INBOX cannot be deleted");  // RFC 9051 §6.3.5
    return Next::kDone;
  }
  if (selected_ && selected_->id() == mailbox->id) {
    engine.complete(Status::kNo, "INUSE", "the mailbox is selected");
    return Next::kDone;
  }
  auto done = shared_.storage.mail().delete_mailbox(account_->id, mailbox->id).get();
  if (!done) {
    detail::complete_no(engine, done.error());
    return Next::kDone;
  }
  changed();
  engine.complete(Status::kOk, "", "DELETE completed");
  return Next::kDone;
}

Next Handlers::rename(const tern::imap::RenameCommand& c, ServerEngine& engine) {
  std::string error;
  auto from = find_mailbox(c.from, error);
  if (!from) {
    engine.complete(Status::kNo, "NONEXISTENT", error);
    return Next::kDone;
  }
  auto to = decode_wire_name(c.to, level_.utf8_names());
  if (!to || *to == "INBOX") {
    engine.complete(Status::kNo, "CANNOT", "invalid target name");
    return Next::kDone;
  }
  auto& mail = shared_.storage.mail();
  if (from->name == "INBOX") {
    // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new mailbox and
    // leaves INBOX empty.
    auto target = mail.create_mailbox(account_->id, *to, domain::SpecialUse::kNone).get();
    if (!target) {
      detail::complete_no(engine, target.error());
      return Next::kDone;
    }
    auto entries =
        mail.entries(account_->id, from->id, domain::Uid{1}, domain::Uid{0xffffffffu}).get();
    if (entries && !entries->empty()) {
      std::vector<domain::Uid> uids;
      for (const auto& e : *entries) {
        uids.push_back(e.uid);
      }
      auto moved = mail.move(account_->id, from->id, uids, target->id).get();
      if (!moved) {
        detail::complete_no(engine, moved.error());
        return Next::kDone;
      }
    }
    changed();
    engine.complete(Status::kOk, "", "RENAME completed");
    return Next::kDone;
  }
  // Inferior names move with their parent (RFC 9051 §6.3.6).
  auto all = mail.mailboxes(account_->id).get();
  auto renamed = mail.rename_mailbox(account_->id, from->id, *to).get();
  if (!renamed) {
    detail::complete_no(engine, renamed.error());
    return Next::kDone;
  }
  if (all) {
    std::string prefix = from->name + kDelimiter;
    for (const auto& m : *all) {
      if (m.name.rfind(prefix, 0) == 0) {
        (void)mail
            .rename_mailbox(account_->id, m.id, *to + kDelimiter + m.name.substr(prefix.size()))
            .get();
      }
    }
  }
  // RFC 9051 §6.3.6: a normalized name is announced with the name the client sent.
  std::string oldname = oldname_item(c.from, from->name);
  if (oldname.empty()) {
    oldname = oldname_item(c.to, *to).empty()
                  ? ""
                  : fmt::format("(\"OLDNAME\" ({}))", quoted_name(from->name));
  }
  if (!oldname.empty()) {
    engine.untagged(fmt::format("LIST () \"/\" {} {}", quoted_name(*to), oldname));
  }
  changed();
  engine.complete(Status::kOk, "", "RENAME completed");
  return Next::kDone;
}

Next Handlers::subscribe(const tern::imap::SubscribeCommand& c, ServerEngine& engine) {
  std::string error;
  auto mailbox = find_mailbox(c.mailbox, error);
  if (!mailbox) {
    engine.complete(Status::kNo, "NONEXISTENT", error);
    return Next::kDone;
  }
  auto done = shared_.storage.mail().set_subscribed(account_->id, mailbox->id, c.subscribe).get();
  if (!done) {
    detail::complete_no(engine, done.error());
    return Next::kDone;
  }
  engine.complete(Status::kOk, "", c.subscribe ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
  return Next::kDone;
}

Next Handlers::list(const tern::imap::ListCommand& c, ServerEngine& engine) {
  if (!c.extended && c.patterns[0].empty()) {
    // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and root.
    engine.untagged("LIST (\\Noselect) \"/\" \"\"");
    engine.complete(Status::kOk, "", "LIST completed");
    return Next::kDone;
  }
  auto ref = decode_pattern(c.reference, level_.utf8_names());
  if (!ref) {
    engine.complete(Status::kBad, "", "invalid modified UTF-7 in the reference");
    return Next::kDone;
  }
  std::vector<std::string> patterns;
  for (const auto& p : c.patterns) {
    auto pat = decode_pattern(p, level_.utf8_names());
    if (!pat) {
      engine.complete(Status::kBad, "", "invalid modified UTF-7 in the pattern");
      return Next::kDone;
    }
    patterns.push_back(*ref + *pat);
  }
  auto all = shared_.storage.mail().mailboxes(account_->id).get();
  if (!all) {
    detail::complete_no(engine, all.error());
    return Next::kDone;
  }
  auto matches = [&](const domain::Mailbox& m) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
      return list_match(p, m.name) || (m.name == "INBOX" && ascii::iequals(p, "INBOX"));
    });
  };
  // RFC 5258 §3 selection options, RFC 6154 §5.1 SPECIAL-USE selection.
  auto selected_by_options = [&](const domain::Mailbox& m) {
    return (!c.select_subscribed || m.subscribed) &&
           (!c.select_special_use || m.special_use != domain::SpecialUse::kNone);
  };
  bool show_subscribed = c.select_subscribed || c.return_subscribed;
  // RFC 9051 §6.3.9: a pattern ending in "%" also matches levels of hierarchy that
  // are no mailbox ("a" when only "a/b" exists); they are listed as placeholders.
  bool percent_last = std::any_of(patterns.begin(), patterns.end(), [](const std::string& p) {
    return !p.empty() && p.back() == '%';
  });
  for (const auto& [name, m] : with_placeholders(*all)) {
    bool matched = m != nullptr
                       ? matches(*m)
                       : std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
                           return !p.empty() && p.back() == '%' && list_match(p, name);
                         });
    if (!matched) {
      continue;
    }
    bool selected = m != nullptr ? selected_by_options(*m)
                                 : percent_last && !c.select_subscribed && !c.select_special_use;
    // RFC 5258 §3.5 RECURSIVEMATCH: a parent whose descendants meet the selection
    // is listed with CHILDINFO even when it does not meet it itself.
    bool child_selected = false;
    if (c.select_recursive_match && !selected) {
      std::string prefix = name + kDelimiter;
      child_selected = std::any_of(all->begin(), all->end(), [&](const domain::Mailbox& d) {
        return d.name.rfind(prefix, 0) == 0 && selected_by_options(d);
      });
    }
    if (!selected && !child_selected) {
      continue;
    }
    std::string extended;
    if (child_selected) {
      std::vector<std::string> info;
      if (c.select_subscribed) {
        info.emplace_back("\"SUBSCRIBED\"");
      }
      if (c.select_special_use) {
        info.emplace_back("\"SPECIAL-USE\"");
      }
      extended = fmt::format("(\"CHILDINFO\" ({}))", fmt::join(info, " "));
    }
    if (m == nullptr) {
      engine.untagged(fmt::format("LIST ({} \\HasChildren) \"/\" {}{}{}",
                                  level_.placeholder_attribute(), quoted_name(name),
                                  extended.empty() ? "" : " ", extended));
      continue;
    }
    engine.untagged(list_line(*m, *all, show_subscribed, extended));
    // RFC 5819 §2: LIST-STATUS sends STATUS right after each selectable mailbox.
    if (c.return_status && selected) {
      auto status = status_line(*m, *c.return_status);
      if (status) {
        engine.untagged(*status);
      }
    }
  }
  engine.complete(Status::kOk, "", "LIST completed");
  return Next::kDone;
}

Next Handlers::lsub(const tern::imap::LsubCommand& c, ServerEngine& engine) {
  auto ref = decode_pattern(c.reference, level_.utf8_names());
  auto pat = decode_pattern(c.pattern, level_.utf8_names());
  if (!ref || !pat) {
    engine.complete(Status::kBad, "", "invalid modified UTF-7 in the pattern");
    return Next::kDone;
  }
  auto all = shared_.storage.mail().mailboxes(account_->id).get();
  if (!all) {
    detail::complete_no(engine, all.error());
    return Next::kDone;
  }
  for (const auto& m : *all) {
    if (m.subscribed && list_match(*ref + *pat, m.name)) {
      engine.untagged(fmt::format("LSUB () \"/\" {}", quoted_name(m.name)));
    }
  }
  engine.complete(Status::kOk, "", "LSUB completed");
  return Next::kDone;
}

Result<std::string> Handlers::status_line(const domain::Mailbox& mailbox,
                                          const std::vector<tern::imap::StatusItem>& wanted) {
  auto entries = shared_.storage.mail()
                     .entries(account_->id, mailbox.id, domain::Uid{1}, domain::Uid{0xffffffffu})
                     .get();
  if (!entries) {
    return entries.error();
  }
  std::uint64_t unseen = 0, deleted = 0, size = 0, deleted_size = 0;
  for (const auto& e : *entries) {
    unseen += (e.flags & domain::kFlagSeen) ? 0 : 1;
    deleted += (e.flags & domain::kFlagDeleted) ? 1 : 0;
    deleted_size += (e.flags & domain::kFlagDeleted) ? e.size : 0;
    size += e.size;
  }
  std::string items;
  for (auto item : wanted) {
    using tern::imap::StatusItem;
    std::uint64_t value = 0;
    switch (item) {
      case StatusItem::kMessages:
        value = entries->size();
        break;
      case StatusItem::kUidNext:
        value = static_cast<std::uint32_t>(mailbox.uid_next);
        break;
      case StatusItem::kUidValidity:
        value = static_cast<std::uint32_t>(mailbox.uid_validity);
        break;
      case StatusItem::kUnseen:
        value = unseen;
        break;
      case StatusItem::kDeleted:
        value = deleted;
        break;
      case StatusItem::kSize:
        value = size;
        break;
      case StatusItem::kDeletedStorage:
        // RFC 9208 §4.1.4: exact here, since the quota counts message sizes
        // (bytes, unlike the KiB of the STORAGE resource).
        value = deleted_size;
        break;
      case StatusItem::kRecent: {
        // RFC 3501 §6.3.10: what the next SELECT would see as recent.
        domain::Uid claimed = shared_.hub.recent_claimed(mailbox.id);
        value = static_cast<std::uint64_t>(
            std::count_if(entries->begin(), entries->end(),
                          [&](const domain::Entry& e) { return e.uid > claimed; }));
        break;
      }
      case StatusItem::kAppendLimit:
        value = shared_.options.max_append_bytes;
        break;
      case StatusItem::kHighestModSeq:
        condstore_ = true;  // RFC 7162 §3.1
        value = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(mailbox.highest_modseq));
        break;
      case StatusItem::kMailboxId:
        break;  // not a number: written below
    }
    if (!items.empty()) {
      items += ' ';
    }
    if (item == StatusItem::kMailboxId) {
      // RFC 8474 §4.3: status-att-val =/ "MAILBOXID" SP "(" objectid ")".
      items += fmt::format("MAILBOXID ({})", mailbox_object_id(mailbox));
      continue;
    }
    items += fmt::format("{} {}", tern::imap::status_item_name(item), value);
  }
  return fmt::format("STATUS {} ({})", quoted_name(mailbox.name), items);
}

Next Handlers::status(const tern::imap::StatusCommand& c, ServerEngine& engine) {
  std::string error;
  auto mailbox = find_mailbox(c.mailbox, error);
  if (!mailbox) {
    engine.complete(Status::kNo, "NONEXISTENT", error);
    return Next::kDone;
  }
  auto line = status_line(*mailbox, c.items);
  if (!line) {
    detail::complete_no(engine, line.error());
    return Next::kDone;
  }
  engine.untagged(*line);
  engine.complete(Status::kOk, "", "STATUS completed");
  return Next::kDone;
}

// RFC 9208 §3.2: each account is one quota root, named "", over all its
// mailboxes. Its one resource is STORAGE (§5.1, in KiB): the sizes of the
// account's messages, the figure the store checks appends against. An account
// without a quota has a root with no limits: "()".
Result<std::string> Handlers::quota_line() {
  auto account = shared_.storage.directory().find_account_by_id(account_->id).get();
  if (!account) {
    return account.error();
  }
  if (!*account) {
    return Error{ErrorCode::kNotFound, "the account no longer exists"};
  }
  const auto& a = **account;
  if (a.quota_bytes == 0) {
    return std::string("QUOTA \"\" ()");
  }
  // Usage rounds up and the limit down, so a full account never shows room.
  return fmt::format("QUOTA \"\" (STORAGE {} {})", (a.used_bytes + 1023) / 1024,
                     a.quota_bytes / 1024);
}

Next Handlers::get_quota(const tern::imap::GetQuotaCommand& c, ServerEngine& engine) {
  if (!c.root.empty()) {
    engine.complete(Status::kNo, "NONEXISTENT", "no such quota root");
    return Next::kDone;
  }
  auto line = quota_line();
  if (!line) {
    detail::complete_no(engine, line.error());
    return Next::kDone;
  }
  engine.untagged(*line);
  engine.complete(Status::kOk, "", "GETQUOTA completed");
  return Next::kDone;
}

Next Handlers::get_quota_root(const tern::imap::GetQuotaRootCommand& c, ServerEngine& engine) {
  // RFC 9208 §4.1.2: the mailbox need not exist; every name of this account's
  // has the root "". The name is echoed in the session's encoding, as LIST does.
  auto name = decode_wire_name(c.mailbox, level_.utf8_names());
  if (!name) {
    engine.complete(Status::kNo, "CANNOT", "invalid mailbox name");
    return Next::kDone;
  }
  auto line = quota_line();
  if (!line) {
    detail::complete_no(engine, line.error());
    return Next::kDone;
  }
  engine.untagged(fmt::format("QUOTAROOT {} \"\"", quoted_name(*name)));
  engine.untagged(*line);
  engine.complete(Status::kOk, "", "GETQUOTAROOT completed");
  return Next::kDone;
}

Next Handlers::append(const tern::imap::AppendCommand& c, ServerEngine& engine) {
  // Every message is checked before any is stored: MULTIAPPEND (RFC 3502 §6.3.11) is
  // all or nothing.
  std::vector<domain::AppendTarget> targets(c.messages.size());
  for (std::size_t i = 0; i < c.messages.size(); ++i) {
    const auto& message = c.messages[i];
    if (message.utf8 && !level_.utf8_accept()) {
      // RFC 6855 §4: the UTF8 APPEND data extension needs ENABLE UTF8=ACCEPT.
      engine.complete(Status::kBad, "", "UTF8 APPEND needs ENABLE UTF8=ACCEPT first");
      return Next::kDone;
    }
    if (message.data.size() > shared_.options.max_append_bytes) {
      engine.complete(Status::kNo, "TOOBIG", "message too large");
      return Next::kDone;
    }
    if (!parse_flags(message.flags, targets[i].flags, targets[i].keywords)) {
      engine.complete(Status::kBad, "", "invalid flag");
      return Next::kDone;
    }
  }
  std::string error;
  auto mailbox = find_mailbox(c.mailbox, error);
  if (!mailbox) {
    // RFC 9051 §6.3.12: TRYCREATE tells the client it may CREATE and retry.
    engine.complete(Status::kNo, "TRYCREATE", error);
    return Next::kDone;
  }
  // The store commits one message per append(); when one fails part-way, the ones
  // already stored are expunged again (compensation) before the NO, so the client
  // never finds part of a MULTIAPPEND. Other sessions are woken only on success.
  auto& mail = shared_.storage.mail();
  std::vector<domain::Uid> stored_uids;
  auto undo = [&] {
    if (!stored_uids.empty()) {
      (void)mail.expunge(account_->id, mailbox->id, stored_uids).get();
    }
  };
  for (std::size_t i = 0; i < c.messages.size(); ++i) {
    const auto& message = c.messages[i];
    targets[i].account = account_->id;
    targets[i].mailbox = mailbox->id;
    domain::NewMessage stored;
    stored.raw = message.data;
    stored.internal_date = message.internal_date
                               ? SystemTime(std::chrono::seconds(*message.internal_date))
                               : shared_.clock.now();
    stored.facts = mime::facts::encode_facts(mime::facts::compute_facts(stored.raw));
    auto results = mail.append(std::move(stored), {targets[i]}).get();
    if (!results || !(*results)[0]) {
      undo();
      detail::complete_no(engine, results ? (*results)[0].error() : results.error());
      return Next::kDone;
    }
    stored_uids.push_back((*results)[0]->uid);
  }
  // Sync before waking the others: an append to the selected mailbox is this
  // session's to claim as \Recent (RFC 3501 §2.3.2, as Dovecot does).
  if (selected_ && selected_->id() == mailbox->id) {
    sync(engine, true);
  }
  changed();
  // RFC 4315 §3: APPENDUID uidvalidity uid-set (one UID per message, in order).
  std::vector<std::uint32_t> uids;
  for (auto uid : stored_uids) {
    uids.push_back(static_cast<std::uint32_t>(uid));
  }
  engine.complete(Status::kOk,
                  fmt::format("APPENDUID {} {}", static_cast<std::uint32_t>(mailbox->uid_validity),
                              compact_set(uids)),
                  "APPEND completed");
  return Next::kDone;
}

}  // namespace tern::services::imap
