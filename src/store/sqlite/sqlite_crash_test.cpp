// SPDX-License-Identifier: Apache-2.0
// kill -9 during concurrent appends loses nothing that was acknowledged
// (ARCHITECTURE.md §4 "Durability"): a child process appends from several threads
// and reports each append on a pipe only after its future succeeded; the parent
// kills it at a random moment, reopens the store and checks every report.
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/conformance/conformance_support.hpp"
#include "store/sqlite/sqlite_storage.hpp"

namespace tern::store::sqlite {
namespace {

namespace fs = std::filesystem;
using conformance::wait;

constexpr int kRounds = 5;
constexpr int kThreads = 4;

// One acknowledged append, as the child reports it. Fixed size and smaller than
// PIPE_BUF, so concurrent write()s from the child's threads never interleave.
struct Ack {
  std::uint32_t uid;
  std::int64_t message;
  char sha256[64];
};

std::string sha256_hex(const std::string& bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

// The child: appends until killed. Never returns.
[[noreturn]] void run_child(const fs::path& dir, int round, domain::AccountId account,
                            domain::MailboxId inbox, int pipe_fd) {
  // Every other round puts every small message in segment files (ADR 0020),
  // which roll over every 256 KiB, so that kills land mid-segment and mid-roll.
  SqliteOptions options;
  if (round % 2 == 0) {
    options.segment_min_queue = 0;
    options.segment_bytes = 256 * 1024;
  }
  auto store = SqliteStorage::open(dir, options);
  if (!store) {
    ::_exit(2);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        auto tag = "r" + std::to_string(round) + "-t" + std::to_string(t) + "-" + std::to_string(i);
        // Every fifth message is above SqliteOptions::inline_blob_max_bytes, so both
        // blob placements (database and file) are killed mid-write.
        const std::size_t size = i % 5 == 4 ? 80 * 1024 + static_cast<std::size_t>(i % 3) * 1024
                                            : 512 + static_cast<std::size_t>(i % 7) * 1024;
        auto message = conformance::make_message(tag, size);
        auto hash = sha256_hex(message.raw);
        auto result = (*store)->mail().append(std::move(message), {{account, inbox, 0, {}}}).get();
        if (!result || !(*result)[0]) {
          ::_exit(3);
        }
        Ack ack{};
        ack.uid = domain::value_of((*result)[0]->uid);
        ack.message = domain::value_of((*result)[0]->message);
        std::memcpy(ack.sha256, hash.data(), sizeof ack.sha256);
        if (::write(pipe_fd, &ack, sizeof ack) != static_cast<ssize_t>(sizeof ack)) {
          ::_exit(4);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  ::_exit(0);
}

// Reads whole Ack records from `fd` until `deadline` (or EOF when deadline is
// not set).
void read_acks(int fd, std::vector<Ack>& acks, std::string& partial,
               std::optional<std::chrono::steady_clock::time_point> deadline) {
  char buffer[4096];
  while (true) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      *deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        return;
      }
      timeout_ms = static_cast<int>(left);
    }
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) {
      continue;
    }
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) {
      return;  // EOF: the child is gone
    }
    partial.append(buffer, static_cast<std::size_t>(n));
    while (partial.size() >= sizeof(Ack)) {
      Ack ack{};
      std::memcpy(&ack, partial.data(), sizeof ack);
      acks.push_back(ack);
      partial.erase(0, sizeof ack);
    }
  }
}

TEST(SqliteCrash, AcknowledgedAppendsSurviveKill9) {
  const fs::path dir = fs::temp_directory_path() / ("tern-crash-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  domain::AccountId account{};
  domain::MailboxId inbox{};
  {
    auto store = SqliteStorage::open(dir);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(wait((*store)->directory().add_domain("example.com")));
    auto bob = wait((*store)->directory().add_account({"bob@example.com", "h", 0}));
    ASSERT_TRUE(bob);
    account = bob->id;
    auto boxes = wait((*store)->mail().mailboxes(account));
    ASSERT_TRUE(boxes && !boxes->empty());
    inbox = (*boxes)[0].id;
  }

  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(50, 500);
  std::vector<Ack> all_acks;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      run_child(dir, round, account, inbox, fds[1]);
    }
    ::close(fds[1]);
    std::vector<Ack> acks;
    std::string partial;
    const int delay = delay_ms(random);
    read_acks(fds[0], acks, partial,
              std::chrono::steady_clock::now() + std::chrono::milliseconds(delay));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    // The child must have died from our signal, not from an error of its own.
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    read_acks(fds[0], acks, partial, std::nullopt);  // what it wrote before dying
    ::close(fds[0]);
    all_acks.insert(all_acks.end(), acks.begin(), acks.end());

    auto store = SqliteStorage::open(dir);
    ASSERT_TRUE(store) << store.error().message;
    for (const auto& ack : acks) {
      const std::string hash(ack.sha256, sizeof ack.sha256);
      auto bytes = wait((*store)->mail().read_message(account, domain::MessageId{ack.message}));
      ASSERT_TRUE(bytes) << "round " << round << " lost message " << ack.message << ": "
                         << bytes.error().message;
      EXPECT_EQ(sha256_hex(*bytes), hash);
      auto entries = wait(
          (*store)->mail().entries(account, inbox, domain::Uid{ack.uid}, domain::Uid{ack.uid}));
      ASSERT_TRUE(entries);
      ASSERT_EQ(entries->size(), 1u) << "round " << round << " lost uid " << ack.uid;
      EXPECT_EQ((*entries)[0].message, domain::MessageId{ack.message});
      EXPECT_EQ((*entries)[0].blob.hex, hash);
    }
    auto check = (*store)->integrity_check();
    ASSERT_TRUE(check) << check.error().message;
    EXPECT_EQ(*check, "ok");
    auto missing = (*store)->missing_blobs();
    ASSERT_TRUE(missing);
    EXPECT_TRUE(missing->empty()) << missing->size() << " referenced blobs are missing";
    EXPECT_TRUE(fs::is_empty(dir / "blobs" / "tmp"));  // open() removed stale temps
    std::cerr << "round " << round << ": killed after " << delay << " ms, " << acks.size()
              << " acknowledged appends verified\n";
  }
  EXPECT_GT(all_acks.size(), 0u);

  // The kills left dead spans and segments that no process appends to any more:
  // garbage collection reclaims them, and every acknowledged message survives it.
  {
    auto store = SqliteStorage::open(dir);
    ASSERT_TRUE(store) << store.error().message;
    auto collected = wait((*store)->blobs().collect_garbage());
    ASSERT_TRUE(collected) << collected.error().message;
    for (const auto& ack : all_acks) {
      auto bytes = wait((*store)->mail().read_message(account, domain::MessageId{ack.message}));
      ASSERT_TRUE(bytes) << "lost message " << ack.message
                         << " to garbage collection: " << bytes.error().message;
      EXPECT_EQ(sha256_hex(*bytes), std::string(ack.sha256, sizeof ack.sha256));
    }
    auto missing = (*store)->missing_blobs();
    ASSERT_TRUE(missing);
    EXPECT_TRUE(missing->empty());
  }
  auto c = Connection::open(dir / "tern.db", false);
  ASSERT_TRUE(c);
  auto in_segments = (*c)->scalar("SELECT count(*) FROM message_bytes WHERE segment IS NOT NULL");
  ASSERT_TRUE(in_segments && *in_segments);
  EXPECT_GT(**in_segments, 0) << "no append went to a segment: that path was not killed";
  c->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tern::store::sqlite
