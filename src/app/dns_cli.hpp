// SPDX-License-Identifier: Apache-2.0
// `tern dns records|check DOMAIN`: every DNS record a local domain needs (MX, SPF,
// DKIM, DMARC, MTA-STS, TLS-RPT, RFC 6186 SRV, TLSA), printed in zone-file form or
// compared with what the configured resolver answers (issue #8). Also the one
// place that turns [mta_sts] into the policy the HTTP service serves, so the
// `_mta-sts` TXT id and the served policy come from the same bytes.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"
#include "dns/records.hpp"
#include "domain/ports.hpp"
#include "runtime/dns_resolver.hpp"
#include "services/http/mta_sts.hpp"

namespace tern::app {

// The MTA-STS policy for `settings`: [mta_sts] mode and max_age, mx =
// server.hostname followed by [mta_sts] mx.
services::http::MtaStsPolicy mta_sts_policy(const config::Settings& settings);

// The policy id for the `_mta-sts` TXT record (RFC 8461 §3.1: 1-32 alphanumeric
// characters): the first 32 hex digits of the SHA-256 of the rendered policy.
std::string mta_sts_policy_id(const services::http::MtaStsPolicy& policy);

// One record `tern dns records` recommends.
struct DnsRecord {
  std::string name;  // absolute, with the trailing dot
  dns::RecordType type = dns::RecordType::kTxt;
  // The rdata in presentation form; for TXT the joined text without quotes
  // (zone output splits it into 255-octet character-strings, RFC 1035 §3.3.14).
  std::string value;
  std::string comment;  // why the record is there; printed as "; ..." above it
};

// The records `domain` (normalised, lower case) needs under `settings`.
// Errors: kIo/kInvalidInput naming the file when a [[dkim]] key of the domain
// or the [tls] certificate cannot be read.
Result<std::vector<DnsRecord>> required_records(const config::Settings& settings,
                                                const std::string& domain);

// Runs `tern dns VERB DOMAIN`; `words` starts with VERB. The domain must be in
// the directory. Exit status: 0 success (check: every record matches), 1 a
// failure or (check) a missing or different record, 2 usage error.
int dns_command(const std::vector<std::string>& words, const config::Settings& settings,
                domain::Storage& storage);

// The resolver the CLI uses: [dns] servers, trust anchor and timeout.
Result<std::unique_ptr<runtime::UnboundResolver>> cli_resolver(const config::Settings& settings);

// The usage text of the dns subcommands, for `tern --help`.
extern const char* const kDnsUsage;

}  // namespace tern::app
