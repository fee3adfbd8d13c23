// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/dmarc_report.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain/reports/compression.hpp"
#include "mime/charset.hpp"

namespace tern::domain::reports {
namespace {

// ----- writing

void escape_into(std::string& out, std::string_view text) {
  const std::string clean = mime::is_utf8(text) ? std::string(text) : mime::sanitize_utf8(text);
  for (char c : clean) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // XML 1.0 §2.2 forbids most C0 controls even as references.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
}

class XmlWriter {
 public:
  explicit XmlWriter(int depth) : depth_(depth) {}

  void open(std::string_view name) {
    indent();
    out_ += '<';
    out_ += name;
    out_ += ">\n";
    ++depth_;
  }

  void close(std::string_view name) {
    --depth_;
    indent();
    out_ += "</";
    out_ += name;
    out_ += ">\n";
  }

  void leaf(std::string_view name, std::string_view text) {
    indent();
    out_ += '<';
    out_ += name;
    out_ += '>';
    escape_into(out_, text);
    out_ += "</";
    out_ += name;
    out_ += ">\n";
  }

  // Optional elements are left out when empty.
  void optional_leaf(std::string_view name, std::string_view text) {
    if (!text.empty()) {
      leaf(name, text);
    }
  }

  std::string& out() { return out_; }

 private:
  void indent() { out_.append(2 * static_cast<std::size_t>(depth_), ' '); }

  std::string out_;
  int depth_;
};

// ----- reading

void init_libxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

std::string_view local_name(const xmlNode* node) {
  return reinterpret_cast<const char*>(node->name);
}

const xmlNode* child(const xmlNode* node, std::string_view name) {
  if (node == nullptr) {
    return nullptr;
  }
  for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && local_name(c) == name) {
      return c;
    }
  }
  return nullptr;
}

std::vector<const xmlNode*> children(const xmlNode* node, std::string_view name) {
  std::vector<const xmlNode*> out;
  if (node != nullptr) {
    for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
      if (c->type == XML_ELEMENT_NODE && local_name(c) == name) {
        out.push_back(c);
      }
    }
  }
  return out;
}

// The first element named `name` in document order (some reporters wrap <feedback>
// in another element, e.g. an xs:schema). Iterative, so deep nesting cannot
// exhaust the stack.
const xmlNode* find_element(const xmlNode* root, std::string_view name) {
  const xmlNode* node = root;
  while (node != nullptr) {
    if (node->type == XML_ELEMENT_NODE && local_name(node) == name) {
      return node;
    }
    // Only elements are descended into: an entity reference's children are the
    // entity's own nodes, whose parent is not the reference, so climbing back from
    // them would never end.
    if (node->type == XML_ELEMENT_NODE && node->children != nullptr) {
      node = node->children;
      continue;
    }
    while (node != nullptr && node != root && node->next == nullptr) {
      node = node->parent;
    }
    node = (node == nullptr || node == root) ? nullptr : node->next;
  }
  return nullptr;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::string text_of(const xmlNode* node) {
  if (node == nullptr) {
    return {};
  }
  std::unique_ptr<xmlChar, decltype(xmlFree)> content(xmlNodeGetContent(node), xmlFree);
  return content ? trim(reinterpret_cast<const char*>(content.get())) : std::string();
}

std::string text_at(const xmlNode* node, std::string_view a) {
  return text_of(child(node, a));
}

std::string text_at(const xmlNode* node, std::string_view a, std::string_view b) {
  return text_of(child(child(node, a), b));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::optional<std::int64_t> number(const std::string& text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// A date_range value as a time: seconds since the epoch up to the year 2200
// (SystemTime counts nanoseconds in 64 bits; larger values would overflow).
std::optional<SystemTime> epoch_seconds(const std::string& text) {
  auto value = number(text);
  if (!value || *value < 0 || *value > 7'258'118'400) {
    return std::nullopt;
  }
  return from_unix_seconds(*value);
}

}  // namespace

std::string dmarc_report_id(std::string_view policy_domain, const Period& period,
                            std::string_view submitter) {
  return std::to_string(to_unix_seconds(period.begin)) + "." + std::string(policy_domain) + "@" +
         std::string(submitter);
}

std::string build_dmarc_xml(const DmarcAggregate& aggregate, const Reporter& reporter,
                            const Period& period) {
  // The root is written by hand (it carries the namespace); its children start at
  // depth 1.
  XmlWriter body(1);
  body.leaf("version", "1.0");
  // RFC 9990 §3.1.1.3
  body.open("report_metadata");
  body.leaf("org_name", reporter.org_name);
  body.leaf("email", reporter.email);
  body.optional_leaf("extra_contact_info", reporter.extra_contact);
  body.leaf("report_id", dmarc_report_id(aggregate.domain, period, reporter.submitter));
  body.open("date_range");
  body.leaf("begin", std::to_string(to_unix_seconds(period.begin)));
  body.leaf("end", std::to_string(to_unix_seconds(period.end)));
  body.close("date_range");
  body.optional_leaf("generator", reporter.generator);
  body.close("report_metadata");
  // RFC 9990 §3.1.1.5: unspecified tags have their defaults; pct is gone from
  // DMARCbis (RFC 9989 replaced it with t=).
  const auto& p = aggregate.policy;
  body.open("policy_published");
  body.leaf("domain", aggregate.domain);
  body.leaf("discovery_method", "treewalk");  // RFC 9989 §4.10 (mailauth/dmarc)
  body.leaf("p", p.p);
  body.optional_leaf("sp", p.sp);
  body.optional_leaf("np", p.np);
  body.optional_leaf("fo", p.fo);
  body.leaf("adkim", p.adkim.empty() ? "r" : p.adkim);
  body.leaf("aspf", p.aspf.empty() ? "r" : p.aspf);
  body.leaf("testing", p.testing ? "y" : "n");
  body.close("policy_published");
  // RFC 9990 §3.1.1.7-§3.1.1.14
  for (const auto& [row, count] : aggregate.rows) {
    body.open("record");
    body.open("row");
    body.leaf("source_ip", row.source_ip);
    body.leaf("count", std::to_string(count));
    body.open("policy_evaluated");
    body.leaf("disposition", row.disposition);
    body.leaf("dkim", row.dkim_alignment);
    body.leaf("spf", row.spf_alignment);
    for (const auto& reason : row.overrides) {
      body.open("reason");
      body.leaf("type", reason.type);
      body.optional_leaf("comment", reason.comment);
      body.close("reason");
    }
    body.close("policy_evaluated");
    body.close("row");
    body.open("identifiers");
    body.leaf("header_from", row.header_from);
    // §3.1.1.10: envelope_from may be present and empty for a null reverse-path.
    body.leaf("envelope_from", row.envelope_from);
    body.optional_leaf("envelope_to", row.envelope_to);
    body.close("identifiers");
    body.open("auth_results");
    for (const auto& dkim : row.dkim) {
      body.open("dkim");
      body.leaf("domain", dkim.domain);
      body.leaf("selector", dkim.selector);
      body.leaf("result", dkim.result);
      body.close("dkim");
    }
    for (const auto& spf : row.spf) {
      body.open("spf");
      body.leaf("domain", spf.domain);
      body.leaf("scope", spf.scope);
      body.leaf("result", spf.result);
      body.close("spf");
    }
    body.close("auth_results");
    body.close("record");
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n" +
         body.out() + "</feedback>\n";
}

Result<ReceivedReport> parse_dmarc_xml(std::string_view xml) {
  if (xml.size() > kMaxReportBytes) {
    return fail(ErrorCode::kLimitExceeded, "report too large");
  }
  if (xml.find('<') == std::string_view::npos) {
    return fail(ErrorCode::kInvalidInput, "not an XML document");
  }
  init_libxml();
  // Reporters write bytes that are not UTF-8 into UTF-8 documents; replacing them
  // keeps the rest of the report readable (parsedmarc does the same).
  std::string text = mime::is_utf8(xml) ? std::string(xml) : mime::sanitize_utf8(xml);
  // RECOVER: read past malformed markup as lxml(recover=True) does. No NOENT (no
  // entity substitution), NONET (no fetches), no DTD loading; libxml2's own limits
  // stay on (no XML_PARSE_HUGE).
  const int options = XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOERROR |
                      XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS;
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
      xmlReadMemory(text.data(), static_cast<int>(text.size()), "report.xml", "UTF-8", options),
      &xmlFreeDoc);
  if (!doc) {
    return fail(ErrorCode::kInvalidInput, "unreadable XML");
  }
  const xmlNode* root = find_element(xmlDocGetRootElement(doc.get()), "feedback");
  if (root == nullptr) {
    return fail(ErrorCode::kInvalidInput, "not a DMARC aggregate report (no <feedback>)");
  }
  ReceivedReport report;
  report.kind = ReportKind::kDmarcAggregate;
  const xmlNode* meta = child(root, "report_metadata");
  report.org_name = text_at(meta, "org_name");
  report.contact = text_at(meta, "email");
  report.report_id = text_at(meta, "report_id");
  if (report.org_name.empty()) {
    // Some reporters leave org_name empty; the contact's domain names them (as
    // parsedmarc does).
    const auto at = report.contact.rfind('@');
    if (at != std::string::npos) {
      report.org_name = lower(report.contact.substr(at + 1));
    }
  }
  auto begin = epoch_seconds(text_at(meta, "date_range", "begin"));
  auto end = epoch_seconds(text_at(meta, "date_range", "end"));
  const xmlNode* policy = child(root, "policy_published");
  report.policy_domain = lower(text_at(policy, "domain"));
  if (report.org_name.empty() || report.report_id.empty() || !begin || !end ||
      report.policy_domain.empty()) {
    return fail(ErrorCode::kInvalidInput,
                "not a DMARC aggregate report (missing org_name, report_id, date_range or domain)");
  }
  report.begin = *begin;
  report.end = *end;
  std::string summary;
  for (const char* tag : {"p", "sp", "np", "adkim", "aspf", "pct", "fo", "testing"}) {
    auto value = lower(text_at(policy, tag));
    if (!value.empty()) {
      summary += (summary.empty() ? "" : " ") + std::string(tag) + "=" + value;
    }
  }
  report.policy = summary;
  for (const xmlNode* record : children(root, "record")) {
    const xmlNode* row = child(record, "row");
    const xmlNode* evaluated = child(row, "policy_evaluated");
    ReceivedReportRow out;
    out.source = text_at(row, "source_ip");
    auto count = number(text_at(row, "count"));
    out.count = count && *count > 0 ? static_cast<std::uint64_t>(*count) : 0;
    out.result = lower(text_at(evaluated, "disposition"));
    out.dkim = lower(text_at(evaluated, "dkim"));
    out.spf = lower(text_at(evaluated, "spf"));
    out.header_from = lower(text_at(record, "identifiers", "header_from"));
    report.messages += out.count;
    if (out.dkim == "pass" || out.spf == "pass") {
      report.passed += out.count;
    }
    report.rows.push_back(std::move(out));
  }
  return report;
}

}  // namespace tern::domain::reports
