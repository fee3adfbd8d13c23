// SPDX-License-Identifier: Apache-2.0
// MIME parsing throughput over the SpamAssassin public corpus: tern's offset tree
// against GMime 3 parsing the same in-memory bytes, in one binary (bench/README.md).
//   tern_mime_bench [corpus-dir] [google-benchmark flags]
// corpus-dir defaults to the cache scripts/install-deps fills.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <gmime/gmime.h>

#include "mime/header.hpp"
#include "mime/message.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<std::string>& corpus() {
  static std::vector<std::string> messages;
  return messages;
}

std::size_t corpus_bytes() {
  std::size_t n = 0;
  for (const auto& m : corpus()) {
    n += m.size();
  }
  return n;
}

void load(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      corpus().push_back(ss.str());
    }
  }
}

// tern: the full tree (every header field indexed, Content-* parsed with RFC 2231
// parameters, multipart and message/rfc822 structure, line counts).
void BM_TernParse(benchmark::State& state) {
  std::size_t parts = 0;
  for (auto _ : state) {
    for (const auto& m : corpus()) {
      tern::mime::MessageTree tree = tern::mime::parse_message(m);
      parts += tree.parts().size();
      benchmark::DoNotOptimize(tree);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
  state.counters["parts/iter"] =
      static_cast<double>(parts) / static_cast<double>(state.iterations());
}

// tern, plus RFC 2047 decoding of every header value (what a search indexer or
// JMAP Email/get does on top of the tree).
void BM_TernParseDecodeHeaders(benchmark::State& state) {
  for (auto _ : state) {
    for (const auto& m : corpus()) {
      tern::mime::MessageTree tree = tern::mime::parse_message(m);
      for (const auto& part : tree.parts()) {
        for (const auto& field : part.fields) {
          std::string v = tern::mime::decode_words(field.value.in(m));
          benchmark::DoNotOptimize(v);
        }
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
}

// GMime 3: a GMimeMessage object tree from a memory stream over the same bytes.
// The byte arrays are built once, outside the timing, so GMime is not charged for
// a copy tern does not make.
void BM_GMimeParse(benchmark::State& state) {
  std::vector<GByteArray*> arrays;
  for (const auto& m : corpus()) {
    GByteArray* a = g_byte_array_sized_new(static_cast<guint>(m.size()));
    g_byte_array_append(a, reinterpret_cast<const guint8*>(m.data()), static_cast<guint>(m.size()));
    arrays.push_back(a);
  }
  std::size_t failed = 0;
  for (auto _ : state) {
    for (GByteArray* a : arrays) {
      GMimeStream* stream = g_mime_stream_mem_new_with_byte_array(a);
      g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
      GMimeParser* parser = g_mime_parser_new_with_stream(stream);
      g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
      GMimeMessage* message = g_mime_parser_construct_message(parser, nullptr);
      if (message == nullptr) {
        ++failed;
      } else {
        benchmark::DoNotOptimize(g_mime_message_get_mime_part(message));
        g_object_unref(message);
      }
      g_object_unref(parser);
      g_object_unref(stream);
    }
  }
  for (GByteArray* a : arrays) {
    g_byte_array_free(a, TRUE);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus_bytes()));
  state.counters["failed/iter"] =
      static_cast<double>(failed) / static_cast<double>(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  if (argc > 1 && argv[1][0] != '-') {
    dir = argv[1];
    --argc;
    ++argv;
    argv[0] = argv[-1];
  } else {
    const char* cache = std::getenv("TERN_TESTDATA_CACHE");
    dir = fs::path(cache != nullptr ? cache : "/var/cache/tern-testdata") / "spamassassin" /
          "node_modules" / "@stdlib" / "datasets-spam-assassin" / "data";
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::fprintf(stderr, "corpus %s not found; run scripts/install-deps\n", dir.c_str());
    return 1;
  }
  load(dir);
  std::fprintf(stderr, "corpus: %zu messages, %.1f MB\n", corpus().size(),
               static_cast<double>(corpus_bytes()) / 1e6);
  g_mime_init();
  benchmark::RegisterBenchmark("tern_parse", BM_TernParse)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("tern_parse_decode_headers", BM_TernParseDecodeHeaders)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("gmime_parse", BM_GMimeParse)->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_mime_shutdown();
  return 0;
}
