// SPDX-License-Identifier: Apache-2.0
// tern_postgres_bench: durable appends/s of 4 KiB messages into store::postgres —
// the workload of bench/store_append_bench.cpp (one account, one INBOX, each
// writer one delivery session with one append in flight) — with 1, 10 and 50
// writers, append batching on (one transaction per batch) and off (one per
// append), on one node or split over two nodes (two stores on one schema). CPU is
// reported for the client process and for the PostgreSQL server (every process
// of the postmaster that serves the benchmark), per append.
// Usage: tern_postgres_bench <conninfo> [seconds-per-case] [--writers=1,10,50]
//                            [--rounds=3]
// The server runs as configured (synchronous_commit as set there; tern relies on
// the default, on): a committed append is durable.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "store/postgres/connection.hpp"
#include "store/postgres/postgres_storage.hpp"

namespace {

namespace fs = std::filesystem;
namespace d = tern::domain;
namespace pg = tern::store::postgres;
using Clock = std::chrono::steady_clock;

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Fields of /proc/<pid>/stat after the command name: {ppid, utime+stime ticks}.
std::pair<long, double> proc_stat(const fs::path& stat_path) {
  std::ifstream stat(stat_path);
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) {
    return {0, 0};
  }
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  long ppid = 0;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 4) {
      ppid = std::atol(field.c_str());
    } else if (i == 14 || i == 15) {
      ticks += std::atof(field.c_str());
    }
  }
  return {ppid, ticks};
}

// User+sys CPU seconds of the postmaster `postmaster` and all its children alive
// now (backends, WAL writer, checkpointer).
double server_cpu_seconds(long postmaster) {
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    auto [ppid, ticks] = proc_stat(entry.path() / "stat");
    if (std::atol(name.c_str()) == postmaster || ppid == postmaster) {
      total += ticks;
    }
  }
  return total / tick;
}

long postmaster_of(pg::Connection& c) {
  auto pid = c.query("SELECT pg_backend_pid()");
  if (!pid) {
    return 0;
  }
  return proc_stat(fs::path("/proc") / std::to_string(pid->int64(0, 0)) / "stat").first;
}

struct CaseResult {
  double appends_per_second = 0;
  double client_us = 0;  // client CPU µs per append
  double server_us = 0;  // server CPU µs per append
  double per_transaction = 0;
};

CaseResult run_case(const std::string& conninfo, bool batching, int nodes, int writers,
                    double seconds) {
  static int counter = 0;
  const std::string schema =
      "tern_bench_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  std::vector<std::unique_ptr<pg::PostgresStorage>> stores;
  for (int n = 0; n < nodes; ++n) {
    pg::PostgresOptions options;
    options.conninfo = conninfo;
    options.schema = schema;
    options.max_append_batch = batching ? 64 : 1;
    auto opened = pg::PostgresStorage::open(options);
    if (!opened) {
      std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
      std::exit(1);
    }
    stores.push_back(std::move(*opened));
  }
  auto& first = *stores[0];
  (void)first.directory().add_domain("example.com").get();
  auto account = first.directory().add_account({"bench@example.com", "h", 0}).get();
  auto boxes = first.mail().mailboxes(account->id).get();
  const d::AccountId account_id = account->id;
  const d::MailboxId inbox = (*boxes)[0].id;
  auto probe = pg::Connection::open(conninfo, schema);
  const long postmaster = probe ? postmaster_of(**probe) : 0;

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::vector<pg::PostgresStats> before;
  for (auto& store : stores) {
    before.push_back(store->stats());
  }
  const double cpu_before = process_cpu_seconds();
  const double server_before = server_cpu_seconds(postmaster);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& store = *stores[static_cast<std::size_t>(w % nodes)];
      std::string body(4096, 'a');
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto header = "Subject: w" + std::to_string(w) + " m" + std::to_string(i) + "\r\n\r\n";
        std::string raw = header + body.substr(header.size());
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
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = process_cpu_seconds() - cpu_before;
  const double server = server_cpu_seconds(postmaster) - server_before;
  std::uint64_t transactions = 0;
  for (std::size_t n = 0; n < stores.size(); ++n) {
    transactions += stores[n]->stats().transactions - before[n].transactions;
  }
  stores.clear();
  if (probe) {
    (void)(*probe)->script("DROP SCHEMA " + (*probe)->quote_identifier(schema) + " CASCADE");
  }
  if (failed > 0) {
    std::fprintf(stderr, "%llu appends failed\n", static_cast<unsigned long long>(failed.load()));
    std::exit(1);
  }
  const double n = static_cast<double>(done.load());
  CaseResult result;
  result.appends_per_second = n / elapsed;
  result.client_us = n == 0 ? 0 : cpu * 1e6 / n;
  result.server_us = n == 0 ? 0 : server * 1e6 / n;
  result.per_transaction = transactions == 0 ? 0 : n / static_cast<double>(transactions);
  return result;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::vector<int> writer_counts{1, 10, 50};
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--writers=", 0) == 0) {
      writer_counts.clear();
      std::istringstream list(arg.substr(10));
      for (std::string item; std::getline(list, item, ',');) {
        writer_counts.push_back(std::atoi(item.c_str()));
      }
    } else if (arg.rfind("--rounds=", 0) == 0) {
      rounds = std::max(1, std::atoi(arg.c_str() + 9));
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || positional.size() > 2) {
    std::fprintf(stderr,
                 "usage: %s <conninfo> [seconds-per-case] [--writers=1,10,50] [--rounds=3]\n",
                 argv[0]);
    return 2;
  }
  const std::string conninfo = positional[0];
  const double seconds = positional.size() == 2 ? std::atof(positional[1].c_str()) : 3.0;

  struct Mode {
    const char* name;
    bool batching;
    int nodes;
  };

  const Mode modes[] = {{"1 node, batching off", false, 1},
                        {"1 node, batching on", true, 1},
                        {"2 nodes, batching on", true, 2}};
  std::printf(
      "| writers | mode | appends/s (median of %d) | client CPU µs/append | server CPU "
      "µs/append | appends/transaction |\n",
      rounds);
  std::printf("| ---: | --- | ---: | ---: | ---: | ---: |\n");
  for (int writers : writer_counts) {
    // The modes alternate within each round, so a drift of the shared machine's
    // disk or load hits them alike; medians are reported.
    std::vector<std::vector<CaseResult>> results(std::size(modes));
    for (int round = 0; round < rounds; ++round) {
      for (std::size_t m = 0; m < std::size(modes); ++m) {
        results[m].push_back(
            run_case(conninfo, modes[m].batching, modes[m].nodes, writers, seconds));
      }
    }
    for (std::size_t m = 0; m < std::size(modes); ++m) {
      std::vector<double> rate, client, server, batch;
      for (const auto& r : results[m]) {
        rate.push_back(r.appends_per_second);
        client.push_back(r.client_us);
        server.push_back(r.server_us);
        batch.push_back(r.per_transaction);
      }
      std::printf("| %d | %s | %.0f | %.0f | %.0f | %.1f |\n", writers, modes[m].name, median(rate),
                  median(client), median(server), median(batch));
      std::fflush(stdout);
    }
  }
  return 0;
}
