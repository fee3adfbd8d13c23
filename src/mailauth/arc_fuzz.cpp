// SPDX-License-Identifier: Apache-2.0
// Fuzz target arc_headers: the ARC-Seal / ARC-Message-Signature / AAR parsers and
// chain validation over the input as a message (keys answered with NXDOMAIN), and
// the Authentication-Results authserv-id test over the input as a field value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailauth/arc.hpp"
#include "mailauth/authentication_results.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_arc_signature(text, ArcFieldKind::kSeal);
  (void)parse_arc_signature(text, ArcFieldKind::kMessageSignature);
  (void)parse_arc_results_instance(text);
  (void)claims_authserv_id(text, "mx.example.net");
  ArcVerifier arc(text);
  for (int i = 0; i < 64 && arc.pending_query(); ++i) {
    arc.provide(tern::dns::Answer::failure(tern::dns::LookupStatus::kNxDomain));
  }
  (void)arc.result();
  return 0;
}
