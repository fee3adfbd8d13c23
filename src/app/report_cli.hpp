// SPDX-License-Identifier: Apache-2.0
// `tern report ...`: DMARC aggregate (RFC 9990) and TLS (RFC 8460) reports for
// operators and tests — print or send the current period's reports now, list the
// reports received from others and the TLS reports waiting for an HTTPS POST,
// import report files or messages, and read the [reports] inbox. Also the
// adapters the daemon's report timer uses: DNS, the HTTPS POST, and the
// generator's settings.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"
#include "config/settings.hpp"
#include "dns/resolver.hpp"
#include "domain/ports.hpp"
#include "domain/reports/generator.hpp"
#include "domain/reports/report_posts.hpp"
#include "mailauth/dkim_keyring.hpp"

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

// domain::reports::ReportPoster over runtime::https_post: RFC 8460 §5.4 POST of
// the gzip body as application/tlsrpt+gzip. The certificate is checked (PKIX
// against `ca_file`, or the system store when "", and the URI's host name):
// §3 lets a reporter ignore validation errors, but the reports name our MX
// traffic, so they go only to the endpoint the policy domain named. Each POST
// runs on an io_context of its own in the calling thread and takes at most
// kPostTimeout: call it on the blocking pool or in the CLI.
class HttpsReportPoster final : public domain::reports::ReportPoster {
 public:
  static constexpr std::chrono::seconds kPostTimeout{30};

  HttpsReportPoster(dns::Resolver& resolver, std::string ca_file, log::Logger logger)
      : resolver_(resolver), ca_file_(std::move(ca_file)), logger_(std::move(logger)) {}

  // Ok on a 2xx; otherwise "HTTP <status>" or the transport's failure.
  Result<void> post(const domain::reports::HttpsUri& uri, std::string_view body) override;

 private:
  dns::Resolver& resolver_;
  std::string ca_file_;
  log::Logger logger_;
};

// The generator's settings from [reports], signing with `dkim` ([[dkim]], from
// load_dkim_keys()). The keyring is a parameter, not an option, so that ternd's
// timer and `tern report --send-now` cannot differ in how report mail is signed;
// nullptr only where there are no keys at all.
domain::reports::ReportSettings report_settings(const config::ReportsSettings& reports,
                                                std::shared_ptr<const mailauth::DkimKeyring> dkim);

// Runs `tern report KIND|VERB ...`; `words` starts after "report". Exit status:
// 0 success, 1 a failure, 2 usage error.
int report_command(const std::vector<std::string>& words, const config::Settings& settings,
                   domain::Storage& storage);

// The usage text of the report subcommands, for `tern --help`.
extern const char* const kReportUsage;

}  // namespace tern::app
