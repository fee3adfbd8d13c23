// SPDX-License-Identifier: Apache-2.0
// imap::Arguments: a cursor over one RawCommand's arguments, reading the RFC 9051 §9
// grammar's building blocks (atoms, strings, literals, lists, numbers, dates,
// flags, sequence sets). The command parser composes them per command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "imap/command_reader.hpp"
#include "imap/sequence_set.hpp"

namespace tern::imap {

// Every reader method either consumes what it read and returns it, or returns
// kInvalidInput (with a message fit for a tagged BAD) and leaves the cursor where
// it was. Literal payloads are taken from the RawCommand's recorded spans, never
// re-scanned. Quoted strings may hold UTF-8 (RFC 9051 §4.3, RFC 6855).
//
// Lifetime: the RawCommand must outlive the Arguments.
class Arguments {
 public:
  // Positions the cursor after "tag SP name" (and after "UID SP name" when the
  // command is a UID command, so call skip_word() once more for it).
  explicit Arguments(const RawCommand& command);

  // True when only the final CRLF is left.
  bool at_end() const;
  // Requires the end: kInvalidInput "unexpected arguments" otherwise.
  Result<void> end();
  // One SP. Commands separate every argument with exactly one.
  Result<void> space();
  // Consumes `c` if it is next; false otherwise (nothing consumed).
  bool accept(char c);
  char peek() const;

  // RFC 9051 §9 productions.
  Result<std::string> atom();                    // 1*ATOM-CHAR
  Result<std::string> string();                  // quoted / literal
  Result<std::string> astring();                 // 1*ASTRING-CHAR / string
  Result<std::optional<std::string>> nstring();  // string / NIL
  // mailbox = "INBOX" / astring: any case of "INBOX" comes back as "INBOX"
  // (RFC 9051 §5.1). The name is returned as sent (modified UTF-7 or UTF-8; the
  // caller decodes according to the session's UTF8=ACCEPT state).
  Result<std::string> mailbox();
  Result<std::string> list_mailbox();  // 1*list-char / string (with % and *)
  Result<std::uint32_t> number();      // 1*DIGIT, at most 2^32-1
  Result<std::uint32_t> nz_number();   // digit-nz *DIGIT
  Result<std::uint64_t> number64();    // 1*DIGIT, at most 2^63-1
  Result<SequenceSet> sequence_set(bool allow_saved = true);
  // flag-list = "(" [flag *(SP flag)] ")"; flags as written ("\Seen", "$Junk", "x").
  Result<std::vector<std::string>> flag_list();
  // One flag (for STORE's bare flag form): "\" atom or atom.
  Result<std::string> flag();
  // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone
  // DQUOTE, as seconds since the Unix epoch (UTC).
  Result<std::int64_t> date_time();
  // date = date-text / DQUOTE date-text DQUOTE, as the day's UTC midnight in Unix
  // seconds (SEARCH compares by date, RFC 9051 §6.4.4).
  Result<std::int64_t> date();
  // A base64 line or "*" (AUTHENTICATE's initial response): up to SP or the end.
  Result<std::string> word();

  // A literal (not a quoted string), with whether it was sent as literal8 "~{n}".
  struct LiteralValue {
    std::string payload;
    bool binary = false;
  };

  Result<LiteralValue> literal();

  // The unparsed rest of the command, CRLF excluded, for grammar the cursor methods
  // do not cover (FETCH section specifiers); advance() then skips what was used.
  // Requires for advance: n <= rest().size().
  std::string_view rest() const { return text_.substr(pos_, end_ - pos_); }

  void advance(std::size_t n) { pos_ += n; }

 private:
  struct Literal {
    std::string_view payload;
    std::size_t end = 0;  // offset after the payload
  };

  // The literal starting at pos_, if there is one ("{n}" / "{n+}" / "~{n}" + CRLF).
  std::optional<Literal> literal_at(std::size_t pos) const;
  Result<std::string> quoted();
  Error bad(std::string_view what) const;

  const RawCommand& command_;
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;  // offset of the final CRLF (or LF)
};

// The IMAP day-month-year of a Unix time in UTC, for INTERNALDATE rendering
// ("17-Jul-1996 02:44:25 -0700" style; zone is always +0000 here).
std::string format_date_time(std::int64_t unix_seconds);

}  // namespace tern::imap
