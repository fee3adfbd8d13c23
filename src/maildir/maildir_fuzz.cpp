// SPDX-License-Identifier: Apache-2.0
// Fuzz target maildir_files: every reader of maildir.hpp on any bytes (a file
// name, dovecot-uidlist, dovecot-keywords, a folder name, subscriptions) returns
// or fails cleanly; a uidlist that parses has ascending UIDs below its next UID
// and reads back from what uidlist_text() writes of it; a mailbox name that
// folder_directory() takes comes back from folder_mailbox().
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "maildir/maildir.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::maildir;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)parse_file_name(in);
  if (auto list = parse_uidlist(in)) {
    std::uint32_t last = 0;
    for (const auto& e : list->entries) {
      if (e.uid <= last || e.uid >= list->next_uid || e.base.empty()) {
        std::abort();
      }
      last = e.uid;
    }
    auto again = parse_uidlist(uidlist_text(*list));
    // A base with a space or line end does not survive the line format; Dovecot
    // never writes one.
    const bool plain = std::none_of(list->entries.begin(), list->entries.end(), [](const auto& e) {
      return e.base.find_first_of(" \r\n") != std::string::npos;
    });
    if (plain && (!again || again->entries.size() != list->entries.size() ||
                  again->uid_validity != list->uid_validity)) {
      std::abort();
    }
  }
  if (auto dir = folder_directory(in)) {
    if (folder_mailbox(*dir) != std::string(in)) {
      std::abort();
    }
  }
  if (parse_keywords(in).size() > 26) {
    std::abort();
  }
  if (auto name = folder_mailbox(in); name && name->empty()) {
    std::abort();
  }
  (void)parse_subscriptions(in);
  return 0;
}
