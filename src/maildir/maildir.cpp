// SPDX-License-Identifier: Apache-2.0
#include "maildir/maildir.hpp"

#include <algorithm>
#include <cstdint>

#include "base/ascii.hpp"
#include "imap/mailbox_name.hpp"

namespace tern::maildir {
namespace {

// The lines of `text`, without their "\n" (and a "\r" before it).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    out.push_back(line);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  return out;
}

// The next space-separated word of `line`, consumed.
std::string_view word(std::string_view& line) {
  const std::size_t start = line.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  const std::size_t end = line.find(' ');
  const std::string_view w = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  return w;
}

Error invalid(std::string_view what) {
  return Error{ErrorCode::kInvalidInput, "dovecot-uidlist: " + std::string(what)};
}

}  // namespace

FileName parse_file_name(std::string_view name) {
  FileName out;
  const std::size_t colon = name.find(':');
  out.base = std::string(name.substr(0, colon));
  if (colon != std::string_view::npos && name.substr(colon + 1, 2) == "2,") {
    out.flags = std::string(name.substr(colon + 3));
  }
  // ",W=<n>" among the comma-separated fields after the unique part.
  std::string_view fields = std::string_view(out.base);
  for (std::size_t comma = fields.find(','); comma != std::string_view::npos;
       comma = fields.find(',')) {
    fields.remove_prefix(comma + 1);
    const std::string_view field = fields.substr(0, fields.find(','));
    if (field.substr(0, 2) == "W=") {
      out.vsize = ascii::to_number<std::uint64_t>(field.substr(2));
    }
  }
  return out;
}

Result<UidList> parse_uidlist(std::string_view text) {
  const auto lines = lines_of(text);
  if (lines.empty()) {
    return invalid("empty");
  }
  UidList list;
  std::string_view header = lines.front();
  const std::string_view version = word(header);
  bool v3 = false;
  if (version == "1") {
    auto validity = ascii::to_number<std::uint32_t>(word(header));
    auto next = ascii::to_number<std::uint32_t>(word(header));
    // UIDVALIDITY is a nz-number (RFC 9051 §9), and so is a next UID.
    if (!validity || !next || *validity == 0 || *next == 0) {
      return invalid("bad version 1 header");
    }
    list.uid_validity = *validity;
    list.next_uid = *next;
  } else if (version == "3") {
    v3 = true;
    for (std::string_view w = word(header); !w.empty(); w = word(header)) {
      if (w.front() == 'V') {
        list.uid_validity = ascii::to_number<std::uint32_t>(w.substr(1)).value_or(0);
      } else if (w.front() == 'N') {
        list.next_uid = ascii::to_number<std::uint32_t>(w.substr(1)).value_or(0);
      }
    }
    if (list.uid_validity == 0 || list.next_uid == 0) {
      return invalid("version 3 header without V or N");
    }
  } else {
    return invalid("unknown version");
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) {
      continue;
    }
    auto uid = ascii::to_number<std::uint32_t>(word(line));
    // UID 2^32-1 would leave no next UID.
    if (!uid || *uid == 0 || *uid == UINT32_MAX) {
      return invalid("bad UID in line " + std::to_string(i + 1));
    }
    std::string_view base;
    if (v3) {
      // Extension fields ("W1234", "G...") before the ':' that starts the name.
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return invalid("no file name in line " + std::to_string(i + 1));
      }
      base = line.substr(colon + 1);
    } else {
      base = word(line);
    }
    if (base.empty() || (!list.entries.empty() && *uid <= list.entries.back().uid)) {
      return invalid("bad line " + std::to_string(i + 1));
    }
    list.entries.push_back({*uid, std::string(base)});
  }
  if (!list.entries.empty() && list.entries.back().uid >= list.next_uid) {
    list.next_uid = list.entries.back().uid + 1;
  }
  return list;
}

std::vector<std::string> parse_keywords(std::string_view text) {
  std::vector<std::string> names;
  for (std::string_view line : lines_of(text)) {
    auto index = ascii::to_number<std::size_t>(word(line));
    const std::size_t start = line.find_first_not_of(' ');
    if (!index || *index >= 26 || start == std::string_view::npos) {
      continue;
    }
    if (names.size() <= *index) {
      names.resize(*index + 1);
    }
    names[*index] = std::string(line.substr(start));
  }
  return names;
}

std::optional<std::string> folder_mailbox(std::string_view directory) {
  if (directory.size() < 2 || directory.front() != '.' || directory == "..") {
    return std::nullopt;
  }
  std::string out;
  std::string_view rest = directory.substr(1);
  for (;;) {
    const std::size_t dot = rest.find('.');
    const std::string_view level = rest.substr(0, dot);
    auto decoded = imap::decode_mutf7(level);
    if (level.empty() || !decoded || decoded->find('/') != std::string::npos) {
      return std::nullopt;
    }
    out += *decoded;
    if (dot == std::string_view::npos) {
      return out;
    }
    out += '/';
    rest.remove_prefix(dot + 1);
  }
}

std::vector<std::string> parse_subscriptions(std::string_view text) {
  const auto lines = lines_of(text);
  const bool v2 = !lines.empty() && lines.front() == "V\t2";
  std::vector<std::string> names;
  for (std::size_t i = v2 ? 1 : 0; i < lines.size(); ++i) {
    std::string name(lines[i]);
    if (name.empty()) {
      continue;
    }
    std::replace(name.begin(), name.end(), v2 ? '\t' : '.', '/');
    names.push_back(std::move(name));
  }
  return names;
}

std::string file_name(std::string_view base, std::string_view flags) {
  std::string letters(flags);
  std::sort(letters.begin(), letters.end());
  letters.erase(std::unique(letters.begin(), letters.end()), letters.end());
  return std::string(base) + ":2," + letters;
}

std::string uidlist_text(const UidList& list) {
  std::string out =
      "3 V" + std::to_string(list.uid_validity) + " N" + std::to_string(list.next_uid) + "\n";
  for (const auto& e : list.entries) {
    out += std::to_string(e.uid) + " :" + e.base + "\n";
  }
  return out;
}

std::string keywords_text(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += std::to_string(i) + " " + names[i] + "\n";
  }
  return out;
}

Result<std::string> folder_directory(std::string_view mailbox) {
  if (mailbox == "INBOX") {
    return Error{ErrorCode::kInvalidInput, "INBOX is the Maildir's root, not a folder"};
  }
  std::string out;
  std::string_view rest = mailbox;
  for (;;) {
    const std::size_t slash = rest.find('/');
    const std::string_view level = rest.substr(0, slash);
    if (level.empty() || level.find('.') != std::string_view::npos) {
      return Error{ErrorCode::kInvalidInput,
                   "\"" + std::string(mailbox) + "\" cannot be a Maildir++ folder name"};
    }
    auto encoded = imap::encode_mutf7(level);
    if (!encoded) {
      return encoded.error();
    }
    out += "." + *encoded;
    if (slash == std::string_view::npos) {
      return out;
    }
    rest.remove_prefix(slash + 1);
  }
}

std::string subscriptions_text(const std::vector<std::string>& mailboxes) {
  std::string out = "V\t2\n\n";
  for (std::string name : mailboxes) {
    std::replace(name.begin(), name.end(), '/', '\t');
    out += name + "\n";
  }
  return out;
}

}  // namespace tern::maildir
