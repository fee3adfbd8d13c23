// SPDX-License-Identifier: Apache-2.0
// The built-in spam filter at the domain level: classifying a delivery for one
// account with the models the store keeps (SpamStore), and teaching those
// models what users file as spam or as not spam. The statistics live in
// src/spam; docs/adr/0023-spam-filter.md says how the pieces fit.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "domain/ports.hpp"
#include "spam/spam.hpp"

namespace tern::domain {

// Models' message totals read recently, so that delivery on a site whose
// models cannot give verdicts yet (the default until someone trains them)
// costs no store read per message. An entry is used for `ttl`; lessons this
// process teaches (learn_entries()) drop the model's entry at once, so only
// another process's lessons (`tern spam train`, another node) take up to `ttl`
// to be seen. Thread-safe; at most `capacity` entries (all are
// dropped when it is reached).
class SpamTotalsCache {
 public:
  explicit SpamTotalsCache(std::chrono::seconds ttl = std::chrono::seconds(10),
                           std::size_t capacity = 100000)
      : ttl_(ttl), capacity_(capacity) {}

  // The totals of the model read at or after now - ttl, if any.
  std::optional<SpamCounts> get(std::optional<AccountId> account, SystemTime now) const;
  void put(std::optional<AccountId> account, const SpamCounts& totals, SystemTime now);
  void forget(std::optional<AccountId> account);

 private:
  struct Entry {
    std::uint64_t spam = 0;
    std::uint64_t ham = 0;
    SystemTime read_at{};
  };

  std::chrono::seconds ttl_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::int64_t, Entry> entries_;  // by account id, 0: the site's
};

// What the filter does ([spam] in the config).
struct SpamPolicy {
  // Classify local deliveries; a spam verdict files the copy into the Junk
  // mailbox instead of the INBOX (a Sieve script's implicit keep too).
  bool classify = true;
  // IMAP COPY/MOVE into a \Junk mailbox teaches the account's model spam; into
  // any other mailbox but \Trash teaches ham (lesson_of_move()). It also covers
  // the keywords clients set when a user marks a message: a STORE adding $Junk
  // teaches spam, one adding $NotJunk ham (lesson_of_keywords()).
  bool learn_from_moves = true;
  // At most this many messages of one COPY/MOVE (or STORE of $Junk/$NotJunk)
  // are learned (the rest are filed or marked untaught), so that filing a whole
  // archive does not hold the command long.
  std::size_t max_learn_per_command = 1000;
  spam::ClassifyOptions options;
  // Recently read model totals (null: read at every delivery).
  std::shared_ptr<SpamTotalsCache> totals;
};

// A message's tokens (spam::tokenize), computed on first use: one delivery
// classifies for each of its recipient accounts, and needs the tokens only
// once some model is trained.
class LazyTokens {
 public:
  // `raw` must outlive this object (it is tokenized later).
  explicit LazyTokens(std::string_view raw) : raw_(raw) {}

  explicit LazyTokens(std::string&&) = delete;

  const std::vector<spam::Token>& get();

  bool tokenized() const { return tokens_.has_value(); }

 private:
  std::string_view raw_;
  std::optional<std::vector<spam::Token>> tokens_;
};

// The model a verdict for `account` uses: the site-wide model and the account's
// own, counts summed token by token and in the totals. A site trained by its
// administrator (`tern spam train`) so protects a new account, and what a user
// teaches shifts the verdicts of that user's mail only. Without an account,
// the site-wide model alone (what `tern spam check` without an address uses).
// The totals are read
// first: when the sum has fewer than `min_messages` of spam or of ham (no
// verdict is possible) the model holds the totals only and the message is not
// tokenized, and a model that learned nothing is not asked for token counts.
// With `cache`, totals read within its ttl before `now` are not read again.
Result<spam::Model> spam_model_for(SpamStore& store, std::optional<AccountId> account,
                                   LazyTokens& tokens, std::uint64_t min_messages,
                                   SpamTotalsCache* cache = nullptr, SystemTime now = {});

// The verdict on a message for `account` under `policy` (its options and its
// totals cache), at time `now`.
Result<spam::Verdict> classify_for(SpamStore& store, AccountId account, LazyTokens& tokens,
                                   const SpamPolicy& policy, SystemTime now);

// What teaching a set of messages did.
struct SpamLessons {
  std::size_t learned = 0;    // new to the model
  std::size_t relearned = 0;  // moved from the other label
  std::size_t unchanged = 0;  // already learned with this label
  std::size_t skipped = 0;    // not read (over the cap, or unreadable)

  void count(SpamLearned outcome);  // one lesson's outcome
  SpamLessons& operator+=(const SpamLessons& other);
};

// The lesson (SpamStore::learn_spam) that teaches the model of `account`
// (nullopt: the site-wide model) the message `raw` as `label`: its tokens'
// hashes, the message named by `key` (its SHA-256, as Entry::blob), so that
// learning it twice with one label changes nothing and with the other moves it.
SpamLesson lesson_of(std::optional<AccountId> account, std::string_view raw, std::string key,
                     SpamLabel label);

// Teaches the account's model the messages of `entries` (read through
// storage.mail()), at most `limit` of them; `cache`, when given, forgets the
// model's totals. The lessons are asked for all at once, so a backend may
// commit them together (sqlite: one transaction and one sync). Fails only when
// the store fails (after every lesson has completed); a message that cannot be
// read is counted as skipped.
Result<SpamLessons> learn_entries(Storage& storage, AccountId account,
                                  const std::vector<Entry>& entries, SpamLabel label,
                                  std::size_t limit, SpamTotalsCache* cache = nullptr);

// What a COPY or MOVE from mailbox `from` to `to` teaches, if anything: into
// the Junk mailbox spam; into any other mailbox but Trash ham (out of Junk, or
// filed into a folder: what a user keeps is wanted mail, as Mox reads moves);
// into Trash nothing. A mailbox is Junk (or Trash) by its special use (RFC
// 6154), or by the name "Junk" or "Spam" ("Trash") when it has none, as
// delivery finds the Junk mailbox.
std::optional<SpamLabel> lesson_of_move(const Mailbox& from, const Mailbox& to);

// The label an IMAP keyword marks a message with, if any: "$Junk" spam and
// "$NotJunk" ham (the IANA IMAP keywords registry, RFC 5788), and the older
// spellings clients still set, "Junk" spam and "NonJunk" or "NotJunk" ham.
// Keywords compare without regard to case, as IMAP's do.
std::optional<SpamLabel> label_of_keyword(std::string_view keyword);

// What a STORE that adds the keywords `added` teaches: spam when one of them
// marks spam (label_of_keyword()), ham when one marks ham, nothing when none
// does or when both kinds are set at once (the client contradicts itself).
std::optional<SpamLabel> lesson_of_keywords(const std::vector<std::string>& added);

}  // namespace tern::domain
