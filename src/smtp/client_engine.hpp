// SPDX-License-Identifier: Apache-2.0
// smtp::ClientEngine: the sans-IO SMTP/LMTP client (RFC 5321, RFC 2033) the
// outbound transport drives. Bytes in, events out; messages in, bytes out. No
// sockets, clocks or threads: the caller owns the connection, TLS and timeouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/clock.hpp"
#include "sasl/scram.hpp"
#include "smtp/reply.hpp"
#include "smtp/server_engine.hpp"  // NeedInput, StartTls, encode_xtext

namespace tern::smtp {

enum class ClientMode {
  kSmtp,  // EHLO (HELO fallback); one reply after the message
  kLmtp,  // LHLO; one reply per accepted recipient after the message (RFC 2033 §4.2)
};

// What the server's EHLO/LHLO reply offered (RFC 5321 §4.1.1.1). Reset by
// STARTTLS (RFC 3207 §4.2): the client forgets it and asks again.
struct Capabilities {
  bool esmtp = false;  // EHLO/LHLO was accepted (false after a HELO fallback)
  bool pipelining = false;
  bool chunking = false;
  bool binarymime = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool dsn = false;
  bool starttls = false;
  bool requiretls = false;
  bool enhanced_status_codes = false;
  // RFC 1870 SIZE: the fixed maximum, 0 when advertised without a limit, nullopt
  // when not advertised.
  std::optional<std::uint64_t> size;
  std::vector<std::string> auth;  // mechanisms, upper case

  bool operator==(const Capabilities&) const = default;
};

// Parses the lines of a 250 EHLO/LHLO reply (the first line is the greeting and
// is skipped). Unknown keywords are ignored; "AUTH=LOGIN PLAIN" (the old form) is
// read like "AUTH LOGIN PLAIN".
Capabilities parse_capabilities(const std::vector<std::string>& lines);

// The TLS the caller wants on this session.
enum class TlsWant {
  kNone,      // never send STARTTLS
  kMay,       // STARTTLS when offered; go on in plaintext when not offered or refused
  kRequired,  // STARTTLS must succeed (policy "encrypt"/"verify"); else the session fails
};

// SMTP AUTH as a client (RFC 4954): SCRAM-SHA-256 when the server offers it,
// else PLAIN (only over TLS unless `allow_plaintext` — loopback relays).
struct ClientAuth {
  std::string username;
  std::string password;
  bool allow_plaintext = false;
};

struct ClientOptions {
  ClientMode mode = ClientMode::kSmtp;
  std::string helo_name = "localhost";  // the EHLO/HELO/LHLO argument
  TlsWant tls = TlsWant::kMay;
  bool tls_active = false;  // the connection is already TLS (implicit TLS, port 465)
  std::optional<ClientAuth> auth;
  // SCRAM's client nonce; required when `auth` is set. Must outlive the engine.
  Random* random = nullptr;
  ReplyLimits reply_limits;
  // BDAT chunk size when the server offers CHUNKING (RFC 3030).
  std::size_t max_chunk_bytes = 1024 * 1024;
};

// One message to send. `content` has CRLF line ends; the engine dot-stuffs it
// for DATA (RFC 5321 §4.5.2) and adds a final CRLF if it is missing.
struct OutgoingMessage {
  std::string sender;       // reverse-path without <>; "" is the null sender
  std::string envid;        // RFC 3461 ENVID, decoded ("" = none)
  std::string ret;          // RFC 3461 RET: "FULL", "HDRS" or ""
  bool smtputf8 = false;    // received with SMTPUTF8 (RFC 6531)
  bool eight_bit = false;   // the body is 8BITMIME
  bool requiretls = false;  // RFC 8689

  struct Recipient {
    std::string address;  // without <>
    std::string notify;   // RFC 3461 NOTIFY ("" = none)
    std::string orcpt;    // RFC 3461 ORCPT "addr-type;address", decoded ("" = none)
  };

  std::vector<Recipient> recipients;
  std::string content;
  // The RFC 6152 §3 downgrade of an 8-bit `content` to 7-bit MIME, sent instead
  // when the server lacks 8BITMIME; without it such a message fails with 5.6.3.
  std::optional<std::string> seven_bit_content;
};

// The outcome for one recipient of a message.
struct RecipientResult {
  enum class Status { kAccepted, kTemporary, kPermanent };

  std::size_t index = 0;  // position in OutgoingMessage::recipients
  Status status = Status::kTemporary;
  std::string enhanced;  // RFC 3463 "5.1.1" (from the reply, or chosen locally)
  // One line a DSN can quote: the server's reply ("550 5.1.1 no such user (in
  // reply to RCPT TO command)") or a local explanation ("5.3.4 message size 3000
  // exceeds size limit 1000 of the server").
  std::string text;
  bool from_server = false;  // `text` is a server reply (DSN Diagnostic-Code: smtp;)

  bool operator==(const RecipientResult&) const = default;
};

// Why a session ended abnormally.
struct SessionError {
  bool permanent = false;  // a 5yz reply (greeting, EHLO and HELO, AUTH is soft)
  std::string enhanced;    // "4.4.2", "5.7.10" ...
  std::string text;        // like RecipientResult::text
  bool from_server = false;

  bool operator==(const SessionError&) const = default;
};

// ----- events: what next() returns

// NeedInput and StartTls are the server engine's event types (server_engine.hpp),
// meaning for the client: NeedInput — flush output(), read more bytes and
// receive() them (or call abort()); StartTls — STARTTLS was accepted (220): flush
// output(), run the TLS handshake as a client, then call tls_started() (or abort()
// when the handshake fails).

// The session is set up (greeting, EHLO, STARTTLS, AUTH) and no message is in
// flight: call send() or quit(). Returned once per idle period.
struct Ready {};

// The message passed to send() is finished: one result per recipient, in order.
// The engine is idle again (the next event is Ready) unless the session ended.
struct MessageDone {
  std::vector<RecipientResult> recipients;
};

// The session is over: flush output() and close. `error` is set unless it ended
// with our QUIT. A message in flight was reported by a MessageDone first.
struct Closed {
  std::optional<SessionError> error;
};

using ClientEvent = std::variant<NeedInput, StartTls, Ready, MessageDone, Closed>;

// Which RFC 5321 §4.5.3.2 timeout applies to the reply being awaited; the
// caller arms its timer with the configured value for it.
enum class ClientWait {
  kGreeting,   // §4.5.3.2.1 initial 220: 5 min
  kCommand,    // EHLO, STARTTLS, AUTH, RSET, QUIT, MAIL (§4.5.3.2.2), RCPT (§4.5.3.2.3)
  kDataInit,   // §4.5.3.2.4 DATA: 2 min
  kDataBlock,  // §4.5.3.2.5 sending the text: 3 min per block
  kDataTerm,   // §4.5.3.2.6 after "." or BDAT LAST: 10 min
};

// The client protocol state machine. Usage:
//   ClientEngine engine(options);          // then connect
//   loop: event = engine.next()
//     NeedInput   → write output(), read → receive(bytes)
//     StartTls    → write output(), handshake, tls_started()
//     Ready       → send(message) or quit()
//     MessageDone → record results
//     Closed      → write output(), close
// Connection trouble (EOF, timeout, TLS failure) → abort(); the next events
// report what was in flight.
//
// Never throws or asserts on server input: malformed replies end the session
// with a temporary SessionError ("4.5.0 protocol error: ..."). Not thread-safe.
class ClientEngine {
 public:
  explicit ClientEngine(ClientOptions options);
  ~ClientEngine();

  ClientEngine(const ClientEngine&) = delete;
  ClientEngine& operator=(const ClientEngine&) = delete;

  // Bytes from the server.
  void receive(std::string_view bytes);

  // The next event. See the event types for what to do.
  ClientEvent next();

  // Bytes to write to the server; consume_output(n) after writing n of them.
  std::string_view output() const;
  void consume_output(std::size_t n);

  // After StartTls: the handshake succeeded. The engine sends EHLO/LHLO again.
  void tls_started();

  // Starts a transaction. Requires: the last event was Ready.
  // Checks before sending anything (RFC 1870 SIZE, RFC 6531 §3.5 SMTPUTF8,
  // RFC 6152 8BITMIME unless `seven_bit_content` is given, RFC 8689 REQUIRETLS)
  // fail the recipients at once; the
  // results then come as MessageDone from the next next().
  void send(OutgoingMessage message);

  // Ends the session politely (QUIT, RFC 5321 §4.1.1.10). Requires: Ready.
  void quit();

  // The connection failed (`enhanced` e.g. "4.4.2", `text` e.g. "connection
  // lost"). Recipients not yet answered get a temporary result; LMTP recipients
  // already answered keep theirs (no duplicate delivery). Then Closed{error}.
  void abort(std::string enhanced, std::string text);

  // The server's capabilities (after EHLO/LHLO; empty before and after HELO).
  const Capabilities& capabilities() const { return caps_; }

  // True once STARTTLS succeeded or the session started over TLS.
  bool tls_active() const { return tls_active_; }

  // True when AUTH succeeded.
  bool authenticated() const { return authenticated_; }

  // The timeout class for the reply awaited now.
  ClientWait waiting_for() const;

  // Messages finished on this session (for connection-reuse limits).
  std::size_t messages_sent() const { return messages_sent_; }

  // The last server greeting line ("mx.example.org ESMTP"), for logs.
  const std::string& greeting() const { return greeting_; }

  struct State;  // the session's private state (defined in the .cpp)

 private:
  std::unique_ptr<State> state_;
  Capabilities caps_;
  bool tls_active_ = false;
  bool authenticated_ = false;
  std::size_t messages_sent_ = 0;
  std::string greeting_;
};

// Dot-stuffs `content` for DATA (RFC 5321 §4.5.2) and appends the terminating
// "CRLF.CRLF" (adding the CRLF when the content does not end with one).
std::string dot_stuff(std::string_view content);

// One line for logs and DSNs: "550 5.1.1 first line second line".
std::string reply_line(const Reply& reply);

}  // namespace tern::smtp
