// SPDX-License-Identifier: Apache-2.0
#include "app/import_export_cli.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/mailbox_cli.hpp"
#include "base/ascii.hpp"
#include "domain/address.hpp"
#include "domain/store_import.hpp"
#include "maildir/maildir.hpp"
#include "mbox/mbox.hpp"
#include "mime/facts/facts.hpp"
#include "sieve/sieve.hpp"

namespace tern::app {

const char* const kImportExportUsage =
    R"(  import maildir ADDRESS DIR    a Maildir++ tree (Dovecot's) into the account, keeping
        UIDVALIDITY, UIDs, flags, keywords, dates and subscriptions; its mailboxes
        must be empty or absent in the account
  import mbox ADDRESS FILE [MAILBOX]   the messages of an mbox file (Google Takeout,
        Thunderbird, mutt, Dovecot) appended to MAILBOX (default INBOX, created if
        missing) with their flags, keywords and dates
  import sieve ADDRESS DIR [ACTIVE]   the Sieve scripts of a Pigeonhole script
        directory (~/sieve: each NAME.sieve), the one ACTIVE links to (default
        DIR/../.dovecot.sieve) made active; scripts that do not compile are left out
  export maildir ADDRESS DIR    the account as a Maildir++ tree Dovecot serves with the
        same UIDs, flags, keywords, dates and subscriptions; DIR new or empty
  export mbox ADDRESS MAILBOX FILE   one mailbox as an mbox file (mboxcl2, as Dovecot
        writes it) with flags, keywords and dates; FILE must not exist
)";

namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage(std::string_view command, std::string_view why) {
  fmt::print(stderr, "tern: {}: {}\nusage: tern{}", command, why,
             std::string_view(kImportExportUsage).substr(1));
  return kExitUsage;
}

int failed(std::string_view command, const Error& error) {
  fmt::print(stderr, "tern: {}: {}\n", command, error.message);
  return kExitFailed;
}

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return fail(ErrorCode::kIo, "cannot read " + path.string());
  }
  return bytes;
}

// The file at `path` if it exists, "" if not.
Result<std::string> read_optional(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return std::string();
  }
  return read_file(path);
}

// Maildir files end lines with LF; tern stores messages as received on the wire,
// with CRLF (RFC 5322 §2.1). A CRLF already there stays.
std::string with_crlf(std::string_view lf) {
  std::string out;
  out.reserve(lf.size() + lf.size() / 32);
  for (std::size_t i = 0; i < lf.size(); ++i) {
    if (lf[i] == '\n' && (i == 0 || lf[i - 1] != '\r')) {
      out.push_back('\r');
    }
    out.push_back(lf[i]);
  }
  return out;
}

Result<SystemTime> modification_time(const fs::path& path) {
  struct stat st {};

  if (::stat(path.c_str(), &st) != 0) {
    return fail(ErrorCode::kIo, "cannot stat " + path.string());
  }
  return SystemTime(std::chrono::seconds(st.st_mtime));
}

struct MessageFile {
  std::uint32_t uid = 0;
  fs::path path;
  domain::Flags flags = 0;
  std::vector<std::string> keywords;  // sorted, unique
  SystemTime mtime{};
};

struct Folder {
  std::string name;
  fs::path dir;
  std::uint32_t uid_validity = 0;
  std::uint32_t uid_next = 1;
  std::vector<MessageFile> messages;  // ascending UID
};

// The system flags and their Maildir info letters.
constexpr std::pair<domain::Flags, char> kFlagLetters[] = {
    {domain::kFlagDraft, maildir::kFlagDraft},
    {domain::kFlagFlagged, maildir::kFlagFlagged},
    {domain::kFlagAnswered, maildir::kFlagReplied},
    {domain::kFlagSeen, maildir::kFlagSeen},
    {domain::kFlagDeleted, maildir::kFlagTrashed}};

// A file name's flags and keyword letters, as Dovecot writes them. P (passed)
// and unknown letters have no IMAP flag.
void apply_flags(MessageFile& m, std::string_view letters,
                 const std::vector<std::string>& keyword_names) {
  std::set<std::string> keywords;
  for (char c : letters) {
    for (const auto& [flag, letter] : kFlagLetters) {
      if (c == letter) {
        m.flags |= flag;
      }
    }
    if (c >= 'a' && c <= 'z') {
      const auto index = static_cast<std::size_t>(c - 'a');
      if (index < keyword_names.size() && !keyword_names[index].empty()) {
        keywords.insert(keyword_names[index]);
      }
    }
  }
  m.keywords.assign(keywords.begin(), keywords.end());
}

// One folder's messages: the files of cur/ and new/, with the UIDs
// dovecot-uidlist gives them; files it does not list (delivered after Dovecot
// last looked) get the next UIDs in modification-time order.
Result<Folder> read_folder(std::string name, const fs::path& dir, SystemTime now) {
  Folder folder{std::move(name), dir, 0, 1, {}};
  TERN_TRY(auto keyword_text, read_optional(dir / "dovecot-keywords"));
  const auto keyword_names = maildir::parse_keywords(keyword_text);
  TERN_TRY(auto uidlist_text, read_optional(dir / "dovecot-uidlist"));
  std::map<std::string, std::uint32_t> uids;
  if (!uidlist_text.empty()) {
    TERN_TRY(auto list, maildir::parse_uidlist(uidlist_text));
    folder.uid_validity = list.uid_validity;
    folder.uid_next = list.next_uid;
    for (auto& e : list.entries) {
      uids.emplace(std::move(e.base), e.uid);
    }
  } else {
    folder.uid_validity = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  }
  std::vector<MessageFile> unlisted;
  for (const char* sub : {"cur", "new"}) {
    std::error_code ec;
    if (!fs::is_directory(dir / sub, ec)) {
      continue;
    }
    // The error_code forms throughout: an unreadable directory is an error
    // result, not an exception out of the CLI.
    fs::directory_iterator files(dir / sub, ec);
    if (ec) {
      return fail(ErrorCode::kIo, "cannot list " + (dir / sub).string() + ": " + ec.message());
    }
    for (const auto& file : files) {
      if (!file.is_regular_file(ec) || file.path().filename().string().front() == '.') {
        continue;
      }
      const auto parsed = maildir::parse_file_name(file.path().filename().string());
      MessageFile m;
      m.path = file.path();
      apply_flags(m, parsed.flags, keyword_names);
      TERN_TRY(m.mtime, modification_time(m.path));
      auto uid = uids.find(parsed.base);
      if (uid != uids.end()) {
        m.uid = uid->second;
        folder.messages.push_back(std::move(m));
      } else {
        unlisted.push_back(std::move(m));
      }
    }
  }
  std::sort(folder.messages.begin(), folder.messages.end(),
            [](const MessageFile& a, const MessageFile& b) { return a.uid < b.uid; });
  std::sort(unlisted.begin(), unlisted.end(), [](const MessageFile& a, const MessageFile& b) {
    return a.mtime != b.mtime ? a.mtime < b.mtime : a.path < b.path;
  });
  for (auto& m : unlisted) {
    m.uid = folder.uid_next++;
    folder.messages.push_back(std::move(m));
  }
  return folder;
}

// INBOX is the root's cur/ and new/; every ".Name" directory beside them that
// holds cur/ is a folder (Maildir++).
Result<std::vector<Folder>> read_tree(const fs::path& root, SystemTime now) {
  std::vector<Folder> folders;
  TERN_TRY(auto inbox, read_folder("INBOX", root, now));
  folders.push_back(std::move(inbox));
  std::vector<fs::path> dirs;
  std::error_code ec;
  fs::directory_iterator entries(root, ec);
  if (ec) {
    return fail(ErrorCode::kIo, "cannot list " + root.string() + ": " + ec.message());
  }
  for (const auto& entry : entries) {
    if (entry.is_directory(ec) && fs::is_directory(entry.path() / "cur", ec)) {
      dirs.push_back(entry.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    auto name = maildir::folder_mailbox(dir.filename().string());
    if (!name) {
      continue;
    }
    TERN_TRY(auto folder, read_folder(*name, dir, now));
    folders.push_back(std::move(folder));
  }
  return folders;
}

Result<void> import_maildir(domain::Storage& storage, const std::string& address,
                            const fs::path& root) {
  auto* import = dynamic_cast<domain::StoreImport*>(&storage);
  if (import == nullptr) {
    return fail(ErrorCode::kPermanent, "this store backend cannot import");
  }
  TERN_TRY(const auto account, find_user(storage, address));
  const std::string& normal = account.address;
  std::error_code ec;
  if (!fs::is_directory(root / "cur", ec)) {
    return fail(ErrorCode::kNotFound, root.string() + " is no Maildir (it has no cur/)");
  }
  const SystemTime now = std::chrono::system_clock::now();
  TERN_TRY(auto folders, read_tree(root, now));
  TERN_TRY(auto existing, storage.mail().mailboxes(account.id).get());
  TERN_TRY(auto subscriptions_text, read_optional(root / "subscriptions"));
  const auto listed = maildir::parse_subscriptions(subscriptions_text);
  const std::set<std::string> subscribed(listed.begin(), listed.end());

  // Every message takes its own modseq above what the account has used.
  std::uint64_t modseq = 0;
  for (const auto& m : existing) {
    modseq = std::max(modseq, domain::value_of(m.highest_modseq));
  }
  std::size_t count = 0;
  for (auto& folder : folders) {
    domain::Mailbox box;
    box.name = folder.name;
    box.uid_validity = domain::UidValidity{folder.uid_validity};
    box.uid_next = domain::Uid{folder.uid_next};
    box.subscribed =
        subscriptions_text.empty() || folder.name == "INBOX" || subscribed.count(folder.name) != 0;
    auto same = std::find_if(existing.begin(), existing.end(),
                             [&](const domain::Mailbox& m) { return m.name == folder.name; });
    if (same != existing.end()) {
      box.special_use = same->special_use;
      box.subscribed = box.subscribed || same->subscribed;
    }
    std::set<std::string> keywords;
    for (const auto& m : folder.messages) {
      keywords.insert(m.keywords.begin(), m.keywords.end());
    }
    box.keywords.assign(keywords.begin(), keywords.end());
    box.highest_modseq = domain::ModSeq{modseq + folder.messages.size()};
    auto made = import->import_mailbox(account.id, box).get();
    if (!made) {
      return fail(made.error().code,
                  fmt::format("mailbox \"{}\": {}", folder.name, made.error().message));
    }
    for (auto& m : folder.messages) {
      TERN_TRY(auto bytes, read_file(m.path));
      std::string raw = with_crlf(bytes);
      std::string facts = mime::facts::encode_facts(mime::facts::compute_facts(raw));
      domain::ImportEntry entry{made->id, domain::Uid{m.uid},    domain::ModSeq{++modseq},
                                m.flags,  std::move(m.keywords), now};
      auto stored = import
                        ->import_message(account.id, {std::move(raw), m.mtime, std::move(facts)},
                                         {std::move(entry)})
                        .get();
      if (!stored) {
        return fail(stored.error().code,
                    fmt::format("{}: {}", m.path.string(), stored.error().message));
      }
      ++count;
    }
  }
  TERN_TRY_VOID(import->import_changes(account.id, {}, domain::ModSeq{modseq}).get());
  fmt::print("imported {} messages into {} mailboxes of {}\n", count, folders.size(), normal);
  return ok();
}

// Maildir files end lines with LF, as Dovecot writes them; W= keeps the CRLF size
// IMAP reports.
std::string with_lf(std::string_view crlf) {
  std::string out;
  out.reserve(crlf.size());
  for (std::size_t i = 0; i < crlf.size(); ++i) {
    if (!(crlf[i] == '\r' && i + 1 < crlf.size() && crlf[i + 1] == '\n')) {
      out.push_back(crlf[i]);
    }
  }
  return out;
}

// Writes `bytes` to `path` (created, not there before), the mtime set to
// `mtime` when given. Not synced: export_maildir() syncs the whole tree once.
Result<void> write_new_file(const fs::path& path, std::string_view bytes,
                            std::optional<SystemTime> mtime = std::nullopt) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::kIo, "cannot create " + path.string());
  }
  bool good = true;
  for (std::string_view rest = bytes; good && !rest.empty();) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    good = n > 0;
    rest.remove_prefix(good ? static_cast<std::size_t>(n) : 0);
  }
  if (good && mtime) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(mtime->time_since_epoch());
    const struct timespec times[2] = {{seconds.count(), 0}, {seconds.count(), 0}};
    good = ::futimens(fd, times) == 0;
  }
  good = ::close(fd) == 0 && good;
  if (!good) {
    return fail(ErrorCode::kIo, "cannot write " + path.string());
  }
  return ok();
}

Result<void> make_maildir(const fs::path& dir) {
  std::error_code ec;
  for (const char* sub : {"cur", "new", "tmp"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) {
      return fail(ErrorCode::kIo, "cannot create " + (dir / sub).string() + ": " + ec.message());
    }
  }
  return ok();
}

// One mailbox into `dir`: its messages in cur/ (named "<mtime>.M<uid>P<pid>.tern"
// with the sizes and flags Dovecot writes), its dovecot-uidlist and
// dovecot-keywords. Keywords past the 26 letters Maildir has are left out and
// counted in `dropped`.
Result<std::size_t> export_mailbox(domain::Storage& storage, domain::AccountId account,
                                   const domain::Mailbox& box, const fs::path& dir,
                                   std::size_t& dropped) {
  TERN_TRY_VOID(make_maildir(dir));
  std::vector<std::string> keywords;  // index = letter - 'a'
  maildir::UidList list{domain::value_of(box.uid_validity), domain::value_of(box.uid_next), {}};
  const auto walked =
      each_entry(storage, account, box, [&](const domain::Entry& e) -> Result<void> {
        TERN_TRY(auto raw, storage.mail().read_message(account, e.message).get());
        const std::string lf = with_lf(raw);
        std::string flags;
        for (const auto& [flag, letter] : kFlagLetters) {
          if ((e.flags & flag) != 0) {
            flags.push_back(letter);
          }
        }
        for (const auto& keyword : e.keywords) {
          auto at = std::find(keywords.begin(), keywords.end(), keyword);
          if (at == keywords.end() && keywords.size() < 26) {
            at = keywords.insert(keywords.end(), keyword);
          }
          if (at == keywords.end()) {
            ++dropped;
            continue;
          }
          flags.push_back(static_cast<char>('a' + (at - keywords.begin())));
        }
        const auto mtime =
            std::chrono::duration_cast<std::chrono::seconds>(e.internal_date.time_since_epoch())
                .count();
        std::string base = fmt::format("{}.M{}P{}.tern,S={},W={}", mtime, domain::value_of(e.uid),
                                       ::getpid(), lf.size(), raw.size());
        TERN_TRY_VOID(
            write_new_file(dir / "cur" / maildir::file_name(base, flags), lf, e.internal_date));
        list.entries.push_back({domain::value_of(e.uid), std::move(base)});
        return ok();
      });
  if (!walked) {
    return walked.error();
  }
  TERN_TRY_VOID(write_new_file(dir / "dovecot-uidlist", maildir::uidlist_text(list)));
  if (!keywords.empty()) {
    TERN_TRY_VOID(write_new_file(dir / "dovecot-keywords", maildir::keywords_text(keywords)));
  }
  return list.entries.size();
}

Result<void> export_maildir(domain::Storage& storage, const std::string& address,
                            const fs::path& root) {
  TERN_TRY(const auto account, find_user(storage, address));
  const std::string& normal = account.address;
  std::error_code ec;
  if (fs::exists(root, ec) && !fs::is_empty(root, ec)) {
    return fail(ErrorCode::kAlreadyExists, root.string() + " exists and is not empty");
  }
  TERN_TRY(auto boxes, storage.mail().mailboxes(account.id).get());
  std::size_t messages = 0;
  std::size_t written = 0;
  std::size_t dropped = 0;
  std::vector<std::string> left_out;
  std::vector<std::string> subscribed;
  for (const auto& box : boxes) {
    fs::path dir = root;
    if (box.name != "INBOX") {
      auto name = maildir::folder_directory(box.name);
      if (!name) {
        fmt::print(stderr, "tern: export: left out: {}\n", name.error().message);
        left_out.push_back(box.name);
        continue;
      }
      dir /= *name;
    }
    TERN_TRY(auto count, export_mailbox(storage, account.id, box, dir, dropped));
    if (box.name != "INBOX") {
      TERN_TRY_VOID(write_new_file(dir / "maildirfolder", ""));
    }
    messages += count;
    ++written;
    if (box.subscribed) {
      subscribed.push_back(box.name);
    }
  }
  TERN_TRY_VOID(write_new_file(root / "subscriptions", maildir::subscriptions_text(subscribed)));
  // One syncfs() for every file and directory entry written (it reports
  // writeback errors since Linux 5.8), instead of an fsync per message.
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::syncfs(fd) == 0;
  if (fd >= 0) {
    ::close(fd);
  }
  if (!synced) {
    return fail(ErrorCode::kIo, "cannot sync " + root.string());
  }
  fmt::print("exported {} messages in {} mailboxes of {}\n", messages, written, normal);
  if (dropped != 0) {
    fmt::print(stderr,
               "tern: export: {} keywords left off messages: a Maildir folder has 26 keyword "
               "letters\n",
               dropped);
  }
  if (!left_out.empty()) {
    return fail(ErrorCode::kInvalidInput, fmt::format("{} mailboxes left out", left_out.size()));
  }
  return ok();
}

// --- mbox

// The system flags and the mbox::Status members that carry them.
constexpr std::pair<domain::Flags, bool mbox::Status::*> kStatusFlags[] = {
    {domain::kFlagSeen, &mbox::Status::seen},
    {domain::kFlagAnswered, &mbox::Status::answered},
    {domain::kFlagFlagged, &mbox::Status::flagged},
    {domain::kFlagDeleted, &mbox::Status::deleted},
    {domain::kFlagDraft, &mbox::Status::draft}};

// One message of an mbox file as it was read: its separator's date and its
// lines, each without its line end.
struct MboxMessage {
  std::int64_t date = 0;
  std::vector<std::string> lines;
};

// The message as tern stores it: CRLF line ends; the blank line that separates
// it from the next "From " line dropped; the body unquoted unless a
// Content-Length says the writer quoted nothing; the mbox status fields, read
// into `status`, left out.
std::string mbox_raw(MboxMessage& m, mbox::Status& status) {
  if (!m.lines.empty() && m.lines.back().empty()) {
    m.lines.pop_back();
  }
  std::string text;
  for (const auto& line : m.lines) {
    text += line;
    text += "\r\n";
  }
  status = mbox::read_status(text);
  if (mbox::has_content_length(text)) {
    return mbox::without_status(text);
  }
  std::string unquoted;
  unquoted.reserve(text.size());
  bool in_body = false;
  for (const auto& line : m.lines) {
    unquoted += in_body ? mbox::unquote(line) : std::string_view(line);
    unquoted += "\r\n";
    in_body = in_body || line.empty();
  }
  return mbox::without_status(unquoted);
}

Result<void> append_mbox_message(domain::Storage& storage, domain::AccountId account,
                                 domain::MailboxId mailbox, MboxMessage& m) {
  mbox::Status status;
  std::string raw = mbox_raw(m, status);
  domain::Flags flags = 0;
  for (const auto& [flag, member] : kStatusFlags) {
    flags |= status.*member ? flag : 0;
  }
  std::string facts = mime::facts::encode_facts(mime::facts::compute_facts(raw));
  domain::NewMessage message{std::move(raw), SystemTime(std::chrono::seconds(m.date)),
                             std::move(facts)};
  TERN_TRY(auto appended,
           storage.mail()
               .append(std::move(message),
                       {domain::AppendTarget{account, mailbox, flags, std::move(status.keywords)}})
               .get());
  if (appended.empty() || !appended.front()) {
    return appended.empty() ? fail(ErrorCode::kInternal, "append stored nothing")
                            : Result<void>(appended.front().error());
  }
  return ok();
}

Result<void> import_mbox(domain::Storage& storage, const std::string& address, const fs::path& file,
                         const std::string& mailbox_name) {
  TERN_TRY(const auto account, find_user(storage, address));
  const std::string& normal = account.address;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(ErrorCode::kNotFound, "cannot open " + file.string());
  }
  auto box = find_mailbox(storage, account, mailbox_name);
  if (!box && box.error().code == ErrorCode::kNotFound) {
    box = storage.mail().create_mailbox(account.id, mailbox_name, domain::SpecialUse::kNone).get();
  }
  if (!box) {
    return box.error();
  }
  const domain::MailboxId mailbox = box->id;
  const std::string& name = box->name;
  // One message in memory at a time: a Takeout file can hold gigabytes.
  std::optional<MboxMessage> current;
  std::size_t count = 0;
  // A failed append (over quota, say) ends the import; say how far it got.
  auto append = [&](MboxMessage& m) -> Result<void> {
    auto done = append_mbox_message(storage, account.id, mailbox, m);
    if (!done) {
      return fail(done.error().code, fmt::format("{} (after {} messages were imported into {})",
                                                 done.error().message, count, name));
    }
    ++count;
    return ok();
  };
  std::string line;
  bool previous_empty = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    std::optional<std::int64_t> date;
    if (previous_empty) {
      date = mbox::separator_date(line);
    }
    if (date) {
      if (current) {
        TERN_TRY_VOID(append(*current));
      }
      current = MboxMessage{*date, {}};
    } else if (!current) {
      return fail(ErrorCode::kInvalidInput,
                  file.string() + " is no mbox file: it does not start with a \"From \" line");
    } else {
      current->lines.push_back(line);
    }
    previous_empty = line.empty();
  }
  if (in.bad()) {
    return fail(ErrorCode::kIo, "cannot read " + file.string());
  }
  if (current) {
    TERN_TRY_VOID(append(*current));
  }
  fmt::print("imported {} messages into {} of {}\n", count, name, normal);
  return ok();
}

// One mailbox as an mbox file in the form Dovecot writes (mboxcl2): a separator
// line with the INTERNALDATE, the header without any status fields it carried,
// tern's Status, X-Status, X-Keywords, X-UID and Content-Length (and on the
// first message X-IMAPbase with the UIDVALIDITY, next UID and keywords), the
// body unquoted and LF-ended, and a blank line.
Result<void> export_mbox(domain::Storage& storage, const std::string& address,
                         const std::string& mailbox_name, const fs::path& file) {
  TERN_TRY(const auto account, find_user(storage, address));
  const std::string& normal = account.address;
  TERN_TRY(const auto box, find_mailbox(storage, account, mailbox_name));
  const std::string& name = box.name;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::kIo, "cannot create " + file.string() + " (it must not exist)");
  }
  auto write_all = [&](std::string_view bytes) -> Result<void> {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n <= 0) {
        return fail(ErrorCode::kIo, "cannot write " + file.string());
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return ok();
  };
  auto written = [&]() -> Result<std::size_t> {
    std::size_t count = 0;
    const auto walked =
        each_entry(storage, account.id, box, [&](const domain::Entry& e) -> Result<void> {
          TERN_TRY(auto raw, storage.mail().read_message(account.id, e.message).get());
          const std::string lf = mbox::without_status(with_lf(raw));
          const std::size_t blank = lf.find("\n\n");
          const std::string_view header = blank == std::string::npos
                                              ? std::string_view(lf)
                                              : std::string_view(lf).substr(0, blank + 1);
          const std::string_view body = blank == std::string::npos
                                            ? std::string_view()
                                            : std::string_view(lf).substr(blank + 2);
          mbox::Status status;
          for (const auto& [flag, member] : kStatusFlags) {
            status.*member = (e.flags & flag) != 0;
          }
          status.keywords = e.keywords;
          const auto date =
              std::chrono::duration_cast<std::chrono::seconds>(e.internal_date.time_since_epoch())
                  .count();
          TERN_TRY_VOID(write_all(mbox::separator_line(date) + "\n"));
          TERN_TRY_VOID(write_all(header));
          if (!header.empty() && header.back() != '\n') {
            TERN_TRY_VOID(write_all("\n"));
          }
          if (count == 0) {
            TERN_TRY_VOID(write_all(mbox::base_field(
                domain::value_of(box.uid_validity), domain::value_of(box.uid_next), box.keywords)));
          }
          TERN_TRY_VOID(
              write_all(mbox::status_fields(status, domain::value_of(e.uid), body.size()) + "\n"));
          TERN_TRY_VOID(write_all(body));
          // The blank line before the next separator, after a line end of its own
          // when the body lacks one (Content-Length still counts the body alone).
          TERN_TRY_VOID(write_all(!body.empty() && body.back() != '\n' ? "\n\n" : "\n"));
          ++count;
          return ok();
        });
    if (!walked) {
      return walked.error();
    }
    return count;
  }();
  const bool synced = ::fsync(fd) == 0;
  const bool closed = ::close(fd) == 0;
  if (!written) {
    return written.error();
  }
  if (!synced || !closed) {
    return fail(ErrorCode::kIo, "cannot write " + file.string());
  }
  fmt::print("exported {} messages of {} of {}\n", *written, name, normal);
  return ok();
}

// Pigeonhole's layout (sieve = file:~/sieve;active=~/.dovecot.sieve): the scripts
// are DIR/NAME.sieve, and the active one is the file the `active` symlink points
// to. A plain file there (no link, as some setups keep it) is a script of its
// own, imported under its stem without the leading dot ("dovecot").
Result<void> import_sieve(domain::Storage& storage, const std::string& address, const fs::path& dir,
                          std::optional<fs::path> active_link) {
  TERN_TRY(const auto account, find_user(storage, address));
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(ErrorCode::kNotFound, dir.string() + " is not a directory");
  }
  if (!active_link) {
    active_link = dir.parent_path() / ".dovecot.sieve";
  }
  std::vector<std::pair<std::string, fs::path>> scripts;  // name, file
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& path = entry.path();
    if (entry.is_regular_file(ec) && path.extension() == ".sieve") {
      scripts.emplace_back(path.stem().string(), path);
    }
  }
  if (ec) {
    return fail(ErrorCode::kIo, "cannot list " + dir.string() + ": " + ec.message());
  }
  std::optional<std::string> active;
  if (fs::is_symlink(*active_link, ec)) {
    active = fs::read_symlink(*active_link, ec).stem().string();
  } else if (fs::is_regular_file(*active_link, ec)) {
    std::string stem = active_link->stem().string();
    active = stem.starts_with(".") ? stem.substr(1) : stem;
    bool listed = std::any_of(scripts.begin(), scripts.end(),
                              [&](const auto& script) { return script.first == *active; });
    if (!listed) {
      scripts.emplace_back(*active, *active_link);
    }
  }
  std::sort(scripts.begin(), scripts.end());
  std::size_t imported = 0;
  std::size_t refused = 0;
  bool active_imported = false;
  for (const auto& [name, path] : scripts) {
    TERN_TRY(auto text, read_file(path));
    if (auto compiled = sieve::compile(text); !compiled) {
      // What does not compile would never run; the others still come over.
      fmt::print(stderr, "tern: import sieve: {}: {}\n", path.string(), compiled.error().message);
      ++refused;
      continue;
    }
    auto stored = storage.directory().put_sieve_script(account.id, name, text).get();
    if (!stored) {
      return stored.error().with_context("script \"" + name + "\"");
    }
    ++imported;
    active_imported = active_imported || (active && *active == name);
  }
  if (active_imported) {
    TERN_TRY_VOID(storage.directory().activate_sieve_script(account.id, *active).get());
  }
  fmt::print("imported {} sieve scripts into {}{}\n", imported, account.address,
             active_imported ? " (\"" + *active + "\" active)" : std::string());
  if (refused > 0) {
    return fail(ErrorCode::kInvalidInput,
                std::to_string(refused) + " scripts do not compile and were left out");
  }
  return ok();
}

}  // namespace

int import_command(const std::vector<std::string>& words, domain::Storage& storage) {
  if (words.size() == 3 && words[0] == "maildir") {
    auto done = import_maildir(storage, words[1], words[2]);
    return done ? kExitOk : failed("import", done.error());
  }
  if ((words.size() == 3 || words.size() == 4) && words[0] == "mbox") {
    auto done = import_mbox(storage, words[1], words[2], words.size() == 4 ? words[3] : "INBOX");
    return done ? kExitOk : failed("import", done.error());
  }
  if ((words.size() == 3 || words.size() == 4) && words[0] == "sieve") {
    auto done = import_sieve(storage, words[1], words[2],
                             words.size() == 4 ? std::optional<fs::path>(words[3]) : std::nullopt);
    return done ? kExitOk : failed("import", done.error());
  }
  return usage("import", words.empty()         ? "missing format"
                         : words[0] == "mbox"  ? "mbox ADDRESS FILE [MAILBOX]"
                         : words[0] == "sieve" ? "sieve ADDRESS DIR [ACTIVE]"
                                               : "maildir ADDRESS DIR");
}

int export_command(const std::vector<std::string>& words, domain::Storage& storage) {
  if (words.size() == 3 && words[0] == "maildir") {
    auto done = export_maildir(storage, words[1], words[2]);
    return done ? kExitOk : failed("export", done.error());
  }
  if (words.size() == 4 && words[0] == "mbox") {
    auto done = export_mbox(storage, words[1], words[2], words[3]);
    return done ? kExitOk : failed("export", done.error());
  }
  return usage("export", words.empty()        ? "missing format"
                         : words[0] == "mbox" ? "mbox ADDRESS MAILBOX FILE"
                                              : "maildir ADDRESS DIR");
}

}  // namespace tern::app
