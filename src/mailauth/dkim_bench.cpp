// SPDX-License-Identifier: Apache-2.0
// mailauth_dkim_bench: DKIM sign or verify operations per second for one message
// and key, in this process, for dkim_bench.py to compare with dkimpy. Not a test.
//
//   mailauth_dkim_bench sign|verify KEY_FILE MESSAGE_FILE ITERATIONS
//
// KEY_FILE is PEM (RSA) or a base64 Ed25519 seed. Prints one JSON line:
// {"op": ..., "iterations": N, "wall_s": ..., "cpu_s": ...}.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/resource.h>

#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_signer.hpp"
#include "mailauth/dkim_verifier.hpp"

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tern::mailauth;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s sign|verify KEY_FILE MESSAGE_FILE ITERATIONS\n", argv[0]);
    return 2;
  }
  std::string op = argv[1];
  auto key = DkimPrivateKey::load(read_file(argv[2]));
  if (!key) {
    std::fprintf(stderr, "key: %s\n", key.error().message.c_str());
    return 1;
  }
  std::string message = read_file(argv[3]);
  long iterations = std::stol(argv[4]);
  DkimSignOptions options;
  options.domain = "example.org";
  options.selector = "bench";
  options.timestamp = 1700000000;
  auto field = dkim_sign(message, *key, options);
  if (!field) {
    return 1;
  }
  std::string signed_message = *field + message;
  tern::dns::Answer answer;
  answer.status = tern::dns::LookupStatus::kOk;
  answer.txt.push_back(tern::dns::TxtRecord{{key->dns_record()}});

  double cpu_start = cpu_seconds();
  auto wall_start = std::chrono::steady_clock::now();
  long ok = 0;
  for (long i = 0; i < iterations; ++i) {
    if (op == "sign") {
      ok += dkim_sign(message, *key, options) ? 1 : 0;
    } else {
      DkimVerifier verifier(signed_message);
      while (verifier.pending_query()) {
        verifier.provide(answer);
      }
      ok += verifier.results().at(0).result == AuthResult::kPass ? 1 : 0;
    }
  }
  std::chrono::duration<double> wall = std::chrono::steady_clock::now() - wall_start;
  double cpu = cpu_seconds() - cpu_start;
  if (ok != iterations) {
    std::fprintf(stderr, "only %ld of %ld operations succeeded\n", ok, iterations);
    return 1;
  }
  std::printf("{\"op\": \"%s\", \"iterations\": %ld, \"wall_s\": %.6f, \"cpu_s\": %.6f}\n",
              op.c_str(), iterations, wall.count(), cpu);
  return 0;
}
