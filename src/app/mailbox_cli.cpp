// SPDX-License-Identifier: Apache-2.0
#include "app/mailbox_cli.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include <fmt/format.h>

#include "base/ascii.hpp"
#include "domain/address.hpp"

namespace tern::app {

const char* const kMailboxUsage =
    R"(  mailbox cat ADDRESS [MAILBOX]  the mailbox's messages (default INBOX) in UID order,
        each as "<uid> <size>" LF, the raw bytes, LF (git cat-file --batch framing)
)";

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Entries are read this many UIDs at a time, so a large mailbox never sits in
// memory whole: one chunk of entries and one message at a time.
constexpr std::uint32_t kUidChunk = 1000;

int usage(std::string_view why) {
  fmt::print(stderr, "tern: mailbox: {}\nusage: tern{}", why,
             std::string_view(kMailboxUsage).substr(1));
  return kExitUsage;
}

int failed(const Error& error) {
  fmt::print(stderr, "tern: mailbox: {}\n", error.message);
  return kExitFailed;
}

Result<void> write_all(std::FILE* out, std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) {
    return fail(ErrorCode::kIo, "cannot write to standard output");
  }
  return ok();
}

Result<void> cat(domain::Storage& storage, const std::string& address, const std::string& name,
                 std::FILE* out) {
  TERN_TRY(auto account, find_user(storage, address));
  TERN_TRY(auto box, find_mailbox(storage, account, name));
  const auto walked =
      each_entry(storage, account.id, box, [&](const domain::Entry& entry) -> Result<void> {
        TERN_TRY(auto raw, storage.mail().read_message(account.id, entry.message).get());
        TERN_TRY_VOID(
            write_all(out, fmt::format("{} {}\n", domain::value_of(entry.uid), raw.size())));
        TERN_TRY_VOID(write_all(out, raw));
        return write_all(out, "\n");
      });
  if (!walked) {
    return walked.error();
  }
  if (std::fflush(out) != 0) {
    return fail(ErrorCode::kIo, "cannot write to standard output");
  }
  return ok();
}

}  // namespace

Result<domain::Account> find_user(domain::Storage& storage, const std::string& address) {
  TERN_TRY(auto normal, domain::normalize_address(address));
  TERN_TRY(auto account, storage.directory().find_account(normal).get());
  if (!account) {
    return fail(ErrorCode::kNotFound, "no such user " + normal);
  }
  return *account;
}

Result<domain::Mailbox> find_mailbox(domain::Storage& storage, const domain::Account& account,
                                     std::string_view name) {
  const std::string_view wanted = ascii::iequals(name, "INBOX") ? "INBOX" : name;
  TERN_TRY(auto boxes, storage.mail().mailboxes(account.id).get());
  for (auto& box : boxes) {
    if (box.name == wanted) {
      return std::move(box);
    }
  }
  return fail(ErrorCode::kNotFound,
              fmt::format("{} has no mailbox \"{}\"", account.address, wanted));
}

Result<void> each_entry(domain::Storage& storage, domain::AccountId account,
                        const domain::Mailbox& box,
                        const std::function<Result<void>(const domain::Entry&)>& on_entry) {
  const std::uint32_t end = domain::value_of(box.uid_next);
  for (std::uint32_t first = 1; first < end; first += std::min(kUidChunk, end - first)) {
    const std::uint32_t last = first + std::min(kUidChunk, end - first) - 1;
    TERN_TRY(auto entries,
             storage.mail().entries(account, box.id, domain::Uid{first}, domain::Uid{last}).get());
    for (const auto& entry : entries) {
      TERN_TRY_VOID(on_entry(entry));
    }
  }
  return ok();
}

int mailbox_command(const std::vector<std::string>& words, domain::Storage& storage,
                    std::FILE* out) {
  if (words.empty()) {
    return usage("missing subcommand");
  }
  if (words[0] == "cat" && (words.size() == 2 || words.size() == 3)) {
    auto done = cat(storage, words[1], words.size() == 3 ? words[2] : "INBOX", out);
    return done ? kExitOk : failed(done.error());
  }
  return usage(words[0] == "cat" ? "cat ADDRESS [MAILBOX]" : "unknown subcommand " + words[0]);
}

}  // namespace tern::app
