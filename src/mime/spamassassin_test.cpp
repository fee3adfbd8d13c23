// SPDX-License-Identifier: Apache-2.0
// The SpamAssassin public corpus (about 6,000 real messages, cached outside the repo
// by scripts/install-deps): every message parses into a consistent tree, every part
// re-serialises from its ranges to exactly its original bytes, and every header value
// and leaf body decodes to valid UTF-8.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mime/charset.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/spamassassin_corpus.hpp"
#include "mime/transfer.hpp"
#include "mime/tree_check.hpp"

namespace tern::mime {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::path dir = spamassassin_corpus_dir();
  if (!fs::is_directory(dir, ec)) {
    return files;
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") {
      files.push_back(entry.path());
    }
  }
  return files;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Rebuilds a part from its sub-ranges only: header, then the body from the
// preamble, the children and the epilogue with the raw bytes between them.
std::string reserialise(const MessageTree& tree, PartIndex index) {
  std::string_view raw = tree.raw();
  const Part& p = tree.part(index);
  std::string out(p.header.in(raw));
  switch (p.kind) {
    case PartKind::kLeaf:
      out += p.body.in(raw);
      break;
    case PartKind::kMessage:
      out += reserialise(tree, p.children[0]);
      break;
    case PartKind::kMultipart: {
      out += p.preamble.in(raw);
      std::size_t pos = p.preamble.end;
      for (PartIndex c : p.children) {
        const Part& child = tree.part(c);
        out += raw.substr(pos, child.whole.begin - pos);  // the delimiter line
        out += reserialise(tree, c);
        pos = child.whole.end;
      }
      out += raw.substr(pos, p.epilogue.begin - pos);
      out += p.epilogue.in(raw);
      break;
    }
  }
  return out;
}

TEST(MimeSpamAssassinCorpus, EveryMessageParsesAndRoundTripsByteForByte) {
  std::vector<fs::path> files = corpus_files();
  if (files.empty()) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      FAIL() << "SpamAssassin corpus missing at " << spamassassin_corpus_dir()
             << " (run scripts/install-deps)";
    }
    GTEST_SKIP() << "SpamAssassin corpus not cached at " << spamassassin_corpus_dir()
                 << "; run scripts/install-deps";
  }
  EXPECT_GE(files.size(), 6000u);
  std::size_t parts = 0;
  std::size_t multiparts = 0;
  std::size_t messages = 0;
  for (const fs::path& file : files) {
    std::string raw = read(file);
    MessageTree tree = parse_message(raw);
    auto problem = find_inconsistency(tree);
    ASSERT_FALSE(problem.has_value()) << file << ": " << *problem;
    ASSERT_FALSE(tree.degraded()) << file;
    for (PartIndex i = 0; i < tree.parts().size(); ++i) {
      const Part& p = tree.part(i);
      ASSERT_EQ(reserialise(tree, i), p.whole.in(raw)) << file << " part " << i;
      for (const HeaderField& f : p.fields) {
        ASSERT_TRUE(is_utf8(decode_words(f.value.in(raw)))) << file;
      }
      if (p.kind == PartKind::kLeaf) {
        const std::string* charset = p.content_type.param("charset");
        std::string text = to_utf8(decode_transfer(p.body.in(raw), p.encoding),
                                   charset != nullptr ? *charset : "");
        ASSERT_TRUE(is_utf8(text)) << file << " part " << i;
      }
      multiparts += p.kind == PartKind::kMultipart ? 1 : 0;
      messages += p.kind == PartKind::kMessage ? 1 : 0;
    }
    parts += tree.parts().size();
  }
  // The corpus is known to hold many MIME messages; a parser that never split
  // anything would pass the checks above, so require the structure too.
  EXPECT_GT(multiparts, 500u);  // 556 lines of the corpus declare a multipart
  EXPECT_GE(messages, 5u);
  RecordProperty("messages", static_cast<int>(files.size()));
  RecordProperty("parts", static_cast<int>(parts));
}

}  // namespace
}  // namespace tern::mime
