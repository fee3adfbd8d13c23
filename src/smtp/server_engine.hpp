// SPDX-License-Identifier: Apache-2.0
// smtp::ServerEngine: the sans-IO SMTP server (RFC 5321) shared by the MX,
// submission (RFC 6409) and LMTP (RFC 2033) services. Bytes in, events out;
// decisions in, bytes out. No sockets, clocks or threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "address/smtp_path.hpp"
#include "smtp/reply.hpp"

namespace tern::smtp {

enum class Mode {
  kSmtp,  // EHLO/HELO; one reply after DATA/BDAT LAST
  kLmtp,  // LHLO only; one reply per accepted recipient after DATA/BDAT LAST
};

// RFC 6152 / RFC 3030 BODY= parameter.
enum class Body { kUnspecified, k7Bit, k8BitMime, kBinaryMime };

// MAIL FROM parameters (RFC 1870, 6152, 3030, 6531, 3461, 4954, 8689).
struct MailParams {
  std::optional<std::uint64_t> size;  // SIZE=, the client's estimate
  Body body = Body::kUnspecified;
  bool smtputf8 = false;
  std::string ret;    // RFC 3461 RET: "FULL", "HDRS" or ""
  std::string envid;  // RFC 3461 ENVID, xtext-decoded
  std::string auth;   // RFC 4954 §5 AUTH=, xtext-decoded ("<>" when unknown)
  bool requiretls = false;

  bool operator==(const MailParams&) const = default;
};

// RCPT TO parameters (RFC 3461 §4).
struct RcptParams {
  std::string notify;  // "NEVER" or a comma list of SUCCESS, FAILURE, DELAY (upper case)
  std::string orcpt;   // "addr-type;address" with the address xtext-decoded

  bool operator==(const RcptParams&) const = default;
};

struct Recipient {
  address::ForwardPath path;
  RcptParams params;
};

// ----- events: what next() returns

// Read more bytes from the peer and receive() them. Flush output() first: this
// is also RFC 2920's "the input buffer is empty" moment when replies go out.
struct NeedInput {};

// MAIL FROM with a well-formed path and parameters, in a state where MAIL is
// allowed. Answer with answer(): a 2yz reply starts the transaction.
struct MailFrom {
  address::ReversePath path;
  MailParams params;
};

// RCPT TO with a well-formed path and parameters, within the recipient limit.
// Answer with answer(): a 2yz reply adds the recipient.
struct RcptTo {
  Recipient recipient;
};

// The end of a message (DATA's "." or BDAT ... LAST). `content` is the message
// as received (dot-unstuffed for DATA). Answer with answer_message(): one reply
// in SMTP mode, one per recipient (in `recipients` order) in LMTP mode.
struct Message {
  address::ReversePath reverse_path;
  MailParams params;
  std::vector<Recipient> recipients;
  std::string content;
  bool chunked = false;  // received with BDAT
};

// AUTH <mechanism> [initial-response] (RFC 4954 §4). `initial_response` is the
// decoded bytes; nullopt when absent ("=" is an empty response). The caller runs
// the mechanism and answers auth_challenge() or auth_finish().
struct AuthStart {
  std::string mechanism;  // upper case, one of Options::auth_mechanisms
  std::optional<std::string> initial_response;
};

// The client's decoded answer to a 334 challenge.
struct AuthResponse {
  std::string response;
};

// The exchange ended without a result: the client sent "*" (501 5.0.0 sent) or
// undecodable base64 (501 5.5.2 sent). The caller drops the mechanism's state.
// Not a failed authentication: RFC 4954 §4 cancellation is not counted.
struct AuthAborted {};

// STARTTLS was accepted: output() holds "220 2.0.0 Ready to start TLS". Flush it,
// run the handshake, then call tls_started(). Bytes the client pipelined after
// STARTTLS have been discarded (RFC 3207 §4.2 — the injection defence).
struct StartTls {};

// Flush output() and close the connection (QUIT, 421 after too many errors, an
// unrecoverable framing error).
struct Close {};

using Event = std::variant<NeedInput, MailFrom, RcptTo, Message, AuthStart, AuthResponse,
                           AuthAborted, StartTls, Close>;

// Limits, all enforced by the engine (RFC 5321 §4.5.3.1).
struct Limits {
  // One command line without CRLF. §4.5.3.1.4 gives 512 with CRLF, and every
  // extension in use adds to it (RFC 1870 SIZE, RFC 3461 ORCPT and ENVID, RFC 4954
  // AUTH=); Postfix's line_length_limit is 2048. Longer: 500 5.5.2, the rest of
  // the line skipped.
  std::size_t max_command_line_bytes = 2048;
  // AUTH lines (the command and the responses to 334): RFC 4954 §4 requires at
  // least 12288 octets.
  std::size_t max_auth_line_bytes = 12288;
  // One DATA text line without CRLF (§4.5.3.1.6: 1000 with CRLF). Longer makes
  // the message fail at its end with 500 5.5.2; 0 disables the check.
  std::size_t max_text_line_bytes = 998;
  // The whole message (DATA after unstuffing, or all BDAT chunks). Advertised by
  // SIZE (RFC 1870); a larger SIZE= gets 552 5.3.4, larger content too.
  std::size_t max_message_bytes = 25 * 1024 * 1024;
  // §4.5.3.1.8 (at least 100). Beyond it: 452 4.5.3 (§4.5.3.1.10).
  std::size_t max_recipients = 100;
  // 4yz/5yz replies to commands in one session before 421 4.7.0 and Close
  // (Postfix smtpd_hard_error_limit).
  std::size_t max_errors = 20;
  // NOOP, RSET, VRFY, HELP, EXPN and HELO/EHLO again, outside a completed
  // message, before 421 4.7.0 and Close (Postfix smtpd_junk_command_limit).
  std::size_t max_junk_commands = 100;
};

struct Options {
  Mode mode = Mode::kSmtp;
  std::string hostname = "localhost";  // in the greeting and EHLO reply
  // The greeting text after the hostname ("ESMTP" / "LMTP" is prepended).
  std::string greeting = "tern";
  // The session already runs over TLS (implicit TLS, RFC 8314).
  bool tls_active = false;
  // Offer STARTTLS (the caller has a certificate). Never offered once TLS is up.
  bool starttls = false;
  // SASL mechanisms the caller implements, upper case, in preference order.
  // Names ending in "-PLUS" (channel binding) are offered only over TLS.
  std::vector<std::string> auth_mechanisms;
  // AUTH is offered and accepted only over TLS (RFC 8314, Postfix
  // smtpd_tls_auth_only); false for loopback when the config allows.
  bool auth_requires_tls = true;
  // MAIL is refused with 530 5.7.0 until AUTH succeeded (submission, RFC 6409 §4.3).
  bool require_auth = false;
  // Offer and accept REQUIRETLS (RFC 8689), over TLS only. Only for callers that
  // honour it for every recipient they accept.
  bool requiretls = false;
  // Offer DSN (RFC 3461); the caller carries the parameters on.
  bool dsn = true;
  Limits limits;
};

// One SMTP/LMTP server session.
//
// Framing: commands end with CRLF. A bare LF or bare CR in a command line is
// answered "500 5.5.2" and the session closes; in DATA it makes the message fail
// at its end with 550 5.6.0, and only CRLF "." CRLF ends DATA — "<LF>.<LF>",
// "<CR>.<CR>" and "<LF>.<CR><LF>" are content. That is Postfix 3.9's
// smtpd_forbid_bare_newline = yes, chosen over "normalize" because a message we
// would rewrite is one that another hop may read differently (SMTP smuggling);
// every real client we test with sends CRLF. BDAT content is counted, not
// framed, and kept byte for byte.
//
// Pipelining (RFC 2920): commands are handled in order; their replies accumulate
// in output() until next() returns NeedInput (or StartTls/Close), when the caller
// flushes them.
//
// Usage: loop { ev = next(); NeedInput → flush, read, receive(); MailFrom/RcptTo →
// answer(); Message → answer_message(); AuthStart/AuthResponse →
// auth_challenge() or auth_finish(); StartTls → flush, handshake, tls_started();
// Close → flush and close }. Every event but NeedInput, AuthAborted, StartTls and
// Close must be answered before the next call to next().
//
// Never throws (other than std::bad_alloc) and never asserts on input. Memory is
// bounded by the limits: one line, one message, plus what the caller receive()s
// between calls to next().
class ServerEngine {
 public:
  // Queues the 220 greeting in output().
  explicit ServerEngine(Options options);

  // Appends bytes read from the peer. Ignored once closed.
  void receive(std::string_view bytes);

  // Handles buffered input up to the next event.
  Event next();

  // Answers the pending MailFrom or RcptTo. Requires: one is pending.
  void answer(const Reply& reply);

  // Answers the pending Message: one reply (SMTP) or one per recipient (LMTP).
  // Requires: a Message is pending and `replies` has the right size.
  void answer_message(const std::vector<Reply>& replies);

  // Sends "334 <base64(challenge)>" and waits for the client's response.
  // Requires: AuthStart or AuthResponse pending.
  void auth_challenge(std::string_view challenge);

  // Ends the exchange: a 235 reply marks the session authenticated; anything
  // else is a failure. RFC 4954 §4 235 may carry additional data only via a
  // final 334; callers send that with auth_challenge() first.
  // Requires: AuthStart or AuthResponse pending.
  void auth_finish(const Reply& reply);

  // The TLS handshake after StartTls succeeded: the session starts over as if
  // just connected, without a greeting (RFC 3207 §4.2). Requires: StartTls was
  // returned. A failed handshake: the caller closes the connection.
  void tls_started();

  // Queues `reply` (a 421 for a timeout or shutdown) and closes: next() returns
  // Close from now on.
  void shut_down(const Reply& reply);

  // Bytes to send, valid until the next call to a non-const member.
  std::string_view output() const { return std::string_view(out_).substr(out_pos_); }

  // Drops the first `n` bytes of output(). Requires: n <= output().size().
  void consume_output(std::size_t n);

  bool is_closed() const { return state_ == State::kClosed; }

  bool is_tls() const { return tls_active_; }

  bool is_authenticated() const { return authenticated_; }

  // The HELO/EHLO/LHLO argument, "" before one.
  const std::string& helo_name() const { return helo_; }

  // True after EHLO or LHLO (ESMTP), false after HELO.
  bool is_esmtp() const { return esmtp_; }

  // The EHLO/LHLO keywords offered right now, e.g. for tests: "PIPELINING",
  // "SIZE 1000", "AUTH PLAIN LOGIN", ...
  std::vector<std::string> capabilities() const;

  // Changes the mechanisms offered from the next EHLO on (e.g. once TLS is up).
  void set_auth_mechanisms(std::vector<std::string> mechanisms);

 private:
  enum class State {
    kCommand,       // reading command lines
    kAwaitMail,     // MailFrom returned, answer() pending
    kAwaitRcpt,     // RcptTo returned, answer() pending
    kData,          // reading DATA text
    kBdat,          // reading a BDAT chunk
    kAwaitMessage,  // Message returned, answer_message() pending
    kAuthLine,      // reading an AUTH response line
    kAwaitAuth,     // AuthStart/AuthResponse returned, answer pending
    kStartTls,      // StartTls returned, tls_started() pending
    kClosed,
  };
  enum class LineStatus { kLine, kNeedMore, kTooLong, kBareNewline };
  // One step of next(): an event for the caller, or nullopt to keep going.
  using Step = std::optional<Event>;

  LineStatus take_line(std::size_t limit, std::string_view& line);
  Step step();
  Step handle_command(std::string_view line);
  Step handle_hello(std::string_view verb, std::string_view arg);
  Step handle_mail(std::string_view arg);
  Step handle_rcpt(std::string_view arg);
  Step handle_data(std::string_view arg);
  Step handle_bdat(std::string_view arg);
  Step handle_auth(std::string_view arg);
  Step handle_auth_line(std::string_view line);
  Step read_data();
  Step read_bdat();
  Step finish_message();
  // Queues an error reply; returns Close (after 421) when the error limit is hit.
  Step error(const Reply& reply);
  Step junk(const Reply& reply);
  void send(const Reply& reply);
  void reset_transaction();
  void compact_input();
  bool auth_offered() const;

  Options options_;
  State state_ = State::kCommand;
  std::string in_;
  std::size_t pos_ = 0;
  std::size_t scanned_ = 0;
  bool skipping_line_ = false;  // discarding the rest of an over-long command line
  std::string out_;
  std::size_t out_pos_ = 0;

  bool tls_active_ = false;
  bool authenticated_ = false;
  bool esmtp_ = false;
  std::string helo_;
  std::size_t errors_ = 0;
  std::size_t junk_ = 0;

  // The transaction.
  bool in_transaction_ = false;
  address::ReversePath reverse_path_;
  MailParams mail_params_;
  std::vector<Recipient> recipients_;
  std::optional<Recipient> pending_rcpt_;
  std::optional<MailFrom> pending_mail_;
  std::string content_;
  bool used_bdat_ = false;
  // DATA reading state.
  bool data_bad_newline_ = false;
  bool data_line_too_long_ = false;
  bool data_too_big_ = false;
  std::size_t data_line_bytes_ = 0;  // content bytes of the current DATA line so far
  bool data_mid_line_ = false;       // not at the start of a DATA line
  // BDAT reading state.
  std::size_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_discard_ = false;  // consume the chunk, then reply with bdat_reply_
  Reply bdat_reply_;
  std::size_t message_recipients_ = 0;  // recipients of the pending Message
};

// RFC 3461 §4: xtext decoding ("+2B" → "+"). Errors: kInvalidInput for a bad
// "+XX" or a character outside xtext.
Result<std::string> decode_xtext(std::string_view text);

// The inverse: bytes outside "!".."~", "+" and "=" become "+XX".
std::string encode_xtext(std::string_view text);

}  // namespace tern::smtp
