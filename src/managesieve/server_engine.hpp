// SPDX-License-Identifier: Apache-2.0
// managesieve::ServerEngine: a sans-IO ManageSieve server (RFC 5804): the command
// grammar (atoms, numbers, quoted strings, literals), the two states, SASL
// AUTHENTICATE with an optional initial response, STARTTLS, the capability
// listing and the responses. Bytes in, events out; answers in, bytes out. No
// sockets, clocks, threads, storage or Sieve compiler: the service
// (src/services/managesieve) stores, compiles and authenticates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "sasl/exchange.hpp"

namespace tern::managesieve {

// RFC 5804 §1.3 response codes, written as "NO (CODE) ...".
enum class ResponseCode {
  kNone,
  kEncryptNeeded,    // ENCRYPT-NEEDED: a plaintext mechanism without TLS
  kQuota,            // QUOTA
  kQuotaMaxScripts,  // QUOTA/MAXSCRIPTS
  kQuotaMaxSize,     // QUOTA/MAXSIZE: the script is larger than the server takes
  kTryLater,         // TRYLATER: a temporary server failure (store busy, auth throttle)
  kActive,           // ACTIVE: DELETESCRIPT of the active script
  kNonexistent,      // NONEXISTENT: no script of that name
  kAlreadyExists,    // ALREADYEXISTS: RENAMESCRIPT onto an existing name
  kWarnings,         // WARNINGS: in an OK to PUTSCRIPT/CHECKSCRIPT
};

enum class Status { kOk, kNo, kBye };

// A completion response: status, code and human-readable text (sent as a quoted
// string, or a literal when it holds line breaks or is long).
struct Response {
  Status status = Status::kOk;
  ResponseCode code = ResponseCode::kNone;
  std::string text;
  bool operator==(const Response&) const = default;
};

// How a storage error answers a command (the one mapping of errors to the wire):
// kNotFound → NO (NONEXISTENT), kAlreadyExists → NO (ALREADYEXISTS), kConflict →
// NO (ACTIVE), kLimitExceeded → NO (QUOTA), kInvalidInput → NO with the message,
// anything else → NO (TRYLATER).
Response response_for(const Error& error);

// One LISTSCRIPTS line.
struct ListedScript {
  std::string name;
  bool active = false;
};

// ----- events: what next() asks of the caller

// Read more bytes and receive() them.
struct NeedInput {
  bool operator==(const NeedInput&) const = default;
};

// STARTTLS: "OK" is queued. Flush output(), run the TLS handshake as the server,
// then call tls_started() (or close the connection if it failed).
struct StartTls {
  bool operator==(const StartTls&) const = default;
};

// The authentication events (sasl/exchange.hpp):
// - CheckPassword (AUTHENTICATE PLAIN or LOGIN): verify the password, then call
//   login_succeeded() or login_failed();
// - NeedScramCredential (AUTHENTICATE SCRAM-*): call supply_scram_credential(),
//   or login_failed() to refuse at once (throttled);
// - Authenticated (SCRAM proved the password): call login_succeeded() or
//   login_failed();
// - AuthFailed: count it for the brute-force policy, then call login_failed().
using sasl::Authenticated;
using sasl::AuthFailed;
using sasl::CheckPassword;
using sasl::NeedScramCredential;

// Authenticated-state commands (RFC 5804 §2.5-2.12). Names are as sent (UTF-8 not
// yet checked: the caller validates them). Answer each with answer(), and
// ListScripts/GetScript on success with send_script_list()/send_script().
struct HaveSpace {
  std::string name;
  std::uint64_t size = 0;
  bool operator==(const HaveSpace&) const = default;
};

struct PutScript {
  std::string name;
  std::string text;
  bool operator==(const PutScript&) const = default;
};

struct ListScripts {
  bool operator==(const ListScripts&) const = default;
};

// `name` "" deactivates every script (RFC 5804 §2.8).
struct SetActive {
  std::string name;
  bool operator==(const SetActive&) const = default;
};

struct GetScript {
  std::string name;
  bool operator==(const GetScript&) const = default;
};

struct DeleteScript {
  std::string name;
  bool operator==(const DeleteScript&) const = default;
};

struct RenameScript {
  std::string from;
  std::string to;
  bool operator==(const RenameScript&) const = default;
};

struct CheckScript {
  std::string text;
  bool operator==(const CheckScript&) const = default;
};

// UNAUTHENTICATE (RFC 5804 §2.14.1) succeeded: the engine is back in the
// non-authenticated state and has answered OK; forget the account. No answer.
struct LoggedOut {
  bool operator==(const LoggedOut&) const = default;
};

// Send what output() holds, then close the connection.
struct Close {
  bool operator==(const Close&) const = default;
};

using Event = std::variant<NeedInput, StartTls, CheckPassword, NeedScramCredential, Authenticated,
                           AuthFailed, HaveSpace, PutScript, ListScripts, SetActive, GetScript,
                           DeleteScript, RenameScript, CheckScript, LoggedOut, Close>;

struct Limits {
  // The bytes of one command outside its literals (command name, quoted strings,
  // literal headers). Longer commands get NO and are skipped, not buffered.
  std::size_t max_line_bytes = 8192;
  // A literal in the authenticated state: a script is at most 1 MiB
  // (sieve::CompileLimits), plus a little so the service, not the parser,
  // answers a script just over it with NO (QUOTA/MAXSIZE).
  std::size_t max_literal_bytes = (1 << 20) + 4096;
  // A literal before authentication (SASL data, a NOOP tag): no script is sent
  // there, so an unauthenticated client cannot make the session buffer much.
  std::size_t max_preauth_literal_bytes = 16384;
  // A literal over the limit is skipped (NO, the connection survives) up to this
  // size; a larger announcement ends the session with BYE.
  std::uint64_t max_skip_bytes = 64ull << 20;
  // Arguments after the command name (the most any command takes is two).
  std::size_t max_arguments = 8;
  // Unknown, malformed or misplaced commands before BYE.
  std::size_t max_errors = 10;
};

struct Options {
  std::string greeting = "tern ManageSieve ready";
  std::string implementation = "tern";  // IMPLEMENTATION
  std::string sieve_extensions;         // SIEVE: space-separated `require` names
  // MAXREDIRECTS: the redirects one run of a script may perform; nullopt: not sent.
  std::optional<std::size_t> max_redirects;
  bool tls_active = false;          // implicit TLS, or after STARTTLS
  bool starttls_available = false;  // STARTTLS is offered while !tls_active
  // May PLAIN and LOGIN be used (domain::plaintext_auth_allowed)? Updated by
  // tls_started().
  bool plaintext_allowed = false;
  // SASL options; channel_bindings and plus_advertised are refreshed by
  // tls_started(); mock_secret should be set by the service.
  sasl::ServerOptions sasl;
  Limits limits;
};

enum class State { kNonAuthenticated, kAuthenticated, kClosed };

// One ManageSieve server session.
//
// Usage: loop { ev = next(); NeedInput → read, receive(); Close → flush, close;
// LoggedOut → forget the account; others → do what the event says, then call its
// answer method }. Write output() whenever it is not empty. Every event other
// than NeedInput, LoggedOut and Close must be answered before next() is called
// again (next() returns Close otherwise).
//
// Pipelined commands are executed in order, one at a time. Client strings may
// be quoted, non-synchronizing literals {N+} (RFC 5804 §4 literal-c2s), or {N}:
// §4 gives clients only {N+} and defines no continuation, so {N} is read the
// same way, with nothing sent before its data (as Pigeonhole does). Lines end
// with CRLF; a bare LF is accepted.
class ServerEngine {
 public:
  // `random` (SASL nonces) must outlive the engine. The greeting (capabilities
  // then OK, RFC 5804 §1.7) is queued at once.
  ServerEngine(Options options, Random& random);

  void receive(std::span<const char> bytes);

  void receive(std::string_view bytes) { receive(std::span<const char>(bytes)); }

  Event next();

  // Answers CheckPassword or Authenticated: "OK", the session is authenticated
  // as `owner` (the OWNER capability, RFC 5804 §1.7).
  void login_succeeded(std::string owner);
  // Answers any authentication event with NO (code) text; the session stays
  // non-authenticated.
  void login_failed(ResponseCode code, std::string_view text);
  // Answers NeedScramCredential.
  void supply_scram_credential(std::optional<sasl::ScramCredential> credential);
  // Answers StartTls after a successful handshake: drops any input received
  // before it (RFC 5804 §2.2: nothing may follow STARTTLS), refreshes the
  // security options and sends the capabilities again, then OK.
  void tls_started(bool plaintext_allowed, sasl::ChannelBindings bindings);
  // Answers a script command with its completion response.
  void answer(const Response& response);
  // Answers ListScripts: one line per script, then OK (RFC 5804 §2.7).
  void send_script_list(const std::vector<ListedScript>& scripts);
  // Answers GetScript: the script as a literal, then OK (RFC 5804 §2.9).
  void send_script(std::string_view text);

  std::string_view output() const { return std::string_view(out_).substr(out_pos_); }

  void consume_output(std::size_t n);

  State state() const { return state_; }

  // The authenticated user ("" before login).
  const std::string& owner() const { return owner_; }

 private:
  enum class Pending { kNone, kStartTls, kLogin, kScramCredential, kSaslFailed, kCommand };

  // One parsed argument.
  struct Arg {
    enum class Kind { kAtom, kNumber, kString };
    Kind kind = Kind::kAtom;
    std::string value;
  };

  // What the parser made of the input so far.
  enum class Parsed { kNeedMore, kCommand, kError, kFatal };

  Parsed parse();
  void fail(std::string text);
  void reset_parser();
  std::size_t literal_limit() const;
  std::optional<Event> dispatch();
  std::optional<Event> handle_command(std::string_view verb);
  std::optional<Event> start_auth();
  std::optional<Event> sasl_response();
  // Writes a Challenge, or sets pending_ for the event the exchange ended in.
  std::optional<Event> on_sasl(sasl::ServerExchange::Outcome outcome);
  std::vector<std::string> mechanisms() const;
  void write_capabilities();
  void write(const Response& response);
  // A protocol error: NO text, counted; BYE and Close after too many.
  std::optional<Event> bad(std::string_view text, ResponseCode code = ResponseCode::kNone);
  std::optional<Event> fatal(std::string_view text);

  Options options_;
  Random& random_;
  State state_ = State::kNonAuthenticated;
  Pending pending_ = Pending::kNone;
  std::string in_;
  std::size_t in_pos_ = 0;
  std::string out_;
  std::size_t out_pos_ = 0;
  std::size_t errors_ = 0;
  std::string owner_;

  // Parser state for the command being read.
  std::vector<Arg> args_;
  std::size_t line_bytes_ = 0;      // bytes outside literals so far
  std::size_t literal_bytes_ = 0;   // literal bytes so far
  std::uint64_t literal_left_ = 0;  // bytes of the current literal still to come
  bool in_literal_ = false;
  bool after_token_ = false;        // a token ended: SP or a line end must follow
  bool skip_line_ = false;          // discarding up to the next line end
  std::string skip_tail_;           // the last bytes skipped, to find "{N+}" at the end
  std::uint64_t skip_literal_ = 0;  // discarding a literal's data
  std::optional<Response> error_;   // the answer once the skipped command ends
  bool error_counted_ = true;       // whether error_ counts towards max_errors

  sasl::ServerExchange sasl_;    // active() during AUTHENTICATE
  std::optional<Event> queued_;  // an event produced by an answer method
};

// Appends `s` as a ManageSieve string: quoted when it is at most 1024 bytes
// without CR, LF or NUL (RFC 5804 §4 `quoted`), else a literal {N}.
void append_string(std::string& out, std::string_view s);

}  // namespace tern::managesieve
