// SPDX-License-Identifier: Apache-2.0
// Fuzz target maildir_files: every reader of maildir.hpp on any bytes (a file
// name, dovecot-uidlist, dovecot-keywords, a folder name, subscriptions) returns
// or fails cleanly; a uidlist that parses has ascending UIDs below its next UID.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
