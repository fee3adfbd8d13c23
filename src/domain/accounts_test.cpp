// SPDX-License-Identifier: Apache-2.0
#include "domain/accounts.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/memory/memory_storage.hpp"

namespace tern::domain {
namespace {

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(directory().add_domain("example.org").get());
    ASSERT_TRUE(directory().add_domain("example.net").get());
  }

  Directory& directory() { return storage_.directory(); }

  AccountId add_account(const std::string& address) {
    auto account = provision_account(storage_, NewAccount{address, "{PLAIN}x", 0});
    EXPECT_TRUE(account) << account.error().message;
    return account ? account->id : AccountId{};
  }

  void add_alias(const std::string& source, const std::string& destination) {
    auto added = directory().add_alias(Alias{source, destination}).get();
    ASSERT_TRUE(added) << added.error().message;
  }

  Resolution resolve(std::string_view address, std::string_view separator = "+") {
    auto result = resolve_recipient(directory(), address, separator);
    EXPECT_TRUE(result) << address << ": " << result.error().message;
    return result ? *result : Resolution{};
  }

  ErrorCode resolve_error(std::string_view address, std::string_view separator = "+") {
    auto result = resolve_recipient(directory(), address, separator);
    EXPECT_FALSE(result) << address;
    return result ? ErrorCode::kInternal : result.error().code;
  }

  static std::vector<AccountId> ids(const Resolution& r) {
    std::vector<AccountId> out;
    for (const auto& local : r.accounts) {
      out.push_back(local.account);
    }
    return out;
  }

  store::memory::MemoryStorage storage_;
};

TEST_F(AccountsTest, ProvisionCreatesDefaultMailboxesSubscribed) {
  auto account = provision_account(storage_, NewAccount{" Alice@Example.ORG ", "hash", 1000});
  ASSERT_TRUE(account) << account.error().message;
  EXPECT_EQ(account->address, "alice@example.org");
  EXPECT_EQ(account->password_hash, "hash");
  EXPECT_EQ(account->quota_bytes, 1000u);
  auto mailboxes = storage_.mail().mailboxes(account->id).get();
  ASSERT_TRUE(mailboxes);
  ASSERT_EQ(mailboxes->size(), kDefaultMailboxes.size());
  for (const auto& wanted : kDefaultMailboxes) {
    auto found = std::find_if(mailboxes->begin(), mailboxes->end(),
                              [&](const Mailbox& m) { return m.name == wanted.name; });
    ASSERT_NE(found, mailboxes->end()) << wanted.name;
    EXPECT_EQ(found->special_use, wanted.special_use) << wanted.name;
    EXPECT_TRUE(found->subscribed) << wanted.name;
  }
}

TEST_F(AccountsTest, ProvisionRejectsBadAddressUnknownDomainAndDuplicates) {
  auto bad = provision_account(storage_, NewAccount{"not an address", "h", 0});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidInput);
  auto foreign = provision_account(storage_, NewAccount{"bob@elsewhere.test", "h", 0});
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ErrorCode::kNotFound);
  add_account("carol@example.org");
  auto again = provision_account(storage_, NewAccount{"Carol@example.org", "h", 0});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(AccountsTest, ResolvesExactAccount) {
  AccountId alice = add_account("alice@example.org");
  Resolution r = resolve("Alice@EXAMPLE.org");
  EXPECT_EQ(r.kind, RecipientKind::kLocal);
  EXPECT_EQ(r.address, "alice@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.accounts[0].detail, "");
  EXPECT_TRUE(r.external.empty());
}

TEST_F(AccountsTest, UnknownLocalUserIsNotFound) {
  add_account("alice@example.org");
  EXPECT_EQ(resolve_error("bob@example.org"), ErrorCode::kNotFound);
}

TEST_F(AccountsTest, ForeignDomainIsNotLocal) {
  Resolution r = resolve("someone@gmail.test");
  EXPECT_EQ(r.kind, RecipientKind::kNotLocal);
  EXPECT_EQ(r.address, "someone@gmail.test");
  EXPECT_TRUE(r.accounts.empty());
  EXPECT_TRUE(r.external.empty());
}

TEST_F(AccountsTest, MalformedAddressIsInvalidInput) {
  EXPECT_EQ(resolve_error("no-at-sign"), ErrorCode::kInvalidInput);
}

TEST_F(AccountsTest, AliasWithSeveralDestinationsLocalAndExternal) {
  AccountId alice = add_account("alice@example.org");
  AccountId bob = add_account("bob@example.net");
  add_alias("team@example.org", "alice@example.org");
  add_alias("team@example.org", "bob@example.net");
  add_alias("team@example.org", "partner@remote.test");
  Resolution r = resolve("team@example.org");
  EXPECT_EQ(ids(r), (std::vector<AccountId>{alice, bob}));
  EXPECT_EQ(r.external, std::vector<std::string>{"partner@remote.test"});
}

TEST_F(AccountsTest, AliasTakesPrecedenceOverAccountAndSelfReferenceKeepsCopy) {
  AccountId alice = add_account("alice@example.org");
  add_alias("alice@example.org", "alice@example.org");
  add_alias("alice@example.org", "alice@remote.test");
  Resolution r = resolve("alice@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.external, std::vector<std::string>{"alice@remote.test"});
  EXPECT_TRUE(r.unresolved.empty());
}

TEST_F(AccountsTest, PureForwardDeliversNothingLocally) {
  add_account("alice@example.org");
  add_alias("alice@example.org", "alice@remote.test");
  Resolution r = resolve("alice@example.org");
  EXPECT_TRUE(r.accounts.empty());
  EXPECT_EQ(r.external, std::vector<std::string>{"alice@remote.test"});
}

TEST_F(AccountsTest, ExpandsRecursivelyAndDeduplicates) {
  AccountId alice = add_account("alice@example.org");
  AccountId bob = add_account("bob@example.org");
  add_alias("all@example.org", "sales@example.org");
  add_alias("all@example.org", "support@example.org");
  add_alias("sales@example.org", "alice@example.org");
  add_alias("sales@example.org", "bob@example.org");
  add_alias("support@example.org", "bob@example.org");
  add_alias("support@example.org", "ext@remote.test");
  add_alias("sales@example.org", "ext@remote.test");
  Resolution r = resolve("all@example.org");
  EXPECT_EQ(ids(r), (std::vector<AccountId>{alice, bob}));
  EXPECT_EQ(r.external, std::vector<std::string>{"ext@remote.test"});
}

TEST_F(AccountsTest, LoopIsSkippedNotFatal) {
  AccountId alice = add_account("alice@example.org");
  add_alias("a@example.org", "b@example.org");
  add_alias("b@example.org", "a@example.org");
  add_alias("b@example.org", "alice@example.org");
  Resolution r = resolve("a@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.unresolved, std::vector<std::string>{"a@example.org"});
}

TEST_F(AccountsTest, PureLoopIsNotFound) {
  add_alias("a@example.org", "b@example.org");
  add_alias("b@example.org", "a@example.org");
  EXPECT_EQ(resolve_error("a@example.org"), ErrorCode::kNotFound);
}

TEST_F(AccountsTest, DepthLimitIsTen) {
  AccountId alice = add_account("alice@example.org");
  // l0 -> l1 -> ... -> l9 -> alice: ten alias levels resolve.
  for (int i = 0; i < kMaxAliasDepth - 1; ++i) {
    add_alias("l" + std::to_string(i) + "@example.org",
              "l" + std::to_string(i + 1) + "@example.org");
  }
  add_alias("l" + std::to_string(kMaxAliasDepth - 1) + "@example.org", "alice@example.org");
  EXPECT_EQ(ids(resolve("l0@example.org")), std::vector<AccountId>{alice});
  // One more level is refused.
  add_alias("top@example.org", "l0@example.org");
  EXPECT_EQ(resolve_error("top@example.org"), ErrorCode::kLimitExceeded);
}

TEST_F(AccountsTest, DanglingDestinationIsReportedButOthersDeliver) {
  AccountId alice = add_account("alice@example.org");
  add_alias("team@example.org", "alice@example.org");
  add_alias("team@example.org", "gone@example.org");
  Resolution r = resolve("team@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.unresolved, std::vector<std::string>{"gone@example.org"});
}

TEST_F(AccountsTest, SubaddressResolvesToAccountKeepingTag) {
  AccountId alice = add_account("alice@example.org");
  Resolution r = resolve("alice+lists@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.accounts[0].address, "alice@example.org");
  EXPECT_EQ(r.accounts[0].detail, "lists");
  // The tag keeps everything after the first separator.
  EXPECT_EQ(resolve("alice+a+b@example.org").accounts[0].detail, "a+b");
  // An empty tag is still a sub-address.
  EXPECT_EQ(resolve("alice+@example.org").accounts[0].detail, "");
}

TEST_F(AccountsTest, SubaddressingCanBeDisabledOrUseOtherSeparators) {
  add_account("alice@example.org");
  EXPECT_EQ(resolve_error("alice+lists@example.org", ""), ErrorCode::kNotFound);
  Resolution r = resolve("alice-lists@example.org", "+-");
  ASSERT_EQ(r.accounts.size(), 1u);
  EXPECT_EQ(r.accounts[0].detail, "lists");
}

TEST_F(AccountsTest, ExactMatchBeatsSubaddress) {
  add_account("alice@example.org");
  AccountId special = add_account("alice+special@example.org");
  Resolution r = resolve("alice+special@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{special});
  EXPECT_EQ(r.accounts[0].detail, "");
}

TEST_F(AccountsTest, SubaddressOfAliasPropagatesTag) {
  AccountId alice = add_account("alice@example.org");
  add_alias("sales@example.org", "alice@example.org");
  add_alias("sales@example.org", "boss@remote.test");
  Resolution r = resolve("sales+eu@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.accounts[0].detail, "eu");
  EXPECT_EQ(r.external, std::vector<std::string>{"boss@remote.test"});
}

TEST_F(AccountsTest, DestinationOwnTagWinsOverInherited) {
  AccountId alice = add_account("alice@example.org");
  add_alias("sales@example.org", "alice+sales@example.org");
  Resolution r = resolve("sales@example.org");
  EXPECT_EQ(ids(r), std::vector<AccountId>{alice});
  EXPECT_EQ(r.accounts[0].detail, "sales");
}

TEST_F(AccountsTest, CatchAllOnlyWhenNothingElseMatches) {
  AccountId alice = add_account("alice@example.org");
  AccountId postmaster = add_account("postmaster@example.org");
  add_alias("@example.org", "postmaster@example.org");
  EXPECT_EQ(ids(resolve("alice@example.org")), std::vector<AccountId>{alice});
  EXPECT_EQ(ids(resolve("alice+tag@example.org")), std::vector<AccountId>{alice});
  EXPECT_EQ(ids(resolve("nobody@example.org")), std::vector<AccountId>{postmaster});
  // The catch-all is per domain.
  EXPECT_EQ(resolve_error("nobody@example.net"), ErrorCode::kNotFound);
}

TEST_F(AccountsTest, CatchAllToRemoteAddress) {
  add_alias("@example.net", "archive@remote.test");
  Resolution r = resolve("anyone@example.net");
  EXPECT_TRUE(r.accounts.empty());
  EXPECT_EQ(r.external, std::vector<std::string>{"archive@remote.test"});
}

TEST(CheckQuota, UnlimitedWhenZero) {
  Account account;
  account.used_bytes = 1'000'000;
  EXPECT_TRUE(check_quota(account, 1'000'000'000));
}

TEST(CheckQuota, RefusesWhatWouldExceed) {
  Account account;
  account.address = "a@b.org";
  account.quota_bytes = 1000;
  account.used_bytes = 900;
  EXPECT_TRUE(check_quota(account, 100));
  auto over = check_quota(account, 101);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kLimitExceeded);
  EXPECT_FALSE(check_quota(account, UINT64_MAX));  // no overflow
  account.used_bytes = 2000;                       // already over (quota lowered)
  EXPECT_FALSE(check_quota(account, 0));
}

}  // namespace
}  // namespace tern::domain
