// SPDX-License-Identifier: Apache-2.0
// DMARC aggregate report documents (RFC 9990 §3.1, schema in its appendix A): the
// XML we send for one policy domain and period, and the reading of the XML others
// send us.
#pragma once

#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "domain/report_model.hpp"

namespace tern::domain::reports {

// Who we are in the reports we send (config [reports]).
struct Reporter {
  std::string org_name;       // <org_name>, e.g. "example.com"
  std::string email;          // <email> and the From: of report mail
  std::string extra_contact;  // <extra_contact_info>; "" to leave it out
  // The domain that generates the reports: the "receiver" in file names and the
  // Submitter: of the Subject (RFC 9990 §3.5.2); normally this server's domain.
  std::string submitter;
  std::string generator = "tern";  // <generator> (RFC 9990 §3.1.1.3)
};

// A report's period [begin, end) in whole seconds; date_range carries them as
// given (begin inclusive, end exclusive, as the hour buckets are).
struct Period {
  SystemTime begin{};
  SystemTime end{};
};

// The Report-ID (RFC 9990 §3.5.1): "<begin>.<policy-domain>@<submitter>". Unique per
// policy domain and period, and the same when a report is built again, so a
// receiver can drop duplicates.
std::string dmarc_report_id(std::string_view policy_domain, const Period& period,
                            std::string_view submitter);

// The <feedback> document for `aggregate` (namespace urn:ietf:params:xml:ns:dmarc-2.0,
// elements in the order the RFC lists them). Text is escaped; bytes that are not
// UTF-8 in recorded fields are replaced so the document stays well-formed.
std::string build_dmarc_xml(const DmarcAggregate& aggregate, const Reporter& reporter,
                            const Period& period);

// Reads an aggregate report (RFC 9990, RFC 7489 appendix C and the pre-RFC draft,
// with or without namespace) into the summary we store. Lenient like deployed
// readers: result words are lower-cased, malformed markup is recovered where the
// document's structure survives (libxml2 recover mode), bytes that are not UTF-8 are
// replaced. kInvalidInput when it is not a report: no <feedback> root, or no
// org_name, report_id, date_range or policy domain. No entity expansion, no
// network access; input above kMaxReportBytes is refused.
Result<ReceivedReport> parse_dmarc_xml(std::string_view xml);

}  // namespace tern::domain::reports
