// SPDX-License-Identifier: Apache-2.0
// milter: the MTA side of the Sendmail 8 mail filter protocol (version 6), as
// OpenDKIM, clamav-milter, rspamd's proxy and spamass-milter speak it, sans-IO.
//
// Every packet is a 4-byte length (network order, counting what follows), a
// command or reply letter, and its data; strings are NUL-terminated. The MTA
// negotiates (version, actions it permits, protocol steps the filter may skip
// or not answer), then reports the session and message step by step: macros,
// connect, HELO, MAIL, each RCPT, DATA, each header, end of headers, the body
// in chunks of at most 64 KiB, end of body. The filter answers each step
// (continue, accept, reject, tempfail, discard, a reply of its own) and, at the
// end of the body, lists its modifications before its final answer.
//
// Client replays one received message to one filter: the connecting, the
// timeouts and the applying of the outcome are the caller's
// (services/smtp/milter.hpp). docs/adr/0027-milter-client.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::milter {

// The protocol version this client speaks.
inline constexpr std::uint32_t kVersion = 6;

// Actions a filter may ask for (SMFIF_*). The client permits all of version 6,
// as Postfix does; a filter asking for others fails the negotiation, as
// Postfix fails it.
inline constexpr std::uint32_t kAddHeaders = 0x01;
inline constexpr std::uint32_t kChangeBody = 0x02;
inline constexpr std::uint32_t kAddRecipient = 0x04;
inline constexpr std::uint32_t kDeleteRecipient = 0x08;
inline constexpr std::uint32_t kChangeHeaders = 0x10;
inline constexpr std::uint32_t kQuarantine = 0x20;
inline constexpr std::uint32_t kChangeSender = 0x40;
inline constexpr std::uint32_t kAddRecipientWithArguments = 0x80;
inline constexpr std::uint32_t kSetSymbolList = 0x100;
inline constexpr std::uint32_t kPermittedActions =
    kAddHeaders | kChangeBody | kAddRecipient | kDeleteRecipient | kChangeHeaders | kQuarantine |
    kChangeSender | kAddRecipientWithArguments | kSetSymbolList;

// Protocol flags (SMFIP_*): steps the filter does not want (kNo*), steps it
// will not answer (kNoReply*), and extensions.
inline constexpr std::uint32_t kNoConnect = 0x01;
inline constexpr std::uint32_t kNoHelo = 0x02;
inline constexpr std::uint32_t kNoMail = 0x04;
inline constexpr std::uint32_t kNoRecipient = 0x08;
inline constexpr std::uint32_t kNoBody = 0x10;
inline constexpr std::uint32_t kNoHeaders = 0x20;
inline constexpr std::uint32_t kNoEndOfHeaders = 0x40;
inline constexpr std::uint32_t kNoReplyHeader = 0x80;
inline constexpr std::uint32_t kNoUnknown = 0x100;
inline constexpr std::uint32_t kNoData = 0x200;
inline constexpr std::uint32_t kSkip = 0x400;  // the MTA takes "skip the rest of the body"
inline constexpr std::uint32_t kNoReplyConnect = 0x1000;
inline constexpr std::uint32_t kNoReplyHelo = 0x2000;
inline constexpr std::uint32_t kNoReplyMail = 0x4000;
inline constexpr std::uint32_t kNoReplyRecipient = 0x8000;
inline constexpr std::uint32_t kNoReplyData = 0x10000;
inline constexpr std::uint32_t kNoReplyUnknown = 0x20000;
inline constexpr std::uint32_t kNoReplyEndOfHeaders = 0x40000;
inline constexpr std::uint32_t kNoReplyBody = 0x80000;
inline constexpr std::uint32_t kHeaderLeadingSpace = 0x100000;  // values as received
inline constexpr std::uint32_t kOfferedProtocol =
    kNoConnect | kNoHelo | kNoMail | kNoRecipient | kNoBody | kNoHeaders | kNoEndOfHeaders |
    kNoReplyHeader | kNoUnknown | kNoData | kSkip | kNoReplyConnect | kNoReplyHelo | kNoReplyMail |
    kNoReplyRecipient | kNoReplyData | kNoReplyUnknown | kNoReplyEndOfHeaders | kNoReplyBody |
    kHeaderLeadingSpace;

// The largest packet a filter may send. libmilter sends a replacement body in
// chunks of 64 KiB, so anything near this is a broken or hostile filter.
inline constexpr std::size_t kMaxPacketBytes = 1024 * 1024;
// Body chunks this client sends (libmilter's MILTER_CHUNK_SIZE).
inline constexpr std::size_t kBodyChunkBytes = 65535;

// One packet: "[len][letter][data]".
std::string encode(char letter, std::string_view data);

// Macro name and value ("{client_addr}", "192.0.2.1"; "j", "mx.example.org").
using Macros = std::vector<std::pair<std::string, std::string>>;

// What the filter is told about the session and the message's envelope. The
// macros of each step are sent before it (Postfix's milter_*_macros); the
// client adds {rcpt_addr} to each recipient's own.
struct Envelope {
  // The client's host name ("[192.0.2.1]" when unknown) and address; an
  // empty address is a local-socket peer, reported as family "unknown".
  std::string client_name;
  std::string client_address;
  std::uint16_t client_port = 0;
  std::string helo;
  // The reverse-path without its brackets ("" for the null sender) and the
  // MAIL parameters ("SIZE=1234", "BODY=8BITMIME").
  std::string sender;
  std::vector<std::string> mail_parameters;
  std::vector<std::string> recipients;  // without brackets
  Macros connect_macros;
  Macros helo_macros;
  Macros mail_macros;
  Macros data_macros;  // also before the headers, end of headers and end of body
};

// One header change the filter asked for, in order.
struct HeaderChange {
  enum class Kind {
    kAdd,     // append to the header ("h")
    kInsert,  // at `index` among the fields, 0 the topmost ("i")
    kChange,  // the `index`-th (from 1; 0 is 1) field of that name; "" deletes ("m")
  };
  Kind kind = Kind::kAdd;
  std::uint32_t index = 0;
  std::string name;
  std::string value;  // as the filter sent it, "\n" folding included

  bool operator==(const HeaderChange&) const = default;
};

// What the filter decided for the message.
struct Outcome {
  enum class Verdict {
    kContinue,  // deliver, with the changes below ("accept" and "continue")
    kReject,    // refuse permanently (5xx)
    kTempfail,  // refuse for now (4xx)
    kDiscard,   // accept and drop
  };
  Verdict verdict = Verdict::kContinue;
  // kReject/kTempfail: the filter's own reply ("550 5.7.1 No thanks", lines
  // separated by CRLF), or "" for the MTA's default wording.
  std::string reply;

  // Recipients the filter refused at RCPT (by index into Envelope::recipients),
  // each with its verdict (kReject or kTempfail) and reply as above. The message
  // goes on for the others.
  struct RecipientRefusal {
    std::size_t index = 0;
    Verdict verdict = Verdict::kReject;
    std::string reply;
    bool operator==(const RecipientRefusal&) const = default;
  };

  std::vector<RecipientRefusal> refused_recipients;
  std::vector<HeaderChange> header_changes;
  std::optional<std::string> new_body;           // the filter replaced the body
  std::optional<std::string> quarantine_reason;  // the filter asked to hold it
  // Envelope changes: recipients added ("+", "2") and removed ("-"), and a new
  // sender ("e", "" for the null sender), each an address without its angle
  // brackets. ESMTP arguments that come with them (NOTIFY=, SIZE=) are dropped:
  // the message keeps the client's.
  std::vector<std::string> added_recipients;
  std::vector<std::string> removed_recipients;
  std::optional<std::string> new_sender;
  // The filter negotiated kHeaderLeadingSpace: its values carry their own
  // leading white space.
  bool leading_space = false;
};

// What a filter negotiated on a connection; a later message of the same SMTP
// session reuses the connection with it (Client's `reused`).
struct Negotiated {
  std::uint32_t actions = 0;
  std::uint32_t protocol = 0;
};

// The QUIT that ends a connection the caller kept (Client::reusable()).
std::string quit();

// Replays one message to one filter.
//
// Usage: send take_output(); while state() is kNeedInput read from the filter
// and receive() the bytes, sending take_output() after each. At kDone the
// outcome is final; unless reusable(), take_output() holds the closing QUIT. At
// kFailed, error() says what went wrong and nothing more goes out (the caller
// closes the connection and applies its failure policy).
//
// A connection is reusable when the filter answered the end of the body: it is
// then ready for the next message of the session, as Postfix uses it (one
// connection per SMTP session). The next Client on it gets `reused`: it sends
// ABORT (which resets the filter's message state) and starts at MAIL, the
// connect and HELO the filter has from the first message standing.
//
// A protocol error is any malformed packet, a reply not valid at its step, a
// modification the client did not permit, or a packet over kMaxPacketBytes.
class Client {
 public:
  enum class State { kNeedInput, kDone, kFailed };

  // `message`: the whole message as received (CRLF line ends, no dot
  // stuffing); it must outlive the client. A replacement body larger than
  // `max_body_bytes` is a protocol error.
  Client(Envelope envelope, std::string_view message, std::size_t max_body_bytes = 64 * 1024 * 1024,
         std::optional<Negotiated> reused = std::nullopt);

  std::string take_output();
  void receive(std::string_view bytes);

  State state() const { return state_; }

  const Outcome& outcome() const { return outcome_; }

  const std::string& error() const { return error_; }

  // At kDone: the connection may carry the session's next message.
  bool reusable() const { return reusable_; }

  Negotiated negotiated() const { return {actions_, protocol_}; }

 private:
  enum class Step {
    kNegotiate,
    kConnect,
    kHelo,
    kMail,
    kRecipient,
    kData,
    kHeader,
    kEndOfHeaders,
    kBody,
    kEndOfBody,
  };

  void on_packet(char letter, std::string_view data);
  void on_negotiated(std::string_view data);
  // Queues packets up to and including the next one the filter answers.
  void advance();
  // The step whose packet went out (and was answered, when it awaits one) is
  // over: step_ moves to the next.
  void next_step();
  void send(char letter, std::string_view data);
  void send_macros(char step_letter, const Macros& macros);
  void finish();
  void fail(std::string why);

  bool wanted(std::uint32_t no_flag) const { return (protocol_ & no_flag) == 0; }

  Envelope envelope_;
  std::size_t max_body_bytes_;
  std::string output_;
  std::string input_;
  State state_ = State::kNeedInput;
  Outcome outcome_;
  std::string error_;

  std::uint32_t actions_ = 0;
  std::uint32_t protocol_ = 0;
  Step step_ = Step::kNegotiate;  // the step whose answer is awaited
  std::size_t recipient_ = 0;     // kRecipient: which one
  std::size_t header_ = 0;        // kHeader: which one
  std::size_t body_at_ = 0;       // kBody: bytes of the body sent
  // The message split once: each header field whole (its CRLF included) and
  // where the body starts.
  std::vector<std::string_view> fields_;
  std::string_view body_;
  std::string replacement_body_;
  bool body_replaced_ = false;
  bool reusable_ = false;
};

// The message's header fields, each whole with its line end, and its body (after
// the empty line; a header with no empty line after it has an empty body). A
// line that is neither a field nor a continuation ends the header, as in
// Postfix, and starts the body.
struct SplitMessage {
  std::vector<std::string_view> fields;
  std::string_view separator;  // "\r\n", or "" when the header had no empty line
  std::string_view body;
};

SplitMessage split_message(std::string_view message);

// The message with the outcome's header changes and body applied, in the order
// the filter sent them. Header values get CRLF line ends, and, unless the
// filter negotiated kHeaderLeadingSpace, one space after the colon.
std::string apply_changes(std::string_view message, const Outcome& outcome);

}  // namespace tern::milter
