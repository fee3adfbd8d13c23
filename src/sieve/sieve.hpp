// SPDX-License-Identifier: Apache-2.0
// Sieve: the mail filtering language of RFC 5228, compiled once and run at
// delivery against one message for one recipient. Pure: no I/O. What a run
// decides (the actions) is carried out by the caller (domain::deliver), which
// stores, queues or answers; the interpreter only reads the message.
//
// Extensions (the `require` names): fileinto, envelope, encoded-character
// (RFC 5228), imap4flags (RFC 5232), copy (RFC 3894), body (RFC 5173),
// variables (RFC 5229), relational (RFC 5231), subaddress (RFC 5233),
// vacation and vacation-seconds (RFC 5230, RFC 6131), mailbox (RFC 5490),
// comparator-i;ascii-numeric (RFC 4790), date and index (RFC 5260), spamtest
// and spamtestplus (RFC 5235; the score comes from Environment::spam_score).
// docs/adr/0022-sieve.md says what is left out and why.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::sieve {

// The extensions `require` accepts, space-separated, as ManageSieve's SIEVE
// capability lists them (RFC 5804 §1.7).
std::string_view supported_extensions();

// Bounds on what compile() accepts, so a script cannot make delivery slow or big.
struct CompileLimits {
  std::size_t max_script_bytes = 1 << 20;  // Dovecot's sieve_max_script_size
  std::size_t max_nesting = 32;            // blocks and test lists inside each other
  std::size_t max_commands = 20000;        // commands and tests in all
};

namespace detail {
struct Program;
}

// A compiled script. Immutable and cheap to copy (it shares the program), so one
// compiled script can be run by several deliveries at once.
class Script {
 public:
  Script() = default;

  // The extensions the script requires, in the order named.
  const std::vector<std::string>& required() const;

 private:
  friend Result<Script> compile(std::string_view text, const CompileLimits& limits);
  friend class Runner;
  std::shared_ptr<const detail::Program> program_;
};

// Parses and checks `text` (UTF-8; RFC 5228 §8 grammar): the syntax, that every
// command and test is known and has the arguments it takes, and that each
// extension used was required.
// Errors: kInvalidInput, the message "line N: what is wrong" (N from 1), as
// ManageSieve PUTSCRIPT and `tern sieve put` show it.
Result<Script> compile(std::string_view text, const CompileLimits& limits = {});

// The SMTP envelope of the delivery (RFC 5228 §5.4).
struct Envelope {
  std::string from;  // the reverse path without <>; "" for the null sender
  std::string to;    // the recipient this run is for, as given in RCPT TO
  std::string auth;  // the authenticated submitter, "" when none
};

// What a run may ask of the world beyond the message.
struct Environment {
  // The recipient's sub-address separators ("+" by default) for :user/:detail.
  std::string subaddress_separators = "+";
  // True when the recipient has a mailbox of this name (RFC 5490 mailboxexists).
  // Null: no mailbox exists.
  std::function<bool(std::string_view)> mailbox_exists;
  // The current time in Unix seconds and the local zone's offset east of UTC in
  // minutes, for the `currentdate` test (RFC 5260 §5).
  std::int64_t now = 0;
  int zone_minutes = 0;
  // The spam filter's score for this recipient's copy, in [0, 1] (0 surely ham,
  // 1 surely spam; out-of-range values are clamped); nullopt (or NaN): not
  // tested, e.g. the recipient's model is untrained. What the `spamtest` test
  // (RFC 5235 §3.2) compares, normalized as detail::spamtest_result() says:
  // without :percent "0" untested, else 1 + floor(9 × score) (1 clear .. 10
  // spam); with :percent "0" untested, else floor(100 × score); :count "0"
  // untested, else "1". The mapping is Pigeonhole's for a score-type status.
  std::optional<double> spam_score;
  // Limits on one run.
  std::size_t max_actions = 32;     // explicit actions; more is a runtime error
  std::size_t max_redirects = 4;    // Dovecot's sieve_max_redirects
  std::size_t max_steps = 1000000;  // commands and tests executed (loops are impossible,
                                    // but a script may test a huge header many times)
  // Comparison work: each :contains or :matches of a value against a key counts
  // the value's length times the key's (what it may cost at worst), :is and
  // :value the value's length. Bounds the time a script with long patterns can
  // spend on a large message (Pigeonhole bounds it by CPU time instead).
  std::uint64_t max_work = 200'000'000;
};

enum class ActionKind {
  kKeep,      // store in the INBOX (also the implicit keep)
  kFileInto,  // store in `mailbox`
  kRedirect,  // send on to `address`, envelope and message unchanged
  kDiscard,   // nothing stores or sends the message on (listed last, after any vacation)
  kVacation,  // answer the sender (RFC 5230); the caller decides whether to send
};

// Vacation's arguments (RFC 5230 §4), with defaults applied.
struct Vacation {
  std::string reason;                  // the reply's body (with :mime, a MIME entity)
  std::string subject;                 // "" = "Auto: " + the message's subject
  std::string from;                    // "" = the recipient's address
  std::vector<std::string> addresses;  // :addresses, the recipient's other addresses
  std::uint32_t seconds = 7 * 86400;   // :days/:seconds, clamped to the caller's range
  std::string handle;                  // :handle, else a digest of the arguments
  bool mime = false;
};

struct Action {
  ActionKind kind = ActionKind::kKeep;
  std::string mailbox;             // kKeep: "INBOX"; kFileInto: as written (UTF-8)
  std::vector<std::string> flags;  // kKeep/kFileInto: IMAP flags and keywords to set
  bool create = false;             // kFileInto :create (RFC 5490 §3.2)
  std::string address;             // kRedirect
  Vacation vacation;               // kVacation
};

// What a run decided. `actions` lists what to do, in order, duplicates merged
// (RFC 5228 §2.10.3): a keep or fileinto of a mailbox already stored into is
// left out, and so is a redirect to an address already redirected to. When no
// action cancelled it, the implicit keep is the last action (implicit_keep set).
// A run-time error (RFC 5228 §2.10.6) drops every action and keeps the message
// in the INBOX; `error` says why ("line N: ...").
struct Outcome {
  std::vector<Action> actions;
  bool implicit_keep = false;
  std::optional<std::string> error;
};

// Runs `script` for one delivery of `message` (its raw bytes, CRLF or LF line
// ends) to `envelope.to`.
Outcome run(const Script& script, std::string_view message, const Envelope& envelope,
            const Environment& environment = {});

}  // namespace tern::sieve
