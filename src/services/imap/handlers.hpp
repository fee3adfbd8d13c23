// SPDX-License-Identifier: Apache-2.0
// services::imap::Handlers: the IMAP server's decisions, as synchronous functions of
// (command, session state, domain ports) → responses written into the engine
// (model-codebases.md B5). The engine owns framing and states; the handlers decide
// whether a password is right, which mailboxes exist, what FETCH returns.
//
// Handlers call the storage ports with get(): they run on the blocking pool (the
// session offloads each call) or directly in tests over store::memory. No Asio here,
// so the whole server is testable as transcripts without sockets.
//
// One file per command group: handlers_auth.cpp (any state and not-authenticated),
// handlers_mailboxes.cpp (authenticated), handlers_messages.cpp (selected),
// handlers_search.cpp (SEARCH).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "domain/authenticator.hpp"
#include "domain/ports.hpp"
#include "domain/spam_filter.hpp"
#include "imap/server_engine.hpp"
#include "sasl/mechanism.hpp"
#include "services/imap/change_hub.hpp"
#include "services/imap/mailbox_view.hpp"
#include "services/imap/protocol_level.hpp"

namespace tern::services::imap {

struct Options {
  // The largest message APPEND accepts (announced as APPENDLIMIT, RFC 7889); the
  // reader refuses larger literals before reading them.
  std::uint64_t max_append_bytes = 64 * 1024 * 1024;
  bool allow_plaintext_on_loopback = true;
  // FETCH output gathered before the session writes it out (streaming large results).
  std::size_t fetch_flush_bytes = 1024 * 1024;
  // The spam filter: COPY/MOVE into and out of Junk teach it (null: they do not).
  std::shared_ptr<const domain::SpamPolicy> spam;
};

// What every session of the process shares. All members outlive the sessions.
struct Shared {
  domain::Storage& storage;
  ChangeHub& hub;
  domain::AuthThrottle& throttle;
  domain::AuthParams auth_params;
  Random& random;
  const Clock& clock;
  Options options;
  std::string sasl_mock_secret;
};

// What the session knows about its connection.
struct ConnectionInfo {
  std::string peer_ip;
  bool loopback = false;
  bool tls = false;
  bool starttls_available = false;  // a certificate is configured and TLS not yet active
  sasl::ChannelBindings channel_bindings;
};

// What the session loop does after a handler returned.
enum class Next : std::uint8_t {
  kDone,  // the command was completed
  kMore,  // call resume() again after flushing the output (a long FETCH)
  kWait,  // an AUTHENTICATE or IDLE is in progress: read more input
};

class Handlers {
 public:
  Handlers(Shared& shared, ConnectionInfo info);
  ~Handlers();
  Handlers(const Handlers&) = delete;
  Handlers& operator=(const Handlers&) = delete;

  // The untagged greeting text: "OK [CAPABILITY ...] tern IMAP ready".
  std::string greeting() const;

  // Handles a command the engine produced. Exceptions from the store are the
  // session's to catch (NO [SERVERBUG]).
  Next handle(const tern::imap::CommandReady& ready, tern::imap::ServerEngine& engine);
  // Continues a kMore command.
  Next resume(tern::imap::ServerEngine& engine);
  // The next client line of AUTHENTICATE.
  Next auth_response(const std::string& line, tern::imap::ServerEngine& engine);
  void auth_cancelled();
  // DONE arrived: send pending updates and complete IDLE.
  void idle_done(tern::imap::ServerEngine& engine);
  // While idling: send what changed since the last look (untagged only).
  void idle_poll(tern::imap::ServerEngine& engine);

  // After a successful STARTTLS handshake.
  void tls_started(sasl::ChannelBindings bindings);

  // The logged-in account (nullopt before login), and the hub token.
  std::optional<domain::AccountId> account() const;

  void set_hub_token(ChangeHub::Token token) { hub_token_ = token; }

  // A delay the session must wait before sending the output (auth throttling).
  std::chrono::milliseconds take_delay();

  std::vector<std::string> capabilities() const;

 private:
  struct Fetching;

  // handlers_auth.cpp
  Next login(const tern::imap::LoginCommand& c, tern::imap::ServerEngine& engine);
  Next authenticate(const tern::imap::AuthenticateCommand& c, tern::imap::ServerEngine& engine);
  Next sasl_step(sasl::StepResult result, tern::imap::ServerEngine& engine);
  void logged_in(const domain::Account& account, tern::imap::ServerEngine& engine);
  bool plaintext_allowed() const;

  // handlers_mailboxes.cpp
  Next select(const tern::imap::SelectCommand& c, tern::imap::ServerEngine& engine);
  Next create(const tern::imap::CreateCommand& c, tern::imap::ServerEngine& engine);
  Next remove(const tern::imap::DeleteCommand& c, tern::imap::ServerEngine& engine);
  Next rename(const tern::imap::RenameCommand& c, tern::imap::ServerEngine& engine);
  Next subscribe(const tern::imap::SubscribeCommand& c, tern::imap::ServerEngine& engine);
  Next list(const tern::imap::ListCommand& c, tern::imap::ServerEngine& engine);
  // "LIST (attributes) "/" name [extended]" for an existing mailbox.
  std::string list_line(const domain::Mailbox& mailbox, const std::vector<domain::Mailbox>& all,
                        bool show_subscribed, std::string_view extended) const;
  Next lsub(const tern::imap::LsubCommand& c, tern::imap::ServerEngine& engine);
  Next status(const tern::imap::StatusCommand& c, tern::imap::ServerEngine& engine);
  // "STATUS name (ITEM n ...)" for STATUS and LIST-STATUS (RFC 5819).
  Result<std::string> status_line(const domain::Mailbox& mailbox,
                                  const std::vector<tern::imap::StatusItem>& items);
  Next append(const tern::imap::AppendCommand& c, tern::imap::ServerEngine& engine);
  Next get_quota(const tern::imap::GetQuotaCommand& c, tern::imap::ServerEngine& engine);
  Next get_quota_root(const tern::imap::GetQuotaRootCommand& c, tern::imap::ServerEngine& engine);
  // "QUOTA "" (STORAGE used limit)" for the account's one quota root.
  Result<std::string> quota_line();
  std::optional<domain::Mailbox> find_mailbox(const std::string& wire_name, std::string& error);
  std::string wire_name(const std::string& stored) const;
  // RFC 9051 §6.3.9.7: "("OLDNAME" (name))" when an IMAP4rev2 client sent `wire` and
  // tern stored it normalized as `stored`; "" otherwise.
  std::string oldname_item(const std::string& wire, const std::string& stored) const;
  // The wire name as a quoted string (UTF-8 once UTF8=ACCEPT is on) or a literal.
  std::string quoted_name(const std::string& stored) const;

  // handlers_messages.cpp
  Next fetch(const tern::imap::FetchCommand& c, tern::imap::ServerEngine& engine);
  Next fetch_some(tern::imap::ServerEngine& engine);
  Next store(const tern::imap::StoreCommand& c, tern::imap::ServerEngine& engine);
  Next copy(const tern::imap::CopyCommand& c, tern::imap::ServerEngine& engine);
  Next expunge(const tern::imap::ExpungeCommand& c, tern::imap::ServerEngine& engine);
  Next close(bool expunge, tern::imap::ServerEngine& engine);
  // Sends untagged updates for the selected mailbox (RFC 9051 §7.4.1: no EXPUNGE
  // unless `expunges_allowed`).
  void sync(tern::imap::ServerEngine& engine, bool expunges_allowed);
  // Before a FETCH: sends FLAGS and PERMANENTFLAGS when another session put a keyword
  // the client was not told of on a message of the selected mailbox, since the FETCH
  // reads the messages' current flags (RFC 9051 §7.3.5; Dovecot does the same). The
  // changes themselves are left for sync() after the command.
  void announce_keywords(tern::imap::ServerEngine& engine);
  // Marks the view's messages with a UID above `after_uid` recent when no session
  // claimed them (RFC 3501 §2.3.2); a read-write view claims them through the hub.
  void claim_recent(domain::Uid after_uid);
  std::vector<domain::Uid> expunge_deleted(const std::optional<tern::imap::SequenceSet>& uids,
                                           tern::imap::ServerEngine& engine, bool announce);

  // handlers_search.cpp
  Next search(const tern::imap::SearchCommand& c, tern::imap::ServerEngine& engine);
  Next sort(const tern::imap::SortCommand& c, tern::imap::ServerEngine& engine);
  Next thread(const tern::imap::ThreadCommand& c, tern::imap::ServerEngine& engine);
  // The (msn, uid) pairs `set` names in the selected mailbox; "$" is the saved search
  // result (RFC 5182). nullopt for an invalid MSN set.
  std::optional<std::vector<std::pair<std::uint32_t, domain::Uid>>> resolve(
      const tern::imap::SequenceSet& set, bool uid) const;

  // After a change other sessions should hear about. When the change put a keyword
  // on a message of the selected mailbox that the client has not been told of, this
  // also sends the new FLAGS and PERMANENTFLAGS (RFC 9051 §7.3.5), so they precede
  // the FETCH responses the command sends next.
  void changed();

  Shared& shared_;
  ConnectionInfo info_;
  std::optional<domain::Account> account_;
  std::optional<MailboxView> selected_;
  std::unique_ptr<sasl::ServerMechanism> mechanism_;
  std::optional<domain::Account> scram_account_;  // the SCRAM exchange's account
  std::unique_ptr<Fetching> fetching_;
  ChangeHub::Token hub_token_ = 0;
  // The engine of the command being handled (handle(), resume()), for changed().
  tern::imap::ServerEngine* engine_ = nullptr;
  // While handle() runs, changed() only records that the hub must be told; handle()
  // tells it when the command is done.
  bool in_command_ = false;
  bool notify_pending_ = false;
  std::chrono::milliseconds delay_{0};
  // RFC 7162 §3.1: once enabled, every FETCH response with FLAGS carries MODSEQ.
  bool condstore_ = false;
  // RFC 7162 §3.2: expunges are announced as VANISHED; SELECT (QRESYNC) resyncs.
  bool qresync_ = false;
  // RFC 5182: the UIDs SEARCH RETURN (SAVE) kept for "$"; emptied by SELECT,
  // EXAMINE, CLOSE, UNSELECT and a failed SAVE search.
  std::vector<domain::Uid> saved_;
  // IMAP4rev1 or IMAP4rev2, UTF8=ACCEPT: the one place response writers ask.
  ProtocolLevel level_;
  bool compress_active_ = false;  // RFC 4978: COMPRESS DEFLATE was accepted
};

// Parses IMAP flags ("\Seen", "$Junk") into system flags and keywords. Returns false
// for a flag a client may not set (\Recent, \*, unknown system flags).
bool parse_flags(const std::vector<std::string>& names, domain::Flags& flags,
                 std::vector<std::string>& keywords);

// LIST pattern matching (RFC 9051 §6.3.9): "*" matches anything, "%" anything but
// the hierarchy delimiter "/". Linear-space dynamic programming, no backtracking.
bool list_match(std::string_view pattern, std::string_view name);

}  // namespace tern::services::imap
