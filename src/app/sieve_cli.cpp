// SPDX-License-Identifier: Apache-2.0
#include "app/sieve_cli.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "app/file_text.hpp"
#include "app/mailbox_cli.hpp"
#include "base/ascii.hpp"
#include "runtime/system_clock.hpp"
#include "sieve/sieve.hpp"

namespace tern::app {

const char* const kSieveUsage =
    R"(  sieve list ADDRESS            the account's Sieve scripts; the active one marked ACTIVE
  sieve put ADDRESS NAME FILE [--activate]   stores FILE (- = standard input) as
        script NAME once it compiles, replacing one of that name
  sieve get ADDRESS NAME | activate ADDRESS NAME | deactivate ADDRESS
        | rename ADDRESS OLD NEW | del ADDRESS NAME   (not the active one)
  sieve test SCRIPT MESSAGE [--from ADDR] [--to ADDR] [--mailbox NAME]... [--spam-score N]
        runs SCRIPT on the message in file MESSAGE and prints the actions (no store);
        N (0-100, percent) is the spam filter's score spamtest sees (none: not tested)
)";

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage(std::string_view why) {
  fmt::print(stderr, "tern: sieve: {}\nusage: tern{}", why,
             std::string_view(kSieveUsage).substr(1));
  return kExitUsage;
}

// "tern: sieve VERB: WHAT: message", WHAT naming the script (or the file) when
// there is one.
int failed(std::string_view verb, std::string_view what, const Error& error) {
  if (what.empty()) {
    fmt::print(stderr, "tern: sieve {}: {}\n", verb, error.message);
  } else {
    fmt::print(stderr, "tern: sieve {}: {}: {}\n", verb, what, error.message);
  }
  return kExitFailed;
}

Result<void> write_out(std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0) {
    return fail(ErrorCode::kIo, "cannot write to standard output");
  }
  return ok();
}

// The store's errors in the words of the command that met them.
Error explained(const Error& error, std::string_view address, std::string_view name) {
  switch (error.code) {
    case ErrorCode::kNotFound:
      return fail(error.code, fmt::format("{} has no sieve script \"{}\"", address, name));
    case ErrorCode::kAlreadyExists:
      return fail(error.code, fmt::format("{} already has a sieve script \"{}\"", address, name));
    case ErrorCode::kInvalidInput:
      return fail(error.code, fmt::format("\"{}\" cannot name a script (1 to 255 bytes of UTF-8, "
                                          "no control characters, no '/')",
                                          name));
    case ErrorCode::kConflict:
      return fail(error.code, fmt::format("\"{}\" is the active script: activate another or "
                                          "`tern sieve deactivate {}` first",
                                          name, address));
    default:
      return error;
  }
}

int list(domain::Storage& storage, const std::string& address) {
  auto account = find_user(storage, address);
  if (!account) {
    return failed("list", "", account.error());
  }
  auto scripts = storage.directory().sieve_scripts(account->id).get();
  if (!scripts) {
    return failed("list", "", scripts.error());
  }
  std::string out;
  for (const auto& script : *scripts) {
    out += script.name;
    out += script.active ? " ACTIVE\n" : "\n";
  }
  auto written = write_out(out);
  return written ? kExitOk : failed("list", "", written.error());
}

int put(domain::Storage& storage, const std::string& address, const std::string& name,
        const std::string& file, bool activate) {
  auto text = read_file_or_stdin(file);
  if (!text) {
    return failed("put", "", text.error());
  }
  // Checked as PUTSCRIPT checks it (RFC 5804 §2.6): what does not compile is not
  // stored, so delivery never meets a broken script it would have to skip.
  if (auto compiled = sieve::compile(*text); !compiled) {
    return failed("put", name, compiled.error());
  }
  auto account = find_user(storage, address);
  if (!account) {
    return failed("put", "", account.error());
  }
  auto& directory = storage.directory();
  if (auto stored = directory.put_sieve_script(account->id, name, *text).get(); !stored) {
    return failed("put", name, explained(stored.error(), account->address, name));
  }
  if (activate) {
    if (auto activated = directory.activate_sieve_script(account->id, name).get(); !activated) {
      return failed("put", name, explained(activated.error(), account->address, name));
    }
  }
  fmt::print("stored sieve script \"{}\" of {}{}\n", name, account->address,
             activate ? " (active)" : "");
  return kExitOk;
}

int get(domain::Storage& storage, const std::string& address, const std::string& name) {
  auto account = find_user(storage, address);
  if (!account) {
    return failed("get", "", account.error());
  }
  auto scripts = storage.directory().sieve_scripts(account->id).get();
  if (!scripts) {
    return failed("get", "", scripts.error());
  }
  auto it = std::find_if(scripts->begin(), scripts->end(),
                         [&](const domain::SieveScript& s) { return s.name == name; });
  if (it == scripts->end()) {
    return failed("get", "", explained(Error{ErrorCode::kNotFound, ""}, account->address, name));
  }
  auto written = write_out(it->text);
  return written ? kExitOk : failed("get", "", written.error());
}

int activate(domain::Storage& storage, const std::string& address,
             const std::optional<std::string>& name) {
  const std::string_view verb = name ? "activate" : "deactivate";
  auto account = find_user(storage, address);
  if (!account) {
    return failed(verb, "", account.error());
  }
  auto done = storage.directory().activate_sieve_script(account->id, name).get();
  if (!done) {
    return failed(verb, "", explained(done.error(), account->address, name.value_or("")));
  }
  if (name) {
    fmt::print("activated sieve script \"{}\" of {}\n", *name, account->address);
  } else {
    fmt::print("no sieve script of {} is active\n", account->address);
  }
  return kExitOk;
}

int rename(domain::Storage& storage, const std::string& address, const std::string& from,
           const std::string& to) {
  auto account = find_user(storage, address);
  if (!account) {
    return failed("rename", "", account.error());
  }
  auto done = storage.directory().rename_sieve_script(account->id, from, to).get();
  if (!done) {
    // kNotFound is about the old name, the other refusals about the new one.
    const auto& named = done.error().code == ErrorCode::kNotFound ? from : to;
    return failed("rename", "", explained(done.error(), account->address, named));
  }
  fmt::print("renamed sieve script \"{}\" of {} to \"{}\"\n", from, account->address, to);
  return kExitOk;
}

int remove(domain::Storage& storage, const std::string& address, const std::string& name) {
  auto account = find_user(storage, address);
  if (!account) {
    return failed("del", "", account.error());
  }
  auto done = storage.directory().remove_sieve_script(account->id, name).get();
  if (!done) {
    return failed("del", "", explained(done.error(), account->address, name));
  }
  fmt::print("deleted sieve script \"{}\" of {}\n", name, account->address);
  return kExitOk;
}

// `text` in double quotes, with '"' and '\\' escaped as in a Sieve string.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

// The flags sorted by their lower-case form (sieve::run gives each once, system
// flags spelled as RFC 9051 does), so that the lines compare across servers.
std::vector<std::string> sorted_flags(std::vector<std::string> flags) {
  std::sort(flags.begin(), flags.end(), [](const std::string& a, const std::string& b) {
    return ascii::lower(a) < ascii::lower(b);
  });
  return flags;
}

// One action in the canonical form (see sieve_cli.hpp).
std::string action_line(const sieve::Action& action) {
  switch (action.kind) {
    case sieve::ActionKind::kKeep:
    case sieve::ActionKind::kFileInto: {
      std::string line = "store " + quoted(action.kind == sieve::ActionKind::kKeep
                                               ? std::string_view("INBOX")
                                               : std::string_view(action.mailbox));
      if (!action.flags.empty()) {
        line += " flags:";
        for (const auto& flag : sorted_flags(action.flags)) {
          line += ' ';
          line += flag;
        }
      }
      return line;
    }
    case sieve::ActionKind::kRedirect:
      return "redirect " + quoted(action.address);
    case sieve::ActionKind::kDiscard:
      return "discard";
    case sieve::ActionKind::kVacation:
      return "vacation";
  }
  return "";
}

}  // namespace

int sieve_command(const std::vector<std::string>& words, domain::Storage& storage) {
  if (words.empty()) {
    return usage("missing subcommand");
  }
  const std::string& verb = words[0];
  std::vector<std::string> p;
  bool activate_flag = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (verb == "put" && words[i] == "--activate") {
      activate_flag = true;
    } else if (words[i].starts_with("--")) {
      return usage("unknown option " + words[i]);
    } else {
      p.push_back(words[i]);
    }
  }
  if (verb == "list" && p.size() == 1) {
    return list(storage, p[0]);
  }
  if (verb == "put" && p.size() == 3) {
    return put(storage, p[0], p[1], p[2], activate_flag);
  }
  if (verb == "get" && p.size() == 2) {
    return get(storage, p[0], p[1]);
  }
  if (verb == "activate" && p.size() == 2) {
    return activate(storage, p[0], p[1]);
  }
  if (verb == "deactivate" && p.size() == 1) {
    return activate(storage, p[0], std::nullopt);
  }
  if (verb == "rename" && p.size() == 3) {
    return rename(storage, p[0], p[1], p[2]);
  }
  if ((verb == "del" || verb == "delete") && p.size() == 2) {
    return remove(storage, p[0], p[1]);
  }
  static constexpr std::string_view kKnown[] = {"list",       "put",    "get", "activate",
                                                "deactivate", "rename", "del", "delete"};
  if (std::find(std::begin(kKnown), std::end(kKnown), verb) != std::end(kKnown)) {
    return usage("wrong arguments for " + verb);
  }
  return usage("unknown subcommand " + verb);
}

int sieve_test_command(const std::vector<std::string>& words) {
  std::vector<std::string> p;
  sieve::Envelope envelope{"sender@example.com", "recipient@example.com", ""};
  std::vector<std::string> mailboxes;
  std::optional<double> spam_score;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--from" || w == "--to" || w == "--mailbox" || w == "--spam-score") {
      if (i + 1 >= words.size()) {
        return usage(w + " needs a value");
      }
      const std::string& value = words[++i];
      if (w == "--from") {
        envelope.from = value;
      } else if (w == "--to") {
        envelope.to = value;
      } else if (w == "--spam-score") {
        double percent = 0;
        const char* end = value.data() + value.size();
        auto [ptr, ec] = std::from_chars(value.data(), end, percent);
        if (value.empty() || ec != std::errc() || ptr != end || !(percent >= 0 && percent <= 100)) {
          return usage("--spam-score takes a number from 0 to 100, not \"" + value + "\"");
        }
        spam_score = percent / 100.0;
      } else {
        mailboxes.push_back(value);
      }
    } else if (w.starts_with("--")) {
      return usage("unknown option " + w);
    } else {
      p.push_back(w);
    }
  }
  if (p.size() != 2) {
    return usage("test SCRIPT MESSAGE");
  }
  if (p[0] == "-" && p[1] == "-") {
    return usage("only one of SCRIPT and MESSAGE can be standard input");
  }
  auto text = read_file_or_stdin(p[0]);
  if (!text) {
    return failed("test", "", text.error());
  }
  auto script = sieve::compile(*text);
  if (!script) {
    return failed("test", "", script.error());
  }
  auto message = read_file_or_stdin(p[1]);
  if (!message) {
    return failed("test", "", message.error());
  }
  sieve::Environment environment;
  environment.mailbox_exists = [&mailboxes](std::string_view name) {
    return ascii::iequals(name, "INBOX") ||
           std::find(mailboxes.begin(), mailboxes.end(), name) != mailboxes.end();
  };
  const SystemTime now = std::chrono::system_clock::now();
  environment.now = to_unix_seconds(now);
  environment.zone_minutes = runtime::local_zone_minutes(now);
  environment.spam_score = spam_score;
  const auto outcome = sieve::run(*script, *message, envelope, environment);
  if (outcome.error) {
    fmt::print(stderr, "error: {}\n", *outcome.error);
  }
  std::string out;
  for (const auto& action : outcome.actions) {
    out += action_line(action);
    out += '\n';
  }
  auto written = write_out(out);
  return written ? kExitOk : failed("test", "", written.error());
}

}  // namespace tern::app
