// SPDX-License-Identifier: Apache-2.0
// RFC 8474 OBJECTID: the MAILBOXID and EMAILID tern gives. Both derive from what
// `tern migrate` and RENAME keep, so they stay the same wherever the RFC says
// they must (§4, §5.1): not from row ids, which a migrated store renumbers.
#pragma once

#include <string>

#include "domain/model.hpp"

namespace tern::services::imap {

// "F" and the UIDVALIDITY (RFC 8474 §4): the same for a mailbox with the same
// name and UIDVALIDITY, kept by RENAME (which keeps the UIDVALIDITY; RENAME INBOX
// makes a new mailbox), and never that of another mailbox of the account, since
// the store hands out each UIDVALIDITY once and an import raises its counter
// past the ones it brings.
std::string mailbox_object_id(const domain::Mailbox& mailbox);

// "M" and 24 hex digits of the SHA-256 of the message's bytes (its blob id) and
// its INTERNALDATE (§5.1): the same in every mailbox a COPY or MOVE puts the
// message, immutable, and different for two messages that differ in anything
// a UID must keep (bytes or INTERNALDATE). Identical bytes with the same date
// share it, which §5.1 allows.
std::string email_object_id(const domain::Entry& entry);

}  // namespace tern::services::imap
