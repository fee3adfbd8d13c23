// SPDX-License-Identifier: Apache-2.0
// Dispatch and the commands valid in any state (RFC 9051 §6.1), plus the IDLE and
// session-wide plumbing the other handler files share.
#include "services/imap/handlers.hpp"

#include <fmt/format.h>

#include "services/imap/handlers_internal.hpp"

namespace tern::services::imap {

using tern::imap::ServerEngine;
using tern::imap::Status;

std::optional<domain::AccountId> Handlers::account() const {
  if (!account_) {
    return std::nullopt;
  }
  return account_->id;
}

std::chrono::milliseconds Handlers::take_delay() {
  auto d = delay_;
  delay_ = std::chrono::milliseconds(0);
  return d;
}

bool Handlers::plaintext_allowed() const {
  return domain::plaintext_auth_allowed(info_.tls, info_.loopback,
                                        shared_.options.allow_plaintext_on_loopback);
}

std::vector<std::string> Handlers::capabilities() const {
  // Exactly what is implemented (docs/adr/0009-imap-server.md lists what is not).
  // Both revisions: a client picks IMAP4rev2 with ENABLE (RFC 9051 §6.3.1).
  std::vector<std::string> caps = {"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR",
                                   "ID",        "ENABLE",    "IDLE"};
  if (!account_) {
    if (info_.starttls_available && !info_.tls) {
      caps.emplace_back("STARTTLS");
    }
    bool plaintext = plaintext_allowed();
    for (const auto& mech : sasl::advertised_mechanisms(plaintext, info_.channel_bindings.any())) {
      caps.push_back("AUTH=" + mech);
    }
    if (!plaintext) {
      caps.emplace_back("LOGINDISABLED");
    }
    return caps;
  }
  for (const char* c : {"NAMESPACE",
                        "UNSELECT",
                        "UIDPLUS",
                        "MOVE",
                        "CHILDREN",
                        "BINARY",
                        "CREATE-SPECIAL-USE",
                        "MULTIAPPEND",
                        "STATUS=SIZE",
                        "CONDSTORE",
                        "QRESYNC",
                        "ESEARCH",
                        "SEARCHRES",
                        "LIST-EXTENDED",
                        "LIST-STATUS",
                        "SPECIAL-USE",
                        "UTF8=ACCEPT",
                        "COMPRESS=DEFLATE",
                        "QUOTA",
                        "QUOTA=RES-STORAGE",
                        "SORT",
                        "SORT=DISPLAY",
                        "ESORT",
                        "PREVIEW",
                        "WITHIN",
                        "SAVEDATE",
                        "OBJECTID",
                        "THREAD=ORDEREDSUBJECT",
                        "THREAD=REFERENCES"}) {
    caps.emplace_back(c);
  }
  caps.push_back(fmt::format("APPENDLIMIT={}", shared_.options.max_append_bytes));
  return caps;
}

std::string Handlers::greeting() const {
  return fmt::format("OK [CAPABILITY {}] tern IMAP ready", fmt::join(capabilities(), " "));
}

void Handlers::changed() {
  if (!account_) {
    return;
  }
  if (engine_ != nullptr && selected_ && selected_->take_new_keywords()) {
    for (const auto& line : selected_->flags_responses()) {
      engine_->untagged(line);
    }
  }
  if (in_command_) {
    notify_pending_ = true;
    return;
  }
  shared_.hub.notify(account_->id, hub_token_);
}

Next Handlers::handle(const tern::imap::CommandReady& ready, ServerEngine& engine) {
  using namespace tern::imap;

  // Other sessions are woken only once the command is done, so the session that
  // appended a message has claimed it as \Recent in its own responses first
  // (RFC 3501 §2.3.2: recent for "the first session to have been notified"), as in
  // Dovecot, instead of racing an IDLE session for it.
  struct NotifyAfter {
    Handlers& h;

    ~NotifyAfter() {
      h.in_command_ = false;
      h.engine_ = nullptr;
      if (h.notify_pending_) {
        h.notify_pending_ = false;
        h.changed();
      }
    }
  } notify_after{*this};

  in_command_ = true;
  engine_ = &engine;
  const Command& command = ready.command;
  return std::visit(
      [&](const auto& c) -> Next {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CapabilityCommand>) {
          engine.untagged(fmt::format("CAPABILITY {}", fmt::join(capabilities(), " ")));
          engine.complete(Status::kOk, "", "CAPABILITY completed");
        } else if constexpr (std::is_same_v<T, NoopCommand> || std::is_same_v<T, CheckCommand>) {
          sync(engine, true);
          engine.complete(Status::kOk, "", fmt::format("{} completed", command_name(command)));
        } else if constexpr (std::is_same_v<T, LogoutCommand>) {
          engine.untagged("BYE logging out");
          engine.complete(Status::kOk, "", "LOGOUT completed");
        } else if constexpr (std::is_same_v<T, IdCommand>) {
          // RFC 2971 §3.2: the server's own fields; what the client sent is only logged.
          engine.untagged("ID (\"name\" \"tern\")");
          engine.complete(Status::kOk, "", "ID completed");
        } else if constexpr (std::is_same_v<T, StartTlsCommand>) {
          if (!info_.starttls_available || info_.tls) {
            engine.complete(Status::kBad, "", "STARTTLS is not available");
          } else {
            engine.complete(Status::kOk, "", "begin TLS negotiation now");
          }
        } else if constexpr (std::is_same_v<T, LoginCommand>) {
          return login(c, engine);
        } else if constexpr (std::is_same_v<T, AuthenticateCommand>) {
          return authenticate(c, engine);
        } else if constexpr (std::is_same_v<T, EnableCommand>) {
          // RFC 5161 §3.1: only extensions this server has that change behaviour can be
          // enabled: IMAP4rev2 (RFC 9051 §6.3.1), CONDSTORE and QRESYNC (RFC 7162),
          // UTF8=ACCEPT (RFC 6855).
          std::string enabled = "ENABLED";
          for (const auto& name : c.capabilities) {
            if (name == "IMAP4REV2" && !level_.rev2()) {
              level_.enable_rev2();
              enabled += " IMAP4rev2";
            } else if (name == "CONDSTORE" && !condstore_) {
              condstore_ = true;
              enabled += " CONDSTORE";
            } else if (name == "UTF8=ACCEPT" && !level_.utf8_accept()) {
              level_.enable_utf8_accept();
              enabled += " UTF8=ACCEPT";
            } else if (name == "QRESYNC" && !qresync_) {
              // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
              qresync_ = true;
              condstore_ = true;
              enabled += " QRESYNC";
            }
          }
          engine.untagged(enabled);
          engine.complete(Status::kOk, "", "ENABLE completed");
        } else if constexpr (std::is_same_v<T, SelectCommand>) {
          return select(c, engine);
        } else if constexpr (std::is_same_v<T, CreateCommand>) {
          return create(c, engine);
        } else if constexpr (std::is_same_v<T, DeleteCommand>) {
          return remove(c, engine);
        } else if constexpr (std::is_same_v<T, RenameCommand>) {
          return rename(c, engine);
        } else if constexpr (std::is_same_v<T, SubscribeCommand>) {
          return subscribe(c, engine);
        } else if constexpr (std::is_same_v<T, ListCommand>) {
          return list(c, engine);
        } else if constexpr (std::is_same_v<T, LsubCommand>) {
          return lsub(c, engine);
        } else if constexpr (std::is_same_v<T, NamespaceCommand>) {
          // RFC 2342: one personal namespace, no prefix, "/" as the delimiter.
          engine.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
          engine.complete(Status::kOk, "", "NAMESPACE completed");
        } else if constexpr (std::is_same_v<T, StatusCommand>) {
          return status(c, engine);
        } else if constexpr (std::is_same_v<T, AppendCommand>) {
          return append(c, engine);
        } else if constexpr (std::is_same_v<T, GetQuotaCommand>) {
          return get_quota(c, engine);
        } else if constexpr (std::is_same_v<T, GetQuotaRootCommand>) {
          return get_quota_root(c, engine);
        } else if constexpr (std::is_same_v<T, SetQuotaCommand>) {
          // RFC 9208 §4.1.3: SETQUOTA needs QUOTASET, which tern does not
          // advertise: limits are the administrator's (`tern user quota`).
          engine.complete(Status::kNo, "NOPERM", "quotas are set by the administrator");
        } else if constexpr (std::is_same_v<T, IdleCommand>) {
          engine.continuation("idling");
          sync(engine, true);
          return Next::kWait;
        } else if constexpr (std::is_same_v<T, CompressCommand>) {
          // RFC 4978 §3: the session switches the stream once this OK is sent.
          if (compress_active_) {
            engine.complete(Status::kNo, "COMPRESSIONACTIVE", "DEFLATE is already active");
          } else if (c.mechanism != "DEFLATE") {
            engine.complete(Status::kBad, "", "unknown compression mechanism");
          } else {
            compress_active_ = true;
            engine.complete(Status::kOk, "", "DEFLATE active");
          }
        } else if constexpr (std::is_same_v<T, CloseCommand>) {
          return close(true, engine);
        } else if constexpr (std::is_same_v<T, UnselectCommand>) {
          return close(false, engine);
        } else if constexpr (std::is_same_v<T, ExpungeCommand>) {
          return expunge(c, engine);
        } else if constexpr (std::is_same_v<T, SearchCommand>) {
          return search(c, engine);
        } else if constexpr (std::is_same_v<T, SortCommand>) {
          return sort(c, engine);
        } else if constexpr (std::is_same_v<T, ThreadCommand>) {
          return thread(c, engine);
        } else if constexpr (std::is_same_v<T, FetchCommand>) {
          announce_keywords(engine);
          return fetch(c, engine);
        } else if constexpr (std::is_same_v<T, StoreCommand>) {
          return store(c, engine);
        } else if constexpr (std::is_same_v<T, CopyCommand>) {
          return copy(c, engine);
        }
        return Next::kDone;
      },
      command);
}

Next Handlers::resume(ServerEngine& engine) {
  struct EngineScope {
    Handlers& h;

    ~EngineScope() { h.engine_ = nullptr; }
  } scope{*this};

  engine_ = &engine;
  return fetch_some(engine);
}

void Handlers::idle_done(ServerEngine& engine) {
  sync(engine, true);
  engine.complete(Status::kOk, "", "IDLE terminated");
}

void Handlers::idle_poll(ServerEngine& engine) {
  sync(engine, true);
}

void Handlers::tls_started(sasl::ChannelBindings bindings) {
  info_.tls = true;
  info_.channel_bindings = std::move(bindings);
}

std::optional<std::vector<std::pair<std::uint32_t, domain::Uid>>> Handlers::resolve(
    const tern::imap::SequenceSet& set, bool uid) const {
  if (!set.is_saved_result()) {
    return selected_->resolve(set, uid);
  }
  // RFC 5182 §2.1: "$" names the saved messages still in the mailbox, whether the
  // command takes MSNs or UIDs.
  std::vector<std::pair<std::uint32_t, domain::Uid>> out;
  for (auto u : saved_) {
    if (auto msn = selected_->msn_of(u)) {
      out.emplace_back(*msn, u);
    }
  }
  return out;
}

void Handlers::sync(ServerEngine& engine, bool expunges_allowed) {
  if (!selected_ || !account_) {
    return;
  }
  auto changes = shared_.storage.mail()
                     .changes_since(account_->id, selected_->id(), selected_->highest_modseq())
                     .get();
  if (!changes) {
    return;  // the mailbox went away under us; the next command will say so
  }
  auto newest = [this] {
    return selected_->exists() == 0 ? domain::Uid{0} : selected_->uid_at(selected_->exists());
  };
  domain::Uid newest_before = newest();
  auto lines = selected_->sync(*changes, expunges_allowed, condstore_, qresync_);
  bool announced_new = !lines.empty() && lines.back().ends_with(" EXISTS");
  if (level_.recent() && newest() > newest_before) {
    // RFC 3501 §2.3.2: this session is the first to be told of the new messages
    // unless another session claimed them first.
    claim_recent(newest_before);
  }
  for (const auto& line : lines) {
    engine.untagged(line);
  }
  if (level_.recent() && announced_new) {
    engine.untagged(fmt::format("{} RECENT", selected_->recent_count()));  // RFC 3501 §7.3.2
  }
}

void Handlers::announce_keywords(ServerEngine& engine) {
  if (!selected_ || !account_) {
    return;
  }
  auto changes = shared_.storage.mail()
                     .changes_since(account_->id, selected_->id(), selected_->highest_modseq())
                     .get();
  if (!changes) {
    return;  // the command itself will report what is wrong
  }
  selected_->learn_keywords(changes->changed);
  if (selected_->take_new_keywords()) {
    for (const auto& line : selected_->flags_responses()) {
      engine.untagged(line);
    }
  }
}

void Handlers::claim_recent(domain::Uid after_uid) {
  if (selected_->exists() == 0) {
    return;
  }
  domain::Uid newest = selected_->uid_at(selected_->exists());
  if (newest <= after_uid) {
    return;
  }
  // EXAMINE does not claim (RFC 3501 §6.3.2): it sees as recent what no session
  // has claimed yet, and leaves it recent for the next SELECT.
  domain::Uid claimed = selected_->read_only() ? shared_.hub.recent_claimed(selected_->id())
                                               : shared_.hub.claim_recent(selected_->id(), newest);
  selected_->add_recent(std::max(claimed, after_uid), newest);
}

bool parse_flags(const std::vector<std::string>& names, domain::Flags& flags,
                 std::vector<std::string>& keywords) {
  for (const auto& name : names) {
    if (!name.empty() && name[0] == '\\') {
      std::string lower = ascii::lower(name);
      if (lower == "\\seen") {
        flags |= domain::kFlagSeen;
      } else if (lower == "\\answered") {
        flags |= domain::kFlagAnswered;
      } else if (lower == "\\flagged") {
        flags |= domain::kFlagFlagged;
      } else if (lower == "\\deleted") {
        flags |= domain::kFlagDeleted;
      } else if (lower == "\\draft") {
        flags |= domain::kFlagDraft;
      } else {
        return false;  // \Recent is the server's (RFC 3501 §2.3.2), others do not exist
      }
    } else {
      keywords.push_back(name);
    }
  }
  std::sort(keywords.begin(), keywords.end());
  keywords.erase(std::unique(keywords.begin(), keywords.end()), keywords.end());
  return true;
}

bool list_match(std::string_view pattern, std::string_view name) {
  // reachable[j]: the pattern prefix seen so far can match name[0, j).
  std::vector<char> reachable(name.size() + 1, 0);
  reachable[0] = 1;
  for (char p : pattern) {
    std::vector<char> next(name.size() + 1, 0);
    if (p == '*' || p == '%') {
      // The wildcard extends any reachable position over more characters ("%" not
      // over "/").
      bool carry = false;
      for (std::size_t j = 0; j <= name.size(); ++j) {
        if (reachable[j]) {
          carry = true;
        }
        next[j] = carry ? 1 : 0;
        if (j < name.size() && p == '%' && name[j] == '/') {
          carry = false;
        }
      }
    } else {
      for (std::size_t j = 0; j < name.size(); ++j) {
        if (reachable[j] && name[j] == p) {
          next[j + 1] = 1;
        }
      }
    }
    reachable.swap(next);
  }
  return reachable[name.size()] != 0;
}

}  // namespace tern::services::imap
