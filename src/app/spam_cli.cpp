// SPDX-License-Identifier: Apache-2.0
#include "app/spam_cli.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "app/file_text.hpp"
#include "app/mailbox_cli.hpp"
#include "app/settings_file.hpp"
#include "domain/delivery.hpp"
#include "domain/ids.hpp"
#include "domain/spam_filter.hpp"
#include "spam/spam.hpp"

namespace tern::app {

const char* const kSpamUsage =
    R"(  spam train MODEL --spam|--ham PATH...   teaches MODEL (an ADDRESS, or --site for the
        site-wide model) the messages of PATH: files, and directories walked (dot
        files and folders skipped)
  spam train ADDRESS --spam|--ham --mailbox NAME   the messages of its mailbox NAME
  spam check [ADDRESS] FILE     the verdict delivery would give the message in FILE
  spam stats [MODEL] | reset MODEL
)";

namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage(std::string_view why) {
  fmt::print(stderr, "tern: spam: {}\nusage: tern{}", why, std::string_view(kSpamUsage).substr(1));
  return kExitUsage;
}

int failed(std::string_view verb, const Error& error) {
  fmt::print(stderr, "tern: spam {}: {}\n", verb, error.message);
  return kExitFailed;
}

// A model named on the command line: an account's, or the site's (--site).
struct ModelName {
  std::optional<domain::AccountId> account;
  std::string name;  // for messages: the address, or "site"
};

Result<ModelName> model_named(domain::Storage& storage, const std::string& word) {
  if (word == "--site") {
    return ModelName{std::nullopt, "site"};
  }
  TERN_TRY(auto account, find_user(storage, word));
  return ModelName{account.id, account.address};
}

// Names in a mail directory that are not messages: Maildir++ folders and dot
// files (".Junk" is another folder: name it to train from it), Dovecot's index
// and list files, Maildir's folder marker and Courier's files.
bool skipped_name(const std::string& name) {
  return name.empty() || name[0] == '.' || name.starts_with("dovecot") || name == "maildirfolder" ||
         name == "subscriptions" || name.starts_with("courier");
}

// The message files of `path`, in name order (a directory walked recursively).
Result<std::vector<fs::path>> message_files(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec)) {
      return fail(ErrorCode::kNotFound, path.string() + ": no such file or directory");
    }
    return std::vector<fs::path>{path};
  }
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    return fail(ErrorCode::kIo, path.string() + ": " + ec.message());
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      return fail(ErrorCode::kIo, path.string() + ": " + ec.message());
    }
    const std::string name = it->path().filename().string();
    if (skipped_name(name)) {
      if (it->is_directory(ec)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (it->is_regular_file(ec)) {
      files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

Result<domain::SpamLessons> train_files(domain::Storage& storage, const ModelName& model,
                                        const std::vector<std::string>& paths,
                                        domain::SpamLabel label) {
  domain::SpamLessons lessons;
  // Lessons are asked for 256 at a time before they are awaited, so that the
  // store commits them together (one sync for many on sqlite).
  std::vector<domain::Async<domain::SpamLearned>> pending;
  auto await_pending = [&]() -> Result<void> {
    for (auto& lesson : pending) {
      TERN_TRY(auto learned, lesson.get());
      lessons.count(learned);
    }
    pending.clear();
    return ok();
  };
  for (const auto& path : paths) {
    TERN_TRY(auto files, message_files(path));
    for (const auto& file : files) {
      TERN_TRY(auto raw, read_file_text(file.string()));
      // Keyed as the store names the same message delivered (its CRLF bytes'
      // SHA-256), so a message trained here and moved later is not counted twice.
      std::string message = domain::to_crlf(raw);
      std::string key = domain::sha256_hex(message);
      pending.push_back(
          storage.spam().learn_spam(domain::lesson_of(model.account, message, key, label)));
      if (pending.size() >= 256) {
        TERN_TRY_VOID(await_pending());
      }
    }
  }
  TERN_TRY_VOID(await_pending());
  return lessons;
}

Result<domain::SpamLessons> train_mailbox(domain::Storage& storage, const std::string& address,
                                          const std::string& mailbox, domain::SpamLabel label) {
  TERN_TRY(auto account, find_user(storage, address));
  TERN_TRY(auto box, find_mailbox(storage, account, mailbox));
  domain::SpamLessons lessons;
  std::vector<domain::Entry> chunk;
  auto teach = [&]() -> Result<void> {
    TERN_TRY(auto taught, domain::learn_entries(storage, account.id, chunk, label, chunk.size()));
    lessons += taught;
    chunk.clear();
    return ok();
  };
  TERN_TRY_VOID(each_entry(storage, account.id, box, [&](const domain::Entry& e) -> Result<void> {
    chunk.push_back(e);
    return chunk.size() >= 256 ? teach() : ok();
  }));
  TERN_TRY_VOID(teach());
  return lessons;
}

int train(domain::Storage& storage, const std::vector<std::string>& words) {
  // train MODEL --spam|--ham (PATH... | --mailbox NAME)
  if (words.size() < 4 || (words[2] != "--spam" && words[2] != "--ham")) {
    return usage("train needs a model, --spam or --ham, and what to learn");
  }
  const auto label = words[2] == "--spam" ? domain::SpamLabel::kSpam : domain::SpamLabel::kHam;
  const std::string_view as = label == domain::SpamLabel::kSpam ? "spam" : "ham";
  auto model = model_named(storage, words[1]);
  if (!model) {
    return failed("train", model.error());
  }
  Result<domain::SpamLessons> lessons = domain::SpamLessons{};
  if (words[3] == "--mailbox") {
    if (words.size() != 5 || !model->account) {
      return usage("train ADDRESS --spam|--ham --mailbox NAME");
    }
    lessons = train_mailbox(storage, words[1], words[4], label);
  } else {
    lessons = train_files(storage, *model, {words.begin() + 3, words.end()}, label);
  }
  if (!lessons) {
    return failed("train", lessons.error());
  }
  fmt::print("{} model: learned {} as {} ({} moved from the other label, {} already known{})\n",
             model->name, lessons->learned + lessons->relearned, as, lessons->relearned,
             lessons->unchanged,
             lessons->skipped > 0 ? fmt::format(", {} unreadable", lessons->skipped) : "");
  return kExitOk;
}

int check(domain::Storage& storage, const config::SpamSettings& settings,
          const std::vector<std::string>& words) {
  if (words.size() != 2 && words.size() != 3) {
    return usage("check [ADDRESS] FILE");
  }
  auto raw = read_file_or_stdin(words.back());
  if (!raw) {
    return failed("check", raw.error());
  }
  const std::string message = domain::to_crlf(*raw);
  domain::LazyTokens tokens(message);
  std::optional<domain::AccountId> account;
  if (words.size() == 3) {
    auto found = find_user(storage, words[1]);
    if (!found) {
      return failed("check", found.error());
    }
    account = found->id;
  }
  // Every token's counts, even for an untrained model: the clues still show
  // what the model knows.
  auto model = domain::spam_model_for(storage.spam(), account, tokens, 0);
  if (!model) {
    return failed("check", model.error());
  }
  const auto verdict = spam::classify(tokens.get(), *model, spam_policy(settings).options);
  std::string out = fmt::format("{} {:.3f}\n", spam::class_name(verdict.verdict), verdict.score);
  for (const auto& clue : verdict.clues) {
    out += fmt::format("  {:.3f} {}\n", clue.probability, clue.text);
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int stats(domain::Storage& storage, const std::vector<std::string>& words) {
  if (words.size() > 2) {
    return usage("stats [ADDRESS|--site]");
  }
  auto model = model_named(storage, words.size() == 2 ? words[1] : "--site");
  if (!model) {
    return failed("stats", model.error());
  }
  auto stats = storage.spam().spam_stats(model->account).get();
  if (!stats) {
    return failed("stats", stats.error());
  }
  fmt::print("{} model: {} spam and {} ham messages learned, {} tokens\n", model->name,
             stats->spam_messages, stats->ham_messages, stats->tokens);
  return kExitOk;
}

int reset(domain::Storage& storage, const std::vector<std::string>& words) {
  if (words.size() != 2) {
    return usage("reset ADDRESS|--site");
  }
  auto model = model_named(storage, words[1]);
  if (!model) {
    return failed("reset", model.error());
  }
  if (auto done = storage.spam().reset_spam_model(model->account).get(); !done) {
    return failed("reset", done.error());
  }
  fmt::print("{} model: emptied\n", model->name);
  return kExitOk;
}

}  // namespace

int spam_command(const std::vector<std::string>& words, const config::SpamSettings& settings,
                 domain::Storage& storage) {
  const std::string& verb = words.empty() ? std::string() : words[0];
  if (verb == "train") {
    return train(storage, words);
  }
  if (verb == "check") {
    return check(storage, settings, words);
  }
  if (verb == "stats") {
    return stats(storage, words);
  }
  if (verb == "reset") {
    return reset(storage, words);
  }
  return usage(verb.empty() ? "missing subcommand" : "unknown subcommand " + verb);
}

}  // namespace tern::app
