// SPDX-License-Identifier: Apache-2.0
// pop3::ServerEngine: a sans-IO POP3 server (RFC 1939) with CAPA and response codes
// (RFC 2449), STLS (RFC 2595), SASL AUTH (RFC 5034) and UTF8 (RFC 6856). Bytes in,
// events out; answers in, bytes out. No sockets, clocks, threads or storage: the
// service (src/services/pop3) does the lookups, locking and message reads.
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
#include "sasl/exchange.hpp"

namespace tern::pop3 {

// RFC 2449 §8 / RFC 3206 extended response codes, written as "-ERR [CODE] text".
enum class ResponseCode {
  kNone,
  kInUse,       // [IN-USE]: the maildrop is locked by another POP3 session
  kLoginDelay,  // [LOGIN-DELAY]: logged in too soon after the previous login
  kSysTemp,     // [SYS/TEMP]: a temporary system problem (store busy, I/O error)
  kSysPerm,     // [SYS/PERM]: a permanent system problem
  kAuth,        // [AUTH]: the credentials were wrong (RFC 3206 §4)
};

// One message of the maildrop, in the order of the snapshot (message number i+1).
struct MaildropEntry {
  std::uint64_t size = 0;  // octets as sent by RETR (CRLF line ends, before dot-stuffing)
  std::string uid;         // the UIDL value: 1..70 characters 0x21..0x7E (RFC 1939 §7)
};

// ----- events: what next() asks of the caller

// Read more bytes and receive() them.
struct NeedInput {
  bool operator==(const NeedInput&) const = default;
};

// The client sent STLS and "+OK" is queued: flush output(), run the TLS handshake
// as the server, then call tls_started() (or close the connection if it failed).
struct StartTls {
  bool operator==(const StartTls&) const = default;
};

// The authentication events (sasl/exchange.hpp):
// - CheckPassword (USER/PASS, AUTH PLAIN or LOGIN): verify the password, then
//   open the maildrop and call login_succeeded(), or call login_failed();
// - NeedScramCredential (AUTH SCRAM-*): call supply_scram_credential(), or
//   login_failed() to refuse at once (throttled);
// - Authenticated (SCRAM proved the password): open the maildrop and call
//   login_succeeded(), or login_failed();
// - AuthFailed: count it for the brute-force policy, wait if it says so, then
//   call login_failed().
using sasl::Authenticated;
using sasl::AuthFailed;
using sasl::CheckPassword;
using sasl::NeedScramCredential;

// RETR (no top_lines) or TOP (top_lines = n) of message `index` (0-based into the
// maildrop): read the message and call send_message(), or retrieve_failed().
struct Retrieve {
  std::size_t index = 0;
  std::optional<std::uint64_t> top_lines;
  bool operator==(const Retrieve&) const = default;
};

// QUIT in TRANSACTION state: the session enters UPDATE (RFC 1939 §6). Remove the
// messages at `deleted` (0-based, ascending) and call update_done().
struct Update {
  std::vector<std::size_t> deleted;
  bool operator==(const Update&) const = default;
};

// Send what output() holds, then close the connection.
struct Close {
  bool operator==(const Close&) const = default;
};

using Event = std::variant<NeedInput, StartTls, CheckPassword, NeedScramCredential, Authenticated,
                           AuthFailed, Retrieve, Update, Close>;

struct Limits {
  // A command line without CRLF. RFC 2449 §4 allows 255 octets with CRLF; a
  // little slack tolerates sloppy clients. Longer lines get "-ERR" and are skipped.
  std::size_t max_command_bytes = 510;
  // A SASL response line (RFC 5034 §4: not bound by the 255-octet limit).
  std::size_t max_sasl_line_bytes = 16384;
  // Unknown or malformed commands before the session is closed.
  std::size_t max_errors = 10;
};

struct Options {
  std::string greeting = "tern ready";  // after "+OK "; no APOP timestamp: APOP is not offered
  std::string implementation = "tern";  // CAPA IMPLEMENTATION
  bool tls_active = false;              // implicit TLS, or after STLS
  bool stls_available = false;          // STLS is offered while !tls_active
  // May USER/PASS and AUTH PLAIN/LOGIN be used (domain::plaintext_auth_allowed)?
  // Updated by tls_started().
  bool plaintext_allowed = false;
  // Advertise "LOGIN-DELAY <n>" (RFC 2449 §6.8); the service enforces it and
  // answers too-early logins with ResponseCode::kLoginDelay.
  std::optional<std::uint32_t> login_delay_seconds;
  // SASL options; channel_bindings and plus_advertised are refreshed by
  // tls_started(); mock_secret should be set by the service.
  sasl::ServerOptions sasl;
  Limits limits;
};

enum class State { kAuthorization, kTransaction, kUpdate, kClosed };

// One POP3 server session.
//
// Usage: loop { ev = next(); NeedInput → read, receive(); Close → flush, close;
// others → do what the event says, then call its answer method }. Write output()
// whenever it is not empty. Every event other than NeedInput and Close must be
// answered before next() is called again (next() returns Close otherwise).
//
// Pipelined commands (RFC 2449 §6.6) are executed in order, one at a time.
// Lines end with CRLF; a bare LF is accepted as a line end. Multi-line responses
// are dot-stuffed and end with ".\r\n"; message content is sent with CRLF line
// ends whatever its stored form.
class ServerEngine {
 public:
  // `random` (SASL nonces) must outlive the engine. The greeting is queued at once.
  ServerEngine(Options options, Random& random);

  void receive(std::span<const char> bytes);

  void receive(std::string_view bytes) { receive(std::span<const char>(bytes)); }

  Event next();

  // Answers to CheckPassword, Authenticated (and to abort NeedScramCredential
  // or AuthFailed): the session enters TRANSACTION with `maildrop` as its snapshot.
  void login_succeeded(std::vector<MaildropEntry> maildrop);
  // Answers any authentication event with "-ERR [code] text" and ends the
  // exchange; the session stays in AUTHORIZATION.
  void login_failed(ResponseCode code, std::string_view text);
  // Answers NeedScramCredential.
  void supply_scram_credential(std::optional<sasl::ScramCredential> credential);
  // Answers StartTls after a successful handshake: drops any input received
  // before it (RFC 2595 §4: pipelined commands are not trusted), forgets USER,
  // and refreshes the security options.
  void tls_started(bool plaintext_allowed, sasl::ChannelBindings bindings);
  // Answers Retrieve with the message's raw bytes (as stored).
  void send_message(std::string_view raw);
  // Answers Retrieve when the message cannot be read.
  void retrieve_failed(ResponseCode code, std::string_view text);
  // Answers Update: `ok` gives "+OK", otherwise "-ERR [SYS/TEMP]" (RFC 1939 §6:
  // the messages stay). Either way the session ends.
  void update_done(bool ok);

  std::string_view output() const { return std::string_view(out_).substr(out_pos_); }

  void consume_output(std::size_t n);

  State state() const { return state_; }

  // The authenticated user ("" before login).
  const std::string& user() const { return user_; }

  bool utf8_enabled() const { return utf8_; }

 private:
  enum class Pending {
    kNone,
    kStartTls,
    kLogin,
    kScramCredential,
    kSaslFailed,
    kRetrieve,
    kUpdate,
  };

  std::optional<std::string> take_line();
  std::optional<Event> handle_command(std::string_view line);
  std::optional<Event> handle_authorization(std::string_view verb,
                                            const std::vector<std::string_view>& args,
                                            std::string_view rest);
  std::optional<Event> handle_transaction(std::string_view verb,
                                          const std::vector<std::string_view>& args);
  std::optional<Event> start_auth(const std::vector<std::string_view>& args);
  std::optional<Event> sasl_response(std::string_view line);
  // Writes a Challenge, or sets pending_ for the event the exchange ended in.
  std::optional<Event> on_sasl(sasl::ServerExchange::Outcome outcome);
  std::optional<std::size_t> message_number(std::string_view arg, bool allow_deleted);
  std::vector<std::string> mechanisms() const;
  void write_capa();
  void ok(std::string_view text);
  void err(std::string_view text, ResponseCode code = ResponseCode::kNone);
  // A protocol error: "-ERR text", counted; Close after too many.
  std::optional<Event> bad(std::string_view text);

  Options options_;
  Random& random_;
  State state_ = State::kAuthorization;
  Pending pending_ = Pending::kNone;
  std::string in_;
  std::size_t in_pos_ = 0;
  bool discarding_ = false;  // skipping the rest of an over-long line
  std::string out_;
  std::size_t out_pos_ = 0;
  std::size_t errors_ = 0;
  bool utf8_ = false;
  bool close_after_flush_ = false;
  std::string user_;           // USER argument, then the logged-in user
  sasl::ServerExchange sasl_;  // active() during AUTH
  std::vector<MaildropEntry> maildrop_;
  std::vector<bool> deleted_;
  std::optional<std::uint64_t> pending_top_;
  std::optional<Event> queued_;  // an event produced by an answer method
};

// Appends `raw` to `out` as a POP3 multi-line body: CRLF line ends (a bare LF or
// bare CR becomes CRLF), lines starting with "." get another "." (RFC 1939 §3),
// then ".\r\n". With `body_lines`, only the header, the empty line after it, and
// that many body lines are sent (TOP, RFC 1939 §7).
void append_multiline_message(std::string& out, std::string_view raw,
                              std::optional<std::uint64_t> body_lines);

// The size RETR will send for `raw` before dot-stuffing: its length with every
// line end counted as CRLF (what LIST and STAT report, RFC 1939 §5).
std::uint64_t wire_size(std::string_view raw);

}  // namespace tern::pop3
