// SPDX-License-Identifier: Apache-2.0
// What a Sieve script costs a delivery: compiling bench/sieve_rules.sieve (a
// 20-rule user filter) and running it on a 4 KiB message that matches none of
// its rules, so that every test runs (bench/README.md "Sieve at delivery").
//   tern_sieve_bench [script] [google-benchmark flags]
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include <benchmark/benchmark.h>

#include "sieve/sieve.hpp"

namespace {

std::string& script_text() {
  static std::string text;
  return text;
}

std::string message() {
  std::string m =
      "Received: from client.example.org by mx.bench.test; Mon, 3 Jun 2024 10:00:05 +0000\r\n"
      "From: Sender <sender@example.org>\r\nTo: u@bench.test\r\nSubject: a message\r\n"
      "Date: Mon, 3 Jun 2024 11:59:58 +0200\r\nMessage-ID: <1@example.org>\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  while (m.size() < 4096) {
    m += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  }
  return m;
}

void Compile(benchmark::State& state) {
  for (auto _ : state) {
    auto script = tern::sieve::compile(script_text());
    benchmark::DoNotOptimize(script);
  }
}

BENCHMARK(Compile);

void Run(benchmark::State& state) {
  auto script = tern::sieve::compile(script_text());
  if (!script) {
    state.SkipWithError(script.error().message.c_str());
    return;
  }
  const std::string raw = message();
  tern::sieve::Envelope envelope{"sender@example.org", "u@bench.test", ""};
  for (auto _ : state) {
    auto outcome = tern::sieve::run(*script, raw, envelope);
    benchmark::DoNotOptimize(outcome);
  }
}

BENCHMARK(Run);

}  // namespace

int main(int argc, char** argv) {
  std::string path = TERN_SOURCE_DIR "/bench/sieve_rules.sieve";
  if (argc > 1 && argv[1][0] != '-') {
    path = argv[1];
    --argc;
    ++argv;
  }
  std::ifstream in(path, std::ios::binary);
  script_text().assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (script_text().empty()) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
