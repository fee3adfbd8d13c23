// SPDX-License-Identifier: Apache-2.0
// Fuzzes what tern reads for TLS reports on arbitrary bytes: the report (RFC 8460
// §4.4 JSON), the RFC 3339 date parser, the TLSRPT record (§3) and its https: rua
// URIs. A result or an error, never a crash, a hang or an exception; a parsed
// https: URI is a DNS name, a port and a target that parse again the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/reports/generator.hpp"
#include "domain/reports/report_posts.hpp"
#include "domain/reports/tls_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void check_uri(std::string_view text) {
  namespace r = tern::domain::reports;
  auto uri = r::parse_https_uri(text);
  if (!uri) {
    return;
  }
  if (uri->host.empty() || uri->port == 0 || uri->target.empty() || uri->target[0] != '/' ||
      uri->uri.find('!') != std::string::npos) {
    __builtin_trap();
  }
  auto again = r::parse_https_uri(uri->uri);
  if (!again || again->host != uri->host || again->port != uri->port ||
      again->target != uri->target || again->max_bytes) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)tern::domain::reports::parse_tls_json(input);
  (void)tern::domain::reports::parse_rfc3339(input);
  check_uri(input);
  if (auto uris = tern::domain::reports::parse_tlsrpt_record(input)) {
    for (const auto& uri : *uris) {
      check_uri(uri);
    }
  }
  return 0;
}
