// SPDX-License-Identifier: Apache-2.0
// The rules every backend applies to a mailbox name before it stores one
// (MailStore::create_mailbox, rename_mailbox, StoreImport), so that memory,
// sqlite and postgres accept and spell the same names.
//
// Names are UTF-8 with "/" between levels (Mailbox::name); the IMAP service
// converts from modified UTF-7 and its own hierarchy delimiter before they get
// here.
#pragma once

#include <string>
#include <string_view>

namespace tern::domain {

// The one name of the inbox as stored.
inline constexpr std::string_view kInboxName = "INBOX";

// RFC 9051 §5.1: "INBOX" is case-insensitive, so any ASCII casing of it is
// the inbox and is returned as kInboxName. Every other name is returned as is
// (names are case-sensitive).
std::string canonical_mailbox_name(std::string name);

// True when `name` can be stored: not empty, no leading or trailing "/", no
// empty level ("//"), no NUL. Says nothing about whether it exists or whether
// it is the inbox (renaming to or from INBOX is the caller's rule).
bool is_valid_mailbox_name(std::string_view name);

}  // namespace tern::domain
