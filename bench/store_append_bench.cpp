// SPDX-License-Identifier: Apache-2.0
// tern_store_bench: appends/s of 4 KiB messages into store::sqlite with 1, 10 and
// 50 concurrent writers, with and without group commit, next to the raw fsync rate
// of the same disk, and the CPU time (user+sys of the whole process) per append.
// Usage: tern_store_bench <scratch-dir> [seconds-per-case] [--writers=1,10,50]
//                         [--rounds=3] [--mode=both|on|off]
// The store runs exactly as ternd runs it (WAL, synchronous=FULL, blob fsyncs):
// nothing is relaxed for the benchmark, so the scratch dir must be on the disk
// whose behaviour is wanted (scripts/run-bench puts it under build/).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store/sqlite/sqlite_storage.hpp"

namespace {

namespace fs = std::filesystem;
namespace d = tern::domain;
using Clock = std::chrono::steady_clock;

// User+sys CPU seconds of this process (all threads: writers, store threads).
double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// User+sys CPU seconds of the store's writer thread (named "tern-sqlite-w" by
// SqliteStorage): the serial part of every append, which bounds the appends/s
// whatever the number of cores.
double writer_cpu_seconds() {
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "tern-sqlite-w") {
      continue;
    }
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) {
        utime = std::atof(field.c_str());
      } else if (i == 15) {
        stime = std::atof(field.c_str());
      }
    }
    return (utime + stime) / tick;
  }
  return 0;
}

// "vda (ext4, write cache: write back)": which block device answers the syncs,
// and whether it has a volatile cache that lets it acknowledge them early.
std::string describe_disk(const fs::path& dir) {
  struct stat st {};

  if (::stat(dir.c_str(), &st) != 0) {
    return "unknown disk";
  }
  std::string majmin = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  std::string device = majmin;
  std::string fs_type = "?";
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    // id parent major:minor root mountpoint options ... - fstype source superopts
    std::istringstream fields(line);
    std::string id, parent, mm;
    fields >> id >> parent >> mm;
    if (mm != majmin) {
      continue;
    }
    auto dash = line.find(" - ");
    if (dash != std::string::npos) {
      std::istringstream tail(line.substr(dash + 3));
      std::string source;
      tail >> fs_type >> source;
      device = fs::path(source).filename().string();
    }
    break;
  }
  std::string cache = "?";
  std::ifstream wc("/sys/block/" + device + "/queue/write_cache");
  if (wc) {
    std::getline(wc, cache);
  }
  return device + " (" + fs_type + ", write cache: " + cache + ")";
}

struct FsyncProbe {
  double per_second = 0;
  double cpu_us_per_sync = 0;  // what one sync costs this process in the kernel
};

// write(4 KiB) + fsync of one file in a loop: the ceiling for one-sync-per-message.
FsyncProbe fsync_rate(const fs::path& dir, double seconds) {
  auto path = dir / "fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror("open");
    std::exit(1);
  }
  std::string block(4096, 'x');
  std::uint64_t count = 0;
  const double cpu_before = process_cpu_seconds();
  auto start = Clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::pwrite(fd, block.data(), block.size(), 0) < 0 || ::fsync(fd) != 0) {
      std::perror("fsync");
      std::exit(1);
    }
    ++count;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = process_cpu_seconds() - cpu_before;
  ::close(fd);
  fs::remove(path);
  FsyncProbe probe;
  probe.per_second = static_cast<double>(count) / elapsed;
  probe.cpu_us_per_sync = count == 0 ? 0 : cpu * 1e6 / static_cast<double>(count);
  return probe;
}

struct CaseResult {
  double appends_per_second = 0;
  double cpu_us_per_append = 0;
  double writer_us_per_append = 0;
  double requests_per_batch = 0;
};

CaseResult run_case(const fs::path& dir, bool group_commit, int writers, double seconds,
                    std::size_t message_size) {
  fs::remove_all(dir);
  tern::store::sqlite::SqliteOptions options;
  options.group_commit = group_commit;
  auto opened = tern::store::sqlite::SqliteStorage::open(dir, options);
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
    std::exit(1);
  }
  auto& store = **opened;
  (void)store.directory().add_domain("example.com").get();
  auto account = store.directory().add_account({"bench@example.com", "h", 0}).get();
  auto boxes = store.mail().mailboxes(account->id).get();
  const d::AccountId account_id = account->id;
  const d::MailboxId inbox = (*boxes)[0].id;

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::vector<std::thread> threads;
  const auto before = store.stats();
  const double cpu_before = process_cpu_seconds();
  const double writer_before = writer_cpu_seconds();
  auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      // Each writer is one delivery session: one append in flight at a time.
      std::string body(message_size, 'a');
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto header = "Subject: w" + std::to_string(w) + " m" + std::to_string(i) + "\r\n\r\n";
        std::string raw = header + body.substr(std::min(header.size(), body.size()));
        auto result = store.mail()
                          .append(d::NewMessage{std::move(raw), {}, {}},
                                  {d::AppendTarget{account_id, inbox, 0, {}}})
                          .get();
        if (result && (*result)[0]) {
          done.fetch_add(1, std::memory_order_relaxed);
        } else {
          failed.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& thread : threads) {
    thread.join();
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = process_cpu_seconds() - cpu_before;
  const double writer = writer_cpu_seconds() - writer_before;
  const auto after = store.stats();
  store.close();
  if (failed > 0) {
    std::fprintf(stderr, "%llu appends failed\n", static_cast<unsigned long long>(failed.load()));
    std::exit(1);
  }
  CaseResult result;
  result.appends_per_second = static_cast<double>(done.load()) / elapsed;
  result.cpu_us_per_append = done.load() == 0 ? 0 : cpu * 1e6 / static_cast<double>(done.load());
  result.writer_us_per_append =
      done.load() == 0 ? 0 : writer * 1e6 / static_cast<double>(done.load());
  auto batches = after.batches - before.batches;
  result.requests_per_batch =
      batches == 0 ? 0 : static_cast<double>(after.requests - before.requests) / batches;
  fs::remove_all(dir);
  return result;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Args {
  fs::path scratch;
  double seconds = 5.0;
  std::vector<int> writers{1, 10, 50};
  int rounds = 3;
  std::size_t message_size = 4096;
  bool run_single = true;
  bool run_group = true;
};

bool parse_args(int argc, char** argv, Args& args) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--writers=", 0) == 0) {
      args.writers.clear();
      std::istringstream list(arg.substr(10));
      for (std::string item; std::getline(list, item, ',');) {
        args.writers.push_back(std::atoi(item.c_str()));
      }
    } else if (arg.rfind("--rounds=", 0) == 0) {
      args.rounds = std::max(1, std::atoi(arg.c_str() + 9));
    } else if (arg.rfind("--size=", 0) == 0) {
      args.message_size = static_cast<std::size_t>(std::atol(arg.c_str() + 7));
    } else if (arg == "--mode=on") {
      args.run_single = false;
    } else if (arg == "--mode=off") {
      args.run_group = false;
    } else if (arg == "--mode=both") {
    } else if (arg.rfind("--", 0) == 0) {
      return false;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || positional.size() > 2) {
    return false;
  }
  args.scratch = positional[0];
  if (positional.size() == 2) {
    args.seconds = std::atof(positional[1].c_str());
  }
  return args.seconds > 0 && !args.writers.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: %s <scratch-dir> [seconds-per-case] [--writers=1,10,50] [--rounds=3] "
                 "[--mode=both|on|off] [--size=4096]\n",
                 argv[0]);
    return 2;
  }
  fs::create_directories(args.scratch);
  std::printf("disk: %s; store: WAL, synchronous=FULL, as in ternd\n",
              describe_disk(args.scratch).c_str());

  // The disk's fsync latency drifts (a shared VM's disk swung from 268 to 10,500
  // syncs/s within minutes), so the two modes are measured in alternation, with
  // the raw fsync rate probed beside every round, and the medians are compared: a
  // drift then hits both modes alike.
  const double round_seconds = args.seconds / args.rounds;
  std::printf(
      "| writers | group commit | appends/s (median of %d) | CPU µs/append | writer thread "
      "µs/append | requests/batch | raw fsync/s during the rounds | vs one-sync-per-message |\n",
      args.rounds);
  std::printf("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::vector<double> all_fsync_rates, all_fsync_cpu;
  for (int writers : args.writers) {
    std::vector<double> single_rates, single_cpu, single_writer, group_rates, group_cpu,
        group_writer, batch_sizes, fsync_rates;
    for (int round = 0; round < args.rounds; ++round) {
      auto probe = fsync_rate(args.scratch, round_seconds / 4);
      fsync_rates.push_back(probe.per_second);
      all_fsync_rates.push_back(probe.per_second);
      all_fsync_cpu.push_back(probe.cpu_us_per_sync);
      if (args.run_single) {
        auto single =
            run_case(args.scratch / "store", false, writers, round_seconds, args.message_size);
        single_rates.push_back(single.appends_per_second);
        single_cpu.push_back(single.cpu_us_per_append);
        single_writer.push_back(single.writer_us_per_append);
      }
      if (args.run_group) {
        auto group =
            run_case(args.scratch / "store", true, writers, round_seconds, args.message_size);
        group_rates.push_back(group.appends_per_second);
        group_cpu.push_back(group.cpu_us_per_append);
        group_writer.push_back(group.writer_us_per_append);
        batch_sizes.push_back(group.requests_per_batch);
      }
    }
    std::sort(fsync_rates.begin(), fsync_rates.end());
    char fsyncs[64];
    std::snprintf(fsyncs, sizeof fsyncs, "%.0f–%.0f", fsync_rates.front(), fsync_rates.back());
    const double single = median(single_rates);
    const double group = median(group_rates);
    if (args.run_single) {
      std::printf("| %d | off | %.0f | %.0f | %.0f | 1.0 | %s | 1.0x |\n", writers, single,
                  median(single_cpu), median(single_writer), fsyncs);
    }
    if (args.run_group) {
      char ratio[32] = "";
      if (args.run_single && single > 0) {
        std::snprintf(ratio, sizeof ratio, "%.1fx", group / single);
      }
      std::printf("| %d | on | %.0f | %.0f | %.0f | %.1f | %s | %s |\n", writers, group,
                  median(group_cpu), median(group_writer), median(batch_sizes),
                  args.run_single ? "" : fsyncs, ratio);
    }
    std::fflush(stdout);
  }
  // The arithmetic of bench/README.md: one-sync-per-message pays a sync's latency
  // and CPU per append, group commit pays them once per batch.
  const double rate = median(all_fsync_rates);
  std::printf("raw fsync probe: median %.0f syncs/s (%.3f ms per sync), %.0f µs CPU per sync\n",
              rate, rate > 0 ? 1000.0 / rate : 0.0, median(all_fsync_cpu));
  fs::remove_all(args.scratch);
  return 0;
}
