// SPDX-License-Identifier: Apache-2.0
// tern: the administration CLI. It opens the same store as ternd (SQLite allows a
// second process beside the daemon), so it works while ternd runs.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "app/dkim_cli.hpp"
#include "app/dns_cli.hpp"
#include "app/import_export_cli.hpp"
#include "app/mailbox_cli.hpp"
#include "app/migrate_cli.hpp"
#include "app/queue_cli.hpp"
#include "app/report_cli.hpp"
#include "app/settings_file.hpp"
#include "app/sieve_cli.hpp"
#include "app/spam_cli.hpp"
#include "app/storage_factory.hpp"
#include "domain/accounts.hpp"
#include "domain/address.hpp"
#include "domain/authenticator.hpp"
#include "domain/delivery.hpp"
#include "mime/facts/facts.hpp"
#include "runtime/privileges.hpp"
#include "runtime/system_clock.hpp"

namespace tern::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(usage: tern [-c CONFIG] COMMAND ...

  domain add NAME | list | del NAME
  user add ADDRESS [--password-stdin] [--quota SIZE]
  user passwd ADDRESS [--password-stdin]
  user list [DOMAIN] | del ADDRESS | quota ADDRESS SIZE | mailboxes ADDRESS
  alias add SOURCE DESTINATION | list [DOMAIN] | del SOURCE [DESTINATION]
        SOURCE "@example.org" is the domain's catch-all
  address resolve ADDRESS        where mail for ADDRESS goes
  deliver [--from SENDER] RECIPIENT...   the LDA: stores the message on standard
        input for each local RECIPIENT (aliases expanded; forwards are queued).
        Exit status as sendmail's: 0 delivered, 67 unknown user, 75 try again
        (quota, store busy), 64 usage
  auth test ADDRESS [--password-stdin]
  queue list | show ID | flush | retry ID... | hold ID...|ALL | release ID...|ALL
        | delete ID...|ALL | bounce ID...   the outbound queue (works while ternd runs)
  migrate --from SOURCE --to TARGET [--no-verify]   copies a whole store into an empty
        one (sqlite <-> postgres; SOURCE/TARGET: a config file or a postgresql:// URL)
        and verifies it
  store checksum [--list]        the store's checksum listing (compare two stores)

CONFIG defaults to ./var/tern.toml. SIZE is bytes or a number with K, M, G or T
(powers of 1024); 0 or "none" removes the quota. Without --password-stdin the
password is asked for on the terminal; it is never taken from the command line.
)";

int usage_error(std::string_view why) {
  fmt::print(stderr, "tern: {}\n{}", why, kUsage);
  return kExitUsage;
}

int failed(const Error& error) {
  fmt::print(stderr, "tern: {}\n", error.message);
  return kExitFailed;
}

// Parses "10M", "2G", "4096", "none".
std::optional<std::uint64_t> parse_size(std::string_view text) {
  if (text == "none") {
    return 0;
  }
  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t multiplier = 1;
  switch (text.back()) {
    case 'K':
    case 'k':
      multiplier = 1ULL << 10;
      break;
    case 'M':
    case 'm':
      multiplier = 1ULL << 20;
      break;
    case 'G':
    case 'g':
      multiplier = 1ULL << 30;
      break;
    case 'T':
    case 't':
      multiplier = 1ULL << 40;
      break;
    default:
      break;
  }
  if (multiplier != 1) {
    text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 15) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value * multiplier;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) {
    return "0";
  }
  constexpr std::string_view kSuffixes = "KMGT";
  for (int i = 3; i >= 0; --i) {
    std::uint64_t unit = 1ULL << (10 * (i + 1));
    if (bytes % unit == 0) {
      return fmt::format("{}{}", bytes / unit, kSuffixes[static_cast<std::size_t>(i)]);
    }
  }
  return std::to_string(bytes);
}

// Reads a password from standard input (one line, as `--password-stdin` promises),
// or asks twice on the terminal with echo off.
Result<std::string> read_password(bool from_stdin, bool confirm) {
  std::string password;
  if (from_stdin || isatty(STDIN_FILENO) == 0) {
    if (!from_stdin) {
      return fail(ErrorCode::kInvalidInput,
                  "standard input is not a terminal: pass the password with --password-stdin");
    }
    if (!std::getline(std::cin, password)) {
      return fail(ErrorCode::kInvalidInput, "no password on standard input");
    }
    if (!password.empty() && password.back() == '\r') {
      password.pop_back();
    }
  } else {
    termios old_mode{};
    tcgetattr(STDIN_FILENO, &old_mode);
    termios silent = old_mode;
    silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
    fmt::print(stderr, "password: ");
    std::getline(std::cin, password);
    std::string again = password;
    if (confirm) {
      fmt::print(stderr, "\nagain: ");
      std::getline(std::cin, again);
    }
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
    fmt::print(stderr, "\n");
    if (again != password) {
      return fail(ErrorCode::kInvalidInput, "the passwords differ");
    }
  }
  if (password.empty()) {
    return fail(ErrorCode::kInvalidInput, "empty password");
  }
  return password;
}

struct Args {
  std::vector<std::string> positional;
  bool password_stdin = false;
  std::optional<std::string> quota;
  std::optional<std::string> from;
};

Result<Args> parse_args(const std::vector<std::string>& words) {
  Args args;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--password-stdin") {
      args.password_stdin = true;
    } else if (w == "--quota") {
      if (i + 1 >= words.size()) {
        return fail(ErrorCode::kInvalidInput, "--quota needs a SIZE");
      }
      args.quota = words[++i];
    } else if (w == "--from" || w == "-f") {
      if (i + 1 >= words.size()) {
        return fail(ErrorCode::kInvalidInput, "--from needs an ADDRESS");
      }
      args.from = words[++i];
    } else if (w.starts_with("--")) {
      return fail(ErrorCode::kInvalidInput, "unknown option " + w);
    } else {
      args.positional.push_back(w);
    }
  }
  return args;
}

class Cli {
 public:
  Cli(config::Settings settings, domain::Storage& storage)
      : settings_(std::move(settings)), storage_(storage) {}

  int run(const std::string& noun, const std::string& verb, const Args& args);

 private:
  int domain_command(const std::string& verb, const std::vector<std::string>& p);
  int user_command(const std::string& verb, const Args& args);
  int alias_command(const std::string& verb, const std::vector<std::string>& p);
  int address_command(const std::string& verb, const std::vector<std::string>& p);
  int auth_command(const std::string& verb, const Args& args);
  int deliver_command(const Args& args);

  // Both stored secrets (argon2id hash and SCRAM-SHA-256) from one password.
  Result<domain::Credentials> hash(const std::string& password) {
    domain::AuthParams params;
    params.argon2.memory_kib = settings_.auth.argon2_memory_kib;
    params.argon2.iterations = settings_.auth.argon2_iterations;
    params.argon2.parallelism = settings_.auth.argon2_parallelism;
    params.scram_iterations = settings_.auth.scram_iterations;
    return domain::make_credentials(password, params, random_);
  }

  config::Settings settings_;
  domain::Storage& storage_;
  runtime::SystemRandom random_;
};

Result<std::string> normalized(const std::string& address) {
  auto n = domain::normalize_address(address);
  if (!n) {
    return n.error().with_context(fmt::format("address \"{}\"", address));
  }
  return *n;
}

// A domain argument: lower case, as the directory stores it.
std::string domain_name(std::string name) {
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return name;
}

int Cli::run(const std::string& noun, const std::string& verb, const Args& args) {
  if (noun == "domain") {
    return domain_command(verb, args.positional);
  }
  if (noun == "user") {
    return user_command(verb, args);
  }
  if (noun == "alias") {
    return alias_command(verb, args.positional);
  }
  if (noun == "address") {
    return address_command(verb, args.positional);
  }
  if (noun == "auth") {
    return auth_command(verb, args);
  }
  if (noun == "deliver") {
    return deliver_command(args);
  }
  if (noun == "dns") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return dns_command(words, settings_, storage_);
  }
  if (noun == "queue") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    runtime::SystemClock clock;
    return queue_command(words, settings_, storage_, clock);
  }
  if (noun == "mailbox") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return mailbox_command(words, storage_, stdout);
  }
  if (noun == "import") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return import_command(words, storage_);
  }
  if (noun == "export") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return export_command(words, storage_);
  }
  if (noun == "report") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return report_command(words, settings_, storage_);
  }
  if (noun == "sieve") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return sieve_command(words, storage_);
  }
  if (noun == "spam") {
    std::vector<std::string> words{verb};
    words.insert(words.end(), args.positional.begin(), args.positional.end());
    return spam_command(words, settings_.spam, storage_);
  }
  return usage_error("unknown command " + noun);
}

int Cli::domain_command(const std::string& verb, const std::vector<std::string>& p) {
  auto& directory = storage_.directory();
  if (verb == "add" && p.size() == 1) {
    auto added = directory.add_domain(domain_name(p[0])).get();
    if (!added) {
      return failed(added.error().with_context("domain " + domain_name(p[0])));
    }
    fmt::print("added domain {}\n", added->name);
    return kExitOk;
  }
  if (verb == "list" && p.empty()) {
    auto all = directory.domains().get();
    if (!all) {
      return failed(all.error());
    }
    for (const auto& d : *all) {
      fmt::print("{}\n", d.name);
    }
    return kExitOk;
  }
  if ((verb == "del" || verb == "delete") && p.size() == 1) {
    auto removed = directory.remove_domain(domain_name(p[0])).get();
    if (!removed) {
      return failed(removed.error().with_context("domain " + domain_name(p[0])));
    }
    fmt::print("deleted domain {}\n", domain_name(p[0]));
    return kExitOk;
  }
  return usage_error("domain add NAME | list | del NAME");
}

int Cli::user_command(const std::string& verb, const Args& args) {
  auto& directory = storage_.directory();
  const auto& p = args.positional;
  if (verb == "add" && p.size() == 1) {
    auto address = normalized(p[0]);
    if (!address) {
      return failed(address.error());
    }
    std::uint64_t quota = 0;
    if (args.quota) {
      auto q = parse_size(*args.quota);
      if (!q) {
        return usage_error("bad SIZE " + *args.quota);
      }
      quota = *q;
    }
    // Check the domain before asking for a password.
    auto at = address->rfind('@');
    auto domain = directory.find_domain(address->substr(at + 1)).get();
    if (!domain) {
      return failed(domain.error());
    }
    if (!*domain) {
      return failed(fail(ErrorCode::kNotFound,
                         fmt::format("{} is not a local domain (tern domain add {})",
                                     address->substr(at + 1), address->substr(at + 1))));
    }
    auto password = read_password(args.password_stdin, true);
    if (!password) {
      return failed(password.error());
    }
    auto hashed = hash(*password);
    if (!hashed) {
      return failed(hashed.error());
    }
    auto account = domain::provision_account(
        storage_, domain::NewAccount{*address, hashed->password_hash, quota, hashed->scram_sha256});
    if (!account) {
      return failed(account.error().with_context("user " + *address));
    }
    fmt::print("added user {}\n", account->address);
    return kExitOk;
  }
  if (verb == "passwd" && p.size() == 1) {
    auto address = normalized(p[0]);
    if (!address) {
      return failed(address.error());
    }
    auto password = read_password(args.password_stdin, true);
    if (!password) {
      return failed(password.error());
    }
    auto hashed = hash(*password);
    if (!hashed) {
      return failed(hashed.error());
    }
    auto set = directory.set_credentials(*address, *hashed).get();
    if (!set) {
      return failed(set.error().with_context("user " + *address));
    }
    fmt::print("password changed for {}\n", *address);
    return kExitOk;
  }
  if (verb == "list" && p.size() <= 1) {
    std::optional<std::string> domain;
    if (p.size() == 1) {
      domain = domain_name(p[0]);
    }
    auto all = directory.accounts(domain).get();
    if (!all) {
      return failed(all.error());
    }
    for (const auto& a : *all) {
      fmt::print("{}\tquota={}\tused={}\n", a.address,
                 a.quota_bytes == 0 ? std::string("none") : format_size(a.quota_bytes),
                 format_size(a.used_bytes));
    }
    return kExitOk;
  }
  if ((verb == "del" || verb == "delete") && p.size() == 1) {
    auto address = normalized(p[0]);
    if (!address) {
      return failed(address.error());
    }
    auto removed = directory.remove_account(*address).get();
    if (!removed) {
      return failed(removed.error().with_context("user " + *address));
    }
    fmt::print("deleted user {}\n", *address);
    return kExitOk;
  }
  if (verb == "quota" && p.size() == 2) {
    auto address = normalized(p[0]);
    if (!address) {
      return failed(address.error());
    }
    auto q = parse_size(p[1]);
    if (!q) {
      return usage_error("bad SIZE " + p[1]);
    }
    auto set = directory.set_quota(*address, *q).get();
    if (!set) {
      return failed(set.error().with_context("user " + *address));
    }
    fmt::print("quota of {} is {}\n", *address, *q == 0 ? std::string("none") : format_size(*q));
    return kExitOk;
  }
  if (verb == "mailboxes" && p.size() == 1) {
    auto address = normalized(p[0]);
    if (!address) {
      return failed(address.error());
    }
    auto account = directory.find_account(*address).get();
    if (!account) {
      return failed(account.error());
    }
    if (!*account) {
      return failed(fail(ErrorCode::kNotFound, "no such user " + *address));
    }
    auto boxes = storage_.mail().mailboxes((*account)->id).get();
    if (!boxes) {
      return failed(boxes.error());
    }
    for (const auto& box : *boxes) {
      fmt::print("{}\t{}\tuidvalidity={}\tuidnext={}\n", box.name,
                 domain::special_use_attribute(box.special_use), domain::value_of(box.uid_validity),
                 domain::value_of(box.uid_next));
    }
    return kExitOk;
  }
  return usage_error("user add|passwd|list|del|quota|mailboxes ...");
}

int Cli::alias_command(const std::string& verb, const std::vector<std::string>& p) {
  auto& directory = storage_.directory();
  // "@domain" (catch-all) has no local part; normalise only full addresses.
  auto source_of = [](const std::string& s) -> Result<std::string> {
    if (s.starts_with("@")) {
      return "@" + domain_name(s.substr(1));
    }
    return normalized(s);
  };
  if (verb == "add" && p.size() == 2) {
    auto source = source_of(p[0]);
    auto destination = normalized(p[1]);
    if (!source) {
      return failed(source.error());
    }
    if (!destination) {
      return failed(destination.error());
    }
    auto added = directory.add_alias(domain::Alias{*source, *destination}).get();
    if (!added) {
      return failed(added.error().with_context("alias " + *source));
    }
    fmt::print("added alias {} -> {}\n", *source, *destination);
    return kExitOk;
  }
  if (verb == "list" && p.size() <= 1) {
    std::optional<std::string> domain;
    if (p.size() == 1) {
      domain = domain_name(p[0]);
    }
    auto all = directory.aliases(domain).get();
    if (!all) {
      return failed(all.error());
    }
    for (const auto& a : *all) {
      fmt::print("{} -> {}\n", a.source, a.destination);
    }
    return kExitOk;
  }
  if ((verb == "del" || verb == "delete") && (p.size() == 1 || p.size() == 2)) {
    auto source = source_of(p[0]);
    if (!source) {
      return failed(source.error());
    }
    std::optional<std::string> destination;
    if (p.size() == 2) {
      auto d = normalized(p[1]);
      if (!d) {
        return failed(d.error());
      }
      destination = *d;
    }
    auto removed = directory.remove_alias(*source, destination).get();
    if (!removed) {
      return failed(removed.error().with_context("alias " + *source));
    }
    fmt::print("deleted alias {}\n", *source);
    return kExitOk;
  }
  return usage_error("alias add SOURCE DESTINATION | list [DOMAIN] | del SOURCE [DESTINATION]");
}

int Cli::address_command(const std::string& verb, const std::vector<std::string>& p) {
  if (verb != "resolve" || p.size() != 1) {
    return usage_error("address resolve ADDRESS");
  }
  auto address = normalized(p[0]);
  if (!address) {
    return failed(address.error());
  }
  auto resolution = domain::resolve_recipient(storage_.directory(), *address,
                                              settings_.addressing.subaddress_separator);
  if (!resolution) {
    return failed(resolution.error());
  }
  if (resolution->kind == domain::RecipientKind::kNotLocal) {
    fmt::print("{}: not local (the MX refuses to relay)\n", *address);
    return kExitFailed;
  }
  for (const auto& local : resolution->accounts) {
    if (local.detail.empty()) {
      fmt::print("deliver {}\n", local.address);
    } else {
      fmt::print("deliver {} (detail \"{}\")\n", local.address, local.detail);
    }
  }
  for (const auto& external : resolution->external) {
    fmt::print("forward {}\n", external);
  }
  return kExitOk;
}

int Cli::auth_command(const std::string& verb, const Args& args) {
  if (verb != "test" || args.positional.size() != 1) {
    return usage_error("auth test ADDRESS [--password-stdin]");
  }
  auto address = normalized(args.positional[0]);
  if (!address) {
    return failed(address.error());
  }
  auto password = read_password(args.password_stdin, false);
  if (!password) {
    return failed(password.error());
  }
  auto account = storage_.directory().find_account(*address).get();
  if (!account) {
    return failed(account.error());
  }
  // The same answer for an unknown user and a wrong password, as a login would give.
  // As a login checks it: the SASLprep form first, then the raw bytes (RFC 4013).
  if (!*account || domain::match_password(*password, (*account)->password_hash) ==
                       domain::PasswordMatch::kNone) {
    fmt::print("{}: authentication failed\n", *address);
    return kExitFailed;
  }
  fmt::print("{}: ok\n", *address);
  return kExitOk;
}

// sysexits.h values, which MTAs piping to an LDA interpret.
constexpr int kExNoUser = 67;
constexpr int kExTempFail = 75;
constexpr int kExUsage = 64;
constexpr std::size_t kMaxDeliverBytes = 256u << 20;

int Cli::deliver_command(const Args& args) {
  if (args.positional.empty()) {
    fmt::print(stderr, "tern: deliver needs at least one RECIPIENT\n");
    return kExUsage;
  }
  std::string raw;
  char buffer[65536];
  while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
    raw.append(buffer, static_cast<std::size_t>(std::cin.gcount()));
    if (raw.size() > kMaxDeliverBytes) {
      fmt::print(stderr, "tern: message larger than {} bytes\n", kMaxDeliverBytes);
      return kExUsage;
    }
  }
  if (raw.empty()) {
    fmt::print(stderr, "tern: no message on standard input\n");
    return kExUsage;
  }
  // Messages are stored with CRLF line ends; an MTA's pipe usually hands over LF.
  std::string message = domain::to_crlf(raw);
  std::string sender;
  if (args.from) {
    auto normalized_sender =
        args.from->empty() ? Result<std::string>(std::string()) : normalized(*args.from);
    if (!normalized_sender) {
      fmt::print(stderr, "tern: {}\n", normalized_sender.error().message);
      return kExUsage;
    }
    sender = std::move(*normalized_sender);
    message = fmt::format("Return-Path: <{}>\r\n", sender) + message;
  }

  std::vector<domain::LocalRecipient> accounts;
  std::vector<std::string> names;
  std::vector<std::string> forwards;
  int status = kExitOk;
  for (const auto& recipient : args.positional) {
    auto address = normalized(recipient);
    if (!address) {
      fmt::print(stderr, "tern: {}\n", address.error().message);
      status = kExNoUser;
      continue;
    }
    auto resolution = domain::resolve_recipient(storage_.directory(), *address,
                                                settings_.addressing.subaddress_separator);
    if (!resolution || resolution->kind == domain::RecipientKind::kNotLocal) {
      fmt::print(stderr, "tern: {}: {}\n", *address,
                 resolution ? std::string("not a local address") : resolution.error().message);
      status = resolution && resolution->kind == domain::RecipientKind::kNotLocal
                   ? kExNoUser
                   : (resolution.error().code == ErrorCode::kNotFound ? kExNoUser : kExTempFail);
      continue;
    }
    for (const auto& local : resolution->accounts) {
      accounts.push_back(local);
      names.push_back(local.address);
    }
    forwards.insert(forwards.end(), resolution->external.begin(), resolution->external.end());
  }
  runtime::SystemClock clock;
  if (!accounts.empty()) {
    // Parsed once here; IMAP and JMAP serve these facts without re-reading the blob.
    std::string facts = mime::facts::encode_facts(mime::facts::compute_facts(message));
    // As ternd delivers: each account's Sieve script decides where its copy goes.
    domain::Filtering filtering;
    filtering.sender = sender;
    filtering.hostname = settings_.server.hostname;
    filtering.subaddress_separators = settings_.addressing.subaddress_separator;
    filtering.now = clock.now();
    filtering.zone_minutes = runtime::local_zone_minutes(filtering.now);
    const domain::SpamPolicy spam = spam_policy(settings_.spam);
    filtering.spam = &spam;
    std::vector<domain::FilterReport> reports;
    auto outcomes =
        domain::deliver(storage_, domain::NewMessage{message, clock.now(), std::move(facts)},
                        accounts, domain::DeliveryFolder::kInbox, &filtering, &reports);
    if (!outcomes) {
      fmt::print(stderr, "tern: {}\n", outcomes.error().message);
      return kExTempFail;
    }
    for (std::size_t i = 0; i < outcomes->size(); ++i) {
      const auto& result = (*outcomes)[i].result;
      if (i < reports.size() && !reports[i].error.empty()) {
        fmt::print(stderr, "tern: {}: sieve: {}\n", names[i], reports[i].error);
      }
      if (result && domain::value_of(result->uid) == 0) {
        fmt::print("filtered for {}: {}\n", names[i],
                   reports[i].discarded ? "discarded" : "redirected");
      } else if (result) {
        fmt::print("delivered to {} uid {}\n", names[i], domain::value_of(result->uid));
      } else {
        fmt::print(stderr, "tern: {}: {}\n", names[i], result.error().message);
        status = status == kExitOk ? kExTempFail : status;
      }
    }
  }
  if (!forwards.empty()) {
    domain::NewQueuedMessage queued;
    queued.raw = message;
    queued.sender = sender;
    for (const auto& forward : forwards) {
      domain::QueueRecipient recipient;
      recipient.address = forward;
      queued.recipients.push_back(std::move(recipient));
    }
    queued.now = clock.now();
    auto id = storage_.queue().enqueue(std::move(queued)).get();
    if (!id) {
      fmt::print(stderr, "tern: queue: {}\n", id.error().message);
      return kExTempFail;
    }
    fmt::print("queued for {} as {}\n", fmt::join(forwards, ", "), domain::value_of(*id));
  }
  return status;
}

int main_with_boundary(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  std::string config_path = kDefaultConfigPath;
  if (words.size() >= 2 && (words[0] == "-c" || words[0] == "--config")) {
    config_path = words[1];
    words.erase(words.begin(), words.begin() + 2);
  }
  if (words.empty() || words[0] == "-h" || words[0] == "--help" || words[0] == "help") {
    fmt::print("{}\n{}{}{}{}{}{}{}", kUsage, kMailboxUsage, kImportExportUsage, kSieveUsage,
               kSpamUsage, kDkimUsage, kDnsUsage, kReportUsage);
    return words.empty() ? kExitUsage : kExitOk;
  }
  // DKIM keys and single messages need neither config nor store.
  if (words[0] == "dkim") {
    return dkim_command({words.begin() + 1, words.end()});
  }
  if (words[0] == "sieve" && words.size() >= 2 && words[1] == "test") {
    return sieve_test_command({words.begin() + 2, words.end()});
  }
  // `migrate` names its stores itself; `store checksum` opens its own (read only).
  if (words[0] == "migrate") {
    return migrate_command({words.begin() + 1, words.end()});
  }
  if (words[0] == "store") {
    return store_command({words.begin() + 1, words.end()}, config_path);
  }
  std::string noun = words[0];
  // `deliver` takes no verb: its arguments follow at once.
  const bool has_verb = noun != "deliver";
  if (has_verb && words.size() < 2) {
    return usage_error("missing subcommand");
  }
  std::string verb = has_verb ? words[1] : std::string();
  // `report`, `sieve` and `spam` read their own options (--print, --send-now, --activate ...).
  auto args = noun == "report" || noun == "sieve" || noun == "spam"
                  ? Result<Args>(Args{{words.begin() + 2, words.end()}, false, {}, {}})
                  : parse_args({words.begin() + (has_verb ? 2 : 1), words.end()});
  if (!args) {
    return usage_error(args.error().message);
  }

  auto settings = load_settings(config_path);
  if (!settings) {
    fmt::print(stderr, "tern: {}\n", settings.error().message);
    return kExitUsage;
  }
  // Files the CLI creates in the store must belong to the user ternd runs as.
  if (!settings->server.user.empty() && geteuid() == 0) {
    auto dropped = runtime::drop_privileges(settings->server.user, settings->server.group);
    if (!dropped) {
      return failed(dropped.error());
    }
  }
  if (settings->store.backend == config::StoreBackend::kMemory) {
    fmt::print(stderr, "tern: [store] backend is \"memory\": there is nothing to administer\n");
    return kExitUsage;
  }
  auto storage = open_storage(settings->store);
  if (!storage) {
    return failed(storage.error());
  }
  Cli cli(std::move(*settings), **storage);
  return cli.run(noun, verb, *args);
}

}  // namespace
}  // namespace tern::app

int main(int argc, char** argv) {
  // Files the CLI creates in the store are as private as ternd's own.
  ::umask(0077);
  // Boundary 4 of docs/adr/0002-error-handling.md.
  try {
    return tern::app::main_with_boundary(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tern: internal error: %s\n", e.what());
    return 70;
  }
}
