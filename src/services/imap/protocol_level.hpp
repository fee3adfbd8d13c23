// SPDX-License-Identifier: Apache-2.0
// services::imap::ProtocolLevel: which IMAP dialect one session speaks. Every
// session starts as IMAP4rev1 (RFC 3501); `ENABLE IMAP4rev2` (RFC 9051 §6.3.1)
// switches it to IMAP4rev2 for the rest of the connection. The response writers
// ask this object instead of testing the revision themselves, so the differences
// listed in RFC 9051 Appendix E live in one place:
//
//   \Recent      rev1: RECENT responses, \Recent in FLAGS, SEARCH RECENT/NEW/OLD,
//                STATUS RECENT (RFC 3501 §2.3.2). rev2: deprecated (App. E 12): no
//                RECENT response, no \Recent flag, and the session claims no
//                message as recent (it would take it from a rev1 session).
//   SEARCH       rev2 answers SEARCH without RETURN as ESEARCH ALL (App. E 4).
//   SELECT       rev2 also sends the mailbox's LIST response (App. E 10) and no
//                deprecated UNSEEN code (App. E 11).
//   LIST         a hierarchy level that is no mailbox is "\NonExistent" in rev2
//                (§7.3.1, implies \NoSelect) and "\Noselect" in rev1 (RFC 3501
//                §6.3.8).
//   names        UTF-8 (Net-Unicode, NFC) in rev2 (§5.1) and after ENABLE
//                UTF8=ACCEPT (RFC 6855 §3); modified UTF-7 otherwise.
//
// Not thread-safe; one per session (Handlers owns it).
#pragma once

#include <string_view>

namespace tern::services::imap {

class ProtocolLevel {
 public:
  // ENABLE IMAP4rev2 (RFC 9051 §6.3.1). Idempotent.
  void enable_rev2() { rev2_ = true; }

  // ENABLE UTF8=ACCEPT (RFC 6855 §3). Idempotent.
  void enable_utf8_accept() { utf8_accept_ = true; }

  bool rev2() const { return rev2_; }

  // The UTF8 APPEND data item (RFC 6855 §4) is accepted only after UTF8=ACCEPT.
  bool utf8_accept() const { return utf8_accept_; }

  // Mailbox names travel as UTF-8 quoted strings, not modified UTF-7.
  bool utf8_names() const { return rev2_ || utf8_accept_; }

  // \Recent is tracked and announced (RECENT, \Recent in FLAGS, RECENT keys).
  bool recent() const { return !rev2_; }

  // SEARCH without RETURN answers "* ESEARCH (TAG ...) [UID] ALL set", not "* SEARCH".
  bool search_as_esearch() const { return rev2_; }

  // SELECT/EXAMINE send "* LIST (...) "/" name" and leave out OK [UNSEEN n].
  bool select_lists_mailbox() const { return rev2_; }

  bool select_sends_unseen() const { return !rev2_; }

  // The attribute of a name that exists only as a level of hierarchy.
  std::string_view placeholder_attribute() const { return rev2_ ? "\\NonExistent" : "\\Noselect"; }

 private:
  bool rev2_ = false;
  bool utf8_accept_ = false;
};

}  // namespace tern::services::imap
