// SPDX-License-Identifier: Apache-2.0
// Fuzz target dkim_signature: the tag-list parser and the DKIM-Signature and
// key-record parsers over the same input, and a verifier over the input as a
// whole message (answered with NXDOMAIN, so no crypto key is needed).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailauth/dkim_signature.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/tag_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_tag_list(text);
  (void)parse_dkim_signature(text);
  (void)parse_dkim_key_record(text);
  DkimVerifier verifier(text);
  for (int i = 0; i < 16 && verifier.pending_query(); ++i) {
    verifier.provide(tern::dns::Answer::failure(tern::dns::LookupStatus::kNxDomain));
  }
  (void)verifier.results();
  return 0;
}
