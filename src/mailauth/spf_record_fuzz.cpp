// SPDX-License-Identifier: Apache-2.0
// Fuzz target spf_record_and_macros: SPF record parsing, macro validation and
// expansion. Input: a TXT record text; every parsed domain-spec and the whole
// input as an explanation are expanded.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailauth/spf_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  SpfMacroValues values;
  values.sender = "strong-bad@email.example.com";
  values.local_part = "strong-bad";
  values.sender_domain = "email.example.com";
  values.domain = "email.example.com";
  values.ip = *tern::dns::IpAddress::parse("2001:db8::cb01");
  values.helo = "mx.example.net";
  auto record = parse_spf_record(text);
  if (record) {
    for (const SpfMechanism& m : record->mechanisms) {
      if (!m.domain_spec.empty()) {
        std::string out =
            expand_macro_string(m.domain_spec, values, SpfMacroContextKind::kDomainSpec);
        if (out.size() > 253 && out.find('.') != std::string::npos) {
          __builtin_trap();  // §7.3 truncation must hold
        }
      }
    }
  }
  if (validate_macro_string(text, SpfMacroContextKind::kExplanation)) {
    (void)expand_macro_string(text, values, SpfMacroContextKind::kExplanation);
  }
  (void)is_valid_domain_end(text);
  return 0;
}
