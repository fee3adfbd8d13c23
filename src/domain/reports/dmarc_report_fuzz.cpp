// SPDX-License-Identifier: Apache-2.0
// Fuzzes the report readers on arbitrary bytes: parse_report_file() (gzip and zip
// containers, then DMARC XML or TLS JSON) and parse_report_message() (a whole
// message). Any input must give a report or an error, never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/reports/dmarc_report.hpp"
#include "domain/reports/report_mail.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)tern::domain::reports::parse_dmarc_xml(input);
  (void)tern::domain::reports::parse_report_file(input);
  (void)tern::domain::reports::parse_report_message(input);
  return 0;
}
