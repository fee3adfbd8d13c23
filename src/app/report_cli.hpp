// SPDX-License-Identifier: Apache-2.0
// `tern report ...`: DMARC aggregate (RFC 9990) and TLS (RFC 8460) reports for
// operators and tests — print or send the current period's reports now, list the
// reports received from others, import report files or messages, and read the
// [reports] inbox. Also the DNS adapter the daemon's report timer uses.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"
#include "dns/resolver.hpp"
#include "domain/ports.hpp"
#include "domain/reports/generator.hpp"

namespace tern::app {

// domain::reports::TxtLookup over a dns::Resolver. Blocks on each lookup: use it
// on the blocking pool or in the CLI.
class ResolverTxtLookup final : public domain::reports::TxtLookup {
 public:
  explicit ResolverTxtLookup(dns::Resolver& resolver) : resolver_(resolver) {}

  // NXDOMAIN and NODATA give no records; a temporary or malformed answer an error.
  Result<std::vector<std::string>> txt(const std::string& name) override;

 private:
  dns::Resolver& resolver_;
};

// The generator's settings from [reports].
domain::reports::ReportSettings report_settings(const config::ReportsSettings& reports);

// Runs `tern report KIND|VERB ...`; `words` starts after "report". Exit status:
// 0 success, 1 a failure, 2 usage error.
int report_command(const std::vector<std::string>& words, const config::Settings& settings,
                   domain::Storage& storage);

// The usage text of the report subcommands, for `tern --help`.
extern const char* const kReportUsage;

}  // namespace tern::app
