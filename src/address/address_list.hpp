// SPDX-License-Identifier: Apache-2.0
// RFC 5322 §3.4 address lists as found in From, Sender, Reply-To, To, Cc and Bcc
// field values, parsed best-effort: real mail breaks every rule, so bad input
// yields the most plausible list plus diagnostics, never an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::address {

// One mailbox (RFC 5322 §3.4 mailbox: name-addr / addr-spec).
//
// The *_raw fields are views into the input given to parse_address_list(): the
// exact bytes as written (quotes, escapes, RFC 2047 encoded words, folding and
// comments inside the span all kept). They live as long as that input does.
// The decoded fields own their bytes: quotes removed, quoted-pairs resolved,
// CRLF folding removed, comments dropped, runs of whitespace between words
// reduced to one space. RFC 2047 encoded words are NOT decoded (that is the mime
// component's job); RFC 6532 UTF-8 is passed through unchanged.
struct Mailbox {
  // The whole mailbox, without whitespace or comments around it.
  std::string_view raw;

  // The phrase before "<", e.g. `"Joe Q. Public"` / `Joe Q. Public` (also the
  // words before an unbracketed address, `Joe joe@x`, and a phrase with no
  // address at all); nullopt when there is none. `"" <a@b>` gives an empty
  // string, not nullopt.
  std::optional<std::string> display_name;
  std::string_view display_name_raw;  // empty when display_name is nullopt

  // The RFC 822-era name comment: the last comment inside or after an address
  // written without a phrase or angle brackets, e.g. "John Doe" for
  // `jdoe@example.org (John Doe)`, without its parentheses, unfolded, with runs of
  // whitespace reduced to one space and trimmed. Empty otherwise. IMAP servers
  // (Dovecot) show it as the ENVELOPE name.
  std::string comment;

  // RFC 5322 §4.4 obs-route before the addr-spec, e.g. "@a.test,@b.test" for
  // `<@a.test,@b.test:user@c.test>` (the IMAP ENVELOPE "adl"); empty if none.
  std::string route;

  // The local part: `"john q"` raw gives `john q` decoded; `john . q` (obsolete
  // CFWS around dots) gives `john.q`. Empty when the address has none
  // (e.g. `From: <>` or a phrase with no address at all).
  std::string local_part;
  std::string_view local_part_raw;

  // The domain as written without CFWS: not lower-cased, not IDNA-converted
  // (use parse_domain() for that). Domain literals keep their brackets. Empty
  // when the address has no "@domain" (a bare local part such as
  // `undisclosed-recipients`).
  std::string domain;
  std::string_view domain_raw;

  // Whether the address was written in angle brackets.
  bool angle_brackets = false;

  // Returns "local@domain" with the local part quoted when it is not a
  // dot-atom (RFC 5322 §3.4.1); just the local part when domain is empty.
  std::string addr_spec() const;
};

// A group (RFC 5322 §3.4 group: display-name ":" [group-list] ";").
struct Group {
  std::string_view raw;
  std::string display_name;  // decoded like Mailbox::display_name
  std::string_view display_name_raw;
  std::vector<Mailbox> members;  // empty for `undisclosed-recipients:;`
};

using Address = std::variant<Mailbox, Group>;

// What was wrong or old-fashioned, in input order. Obsolete forms (RFC 5322 §4)
// are legal to receive; the others are repairs the parser made.
enum class Problem : std::uint8_t {
  // Obsolete but legal (is_obsolete() is true).
  kObsoleteRoute,      // <@a,@b:user@c>
  kObsoleteLocalPart,  // "john".doe, john . doe
  kObsoleteDomain,     // example . org, example(comment).org
  kObsoletePhrase,     // unquoted "." in a display name: Joe Q. Public
  kEmptyListElement,   // "a@b,,c@d" or a leading/trailing comma
  // Repairs.
  kMissingAngleBracket,  // Joe joe@x, or "<joe@x" without ">"
  kMissingLocalPart,     // <@example.org>, @example.org
  kMissingDomain,        // a bare local part: `undisclosed-recipients`
  kMissingAddress,       // a phrase with no address: `Joe Public`
  kEmptyAngleAddress,    // <>
  kUnquotedSpecial,      // a special (",", ":", "@", ...) inside a display name
  kUnterminatedQuote,    // "...  to the end of input
  kUnterminatedComment,  // (...  to the end of input
  kUnterminatedLiteral,  // [...  to the end of input
  kUnterminatedGroup,    // "team: a@b" without ";"
  kNestedGroup,          // "a: b: c@d;;" (members are flattened into the outer group)
  kTrailingGarbage,      // bytes after an address that belong to nothing
  kMissingComma,         // "a: b@c; d: e@f;" — a group's ";" followed by more without ","
  kInvalidCharacter,     // a control character, or "\\", ")", ">" out of place
  kInputTruncated,       // input longer than AddressListLimits::max_input_bytes
  kTooManyAddresses,     // more than AddressListLimits::max_addresses
};

// True for the RFC 5322 §4 obsolete forms, which a receiver must accept.
bool is_obsolete(Problem problem);

// A stable lower-case name for logs and tests ("missing_domain").
std::string_view problem_name(Problem problem);

struct Diagnostic {
  Problem problem;
  std::size_t offset;  // byte offset into the input where it was noticed

  bool operator==(const Diagnostic&) const = default;
};

struct AddressListLimits {
  // Bytes of input looked at; the rest is ignored (kInputTruncated). Bounds the
  // work and the memory of one call.
  std::size_t max_input_bytes = 256 * 1024;
  // Mailboxes kept (group members included); the rest are dropped
  // (kTooManyAddresses).
  std::size_t max_addresses = 10000;
  // Diagnostics kept; further ones are dropped silently.
  std::size_t max_diagnostics = 32;
};

struct AddressListOptions {
  AddressListLimits limits;
  // `Doe, John <jdoe@x>`: an entry that is only a phrase (no "@", no "<>",
  // a word or more) directly followed by an entry with a display name and angle
  // brackets is taken as part of that display name ("Doe, John"), as mail
  // readers show it (kUnquotedSpecial). When false the strict reading is kept:
  // a bare local part "Doe" and the mailbox "John <jdoe@x>" (Dovecot's answer).
  bool merge_unquoted_comma_names = true;
};

struct AddressList {
  std::vector<Address> addresses;
  std::vector<Diagnostic> diagnostics;

  // True when some diagnostic is not an obsolete form, i.e. the input is not
  // RFC 5322 syntax (including §4) and the parser had to repair it.
  bool has_errors() const;

  // Every mailbox in order, group members included.
  std::vector<const Mailbox*> mailboxes() const;
};

// Parses a header field value (everything after "Name:", folded or unfolded,
// with or without the final CRLF). Never fails and never throws: the worst case
// is an empty list with diagnostics. Work and memory are linear in
// min(input.size(), limits.max_input_bytes); comments may nest to any depth
// without recursion.
//
// Lifetime: every *_raw view and `raw` points into `input`.
AddressList parse_address_list(std::string_view input, const AddressListOptions& options = {});

// Placeholders in ENVELOPE items for a mailbox that lacks a local part or a
// domain, as Dovecot writes them (IMAP has no way to say "absent" there: NIL in
// the host means a group marker).
constexpr std::string_view kMissingMailbox = "MISSING_MAILBOX";
constexpr std::string_view kMissingDomain = "MISSING_DOMAIN";

// One item of an IMAP ENVELOPE address list (RFC 9051 §7.5.2, RFC 3501 §7.4.2):
// `(name adl mailbox host)`, nullopt meaning NIL. A group appears as a start
// marker (NIL NIL "group name" NIL), its members, and an end marker
// (NIL NIL NIL NIL).
struct EnvelopeAddress {
  std::optional<std::string> name;     // display name, else the name comment, else NIL
  std::optional<std::string> adl;      // obs-route, else NIL
  std::optional<std::string> mailbox;  // local part (decoded), or the group name
  std::optional<std::string> host;     // domain as written; NIL only in markers

  bool is_group_start() const { return !host && mailbox.has_value(); }

  bool is_group_end() const { return !host && !mailbox; }

  bool operator==(const EnvelopeAddress&) const = default;
};

// Flattens `list` into ENVELOPE items. Names are phrases with quotes removed;
// RFC 2047 words stay encoded (the caller may decode them; IMAP sends them as
// they are). An empty display name ("" <a@b>) is NIL. A missing local part or
// domain becomes kMissingMailbox / kMissingDomain, so a phrase with no address
// (`Joe Public`) is ("Joe Public" NIL "MISSING_MAILBOX" "MISSING_DOMAIN") and "<>"
// is (NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"), as with Dovecot. Empty list
// elements (",,") are left out (RFC 5322 §4.4: they are not addresses).
//
// Where the items deliberately differ from Dovecot 2.3 (checked against Debian's
// dovecot-imapd with the strict comma reading):
//   - ",," yields no item; Dovecot adds (NIL NIL "MISSING_MAILBOX" ...)
//     (RFC 5322 §4.4 obs-addr-list: the empty element is not an address);
//   - `"john".doe@x` and `john . doe@x` give mailbox "john.doe"; Dovecot gives
//     up (RFC 5322 §4.4 obs-local-part is legal to receive);
//   - `Joe joe@x`, `<joe@x` (no ">"), `.Joe <joe@x>`, `a@b; c@d`,
//     `g:; junk, a@b` and `outer: inner: a@b;;` keep every address; Dovecot
//     stops or writes "SYNTAX_ERROR" (repairs; RFC 5322 §3.4 has no reading
//     for them at all);
//   - `<@x>` and `<@>` have no adl; Dovecot writes "INVALID_ROUTE" there;
//   - `john@x <john@x>` keeps "john@x" as the name; Dovecot drops it;
//   - `user@example.org.` keeps the trailing dot in the host; Dovecot writes
//     "MISSING_DOMAIN".
std::vector<EnvelopeAddress> envelope_addresses(const AddressList& list);

}  // namespace tern::address
