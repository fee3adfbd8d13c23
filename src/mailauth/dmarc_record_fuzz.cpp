// SPDX-License-Identifier: Apache-2.0
// Fuzz target dmarc_record: the DMARC record parser and record check, the tree
// walk's name list over the input as a domain, and a whole DmarcEvaluator whose
// every TXT answer is the input (policy discovery, alignment walks, np=).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailauth/dmarc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)is_dmarc_record(text);
  (void)parse_dmarc_record(text);
  (void)dmarc_tree_walk_names(text);

  DmarcInput input;
  input.from_domain = "a.b.c.d.e.f.g.h.i.example.com";
  input.spf = AuthResult::kPass;
  input.spf_domain =
      text.find('\0') == std::string_view::npos ? std::string(text) : "x.example.com";
  DkimResult dkim;
  dkim.result = AuthResult::kPass;
  dkim.domain = "mail.example.com";
  input.dkim.push_back(dkim);
  DmarcEvaluator evaluator(input);
  tern::dns::Answer answer;
  answer.status = tern::dns::LookupStatus::kOk;
  answer.txt.push_back({{std::string(text)}});
  // Each walk is at most 8 queries; three walks plus the existence query.
  for (int i = 0; i < 40; ++i) {
    auto query = evaluator.pending_query();
    if (!query) {
      break;
    }
    evaluator.provide(answer);
  }
  if (evaluator.pending_query()) {
    __builtin_trap();  // the query cap was not honoured
  }
  return 0;
}
