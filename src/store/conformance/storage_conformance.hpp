// SPDX-License-Identifier: Apache-2.0
// The storage conformance suite: one typed GoogleTest suite that every backend of
// domain::Storage must pass (model-codebases.md B6). It pins down the behaviour the
// ports promise and the choices store::memory documents, so services can be tested
// over memory and run over sqlite or postgres.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "domain/ports.hpp"
#include "mime/facts/facts.hpp"
#include "store/conformance/conformance_support.hpp"

namespace tern::store::conformance {

// How a backend joins the suite. A test binary defines a Factory type:
//
//   struct MemoryFactory {
//     // Returns a new, empty store for one test, or nullptr to skip the suite
//     // (e.g. postgres when TERN_TEST_POSTGRES is unset).
//     std::unique_ptr<domain::Storage> make();
//   };
//
// and instantiates the suite once:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StorageConformance,
//                                  ::testing::Types<MemoryFactory>);
//
// The factory object lives as long as the test (it may own a temp directory) and
// outlives the store it made. The factory is the only backend-specific code.
template <class Factory>
class StorageConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = factory_.make();
    if (!storage_) {
      GTEST_SKIP() << "backend not available";
    }
  }

  void TearDown() override { storage_.reset(); }

  domain::Directory& dir() { return storage_->directory(); }

  domain::MailStore& mail() { return storage_->mail(); }

  domain::BlobStore& blobs() { return storage_->blobs(); }

  domain::QueueStore& queue() { return storage_->queue(); }

  domain::GreylistStore& greylist() { return storage_->greylist(); }

  // Adds example.com (once) and an account in it; fails the test on error.
  domain::Account make_account(const std::string& local, std::uint64_t quota = 0) {
    auto existing = wait(dir().find_domain("example.com"));
    EXPECT_TRUE(existing);
    if (existing && !*existing) {
      EXPECT_TRUE(wait(dir().add_domain("example.com")));
    }
    auto account =
        wait(dir().add_account(domain::NewAccount{local + "@example.com", "hash", quota}));
    EXPECT_TRUE(account) << account.error().message;
    return account ? *account : domain::Account{};
  }

  domain::Mailbox inbox(domain::AccountId account) {
    auto boxes = wait(mail().mailboxes(account));
    EXPECT_TRUE(boxes);
    for (const auto& box : *boxes) {
      if (box.name == "INBOX") {
        return box;
      }
    }
    ADD_FAILURE() << "no INBOX";
    return {};
  }

  domain::Mailbox make_mailbox(domain::AccountId account, const std::string& name) {
    auto box = wait(mail().create_mailbox(account, name, domain::SpecialUse::kNone));
    EXPECT_TRUE(box) << box.error().message;
    return box ? *box : domain::Mailbox{};
  }

  // Appends one message to one mailbox and returns what was stored.
  domain::Appended append_one(const domain::Account& account, const domain::Mailbox& box,
                              const std::string& tag, domain::Flags flags = 0,
                              std::vector<std::string> keywords = {}) {
    auto result = wait(mail().append(make_message(tag),
                                     {domain::AppendTarget{account.id, box.id, flags, keywords}}));
    EXPECT_TRUE(result) << result.error().message;
    if (!result || result->size() != 1 || !(*result)[0]) {
      ADD_FAILURE() << "append failed";
      return {};
    }
    return *(*result)[0];
  }

  domain::Mailbox reload(const domain::Mailbox& box) {
    auto boxes = wait(mail().mailboxes(box.account));
    EXPECT_TRUE(boxes);
    for (const auto& b : *boxes) {
      if (b.id == box.id) {
        return b;
      }
    }
    ADD_FAILURE() << "mailbox gone";
    return {};
  }

  std::vector<domain::Entry> all_entries(const domain::Mailbox& box) {
    auto entries =
        wait(mail().entries(box.account, box.id, domain::Uid{1}, domain::Uid{0xffffffffu}));
    EXPECT_TRUE(entries) << entries.error().message;
    return entries ? *entries : std::vector<domain::Entry>{};
  }

  // The names of the account's Sieve scripts as listed, the active one with a
  // trailing '*'.
  std::vector<std::string> sieve_names(domain::AccountId account) {
    auto listed = wait(dir().sieve_scripts(account));
    EXPECT_TRUE(listed) << listed.error().message;
    std::vector<std::string> names;
    for (const auto& script : listed ? *listed : std::vector<domain::SieveScript>{}) {
      names.push_back(script.name + (script.active ? "*" : ""));
    }
    return names;
  }

  Factory factory_;
  std::unique_ptr<domain::Storage> storage_;
};

TYPED_TEST_SUITE_P(StorageConformance);

namespace d = ::tern::domain;

// Expects a failed Result with the given code.
#define TERN_EXPECT_ERROR(expr, expected_code)                                           \
  do {                                                                                   \
    auto tern_result_ = (expr);                                                          \
    ASSERT_FALSE(tern_result_) << "expected " << ::tern::error_code_name(expected_code); \
    EXPECT_EQ(tern_result_.error().code, expected_code) << tern_result_.error().message; \
  } while (false)

#define TERN_ASSERT_OK(expr)                                   \
  do {                                                         \
    auto tern_result_ = (expr);                                \
    ASSERT_TRUE(tern_result_) << tern_result_.error().message; \
  } while (false)

// ----- Directory

TYPED_TEST_P(StorageConformance, DomainsAreAddedListedSortedAndFound) {
  TERN_ASSERT_OK(wait(this->dir().add_domain("zeta.org")));
  auto added = wait(this->dir().add_domain("alpha.org"));
  ASSERT_TRUE(added);
  EXPECT_EQ(added->name, "alpha.org");
  auto all = wait(this->dir().domains());
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alpha.org");
  EXPECT_EQ((*all)[1].name, "zeta.org");
  auto found = wait(this->dir().find_domain("alpha.org"));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, added->id);
  auto missing = wait(this->dir().find_domain("nope.org"));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TYPED_TEST_P(StorageConformance, DuplicateOrEmptyDomainIsRejected) {
  TERN_ASSERT_OK(wait(this->dir().add_domain("example.org")));
  TERN_EXPECT_ERROR(wait(this->dir().add_domain("example.org")), ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->dir().add_domain("")), ErrorCode::kInvalidInput);
}

TYPED_TEST_P(StorageConformance, RemoveDomainConflictsWhileAccountsOrAliasesExist) {
  auto account = this->make_account("user");
  TERN_EXPECT_ERROR(wait(this->dir().remove_domain("example.com")), ErrorCode::kConflict);
  TERN_ASSERT_OK(wait(this->dir().add_alias(d::Alias{"info@example.com", "x@remote.org"})));
  TERN_ASSERT_OK(wait(this->dir().remove_account(account.address)));
  TERN_EXPECT_ERROR(wait(this->dir().remove_domain("example.com")), ErrorCode::kConflict);
  TERN_ASSERT_OK(wait(this->dir().remove_alias("info@example.com", std::nullopt)));
  TERN_ASSERT_OK(wait(this->dir().remove_domain("example.com")));
  TERN_EXPECT_ERROR(wait(this->dir().remove_domain("example.com")), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, AccountsAreAddedFoundAndListed) {
  auto bob = this->make_account("bob", 1000);
  auto alice = this->make_account("alice");
  EXPECT_EQ(bob.address, "bob@example.com");
  EXPECT_EQ(bob.quota_bytes, 1000u);
  EXPECT_EQ(bob.used_bytes, 0u);
  EXPECT_NE(bob.id, alice.id);
  auto by_address = wait(this->dir().find_account("bob@example.com"));
  ASSERT_TRUE(by_address && *by_address);
  EXPECT_EQ((*by_address)->id, bob.id);
  EXPECT_EQ((*by_address)->password_hash, "hash");
  auto by_id = wait(this->dir().find_account_by_id(alice.id));
  ASSERT_TRUE(by_id && *by_id);
  EXPECT_EQ((*by_id)->address, "alice@example.com");
  auto none = wait(this->dir().find_account("carol@example.com"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  TERN_ASSERT_OK(wait(this->dir().add_domain("other.org")));
  TERN_ASSERT_OK(wait(this->dir().add_account(d::NewAccount{"zed@other.org", "h", 0})));
  auto all = wait(this->dir().accounts(std::nullopt));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].address, "alice@example.com");
  EXPECT_EQ((*all)[2].address, "zed@other.org");
  auto in_domain = wait(this->dir().accounts(std::string("example.com")));
  ASSERT_TRUE(in_domain);
  EXPECT_EQ(in_domain->size(), 2u);
  TERN_EXPECT_ERROR(wait(this->dir().accounts(std::string("nope.org"))), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, AccountErrorsHaveTheirCodes) {
  this->make_account("bob");
  TERN_EXPECT_ERROR(wait(this->dir().add_account(d::NewAccount{"bob@example.com", "h", 0})),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->dir().add_account(d::NewAccount{"bob@elsewhere.org", "h", 0})),
                    ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().add_account(d::NewAccount{"no-at-sign", "h", 0})),
                    ErrorCode::kInvalidInput);
  TERN_EXPECT_ERROR(wait(this->dir().set_credentials("x@example.com", d::Credentials{"h", "s"})),
                    ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().set_quota("x@example.com", 5)), ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().remove_account("x@example.com")), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, PasswordAndQuotaCanBeChanged) {
  auto bob = this->make_account("bob");
  EXPECT_EQ(bob.scram_sha256, "");
  TERN_ASSERT_OK(wait(this->dir().set_credentials(
      "bob@example.com", d::Credentials{"new-hash", "SCRAM-SHA-256$4096:c2FsdA==$a:b"})));
  TERN_ASSERT_OK(wait(this->dir().set_quota("bob@example.com", 4242)));
  auto found = wait(this->dir().find_account("bob@example.com"));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->password_hash, "new-hash");
  EXPECT_EQ((*found)->scram_sha256, "SCRAM-SHA-256$4096:c2FsdA==$a:b");
  EXPECT_EQ((*found)->quota_bytes, 4242u);
  // Both secrets are replaced together; an empty SCRAM secret is stored as such.
  TERN_ASSERT_OK(wait(this->dir().set_credentials("bob@example.com", d::Credentials{"h2", ""})));
  found = wait(this->dir().find_account("bob@example.com"));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->password_hash, "h2");
  EXPECT_EQ((*found)->scram_sha256, "");
}

TYPED_TEST_P(StorageConformance, NewAccountsKeepTheirScramSecret) {
  this->make_account("bob");  // adds the domain
  d::NewAccount account{"carol@example.com", "hash", 0, "SCRAM-SHA-256$4096:c2FsdA==$x:y"};
  auto added = wait(this->dir().add_account(account));
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->scram_sha256, account.scram_sha256);
  auto listed = wait(this->dir().accounts(std::nullopt));
  ASSERT_TRUE(listed);
  bool seen = false;
  for (const auto& a : *listed) {
    seen = seen || (a.address == "carol@example.com" && a.scram_sha256 == account.scram_sha256);
  }
  EXPECT_TRUE(seen);
}

TYPED_TEST_P(StorageConformance, AliasesAreAddedListedAndRemoved) {
  this->make_account("bob");
  TERN_ASSERT_OK(wait(this->dir().add_alias(d::Alias{"info@example.com", "z@remote.org"})));
  TERN_ASSERT_OK(wait(this->dir().add_alias(d::Alias{"info@example.com", "bob@example.com"})));
  TERN_ASSERT_OK(wait(this->dir().add_alias(d::Alias{"@example.com", "bob@example.com"})));
  TERN_EXPECT_ERROR(wait(this->dir().add_alias(d::Alias{"info@example.com", "z@remote.org"})),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->dir().add_alias(d::Alias{"x@remote.org", "bob@example.com"})),
                    ErrorCode::kNotFound);
  auto destinations = wait(this->dir().alias_destinations("info@example.com"));
  ASSERT_TRUE(destinations);
  EXPECT_EQ(*destinations, (std::vector<std::string>{"bob@example.com", "z@remote.org"}));
  auto all = wait(this->dir().aliases(std::string("example.com")));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], (d::Alias{"@example.com", "bob@example.com"}));
  EXPECT_EQ((*all)[1], (d::Alias{"info@example.com", "bob@example.com"}));

  TERN_ASSERT_OK(wait(this->dir().remove_alias("info@example.com", "z@remote.org")));
  destinations = wait(this->dir().alias_destinations("info@example.com"));
  ASSERT_TRUE(destinations);
  EXPECT_EQ(*destinations, (std::vector<std::string>{"bob@example.com"}));
  TERN_EXPECT_ERROR(wait(this->dir().remove_alias("info@example.com", "z@remote.org")),
                    ErrorCode::kNotFound);
  TERN_ASSERT_OK(wait(this->dir().remove_alias("@example.com", std::nullopt)));
  all = wait(this->dir().aliases(std::nullopt));
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
}

// ----- Sieve scripts and vacation replies

TYPED_TEST_P(StorageConformance, SieveScriptsArePutReplacedAndListedByName) {
  auto bob = this->make_account("bob");
  auto alice = this->make_account("alice");
  const std::string text = "require \"fileinto\";\r\nfileinto \"Caf\xc3\xa9\";\n";
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "work", "keep;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "alpha", text)));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "Zeta", "discard;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(alice.id, "alices", "stop;")));
  // Sorted byte for byte; nothing is active until asked.
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"Zeta", "alpha", "work"}));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "work", "stop;")));
  auto listed = wait(this->dir().sieve_scripts(bob.id));
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0], (d::SieveScript{"Zeta", "discard;", false}));
  EXPECT_EQ((*listed)[1], (d::SieveScript{"alpha", text, false}));
  EXPECT_EQ((*listed)[2], (d::SieveScript{"work", "stop;", false}));
  EXPECT_EQ(this->sieve_names(alice.id), (std::vector<std::string>{"alices"}));
  auto none = wait(this->dir().active_sieve_script(bob.id));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);

  // The text is kept as given, whatever its bytes; names are UTF-8 up to 255 bytes.
  const std::string bytes("a\0b\xff\r\n", 6);
  const std::string longest(255, 'n');
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(alice.id, longest, bytes)));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(alice.id, "vacances \xc3\xa9t\xc3\xa9", "")));
  listed = wait(this->dir().sieve_scripts(alice.id));
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[1], (d::SieveScript{longest, bytes, false}));
  EXPECT_EQ((*listed)[2].name, "vacances \xc3\xa9t\xc3\xa9");
  EXPECT_EQ((*listed)[2].text, "");

  for (const auto& bad :
       {std::string(), std::string(256, 'n'), std::string("a/b"), std::string("tab\there"),
        std::string("nul\0", 4), std::string("del\x7f"), std::string("nel\xc2\x85"),
        std::string("ls\xe2\x80\xa8"), std::string("latin1\xe9"), std::string("\xc0\xaf")}) {
    TERN_EXPECT_ERROR(wait(this->dir().put_sieve_script(bob.id, bad, "keep;")),
                      ErrorCode::kInvalidInput);
  }
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"Zeta", "alpha", "work"}));
  const d::AccountId missing{999999};
  TERN_EXPECT_ERROR(wait(this->dir().put_sieve_script(missing, "x", "keep;")),
                    ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().sieve_scripts(missing)), ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().active_sieve_script(missing)), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, AtMostOneSieveScriptIsActive) {
  auto bob = this->make_account("bob");
  auto alice = this->make_account("alice");
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "a", "keep;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "b", "discard;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(alice.id, "a", "stop;")));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, "a")));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(alice.id, "a")));
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a*", "b"}));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, "b")));
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a", "b*"}));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, "b")));  // again: no change
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a", "b*"}));
  // Replacing the active script keeps it active.
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "b", "redirect \"x@example.org\";")));
  auto active = wait(this->dir().active_sieve_script(bob.id));
  ASSERT_TRUE(active) << active.error().message;
  ASSERT_TRUE(*active);
  EXPECT_EQ(**active, (d::SieveScript{"b", "redirect \"x@example.org\";", true}));
  // Another account's activation is its own.
  active = wait(this->dir().active_sieve_script(alice.id));
  ASSERT_TRUE(active && *active);
  EXPECT_EQ(**active, (d::SieveScript{"a", "stop;", true}));

  TERN_EXPECT_ERROR(wait(this->dir().activate_sieve_script(bob.id, "nope")), ErrorCode::kNotFound);
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a", "b*"}));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, std::nullopt)));
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a", "b"}));
  active = wait(this->dir().active_sieve_script(bob.id));
  ASSERT_TRUE(active);
  EXPECT_FALSE(*active);
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, std::nullopt)));
  EXPECT_EQ(this->sieve_names(alice.id), (std::vector<std::string>{"a*"}));
  TERN_EXPECT_ERROR(wait(this->dir().activate_sieve_script(d::AccountId{999999}, std::nullopt)),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, RenamedSieveScriptKeepsItsTextAndActiveState) {
  auto bob = this->make_account("bob");
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "a", "keep;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "b", "discard;")));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, "a")));
  TERN_ASSERT_OK(wait(this->dir().rename_sieve_script(bob.id, "a", "c")));
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"b", "c*"}));
  auto active = wait(this->dir().active_sieve_script(bob.id));
  ASSERT_TRUE(active && *active);
  EXPECT_EQ(**active, (d::SieveScript{"c", "keep;", true}));
  TERN_ASSERT_OK(wait(this->dir().rename_sieve_script(bob.id, "b", "a")));
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a", "c*"}));

  TERN_EXPECT_ERROR(wait(this->dir().rename_sieve_script(bob.id, "a", "c")),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->dir().rename_sieve_script(bob.id, "a", "a")),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->dir().rename_sieve_script(bob.id, "nope", "d")),
                    ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().rename_sieve_script(bob.id, "a", "x/y")),
                    ErrorCode::kInvalidInput);
  TERN_EXPECT_ERROR(wait(this->dir().rename_sieve_script(bob.id, "a", "")),
                    ErrorCode::kInvalidInput);
  TERN_EXPECT_ERROR(wait(this->dir().rename_sieve_script(d::AccountId{999999}, "a", "d")),
                    ErrorCode::kNotFound);
  auto listed = wait(this->dir().sieve_scripts(bob.id));
  ASSERT_TRUE(listed);
  EXPECT_EQ(*listed, (std::vector<d::SieveScript>{{"a", "discard;", false}, {"c", "keep;", true}}));
}

TYPED_TEST_P(StorageConformance, ActiveSieveScriptCannotBeRemoved) {
  auto bob = this->make_account("bob");
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "a", "keep;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "b", "discard;")));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, "a")));
  TERN_EXPECT_ERROR(wait(this->dir().remove_sieve_script(bob.id, "a")), ErrorCode::kConflict);
  TERN_ASSERT_OK(wait(this->dir().remove_sieve_script(bob.id, "b")));
  TERN_EXPECT_ERROR(wait(this->dir().remove_sieve_script(bob.id, "b")), ErrorCode::kNotFound);
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a*"}));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, std::nullopt)));
  TERN_ASSERT_OK(wait(this->dir().remove_sieve_script(bob.id, "a")));
  EXPECT_TRUE(this->sieve_names(bob.id).empty());
  // A name can be used again, starting inactive.
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "a", "stop;")));
  EXPECT_EQ(this->sieve_names(bob.id), (std::vector<std::string>{"a"}));
  TERN_EXPECT_ERROR(wait(this->dir().remove_sieve_script(d::AccountId{999999}, "a")),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, VacationRepliesAreTrackedPerKeyForThePeriod) {
  using std::chrono::hours;
  using std::chrono::seconds;
  auto bob = this->make_account("bob");
  auto alice = this->make_account("alice");
  const auto t0 = fixed_time();
  const seconds week{7 * 86400};
  auto note = [&](const d::Account& account, const std::string& key, SystemTime now,
                  seconds period) {
    auto noted = wait(this->dir().note_vacation_reply(account.id, key, now, period));
    EXPECT_TRUE(noted) << noted.error().message;
    return noted && *noted;
  };
  EXPECT_TRUE(note(bob, "k1", t0, week));
  EXPECT_FALSE(note(bob, "k1", t0 + hours(1), week));
  EXPECT_FALSE(note(bob, "k1", t0 + week - seconds(1), week));
  // Another key, and the same key for another account, are tracked apart.
  EXPECT_TRUE(note(bob, "k2", t0 + hours(1), week));
  EXPECT_TRUE(note(alice, "k1", t0 + hours(1), week));
  EXPECT_FALSE(note(alice, "k1", t0 + hours(2), week));
  // A period after the reply, one may be sent again; that one is recorded anew.
  EXPECT_TRUE(note(bob, "k1", t0 + week, week));
  EXPECT_FALSE(note(bob, "k1", t0 + week + seconds(1), week));
  EXPECT_FALSE(note(bob, "k2", t0 + week, week));
  EXPECT_TRUE(note(bob, "k2", t0 + week + hours(1), week));
  // Keys are bytes.
  const std::string binary("\0\xff\x01", 3);
  EXPECT_TRUE(note(bob, binary, t0, seconds(60)));
  EXPECT_FALSE(note(bob, binary, t0 + seconds(59), seconds(60)));
  EXPECT_TRUE(note(bob, std::string("\0\xff\x02", 3), t0 + seconds(59), seconds(60)));
  // A record is kept for its own period, whatever the periods of later calls.
  EXPECT_TRUE(note(alice, "long", t0, hours(24)));
  EXPECT_TRUE(note(alice, "short", t0 + hours(2), seconds(60)));
  EXPECT_FALSE(note(alice, "long", t0 + hours(3), hours(24)));
  TERN_EXPECT_ERROR(wait(this->dir().note_vacation_reply(d::AccountId{999999}, "k", t0, week)),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, ConcurrentVacationRepliesGetOneTrue) {
  constexpr int kThreads = 8;
  auto bob = this->make_account("bob");
  std::atomic<int> granted{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto noted = this->dir()
                       .note_vacation_reply(bob.id, "same", fixed_time() + std::chrono::seconds(t),
                                            std::chrono::seconds(3600))
                       .get();
      if (!noted) {
        ++failed;
      } else if (*noted) {
        ++granted;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(granted.load(), 1);
}

TYPED_TEST_P(StorageConformance, RemoveAccountRemovesSieveScriptsAndVacationReplies) {
  auto bob = this->make_account("bob");
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "a", "keep;")));
  TERN_ASSERT_OK(wait(this->dir().put_sieve_script(bob.id, "b", "discard;")));
  TERN_ASSERT_OK(wait(this->dir().activate_sieve_script(bob.id, "a")));
  auto noted =
      wait(this->dir().note_vacation_reply(bob.id, "k", fixed_time(), std::chrono::hours(24)));
  ASSERT_TRUE(noted && *noted);
  TERN_ASSERT_OK(wait(this->dir().remove_account(bob.address)));
  TERN_EXPECT_ERROR(wait(this->dir().sieve_scripts(bob.id)), ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->dir().active_sieve_script(bob.id)), ErrorCode::kNotFound);
  // The address starts afresh: no scripts, no replies remembered.
  auto again = this->make_account("bob");
  EXPECT_TRUE(this->sieve_names(again.id).empty());
  auto active = wait(this->dir().active_sieve_script(again.id));
  ASSERT_TRUE(active);
  EXPECT_FALSE(*active);
  noted = wait(this->dir().note_vacation_reply(again.id, "k", fixed_time() + std::chrono::hours(1),
                                               std::chrono::hours(24)));
  ASSERT_TRUE(noted) << noted.error().message;
  EXPECT_TRUE(*noted);
}

// ----- mailboxes

TYPED_TEST_P(StorageConformance, NewAccountHasASubscribedInbox) {
  auto bob = this->make_account("bob");
  auto boxes = wait(this->mail().mailboxes(bob.id));
  ASSERT_TRUE(boxes);
  ASSERT_EQ(boxes->size(), 1u);
  const auto& inbox = (*boxes)[0];
  EXPECT_EQ(inbox.name, "INBOX");
  EXPECT_EQ(inbox.account, bob.id);
  EXPECT_TRUE(inbox.subscribed);
  EXPECT_NE(d::value_of(inbox.uid_validity), 0u);
  EXPECT_EQ(inbox.uid_next, d::Uid{1});
}

TYPED_TEST_P(StorageConformance, MailboxesAreCreatedRenamedAndDeleted) {
  auto bob = this->make_account("bob");
  auto sent = wait(this->mail().create_mailbox(bob.id, "Sent", d::SpecialUse::kSent));
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->name, "Sent");
  EXPECT_EQ(sent->special_use, d::SpecialUse::kSent);
  EXPECT_FALSE(sent->subscribed);
  EXPECT_NE(d::value_of(sent->uid_validity), 0u);
  auto work = this->make_mailbox(bob.id, "Work");
  auto child = this->make_mailbox(bob.id, "Work/2024");
  TERN_EXPECT_ERROR(wait(this->mail().create_mailbox(bob.id, "Work", d::SpecialUse::kNone)),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->mail().create_mailbox(bob.id, "", d::SpecialUse::kNone)),
                    ErrorCode::kInvalidInput);
  TERN_EXPECT_ERROR(
      wait(this->mail().create_mailbox(d::AccountId{999999}, "X", d::SpecialUse::kNone)),
      ErrorCode::kNotFound);

  auto boxes = wait(this->mail().mailboxes(bob.id));
  ASSERT_TRUE(boxes);
  std::vector<std::string> names;
  for (const auto& box : *boxes) {
    names.push_back(box.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"INBOX", "Sent", "Work", "Work/2024"}));

  auto renamed = wait(this->mail().rename_mailbox(bob.id, work.id, "Jobs"));
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_EQ(renamed->id, work.id);
  EXPECT_EQ(renamed->name, "Jobs");
  EXPECT_EQ(this->reload(child).name, "Jobs/2024");  // children follow
  TERN_EXPECT_ERROR(wait(this->mail().rename_mailbox(bob.id, sent->id, "Jobs")),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->mail().rename_mailbox(bob.id, d::MailboxId{999999}, "Y")),
                    ErrorCode::kNotFound);

  TERN_ASSERT_OK(wait(this->mail().set_subscribed(bob.id, sent->id, true)));
  EXPECT_TRUE(this->reload(*sent).subscribed);
  TERN_ASSERT_OK(wait(this->mail().set_subscribed(bob.id, sent->id, false)));
  EXPECT_FALSE(this->reload(*sent).subscribed);

  TERN_ASSERT_OK(wait(this->mail().delete_mailbox(bob.id, sent->id)));
  TERN_EXPECT_ERROR(wait(this->mail().delete_mailbox(bob.id, sent->id)), ErrorCode::kNotFound);
  boxes = wait(this->mail().mailboxes(bob.id));
  ASSERT_TRUE(boxes);
  EXPECT_EQ(boxes->size(), 3u);
}

TYPED_TEST_P(StorageConformance, InboxIsSpecial) {
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  TERN_EXPECT_ERROR(wait(this->mail().create_mailbox(bob.id, "inbox", d::SpecialUse::kNone)),
                    ErrorCode::kAlreadyExists);
  TERN_EXPECT_ERROR(wait(this->mail().delete_mailbox(bob.id, inbox.id)), ErrorCode::kInvalidInput);
  TERN_EXPECT_ERROR(wait(this->mail().rename_mailbox(bob.id, inbox.id, "Old")),
                    ErrorCode::kInvalidInput);
}

TYPED_TEST_P(StorageConformance, MailboxesOfAnotherAccountAreNotFound) {
  auto bob = this->make_account("bob");
  auto eve = this->make_account("eve");
  auto bob_inbox = this->inbox(bob.id);
  auto appended = this->append_one(bob, bob_inbox, "secret");
  TERN_EXPECT_ERROR(wait(this->mail().entries(eve.id, bob_inbox.id, d::Uid{1}, d::Uid{10})),
                    ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->mail().read_message(eve.id, appended.message)),
                    ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->mail().expunge(eve.id, bob_inbox.id, {appended.uid})),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, UidValidityChangesWhenANameIsReused) {
  auto bob = this->make_account("bob");
  auto first = this->make_mailbox(bob.id, "Box");
  TERN_ASSERT_OK(wait(this->mail().delete_mailbox(bob.id, first.id)));
  auto second = this->make_mailbox(bob.id, "Box");
  EXPECT_NE(first.id, second.id);
  EXPECT_NE(first.uid_validity, second.uid_validity);
}

// ----- append, UIDs, modseqs

TYPED_TEST_P(StorageConformance, AppendToSeveralTargetsStoresOneBlob) {
  auto bob = this->make_account("bob");
  auto alice = this->make_account("alice");
  auto bob_inbox = this->inbox(bob.id);
  auto bob_archive = this->make_mailbox(bob.id, "Archive");
  auto alice_inbox = this->inbox(alice.id);
  auto message = make_message("multi");
  const std::string raw = message.raw;
  auto result = wait(this->mail().append(
      message, {d::AppendTarget{bob.id, bob_inbox.id, d::kFlagSeen, {"$Label1"}},
                d::AppendTarget{bob.id, bob_archive.id, 0, {}},
                d::AppendTarget{alice.id, alice_inbox.id, 0, {}}}));
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->size(), 3u);
  for (const auto& r : *result) {
    ASSERT_TRUE(r) << r.error().message;
  }
  EXPECT_EQ((*result)[0]->mailbox, bob_inbox.id);
  EXPECT_EQ((*result)[0]->uid, d::Uid{1});
  EXPECT_EQ((*result)[1]->mailbox, bob_archive.id);
  // One account's copies are one message; another account gets its own.
  EXPECT_EQ((*result)[0]->message, (*result)[1]->message);
  EXPECT_NE((*result)[0]->message, (*result)[2]->message);

  auto bob_entries = this->all_entries(bob_inbox);
  auto alice_entries = this->all_entries(alice_inbox);
  ASSERT_EQ(bob_entries.size(), 1u);
  ASSERT_EQ(alice_entries.size(), 1u);
  EXPECT_EQ(bob_entries[0].blob, alice_entries[0].blob);
  EXPECT_EQ(bob_entries[0].size, raw.size());
  EXPECT_EQ(bob_entries[0].flags, d::kFlagSeen);
  EXPECT_EQ(bob_entries[0].keywords, std::vector<std::string>{"$Label1"});
  EXPECT_EQ(bob_entries[0].internal_date, fixed_time());
  EXPECT_EQ(bob_entries[0].modseq, (*result)[0]->modseq);
  // The entry names the bytes by their SHA-256; they are read through the message
  // (BlobStore::get need not know a message's bytes, ports.hpp).
  EXPECT_EQ(bob_entries[0].blob.hex, d::sha256_hex(raw));
  auto bob_read = wait(this->mail().read_message(bob.id, (*result)[0]->message));
  ASSERT_TRUE(bob_read);
  EXPECT_EQ(*bob_read, raw);

  auto read = wait(this->mail().read_message(alice.id, (*result)[2]->message));
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, raw);
  auto facts = wait(this->mail().message_facts(bob.id, (*result)[0]->message));
  ASSERT_TRUE(facts);
  EXPECT_EQ(*facts, "facts:multi");
  TERN_EXPECT_ERROR(wait(this->mail().read_message(bob.id, d::MessageId{999999})),
                    ErrorCode::kNotFound);
}

// message_summaries(): the parts of a readable facts record, apart, in one call;
// unreadable facts bytes come back whole for the caller to fall back.
TYPED_TEST_P(StorageConformance, MessageSummariesReturnTheAskedPartsInTheOrderGiven) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  const std::string raw =
      "From: Zoe <zoe@example.org>\r\nTo: bob@example.com\r\nSubject: Zebra crossing\r\n"
      "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nA quokka smiles.\r\n";
  const mime::facts::Facts facts = mime::facts::compute_facts(raw);
  d::NewMessage message{raw, fixed_time(), mime::facts::encode_facts(facts)};
  auto appended = wait(this->mail().append(message, {d::AppendTarget{bob.id, box.id, 0, {}}}));
  ASSERT_TRUE(appended && (*appended)[0]);
  const d::Uid real = (*appended)[0]->uid;
  const d::Uid opaque = this->append_one(bob, box, "opaque").uid;  // facts "facts:opaque"

  const d::SummaryParts all =
      d::kSummaryEnvelope | d::kSummaryFacts | d::kSummarySearchHeaders | d::kSummarySearchText;
  auto got = wait(this->mail().message_summaries(bob.id, box.id, {opaque, d::Uid{999}, real}, all));
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 2u);  // UID 999 has no entry
  const d::MessageSummary& o = (*got)[0];
  const d::MessageSummary& r = (*got)[1];
  EXPECT_EQ(o.uid, opaque);
  EXPECT_FALSE(o.has_envelope);
  EXPECT_FALSE(o.has_search);
  EXPECT_EQ(o.facts, "facts:opaque");
  EXPECT_EQ(r.uid, real);
  EXPECT_EQ(r.message, (*appended)[0]->message);
  EXPECT_TRUE(r.has_envelope);
  EXPECT_TRUE(r.has_search);
  EXPECT_EQ(r.envelope, facts.envelope);
  EXPECT_EQ(r.search_headers, facts.search_headers);
  EXPECT_EQ(r.search_text, facts.search_text);
  EXPECT_NE(r.search_text.find("quokka"), std::string::npos);
  // The record comes without its search fields, here and from message_facts().
  auto record = mime::facts::decode_facts(r.facts);
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_EQ(record->bodystructure, facts.bodystructure);
  EXPECT_FALSE(record->has_search);
  auto stored = wait(this->mail().message_facts(bob.id, r.message));
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, r.facts);

  // Only the parts asked for; the facts of an unreadable record always.
  auto envelopes =
      wait(this->mail().message_summaries(bob.id, box.id, {real, opaque}, d::kSummaryEnvelope));
  ASSERT_TRUE(envelopes);
  ASSERT_EQ(envelopes->size(), 2u);
  EXPECT_EQ((*envelopes)[0].uid, real);
  EXPECT_EQ((*envelopes)[0].envelope, facts.envelope);
  EXPECT_TRUE((*envelopes)[0].facts.empty());
  EXPECT_TRUE((*envelopes)[0].search_text.empty());
  EXPECT_TRUE((*envelopes)[0].search_headers.empty());
  EXPECT_EQ((*envelopes)[1].facts, "facts:opaque");
  auto headers =
      wait(this->mail().message_summaries(bob.id, box.id, {real}, d::kSummarySearchHeaders));
  ASSERT_TRUE(headers);
  ASSERT_EQ(headers->size(), 1u);
  EXPECT_TRUE((*headers)[0].has_search);
  EXPECT_NE((*headers)[0].search_headers.find("subject:zebra crossing"), std::string::npos);
  EXPECT_TRUE((*headers)[0].envelope.empty());
  EXPECT_TRUE((*headers)[0].search_text.empty());
  auto record_only = wait(this->mail().message_summaries(bob.id, box.id, {real}, d::kSummaryFacts));
  ASSERT_TRUE(record_only);
  ASSERT_EQ(record_only->size(), 1u);
  EXPECT_TRUE((*record_only)[0].has_envelope);
  EXPECT_EQ((*record_only)[0].facts, r.facts);
}

// An entry's save date (RFC 8514) is when it was saved in its mailbox: at the
// append, and again at a copy or move, whatever the message's internal date.
TYPED_TEST_P(StorageConformance, EntriesKeepTheTimeTheyWereSaved) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto work = this->make_mailbox(bob.id, "Work");
  auto archive = this->make_mailbox(bob.id, "Archive");
  const auto before =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const d::Uid uid = this->append_one(bob, box, "saved").uid;
  const d::Uid other = this->append_one(bob, box, "moved").uid;
  TERN_ASSERT_OK(wait(this->mail().copy(bob.id, box.id, {uid}, work.id)));
  TERN_ASSERT_OK(wait(this->mail().move(bob.id, box.id, {other}, archive.id)));
  const auto after = std::chrono::system_clock::now() + std::chrono::seconds(1);
  std::size_t seen = 0;
  for (const auto& mailbox : {box, work, archive}) {
    for (const auto& e : this->all_entries(mailbox)) {
      EXPECT_GE(e.save_date, before) << mailbox.name;
      EXPECT_LE(e.save_date, after) << mailbox.name;
      EXPECT_EQ(e.internal_date, fixed_time());
      ++seen;
    }
  }
  EXPECT_EQ(seen, 3u);
}

// The order keys (SORT, THREAD) come with the envelope's row: stored for a record
// that has them, absent for one written before them (the caller derives them).
TYPED_TEST_P(StorageConformance, MessageSummariesCarryTheOrderKeysOfRecordsThatHaveThem) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  const std::string raw =
      "Subject: Re: keys\r\nMessage-ID: <k@x>\r\nReferences: <r@x>\r\n\r\nbody\r\n";
  mime::facts::Facts facts = mime::facts::compute_facts(raw);
  ASSERT_TRUE(facts.has_order);
  auto append = [&](std::string record) {
    d::NewMessage m{raw, fixed_time(), std::move(record)};
    auto appended = wait(this->mail().append(m, {d::AppendTarget{bob.id, box.id, 0, {}}}));
    EXPECT_TRUE(appended && (*appended)[0]);
    return appended && (*appended)[0] ? (*appended)[0]->uid : d::Uid{0};
  };
  const d::Uid with_keys = append(mime::facts::encode_facts(facts));
  // The same record as version 2 wrote it: the version 3 layout without its last
  // string (the order keys).
  mime::facts::Facts before = facts;
  before.order.clear();
  std::string v2 = mime::facts::encode_facts(before);
  v2 = v2.substr(0, v2.size() - 4 - 1);
  v2[2] = 2;
  const d::Uid without_keys = append(mime::facts::seal_facts_record_for_test(v2));
  const d::Uid opaque = this->append_one(bob, box, "opaque").uid;

  auto got = wait(this->mail().message_summaries(bob.id, box.id, {with_keys, without_keys, opaque},
                                                 d::kSummaryOrder));
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 3u);
  EXPECT_TRUE((*got)[0].has_order);
  EXPECT_EQ((*got)[0].order, facts.order);
  EXPECT_TRUE((*got)[0].envelope.empty());  // not asked for
  EXPECT_FALSE((*got)[1].has_order);
  EXPECT_TRUE((*got)[1].has_envelope);
  EXPECT_FALSE((*got)[2].has_order);
  EXPECT_EQ((*got)[2].facts, "facts:opaque");
  // With the envelope, as SORT asks; not at all when not asked for.
  auto both = wait(this->mail().message_summaries(bob.id, box.id, {with_keys, without_keys},
                                                  d::kSummaryOrder | d::kSummaryEnvelope));
  ASSERT_TRUE(both);
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].order, facts.order);
  EXPECT_EQ((*both)[0].envelope, facts.envelope);
  EXPECT_EQ((*both)[1].envelope, facts.envelope);
  EXPECT_FALSE((*both)[1].has_order);
  auto envelopes =
      wait(this->mail().message_summaries(bob.id, box.id, {with_keys}, d::kSummaryEnvelope));
  ASSERT_TRUE(envelopes);
  ASSERT_EQ(envelopes->size(), 1u);
  EXPECT_FALSE((*envelopes)[0].has_order);
  EXPECT_TRUE((*envelopes)[0].order.empty());
}

TYPED_TEST_P(StorageConformance, MessageSummariesFollowExpungesCopiesAndOwnership) {
  auto bob = this->make_account("bob");
  auto eve = this->make_account("eve");
  auto box = this->inbox(bob.id);
  auto work = this->make_mailbox(bob.id, "Work");
  std::vector<d::Uid> uids;
  for (int i = 0; i < 3; ++i) {
    const std::string raw = "Subject: note " + std::to_string(i) + "\r\n\r\nbody\r\n";
    d::NewMessage m{raw, fixed_time(), mime::facts::encode_facts(mime::facts::compute_facts(raw))};
    auto appended = wait(this->mail().append(m, {d::AppendTarget{bob.id, box.id, 0, {}}}));
    ASSERT_TRUE(appended && (*appended)[0]);
    uids.push_back((*appended)[0]->uid);
  }
  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, box.id, {uids[1]})));
  auto copied = wait(this->mail().copy(bob.id, box.id, {uids[2]}, work.id));
  ASSERT_TRUE(copied && copied->size() == 1u);
  auto got = wait(this->mail().message_summaries(bob.id, box.id, uids, d::kSummarySearchHeaders));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].uid, uids[0]);
  EXPECT_NE((*got)[0].search_headers.find("subject:note 0"), std::string::npos);
  EXPECT_EQ((*got)[1].uid, uids[2]);
  // The copy is the same message, with the same parts.
  auto in_work = wait(this->mail().message_summaries(bob.id, work.id, {(*copied)[0].uid},
                                                     d::kSummarySearchHeaders));
  ASSERT_TRUE(in_work);
  ASSERT_EQ(in_work->size(), 1u);
  EXPECT_EQ((*in_work)[0].message, (*got)[1].message);
  EXPECT_EQ((*in_work)[0].search_headers, (*got)[1].search_headers);
  // Empty list, and another account's mailbox.
  auto none = wait(this->mail().message_summaries(bob.id, box.id, {}, d::kSummaryEnvelope));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  TERN_EXPECT_ERROR(wait(this->mail().message_summaries(eve.id, box.id, uids, d::kSummaryEnvelope)),
                    ErrorCode::kNotFound);
  // Once the last entry goes, so do the parts (the mailbox no longer names it).
  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, box.id, {uids[0], uids[2]})));
  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, work.id, {(*copied)[0].uid})));
  auto gone = wait(this->mail().message_summaries(bob.id, box.id, uids, d::kSummaryEnvelope));
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->empty());
}

TYPED_TEST_P(StorageConformance, SameBytesGiveTheSameBlobId) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  this->append_one(bob, box, "same");
  this->append_one(bob, box, "same");
  auto entries = this->all_entries(box);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].blob, entries[1].blob);
  EXPECT_NE(entries[0].message, entries[1].message);
  auto put = wait(this->blobs().put(make_raw_message("same")));
  ASSERT_TRUE(put);
  EXPECT_EQ(*put, entries[0].blob);
  // The id is the hex SHA-256 of the bytes.
  auto known = wait(this->blobs().put("abc"));
  ASSERT_TRUE(known);
  EXPECT_EQ(known->hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TYPED_TEST_P(StorageConformance, AppendToAMissingMailboxFailsOnlyThatTarget) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto result = wait(this->mail().append(make_message("partial"),
                                         {d::AppendTarget{bob.id, d::MailboxId{999999}, 0, {}},
                                          d::AppendTarget{bob.id, box.id, 0, {}}}));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->size(), 2u);
  ASSERT_FALSE((*result)[0]);
  EXPECT_EQ((*result)[0].error().code, ErrorCode::kNotFound);
  EXPECT_TRUE((*result)[1]);
  EXPECT_EQ(this->all_entries(box).size(), 1u);
}

TYPED_TEST_P(StorageConformance, UidsStrictlyIncreaseAndAreNeverReused) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  std::vector<d::Uid> uids;
  for (int i = 0; i < 5; ++i) {
    uids.push_back(this->append_one(bob, box, "m" + std::to_string(i)).uid);
  }
  for (std::size_t i = 1; i < uids.size(); ++i) {
    EXPECT_GT(d::value_of(uids[i]), d::value_of(uids[i - 1]));
  }
  auto expunged = wait(this->mail().expunge(bob.id, box.id, {uids[3], uids[4]}));
  ASSERT_TRUE(expunged);
  auto next = this->append_one(bob, box, "after");
  EXPECT_GT(d::value_of(next.uid), d::value_of(uids[4]));
  EXPECT_EQ(d::value_of(this->reload(box).uid_next), d::value_of(next.uid) + 1);
  auto range = wait(this->mail().entries(bob.id, box.id, uids[1], uids[3]));
  ASSERT_TRUE(range);
  ASSERT_EQ(range->size(), 2u);  // uids[3] is gone
  EXPECT_EQ((*range)[0].uid, uids[1]);
  EXPECT_EQ((*range)[1].uid, uids[2]);
  TERN_EXPECT_ERROR(wait(this->mail().entries(bob.id, d::MailboxId{999999}, d::Uid{1}, d::Uid{9})),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, ModSeqStrictlyIncreasesAcrossMailboxesOfAnAccount) {
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto other = this->make_mailbox(bob.id, "Other");
  std::uint64_t last = d::value_of(this->reload(other).highest_modseq);
  for (int i = 0; i < 6; ++i) {
    const auto& box = i % 2 == 0 ? inbox : other;
    auto appended = this->append_one(bob, box, "m" + std::to_string(i));
    EXPECT_GT(d::value_of(appended.modseq), last);
    last = d::value_of(appended.modseq);
    EXPECT_EQ(this->reload(box).highest_modseq, appended.modseq);
  }
  auto flags = wait(this->mail().change_flags(
      bob.id, inbox.id, {d::Uid{1}}, d::FlagChange{d::FlagOp::kAdd, d::kFlagSeen, {}, {}}));
  ASSERT_TRUE(flags);
  ASSERT_EQ(flags->changed.size(), 1u);
  EXPECT_GT(d::value_of(flags->changed[0].modseq), last);
  last = d::value_of(flags->changed[0].modseq);
  EXPECT_EQ(this->reload(inbox).highest_modseq, flags->changed[0].modseq);
  auto expunge = wait(this->mail().expunge(bob.id, other.id, {d::Uid{1}}));
  ASSERT_TRUE(expunge);
  EXPECT_GT(d::value_of(*expunge), last);
  EXPECT_EQ(this->reload(other).highest_modseq, *expunge);
  // An expunge of nothing changes nothing.
  auto nothing = wait(this->mail().expunge(bob.id, other.id, {d::Uid{77}}));
  ASSERT_TRUE(nothing);
  EXPECT_EQ(*nothing, *expunge);
}

// ----- flags

TYPED_TEST_P(StorageConformance, ChangeFlagsAddsRemovesAndReplaces) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto a = this->append_one(bob, box, "a", d::kFlagSeen, {"$Work"});
  auto b = this->append_one(bob, box, "b");
  auto added = wait(this->mail().change_flags(
      bob.id, box.id, {a.uid, b.uid, d::Uid{999}},
      d::FlagChange{d::FlagOp::kAdd, d::kFlagFlagged, {"$Important", "$Work"}, {}}));
  ASSERT_TRUE(added);
  ASSERT_EQ(added->changed.size(), 2u);
  EXPECT_TRUE(added->conflicts.empty());
  auto entries = this->all_entries(box);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].flags, d::kFlagSeen | d::kFlagFlagged);
  EXPECT_EQ(entries[0].keywords, (std::vector<std::string>{"$Important", "$Work"}));
  EXPECT_EQ(entries[1].flags, d::kFlagFlagged);
  EXPECT_EQ(entries[1].keywords, (std::vector<std::string>{"$Important", "$Work"}));

  auto removed = wait(this->mail().change_flags(
      bob.id, box.id, {a.uid}, d::FlagChange{d::FlagOp::kRemove, d::kFlagSeen, {"$Work"}, {}}));
  ASSERT_TRUE(removed);
  ASSERT_EQ(removed->changed.size(), 1u);
  EXPECT_EQ(removed->changed[0].flags, d::kFlagFlagged);
  EXPECT_EQ(removed->changed[0].keywords, std::vector<std::string>{"$Important"});

  auto replaced = wait(this->mail().change_flags(
      bob.id, box.id, {b.uid}, d::FlagChange{d::FlagOp::kReplace, d::kFlagAnswered, {"x"}, {}}));
  ASSERT_TRUE(replaced);
  entries = this->all_entries(box);
  EXPECT_EQ(entries[1].flags, d::kFlagAnswered);
  EXPECT_EQ(entries[1].keywords, std::vector<std::string>{"x"});
  EXPECT_EQ(entries[1].modseq, replaced->changed[0].modseq);
}

TYPED_TEST_P(StorageConformance, UnchangedFlagsKeepTheirModSeq) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto a = this->append_one(bob, box, "a", d::kFlagSeen, {"k"});
  auto before = this->reload(box).highest_modseq;
  auto result = wait(this->mail().change_flags(
      bob.id, box.id, {a.uid}, d::FlagChange{d::FlagOp::kAdd, d::kFlagSeen, {"k"}, {}}));
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->changed.empty());
  auto entries = this->all_entries(box);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].modseq, a.modseq);
  EXPECT_EQ(this->reload(box).highest_modseq, before);
}

TYPED_TEST_P(StorageConformance, UnchangedSinceReportsConflicts) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto a = this->append_one(bob, box, "a");
  auto b = this->append_one(bob, box, "b");
  // a.modseq < b.modseq: UNCHANGEDSINCE a.modseq lets a change and refuses b.
  auto result = wait(
      this->mail().change_flags(bob.id, box.id, {a.uid, b.uid},
                                d::FlagChange{d::FlagOp::kAdd, d::kFlagDeleted, {}, a.modseq}));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->changed.size(), 1u);
  EXPECT_EQ(result->changed[0].uid, a.uid);
  EXPECT_EQ(result->conflicts, std::vector<d::Uid>{b.uid});
  auto entries = this->all_entries(box);
  EXPECT_EQ(entries[1].flags, 0);
  EXPECT_EQ(entries[1].modseq, b.modseq);
}

// ----- copy, move, expunge, changes

TYPED_TEST_P(StorageConformance, CopyPreservesFlagsAndKeywords) {
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto archive = this->make_mailbox(bob.id, "Archive");
  auto a = this->append_one(bob, inbox, "a", d::kFlagSeen | d::kFlagAnswered, {"$Work"});
  auto b = this->append_one(bob, inbox, "b");
  auto copied = wait(this->mail().copy(bob.id, inbox.id, {b.uid, d::Uid{999}, a.uid}, archive.id));
  ASSERT_TRUE(copied) << copied.error().message;
  ASSERT_EQ(copied->size(), 2u);
  EXPECT_EQ((*copied)[0].mailbox, archive.id);
  EXPECT_EQ((*copied)[0].message, b.message);  // in the order of the request
  EXPECT_EQ((*copied)[1].message, a.message);
  EXPECT_LT(d::value_of((*copied)[0].uid), d::value_of((*copied)[1].uid));
  auto entries = this->all_entries(archive);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].flags, d::kFlagSeen | d::kFlagAnswered);
  EXPECT_EQ(entries[1].keywords, std::vector<std::string>{"$Work"});
  EXPECT_EQ(this->all_entries(inbox).size(), 2u);
  auto read = wait(this->mail().read_message(bob.id, (*copied)[1].message));
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, make_raw_message("a"));
  TERN_EXPECT_ERROR(wait(this->mail().copy(bob.id, inbox.id, {a.uid}, d::MailboxId{999999})),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, MovePreservesFlagsAndExpungesTheSource) {
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto trash = this->make_mailbox(bob.id, "Trash");
  auto a = this->append_one(bob, inbox, "a", d::kFlagFlagged, {"k1", "k2"});
  auto moved = wait(this->mail().move(bob.id, inbox.id, {a.uid}, trash.id));
  ASSERT_TRUE(moved) << moved.error().message;
  ASSERT_EQ(moved->size(), 1u);
  EXPECT_TRUE(this->all_entries(inbox).empty());
  auto entries = this->all_entries(trash);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].flags, d::kFlagFlagged);
  EXPECT_EQ(entries[0].keywords, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(entries[0].message, a.message);
  auto changes = wait(this->mail().changes_since(bob.id, inbox.id, a.modseq));
  ASSERT_TRUE(changes);
  EXPECT_EQ(changes->vanished, std::vector<d::Uid>{a.uid});
  auto read = wait(this->mail().read_message(bob.id, a.message));
  ASSERT_TRUE(read);
  auto usage = wait(this->mail().usage(bob.id));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->messages, 1u);
}

// RFC 9051 §7.3.5: FLAGS lists the keywords defined in the mailbox. Every way a
// keyword reaches an entry defines it in that mailbox only; removing it from every
// message, or expunging them, leaves it defined (as in Dovecot).
TYPED_TEST_P(StorageConformance, MailboxKeywordsGrowWithAppendStoreCopyAndMove) {
  using Words = std::vector<std::string>;
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto work = this->make_mailbox(bob.id, "Work");
  auto other = this->make_mailbox(bob.id, "Other");
  EXPECT_TRUE(inbox.keywords.empty());
  EXPECT_TRUE(work.keywords.empty());

  auto a = this->append_one(bob, inbox, "a", 0, {"$Work", "$Junk"});
  auto b = this->append_one(bob, inbox, "b");
  EXPECT_EQ(this->reload(inbox).keywords, (Words{"$Junk", "$Work"}));
  EXPECT_TRUE(this->reload(work).keywords.empty());

  d::FlagChange add{d::FlagOp::kAdd, d::kFlagSeen, {"zeta", "$Work", "alpha"}, std::nullopt};
  TERN_ASSERT_OK(wait(this->mail().change_flags(bob.id, inbox.id, {b.uid}, add)));
  EXPECT_EQ(this->reload(inbox).keywords, (Words{"$Junk", "$Work", "alpha", "zeta"}));

  // Replacing and removing never undefine.
  d::FlagChange replace{d::FlagOp::kReplace, 0, {"beta"}, std::nullopt};
  TERN_ASSERT_OK(wait(this->mail().change_flags(bob.id, inbox.id, {a.uid, b.uid}, replace)));
  d::FlagChange remove{d::FlagOp::kRemove, 0, {"beta", "gamma"}, std::nullopt};
  TERN_ASSERT_OK(wait(this->mail().change_flags(bob.id, inbox.id, {a.uid, b.uid}, remove)));
  EXPECT_EQ(this->reload(inbox).keywords, (Words{"$Junk", "$Work", "alpha", "beta", "zeta"}));

  // A change that touches no entry (unknown UID) defines nothing.
  d::FlagChange stray{d::FlagOp::kAdd, 0, {"stray"}, std::nullopt};
  TERN_ASSERT_OK(wait(this->mail().change_flags(bob.id, inbox.id, {d::Uid{999}}, stray)));
  EXPECT_EQ(this->reload(inbox).keywords.size(), 5u);

  auto c = this->append_one(bob, inbox, "c", 0, {"moved"});
  TERN_ASSERT_OK(wait(this->mail().change_flags(
      bob.id, inbox.id, {a.uid}, d::FlagChange{d::FlagOp::kAdd, 0, {"copied"}, std::nullopt})));
  TERN_ASSERT_OK(wait(this->mail().copy(bob.id, inbox.id, {a.uid}, work.id)));
  TERN_ASSERT_OK(wait(this->mail().move(bob.id, inbox.id, {c.uid}, other.id)));
  EXPECT_EQ(this->reload(work).keywords, Words{"copied"});
  EXPECT_EQ(this->reload(other).keywords, Words{"moved"});

  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, work.id, {d::Uid{1}})));
  EXPECT_EQ(this->reload(work).keywords, Words{"copied"});

  // rename_mailbox() returns the mailbox with its keywords.
  auto renamed = wait(this->mail().rename_mailbox(bob.id, work.id, "Job"));
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_EQ(renamed->keywords, Words{"copied"});

  // A new mailbox under an old name starts with none.
  TERN_ASSERT_OK(wait(this->mail().delete_mailbox(bob.id, other.id)));
  EXPECT_TRUE(this->make_mailbox(bob.id, "Other").keywords.empty());
}

// Keywords are atoms, compared without case (RFC 9051 §9 note 1, as Dovecot):
// another spelling names the defined keyword, which keeps its first spelling on
// entries and in the mailbox.
TYPED_TEST_P(StorageConformance, KeywordsAreOneWhateverTheirCase) {
  using Words = std::vector<std::string>;
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto work = this->make_mailbox(bob.id, "Work");
  auto a = this->append_one(bob, inbox, "a", 0, {"Project-X", "$Junk"});
  auto b = this->append_one(bob, inbox, "b", 0, {"project-x", "zed", "Alpha"});
  auto entries = this->all_entries(inbox);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].keywords, (Words{"$Junk", "Project-X"}));
  EXPECT_EQ(entries[1].keywords, (Words{"Alpha", "Project-X", "zed"}));
  EXPECT_EQ(this->reload(inbox).keywords, (Words{"$Junk", "Alpha", "Project-X", "zed"}));

  d::FlagChange add{d::FlagOp::kAdd, 0, {"$JUNK", "ZED"}, std::nullopt};
  TERN_ASSERT_OK(wait(this->mail().change_flags(bob.id, inbox.id, {a.uid, b.uid}, add)));
  entries = this->all_entries(inbox);
  EXPECT_EQ(entries[0].keywords, (Words{"$Junk", "Project-X", "zed"}));
  EXPECT_EQ(entries[1].keywords, (Words{"$Junk", "Alpha", "Project-X", "zed"}));
  EXPECT_EQ(this->reload(inbox).keywords, (Words{"$Junk", "Alpha", "Project-X", "zed"}));

  d::FlagChange remove{d::FlagOp::kRemove, 0, {"PROJECT-X"}, std::nullopt};
  TERN_ASSERT_OK(wait(this->mail().change_flags(bob.id, inbox.id, {a.uid, b.uid}, remove)));
  entries = this->all_entries(inbox);
  EXPECT_EQ(entries[0].keywords, (Words{"$Junk", "zed"}));
  EXPECT_EQ(entries[1].keywords, (Words{"$Junk", "Alpha", "zed"}));

  // A copy takes the spellings the destination defines.
  auto c = this->append_one(bob, work, "c", 0, {"ALPHA"});
  (void)c;
  TERN_ASSERT_OK(wait(this->mail().copy(bob.id, inbox.id, {b.uid}, work.id)));
  auto copied = this->all_entries(work);
  ASSERT_EQ(copied.size(), 2u);
  EXPECT_EQ(copied[1].keywords, (Words{"$Junk", "ALPHA", "zed"}));
  EXPECT_EQ(this->reload(work).keywords, (Words{"$Junk", "ALPHA", "zed"}));
}

// Greylisting: a first attempt is deferred, a retry after the delay passes, the
// records are the triplet's (another sender or recipient is a first attempt),
// a client network whose triplets passed often passes at once, and purging
// forgets by last attempt.
TYPED_TEST_P(StorageConformance, GreylistDefersFirstAttemptsAndPassesRetries) {
  d::GreylistPolicy policy;  // 300 s delay
  policy.auto_allow_after = 3;
  d::GreylistTriplet t{"192.0.2", "a@remote.example", "bob@example.com"};
  auto first = wait(this->greylist().check_greylist(t, policy, 1000));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, (d::GreylistVerdict{false, 300}));
  EXPECT_EQ(*wait(this->greylist().check_greylist(t, policy, 1100)),
            (d::GreylistVerdict{false, 200}));
  EXPECT_EQ(*wait(this->greylist().check_greylist(t, policy, 1300)), (d::GreylistVerdict{true, 0}));
  EXPECT_TRUE(wait(this->greylist().check_greylist(t, policy, 90000))->pass);

  auto other = t;
  other.recipient = "carol@example.com";
  EXPECT_FALSE(wait(this->greylist().check_greylist(other, policy, 1300))->pass);
  other.recipient = "dave@example.com";
  EXPECT_FALSE(wait(this->greylist().check_greylist(other, policy, 1300))->pass);
  EXPECT_TRUE(wait(this->greylist().check_greylist(other, policy, 1700))->pass);
  other.recipient = "erin@example.com";
  EXPECT_FALSE(wait(this->greylist().check_greylist(other, policy, 1700))->pass);
  EXPECT_TRUE(wait(this->greylist().check_greylist(other, policy, 2100))->pass);
  // Three passed triplets from 192.0.2: its next new one passes at once.
  other.recipient = "frank@example.com";
  EXPECT_TRUE(wait(this->greylist().check_greylist(other, policy, 2100))->pass);
  other.client = "198.51.100";
  EXPECT_FALSE(wait(this->greylist().check_greylist(other, policy, 2100))->pass);

  // Purge by last attempt: t was last seen at 90000, the others by 2100.
  auto purged = wait(this->greylist().purge_greylist(3000));
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 5u);
  EXPECT_TRUE(wait(this->greylist().check_greylist(t, policy, 90100))->pass);
  other.client = "192.0.2";
  other.recipient = "carol@example.com";
  policy.auto_allow_after = 0;
  EXPECT_FALSE(wait(this->greylist().check_greylist(other, policy, 90100))->pass);
}

TYPED_TEST_P(StorageConformance, ExpungeLeavesTombstonesReportedAsVanished) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto a = this->append_one(bob, box, "a");
  auto b = this->append_one(bob, box, "b");
  auto c = this->append_one(bob, box, "c");
  auto flagged = wait(this->mail().change_flags(
      bob.id, box.id, {a.uid}, d::FlagChange{d::FlagOp::kAdd, d::kFlagSeen, {}, {}}));
  ASSERT_TRUE(flagged);
  auto expunged = wait(this->mail().expunge(bob.id, box.id, {c.uid, b.uid}));
  ASSERT_TRUE(expunged);
  auto changes = wait(this->mail().changes_since(bob.id, box.id, a.modseq));
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->changed.size(), 1u);
  EXPECT_EQ(changes->changed[0].uid, a.uid);
  EXPECT_EQ(changes->changed[0].flags, d::kFlagSeen);
  EXPECT_EQ(changes->vanished, (std::vector<d::Uid>{b.uid, c.uid}));
  EXPECT_EQ(changes->highest, *expunged);
  auto later = wait(this->mail().changes_since(bob.id, box.id, *expunged));
  ASSERT_TRUE(later);
  EXPECT_TRUE(later->changed.empty());
  EXPECT_TRUE(later->vanished.empty());
  auto everything = wait(this->mail().changes_since(bob.id, box.id, d::ModSeq{0}));
  ASSERT_TRUE(everything);
  EXPECT_EQ(everything->changed.size(), 1u);
  EXPECT_EQ(everything->vanished.size(), 2u);
  TERN_EXPECT_ERROR(wait(this->mail().changes_since(bob.id, d::MailboxId{999999}, d::ModSeq{0})),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, AccountChangesSinceListsTheLogInOrder) {
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto start = this->reload(inbox).highest_modseq;
  auto box = this->make_mailbox(bob.id, "Box");
  auto a = this->append_one(bob, box, "a");
  auto flagged = wait(this->mail().change_flags(
      bob.id, box.id, {a.uid}, d::FlagChange{d::FlagOp::kAdd, d::kFlagSeen, {}, {}}));
  ASSERT_TRUE(flagged);
  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, box.id, {a.uid})));
  TERN_ASSERT_OK(wait(this->mail().rename_mailbox(bob.id, box.id, "Renamed")));
  TERN_ASSERT_OK(wait(this->mail().delete_mailbox(bob.id, box.id)));
  auto log = wait(this->mail().account_changes_since(bob.id, start));
  ASSERT_TRUE(log);
  std::vector<d::ChangeKind> kinds;
  for (std::size_t i = 0; i < log->size(); ++i) {
    kinds.push_back((*log)[i].kind);
    EXPECT_EQ((*log)[i].mailbox, box.id);
    if (i > 0) {
      EXPECT_GT(d::value_of((*log)[i].modseq), d::value_of((*log)[i - 1].modseq));
    }
  }
  EXPECT_EQ(kinds, (std::vector<d::ChangeKind>{
                       d::ChangeKind::kMailboxCreated, d::ChangeKind::kMessageAdded,
                       d::ChangeKind::kFlagsChanged, d::ChangeKind::kMessageExpunged,
                       d::ChangeKind::kMailboxRenamed, d::ChangeKind::kMailboxDeleted}));
  ASSERT_GE(log->size(), 4u);
  EXPECT_EQ((*log)[1].uid, a.uid);
  EXPECT_EQ((*log)[3].uid, a.uid);
  auto tail = wait(this->mail().account_changes_since(bob.id, (*log)[4].modseq));
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->size(), 1u);
}

// ----- quota and usage

TYPED_TEST_P(StorageConformance, AppendOverQuotaFailsOnlyThatTarget) {
  auto small = this->make_account("small", 1000);
  auto big = this->make_account("big");
  auto small_inbox = this->inbox(small.id);
  auto big_inbox = this->inbox(big.id);
  this->append_one(small, small_inbox, "fits");  // well under 1000 bytes
  auto result = wait(this->mail().append(make_message("large", 900),
                                         {d::AppendTarget{small.id, small_inbox.id, 0, {}},
                                          d::AppendTarget{big.id, big_inbox.id, 0, {}}}));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->size(), 2u);
  ASSERT_FALSE((*result)[0]);
  EXPECT_EQ((*result)[0].error().code, ErrorCode::kLimitExceeded);
  EXPECT_TRUE((*result)[1]);
  EXPECT_EQ(this->all_entries(small_inbox).size(), 1u);
  EXPECT_EQ(this->all_entries(big_inbox).size(), 1u);
}

TYPED_TEST_P(StorageConformance, UsageFollowsAppendCopyExpungeAndDelete) {
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto box = this->make_mailbox(bob.id, "Box");
  auto a = this->append_one(bob, inbox, "a");
  auto b = this->append_one(bob, inbox, "b");
  const std::uint64_t size_a = make_raw_message("a").size();
  const std::uint64_t size_b = make_raw_message("b").size();
  auto expect_usage = [&](std::uint64_t bytes, std::uint64_t messages) {
    auto usage = wait(this->mail().usage(bob.id));
    ASSERT_TRUE(usage);
    EXPECT_EQ(usage->bytes, bytes);
    EXPECT_EQ(usage->messages, messages);
    auto account = wait(this->dir().find_account_by_id(bob.id));
    ASSERT_TRUE(account && *account);
    EXPECT_EQ((*account)->used_bytes, bytes);
  };
  expect_usage(size_a + size_b, 2);
  TERN_ASSERT_OK(wait(this->mail().copy(bob.id, inbox.id, {a.uid, b.uid}, box.id)));
  expect_usage(2 * (size_a + size_b), 4);
  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, inbox.id, {a.uid})));
  expect_usage(size_a + 2 * size_b, 3);
  TERN_ASSERT_OK(wait(this->mail().delete_mailbox(bob.id, box.id)));
  expect_usage(size_b, 1);
  TERN_EXPECT_ERROR(wait(this->mail().usage(d::AccountId{999999})), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, CopyOverQuotaIsLimitExceeded) {
  const std::uint64_t size = make_raw_message("a").size();
  auto bob = this->make_account("bob", size + size / 2);
  auto inbox = this->inbox(bob.id);
  auto box = this->make_mailbox(bob.id, "Box");
  auto a = this->append_one(bob, inbox, "a");
  TERN_EXPECT_ERROR(wait(this->mail().copy(bob.id, inbox.id, {a.uid}, box.id)),
                    ErrorCode::kLimitExceeded);
  EXPECT_TRUE(this->all_entries(box).empty());
}

TYPED_TEST_P(StorageConformance, RemoveAccountCascades) {
  auto bob = this->make_account("bob");
  auto alice = this->make_account("alice");
  auto inbox = this->inbox(bob.id);
  auto box = this->make_mailbox(bob.id, "Box");
  auto a = this->append_one(bob, inbox, "only-bob");
  this->append_one(bob, box, "only-bob-2");
  auto shared = this->append_one(alice, this->inbox(alice.id), "only-bob");  // same bytes
  TERN_ASSERT_OK(wait(this->dir().remove_account(bob.address)));
  auto gone = wait(this->dir().find_account(bob.address));
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  TERN_EXPECT_ERROR(wait(this->mail().mailboxes(bob.id)), ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->mail().read_message(bob.id, a.message)), ErrorCode::kNotFound);
  auto collected = wait(this->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  // only-bob-2, unless its bytes went with its message (ports.hpp); only-bob is
  // still alice's.
  EXPECT_LE(*collected, 1u);
  auto read = wait(this->mail().read_message(alice.id, shared.message));
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, make_raw_message("only-bob"));
  // The address can be used again, starting afresh.
  auto again = this->make_account("bob");
  EXPECT_NE(again.id, bob.id);
  EXPECT_TRUE(this->all_entries(this->inbox(again.id)).empty());
}

// ----- blobs

TYPED_TEST_P(StorageConformance, BlobsArePutAndGot) {
  std::string bytes(100000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(i * 7);
  }
  auto id = wait(this->blobs().put(bytes));
  ASSERT_TRUE(id);
  auto again = wait(this->blobs().put(bytes));
  ASSERT_TRUE(again);
  EXPECT_EQ(*id, *again);
  auto got = wait(this->blobs().get(*id));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, bytes);
  auto empty = wait(this->blobs().put(""));
  ASSERT_TRUE(empty);
  auto got_empty = wait(this->blobs().get(*empty));
  ASSERT_TRUE(got_empty);
  EXPECT_TRUE(got_empty->empty());
  TERN_EXPECT_ERROR(wait(this->blobs().get(d::BlobId{std::string(64, 'a')})), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, CollectGarbageRemovesOnlyUnreferencedBlobs) {
  auto bob = this->make_account("bob");
  auto box = this->inbox(bob.id);
  auto loose = wait(this->blobs().put("nobody references me"));
  ASSERT_TRUE(loose);
  auto kept = this->append_one(bob, box, "kept");
  auto dropped = this->append_one(bob, box, "dropped");
  auto queued = wait(this->queue().enqueue(make_queued("queued", {"x@remote.org"}, fixed_time())));
  ASSERT_TRUE(queued);
  auto entries = this->all_entries(box);
  ASSERT_EQ(entries.size(), 2u);
  TERN_ASSERT_OK(wait(this->mail().expunge(bob.id, box.id, {dropped.uid})));
  auto collected = wait(this->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  // The loose blob, and the expunged message's bytes unless the backend dropped
  // them with the message already (ports.hpp).
  EXPECT_GE(*collected, 1u);
  EXPECT_LE(*collected, 2u);
  TERN_EXPECT_ERROR(wait(this->blobs().get(*loose)), ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->blobs().get(entries[1].blob)), ErrorCode::kNotFound);
  TERN_EXPECT_ERROR(wait(this->mail().read_message(bob.id, dropped.message)), ErrorCode::kNotFound);
  TERN_ASSERT_OK(wait(this->queue().read_queued(*queued)));
  auto read = wait(this->mail().read_message(bob.id, kept.message));
  ASSERT_TRUE(read);
  collected = wait(this->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 0u);
}

// ----- queue

TYPED_TEST_P(StorageConformance, QueueEnqueueAndClaimDue) {
  const auto now = fixed_time();
  auto first = wait(this->queue().enqueue(make_queued("q1", {"a@x.org", "b@y.org"}, now)));
  auto second = wait(this->queue().enqueue(make_queued("q2", {"c@z.org"}, now)));
  ASSERT_TRUE(first && second);
  EXPECT_NE(*first, *second);
  auto found = wait(this->queue().find_queued(*first));
  ASSERT_TRUE(found && *found);
  const auto& entry = **found;
  EXPECT_EQ(entry.sender, "sender@example.org");
  ASSERT_EQ(entry.recipients.size(), 2u);
  EXPECT_EQ(entry.recipients[1].address, "b@y.org");
  EXPECT_EQ(entry.recipients[1].state, d::RecipientState::kPending);
  EXPECT_EQ(entry.envid, "env-q1");
  EXPECT_EQ(entry.ret, "HDRS");
  EXPECT_EQ(entry.state, d::QueueState::kQueued);
  EXPECT_EQ(entry.created, now);
  EXPECT_EQ(entry.next_attempt, now);
  EXPECT_EQ(entry.size, make_raw_message("q1").size());
  auto bytes = wait(this->queue().read_queued(*first));
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, make_raw_message("q1"));

  auto claimed = wait(this->queue().claim_due(now, 1, std::chrono::seconds(60)));
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].state, d::QueueState::kActive);
  EXPECT_EQ((*claimed)[0].lease_until, now + std::chrono::seconds(60));
  auto rest = wait(this->queue().claim_due(now, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_NE((*rest)[0].id, (*claimed)[0].id);
  auto none =
      wait(this->queue().claim_due(now + std::chrono::seconds(30), 10, std::chrono::seconds(60)));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());  // leases still held
  auto all = wait(this->queue().queued());
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, *first);
  TERN_EXPECT_ERROR(wait(this->queue().read_queued(d::QueueId{999999})), ErrorCode::kNotFound);
  auto missing = wait(this->queue().find_queued(d::QueueId{999999}));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TYPED_TEST_P(StorageConformance, ExpiredLeaseIsReclaimable) {
  const auto now = fixed_time();
  auto id = wait(this->queue().enqueue(make_queued("q", {"a@x.org"}, now)));
  ASSERT_TRUE(id);
  auto claimed = wait(this->queue().claim_due(now, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  // The worker died; after the lease the entry is due again.
  auto early =
      wait(this->queue().claim_due(now + std::chrono::seconds(59), 10, std::chrono::seconds(60)));
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty());
  auto later = now + std::chrono::seconds(60);
  auto reclaimed = wait(this->queue().claim_due(later, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(reclaimed);
  ASSERT_EQ(reclaimed->size(), 1u);
  EXPECT_EQ((*reclaimed)[0].id, *id);
  EXPECT_EQ((*reclaimed)[0].lease_until, later + std::chrono::seconds(60));
}

TYPED_TEST_P(StorageConformance, HeldEntriesAreNeverClaimed) {
  const auto now = fixed_time();
  auto id = wait(this->queue().enqueue(make_queued("q", {"a@x.org"}, now)));
  ASSERT_TRUE(id);
  TERN_ASSERT_OK(wait(this->queue().set_held(*id, true, now)));
  auto found = wait(this->queue().find_queued(*id));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->state, d::QueueState::kHeld);
  auto claimed = wait(
      this->queue().claim_due(now + std::chrono::hours(24 * 365), 10, std::chrono::seconds(60)));
  ASSERT_TRUE(claimed);
  EXPECT_TRUE(claimed->empty());
  const auto release = now + std::chrono::hours(1);
  TERN_ASSERT_OK(wait(this->queue().set_held(*id, false, release)));
  found = wait(this->queue().find_queued(*id));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->state, d::QueueState::kQueued);
  EXPECT_EQ((*found)->next_attempt, release);
  claimed = wait(this->queue().claim_due(release, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->size(), 1u);
  TERN_EXPECT_ERROR(wait(this->queue().set_held(d::QueueId{999999}, true, now)),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, UpdateQueuedRecordsTheAttemptAndReleasesTheClaim) {
  const auto now = fixed_time();
  auto id = wait(this->queue().enqueue(make_queued("q", {"a@x.org", "b@y.org"}, now)));
  ASSERT_TRUE(id);
  auto claimed = wait(this->queue().claim_due(now, 10, std::chrono::seconds(600)));
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  d::QueueUpdate update;
  update.recipients = (*claimed)[0].recipients;
  update.recipients[0].state = d::RecipientState::kDelivered;
  update.recipients[0].last_reply = "250 ok";
  update.recipients[1].last_reply = "451 try later";
  update.next_attempt = now + std::chrono::minutes(5);
  update.attempts = 1;
  TERN_ASSERT_OK(wait(this->queue().update_queued(*id, update)));
  auto found = wait(this->queue().find_queued(*id));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->state, d::QueueState::kQueued);
  EXPECT_EQ((*found)->attempts, 1u);
  EXPECT_EQ((*found)->next_attempt, now + std::chrono::minutes(5));
  EXPECT_EQ((*found)->recipients[0].state, d::RecipientState::kDelivered);
  EXPECT_EQ((*found)->recipients[0].last_reply, "250 ok");
  EXPECT_EQ((*found)->recipients[1].last_reply, "451 try later");
  auto early =
      wait(this->queue().claim_due(now + std::chrono::minutes(4), 10, std::chrono::seconds(60)));
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty());
  auto due =
      wait(this->queue().claim_due(now + std::chrono::minutes(5), 10, std::chrono::seconds(60)));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->size(), 1u);
  TERN_EXPECT_ERROR(wait(this->queue().update_queued(d::QueueId{999999}, update)),
                    ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, RemoveQueuedReleasesTheBlob) {
  const auto now = fixed_time();
  auto id = wait(this->queue().enqueue(make_queued("q", {"a@x.org"}, now)));
  ASSERT_TRUE(id);
  auto found = wait(this->queue().find_queued(*id));
  ASSERT_TRUE(found && *found);
  TERN_ASSERT_OK(wait(this->queue().remove_queued(*id)));
  TERN_EXPECT_ERROR(wait(this->queue().remove_queued(*id)), ErrorCode::kNotFound);
  auto all = wait(this->queue().queued());
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  auto collected = wait(this->blobs().collect_garbage());
  ASSERT_TRUE(collected);
  EXPECT_EQ(*collected, 1u);
  TERN_EXPECT_ERROR(wait(this->blobs().get((*found)->blob)), ErrorCode::kNotFound);
}

TYPED_TEST_P(StorageConformance, QueueKeepsTheEnvelopeAndOutcomeDetails) {
  const auto now = fixed_time();
  auto message = make_queued("q", {"a@x.org"}, now);
  message.envelope.smtputf8 = true;
  message.envelope.body = d::BodyType::kBinaryMime;
  message.envelope.requiretls = true;
  message.envelope.submitter = "alice@example.org";
  auto id = wait(this->queue().enqueue(std::move(message)));
  ASSERT_TRUE(id);
  auto found = wait(this->queue().find_queued(*id));
  ASSERT_TRUE(found && *found);
  EXPECT_TRUE((*found)->envelope.smtputf8);
  EXPECT_EQ((*found)->envelope.body, d::BodyType::kBinaryMime);
  EXPECT_TRUE((*found)->envelope.requiretls);
  EXPECT_EQ((*found)->envelope.submitter, "alice@example.org");
  EXPECT_FALSE((*found)->delay_warned);

  auto claimed = wait(this->queue().claim_due(now, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_TRUE((*claimed)[0].envelope.requiretls);
  d::QueueUpdate update;
  update.recipients = (*claimed)[0].recipients;
  update.recipients[0].last_reply = "451 4.7.1 greylisted";
  update.recipients[0].status = "4.7.1";
  update.recipients[0].remote_host = "mx.x.org[192.0.2.1]";
  update.next_attempt = now + std::chrono::minutes(5);
  update.attempts = 1;
  update.delay_warned = true;
  TERN_ASSERT_OK(wait(this->queue().update_queued(*id, update)));
  found = wait(this->queue().find_queued(*id));
  ASSERT_TRUE(found && *found);
  EXPECT_TRUE((*found)->delay_warned);
  EXPECT_EQ((*found)->recipients[0].status, "4.7.1");
  EXPECT_EQ((*found)->recipients[0].remote_host, "mx.x.org[192.0.2.1]");
  EXPECT_EQ((*found)->envelope.submitter, "alice@example.org");
}

TYPED_TEST_P(StorageConformance, RescheduleMovesOnlyQueuedEntries) {
  const auto now = fixed_time();
  auto queued = wait(this->queue().enqueue(make_queued("q1", {"a@x.org"}, now)));
  auto held = wait(this->queue().enqueue(make_queued("q2", {"b@x.org"}, now)));
  ASSERT_TRUE(queued && held);
  TERN_ASSERT_OK(wait(this->queue().set_held(*held, true, now)));
  const auto later = now + std::chrono::hours(2);
  TERN_ASSERT_OK(wait(this->queue().reschedule(*queued, later)));
  TERN_ASSERT_OK(wait(this->queue().reschedule(*held, later)));
  auto found = wait(this->queue().find_queued(*queued));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->next_attempt, later);
  found = wait(this->queue().find_queued(*held));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->state, d::QueueState::kHeld);
  EXPECT_EQ((*found)->next_attempt, now);
  auto none =
      wait(this->queue().claim_due(later - std::chrono::seconds(1), 10, std::chrono::seconds(60)));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  // Back to "due now", as `tern queue flush` does.
  TERN_ASSERT_OK(wait(this->queue().reschedule(*queued, now)));
  auto due = wait(this->queue().claim_due(now, 10, std::chrono::seconds(60)));
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  // An active entry keeps its lease and schedule.
  TERN_ASSERT_OK(wait(this->queue().reschedule(*queued, later)));
  found = wait(this->queue().find_queued(*queued));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->state, d::QueueState::kActive);
  EXPECT_EQ((*found)->next_attempt, now);
  TERN_EXPECT_ERROR(wait(this->queue().reschedule(d::QueueId{999999}, now)), ErrorCode::kNotFound);
}

// ----- concurrency

TYPED_TEST_P(StorageConformance, ConcurrentAppendsAllSucceedWithUniqueUids) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  auto bob = this->make_account("bob");
  auto inbox = this->inbox(bob.id);
  auto other = this->make_mailbox(bob.id, "Other");
  std::vector<std::vector<d::Appended>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread keeps several appends in flight, as concurrent sessions would.
      std::vector<d::Async<std::vector<Result<d::Appended>>>> pending;
      for (int i = 0; i < kPerThread; ++i) {
        auto tag = "t" + std::to_string(t) + "-" + std::to_string(i);
        pending.push_back(this->mail().append(
            make_message(tag),
            {d::AppendTarget{bob.id, inbox.id, 0, {}}, d::AppendTarget{bob.id, other.id, 0, {}}}));
      }
      for (auto& future : pending) {
        auto result = future.get();
        if (result && result->size() == 2 && (*result)[0] && (*result)[1]) {
          results[static_cast<std::size_t>(t)].push_back(*(*result)[0]);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::set<std::uint32_t> uids;
  std::set<std::uint64_t> modseqs;
  for (const auto& per_thread : results) {
    EXPECT_EQ(per_thread.size(), static_cast<std::size_t>(kPerThread));
    for (std::size_t i = 0; i < per_thread.size(); ++i) {
      uids.insert(d::value_of(per_thread[i].uid));
      modseqs.insert(d::value_of(per_thread[i].modseq));
      if (i > 0) {  // one thread's appends complete in the order it issued them
        EXPECT_GT(d::value_of(per_thread[i].uid), d::value_of(per_thread[i - 1].uid));
      }
    }
  }
  EXPECT_EQ(uids.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(modseqs.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(this->all_entries(inbox).size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(this->all_entries(other).size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(d::value_of(this->reload(inbox).uid_next), kThreads * kPerThread + 1u);
}

REGISTER_TYPED_TEST_SUITE_P(
    StorageConformance, DomainsAreAddedListedSortedAndFound, DuplicateOrEmptyDomainIsRejected,
    RemoveDomainConflictsWhileAccountsOrAliasesExist, AccountsAreAddedFoundAndListed,
    AccountErrorsHaveTheirCodes, PasswordAndQuotaCanBeChanged, NewAccountsKeepTheirScramSecret,
    AliasesAreAddedListedAndRemoved, NewAccountHasASubscribedInbox,
    MailboxesAreCreatedRenamedAndDeleted, InboxIsSpecial, MailboxesOfAnotherAccountAreNotFound,
    UidValidityChangesWhenANameIsReused, AppendToSeveralTargetsStoresOneBlob,
    SameBytesGiveTheSameBlobId, AppendToAMissingMailboxFailsOnlyThatTarget,
    UidsStrictlyIncreaseAndAreNeverReused, ModSeqStrictlyIncreasesAcrossMailboxesOfAnAccount,
    ChangeFlagsAddsRemovesAndReplaces, UnchangedFlagsKeepTheirModSeq,
    UnchangedSinceReportsConflicts, CopyPreservesFlagsAndKeywords,
    MessageSummariesReturnTheAskedPartsInTheOrderGiven,
    MessageSummariesFollowExpungesCopiesAndOwnership,
    MessageSummariesCarryTheOrderKeysOfRecordsThatHaveThem, EntriesKeepTheTimeTheyWereSaved,
    MovePreservesFlagsAndExpungesTheSource, ExpungeLeavesTombstonesReportedAsVanished,
    AccountChangesSinceListsTheLogInOrder, AppendOverQuotaFailsOnlyThatTarget,
    UsageFollowsAppendCopyExpungeAndDelete, CopyOverQuotaIsLimitExceeded, RemoveAccountCascades,
    BlobsArePutAndGot, CollectGarbageRemovesOnlyUnreferencedBlobs, QueueEnqueueAndClaimDue,
    ExpiredLeaseIsReclaimable, HeldEntriesAreNeverClaimed,
    UpdateQueuedRecordsTheAttemptAndReleasesTheClaim, RemoveQueuedReleasesTheBlob,
    QueueKeepsTheEnvelopeAndOutcomeDetails, RescheduleMovesOnlyQueuedEntries,
    ConcurrentAppendsAllSucceedWithUniqueUids, MailboxKeywordsGrowWithAppendStoreCopyAndMove,
    KeywordsAreOneWhateverTheirCase, GreylistDefersFirstAttemptsAndPassesRetries,
    SieveScriptsArePutReplacedAndListedByName, AtMostOneSieveScriptIsActive,
    RenamedSieveScriptKeepsItsTextAndActiveState, ActiveSieveScriptCannotBeRemoved,
    VacationRepliesAreTrackedPerKeyForThePeriod, ConcurrentVacationRepliesGetOneTrue,
    RemoveAccountRemovesSieveScriptsAndVacationReplies);

#undef TERN_EXPECT_ERROR
#undef TERN_ASSERT_OK

}  // namespace tern::store::conformance
