// SPDX-License-Identifier: Apache-2.0
// The report documents, mail and use-cases: XML/JSON built and read back, the
// parsedmarc sample reports (../shared/testdata/dmarc, read in place), report mail
// addressed and queued over store::memory with a map of TXT records, ingestion.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "domain/reports/compression.hpp"
#include "domain/reports/dmarc_report.hpp"
#include "domain/reports/generator.hpp"
#include "domain/reports/ingest.hpp"
#include "domain/reports/report_mail.hpp"
#include "domain/reports/report_posts.hpp"
#include "domain/reports/tls_report.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/testing.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::domain::reports {
namespace {

namespace fs = std::filesystem;

// 2024-01-01T00:00:00Z
const SystemTime kDay = from_unix_seconds(1704067200);
constexpr std::chrono::hours k24h{24};

Reporter reporter() {
  return {"mx.example.com", "reports@example.com", "https://example.com/dmarc", "example.com",
          "tern"};
}

DmarcEvaluation evaluation(const std::string& domain, const std::string& ip, SystemTime when) {
  DmarcEvaluation e;
  e.time = when;
  e.policy.domain = domain;
  e.policy.p = "reject";
  e.policy.sp = "quarantine";
  e.policy.rua = {"mailto:dmarc@" + domain};
  e.row.source_ip = ip;
  e.row.header_from = domain;
  e.row.envelope_from = domain;
  e.row.envelope_to = "example.com";
  e.row.disposition = "reject";
  e.row.dkim_alignment = "fail";
  e.row.spf_alignment = "fail";
  e.row.overrides = {{"local_policy", "a <comment> & more"}};
  e.row.dkim = {{domain, "sel", "fail"}};
  e.row.spf = {{domain, "mfrom", "softfail"}};
  return e;
}

class MapDns final : public TxtLookup {
 public:
  Result<std::vector<std::string>> txt(const std::string& name) override {
    asked.push_back(name);
    if (failing.count(name) != 0) {
      return fail(ErrorCode::kTemporary, "SERVFAIL");
    }
    auto it = records.find(name);
    return it == records.end() ? std::vector<std::string>() : it->second;
  }

  std::map<std::string, std::vector<std::string>> records;
  std::set<std::string> failing;
  std::vector<std::string> asked;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The attachment of a composed report message, decoded.
std::string attachment_of(const std::string& raw, std::string* content_type = nullptr) {
  auto tree = mime::parse_message(raw);
  for (const auto& part : tree.parts()) {
    if (part.kind == mime::PartKind::kLeaf && part.disposition &&
        part.disposition->type == "attachment") {
      if (content_type != nullptr) {
        *content_type = part.content_type.type + "/" + part.content_type.subtype;
      }
      return mime::decode_transfer(raw.substr(part.body.begin, part.body.size()), part.encoding);
    }
  }
  return {};
}

// ----- containers

TEST(Compression, GzipRoundTripsAndIsBounded) {
  std::string text(100000, 'x');
  auto packed = gzip(text);
  EXPECT_TRUE(is_gzip(packed));
  EXPECT_LT(packed.size(), 1000u);
  auto back = gunzip(packed);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, text);
  // Two members concatenated (RFC 1952 §2.2) read as one stream.
  auto two = gunzip(gzip("ab") + gzip("cd"));
  ASSERT_TRUE(two);
  EXPECT_EQ(*two, "abcd");
  auto bomb = gunzip(packed, 1000);
  ASSERT_FALSE(bomb);
  EXPECT_EQ(bomb.error().code, ErrorCode::kLimitExceeded);
  EXPECT_FALSE(gunzip("not gzip"));
  // Every truncation is an error, never a crash or a hang.
  for (std::size_t n = 0; n < packed.size(); ++n) {
    EXPECT_FALSE(gunzip(packed.substr(0, n))) << n;
  }
}

TEST(Compression, ZipStoredEntryIsRead) {
  // A minimal archive: one stored file "a.xml" holding "<x/>".
  std::string zip("PK\x03\x04", 4);
  zip += std::string("\x14\x00\x00\x00\x00\x00", 6);          // version, flags, method 0
  zip += std::string("\x00\x00\x00\x00", 4);                  // time, date
  zip += std::string("\x00\x00\x00\x00", 4);                  // crc (not checked)
  zip += std::string("\x04\x00\x00\x00\x04\x00\x00\x00", 8);  // sizes
  zip += std::string("\x05\x00\x00\x00", 4);                  // name length 5, no extra
  zip += "a.xml<x/>";
  auto file = unzip_first(zip);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(*file, "<x/>");
  EXPECT_FALSE(unzip_first(zip.substr(0, 20)));
}

// ----- DMARC documents

TEST(DmarcReport, BuiltXmlReadsBack) {
  DmarcAggregate aggregate;
  aggregate.domain = "example.org";
  aggregate.policy = evaluation("example.org", "192.0.2.1", kDay).policy;
  aggregate.rows.push_back({evaluation("example.org", "192.0.2.1", kDay).row, 7});
  auto pass = evaluation("example.org", "2001:db8::5", kDay).row;
  pass.disposition = "none";
  pass.dkim_alignment = "pass";
  pass.overrides.clear();
  aggregate.rows.push_back({pass, 3});
  const Period period{kDay, kDay + k24h};
  const auto xml = build_dmarc_xml(aggregate, reporter(), period);
  EXPECT_NE(xml.find("<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">"), std::string::npos);
  EXPECT_NE(xml.find("<comment>a &lt;comment&gt; &amp; more</comment>"), std::string::npos);
  EXPECT_NE(xml.find("<begin>1704067200</begin>"), std::string::npos);
  EXPECT_NE(xml.find("<selector>sel</selector>"), std::string::npos);
  EXPECT_NE(xml.find("<scope>mfrom</scope>"), std::string::npos);
  // RFC 9990 §3.1.1.2 order: version, report_metadata, policy_published, record.
  EXPECT_LT(xml.find("<version>"), xml.find("<report_metadata>"));
  EXPECT_LT(xml.find("<report_metadata>"), xml.find("<policy_published>"));
  EXPECT_LT(xml.find("<policy_published>"), xml.find("<record>"));

  auto report = parse_dmarc_xml(xml);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->org_name, "mx.example.com");
  EXPECT_EQ(report->contact, "reports@example.com");
  EXPECT_EQ(report->report_id, "1704067200.example.org@example.com");
  EXPECT_EQ(report->policy_domain, "example.org");
  EXPECT_EQ(report->begin, kDay);
  EXPECT_EQ(report->end, kDay + k24h);
  EXPECT_EQ(report->messages, 10u);
  EXPECT_EQ(report->passed, 3u);
  ASSERT_EQ(report->rows.size(), 2u);
  EXPECT_EQ(report->rows[0],
            (ReceivedReportRow{"192.0.2.1", 7, "reject", "fail", "fail", "example.org"}));
  EXPECT_EQ(report->policy, "p=reject sp=quarantine adkim=r aspf=r testing=n");
}

TEST(DmarcReport, BytesThatAreNotUtf8OrControlsKeepTheDocumentWellFormed) {
  DmarcAggregate aggregate;
  aggregate.domain = "example.org";
  aggregate.rows.push_back({evaluation("example.org", "192.0.2.1", kDay).row, 1});
  aggregate.rows[0].row.dkim[0].selector = "s\xff\x01<";
  const auto xml = build_dmarc_xml(aggregate, reporter(), {kDay, kDay + k24h});
  auto report = parse_dmarc_xml(xml);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->rows.size(), 1u);
}

TEST(DmarcReport, NonReportsAreRefused) {
  for (std::string_view bad : {"", "   ", "<html><body/></html>", "<feedback></feedback>",
                               "{\"a\":1}", "<feedback><report_metadata><org_name>x"}) {
    EXPECT_FALSE(parse_dmarc_xml(bad)) << bad;
    EXPECT_FALSE(parse_report_file(bad)) << bad;
  }
}

TEST(DmarcReport, EveryPrefixOfAReportIsReadOrRefusedWithoutCrashing) {
  DmarcAggregate aggregate;
  aggregate.domain = "example.org";
  aggregate.rows.push_back({evaluation("example.org", "192.0.2.1", kDay).row, 1});
  const auto xml = build_dmarc_xml(aggregate, reporter(), {kDay, kDay + k24h});
  const auto packed = gzip(xml);
  for (std::size_t n = 0; n <= xml.size(); ++n) {
    (void)parse_dmarc_xml(std::string_view(xml).substr(0, n));
  }
  for (std::size_t n = 0; n <= packed.size(); ++n) {
    (void)parse_report_file(std::string_view(packed).substr(0, n));
  }
  EXPECT_TRUE(parse_report_file(packed));
}

// ----- the parsedmarc samples, read in place

class Samples : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = mailauth::testing::testdata_dir();
    if (!dir) {
      if (mailauth::testing::must_have_testdata()) {
        FAIL() << "../shared/testdata is missing (CI=true: the sample reports are required)";
      }
      GTEST_SKIP() << "../shared/testdata is absent; the sample reports are skipped";
    }
    root_ = fs::path(*dir) / "dmarc";
  }

  // Bare files go to parse_report_file(), messages to parse_report_message().
  static Result<std::vector<ReceivedReport>> read(const fs::path& path) {
    const auto bytes = read_file(path);
    if (path.extension() == ".eml") {
      return parse_report_message(bytes);
    }
    TERN_TRY(auto report, parse_report_file(bytes));
    return std::vector<ReceivedReport>{std::move(report)};
  }

  fs::path root_;
};

TEST_F(Samples, EveryAggregateSampleParses) {
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(root_ / "aggregate")) {
    ++files;
    auto reports = read(entry.path());
    ASSERT_TRUE(reports) << entry.path().filename() << ": " << reports.error().message;
    ASSERT_FALSE(reports->empty());
    for (const auto& r : *reports) {
      EXPECT_EQ(r.kind, ReportKind::kDmarcAggregate) << entry.path().filename();
      EXPECT_FALSE(r.org_name.empty()) << entry.path().filename();
      EXPECT_FALSE(r.report_id.empty()) << entry.path().filename();
      EXPECT_FALSE(r.policy_domain.empty()) << entry.path().filename();
      EXPECT_LE(r.begin, r.end) << entry.path().filename();
      EXPECT_FALSE(r.rows.empty()) << entry.path().filename();
      EXPECT_GT(r.messages, 0u) << entry.path().filename();
    }
  }
  EXPECT_EQ(files, 18u);
}

TEST_F(Samples, KnownValuesComeOut) {
  auto google = read(root_ / "aggregate" /
                     "Report domain- borschow.com Submitter- google.com Report-ID- "
                     "949348866075514174.eml");
  ASSERT_TRUE(google) << google.error().message;
  EXPECT_EQ((*google)[0].org_name, "google.com");
  EXPECT_EQ((*google)[0].report_id, "949348866075514174");
  EXPECT_EQ((*google)[0].policy_domain, "borschow.com");

  auto bis = read(root_ / "aggregate" / "rfc9990-sample.xml");
  ASSERT_TRUE(bis) << bis.error().message;
  EXPECT_NE((*bis)[0].policy.find("p="), std::string::npos);

  auto upper = read(root_ / "aggregate_invalid" / "report_with_upper_cased_pass.xml");
  ASSERT_TRUE(upper) << upper.error().message;
  for (const auto& row : (*upper)[0].rows) {
    EXPECT_TRUE(row.dkim == "pass" || row.dkim == "fail") << row.dkim;
    EXPECT_TRUE(row.spf == "pass" || row.spf == "fail") << row.spf;
    EXPECT_EQ(row.result, "none");
  }
  EXPECT_GT((*upper)[0].passed, 0u);

  auto broken = read(root_ / "aggregate" / "invalid_xml.xml");
  ASSERT_TRUE(broken) << broken.error().message;
  EXPECT_EQ((*broken)[0].org_name, "veeam.com");
  EXPECT_EQ((*broken)[0].rows[0].source, "199.230.200.36");

  EXPECT_FALSE(read(root_ / "empty.xml"));
}

TEST_F(Samples, EveryTlsSampleParses) {
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(root_ / "smtp_tls")) {
    ++files;
    auto reports = read(entry.path());
    ASSERT_TRUE(reports) << entry.path().filename() << ": " << reports.error().message;
    for (const auto& r : *reports) {
      EXPECT_EQ(r.kind, ReportKind::kTlsRpt) << entry.path().filename();
      EXPECT_FALSE(r.org_name.empty());
      EXPECT_FALSE(r.report_id.empty());
      EXPECT_FALSE(r.policy_domain.empty());
      EXPECT_LT(r.begin, r.end);
    }
  }
  EXPECT_EQ(files, 4u);
  auto rfc = read(root_ / "smtp_tls" / "rfc8460.json");
  ASSERT_TRUE(rfc);
  EXPECT_EQ((*rfc)[0].org_name, "Company-X");
  EXPECT_EQ((*rfc)[0].policy_domain, "company-y.example");
  EXPECT_EQ((*rfc)[0].passed, 5326u);
  bool found = false;
  for (const auto& row : (*rfc)[0].rows) {
    if (row.result == "starttls-not-supported") {
      found = true;
      EXPECT_EQ(row.count, 200u);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(Samples, FailureReportsAreNotTakenForAggregateReports) {
  // ARF (ruf) reports are out of scope: they must be refused cleanly, not misread.
  for (const auto& entry : fs::directory_iterator(root_ / "failure")) {
    auto reports = read(entry.path());
    EXPECT_FALSE(reports) << entry.path().filename();
  }
}

// ----- TLS documents

TEST(TlsReport, Rfc3339) {
  EXPECT_EQ(format_rfc3339(kDay + std::chrono::seconds(3661)), "2024-01-01T01:01:01Z");
  EXPECT_EQ(parse_rfc3339("2024-01-01T01:01:01Z"), kDay + std::chrono::seconds(3661));
  EXPECT_EQ(parse_rfc3339("2024-01-01T02:01:01.25+01:00"), kDay + std::chrono::seconds(3661));
  for (std::string_view bad :
       {"", "2024-01-01", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00", "1012-01-01T00:00:00Z",
        "9999-01-01T00:00:00Z", "2024-01-01T00:00:00+0100", "x024-01-01T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

TEST(TlsReport, BuiltJsonReadsBack) {
  TlsPolicySummary sts;
  sts.policy_domain = "example.net";
  sts.policy_type = TlsPolicyType::kSts;
  sts.policy_strings = {"version: STSv1", "mode: enforce"};
  sts.mx_hosts = {"*.example.net"};
  sts.successes = 10;
  sts.failures = 2;
  sts.failure_details.push_back({TlsResultType::kCertificateExpired, "192.0.2.1", "mx.example.net",
                                 "", "198.51.100.1", "", "", 2});
  const auto json = build_tls_json({sts}, reporter(), {kDay, kDay + k24h});
  EXPECT_NE(json.find("\"start-datetime\": \"2024-01-01T00:00:00Z\""), std::string::npos);
  EXPECT_NE(json.find("\"result-type\": \"certificate-expired\""), std::string::npos);
  EXPECT_NE(json.find("\"mx-host\""), std::string::npos);
  auto report = parse_tls_json(json);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->org_name, "mx.example.com");
  EXPECT_EQ(report->policy_domain, "example.net");
  EXPECT_EQ(report->policy, "sts");
  EXPECT_EQ(report->messages, 12u);
  EXPECT_EQ(report->passed, 10u);
  ASSERT_EQ(report->rows.size(), 2u);
  EXPECT_EQ(report->rows[1],
            (ReceivedReportRow{"mx.example.net", 2, "certificate-expired", "", "", ""}));
  for (std::string_view bad : {"", "[]", "{", "{\"policies\": 3}", "{\"organization-name\": 1}"}) {
    EXPECT_FALSE(parse_tls_json(bad)) << bad;
  }
}

// ----- addressing

TEST(Addressing, MailtoUris) {
  auto plain = parse_mailto_uri("mailto:dmarc@example.org");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->address, "dmarc@example.org");
  EXPECT_FALSE(plain->max_bytes);
  auto sized = parse_mailto_uri(" MAILTO:d%40x@example.org!10m");
  ASSERT_TRUE(sized);
  EXPECT_EQ(sized->address, "d@x@example.org");
  EXPECT_EQ(sized->max_bytes, 10u << 20);
  EXPECT_EQ(parse_mailto_uri("mailto:a@b!500")->max_bytes, 500u);
  for (std::string_view bad :
       {"https://example.org/r", "mailto:", "mailto:nobody", "mailto:a@b!", "mailto:a@b!x",
        "mailto:a@b!99999999999999999999t", "mailto:a%zz@b"}) {
    EXPECT_FALSE(parse_mailto_uri(bad)) << bad;
  }
  auto record = parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:a@example.net,https://r.example.net/x");
  ASSERT_TRUE(record);
  EXPECT_EQ(*record, (std::vector<std::string>{"mailto:a@example.net", "https://r.example.net/x"}));
  EXPECT_FALSE(parse_tlsrpt_record("v=DMARC1; rua=mailto:a@b"));
  EXPECT_FALSE(parse_tlsrpt_record("v=TLSRPTv1;"));
}

// ----- the use-cases over store::memory

class Generation : public ::testing::Test {
 protected:
  ReportSettings settings() {
    ReportSettings s;
    s.reporter = reporter();
    return s;
  }

  store::memory::MemoryStorage storage_;
  MapDns dns_;
  const Period period_{kDay, kDay + k24h};
};

TEST_F(Generation, DmarcReportIsAddressedComposedAndReadable) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        storage_.reports().record_dmarc(evaluation("example.org", "192.0.2.1", kDay)).get());
  }
  auto external = evaluation("example.net", "192.0.2.2", kDay);
  external.policy.rua = {"mailto:collector@reports.example", "mailto:big@example.net!1k",
                         "https://example.net/r", "mailto:unverified@other.example"};
  ASSERT_TRUE(storage_.reports().record_dmarc(external).get());
  auto none = evaluation("example.info", "192.0.2.3", kDay);
  none.policy.rua.clear();
  ASSERT_TRUE(storage_.reports().record_dmarc(none).get());
  dns_.records["example.net._report._dmarc.reports.example"] = {"v=DMARC1"};

  auto prepared = prepare_reports(storage_.reports(), settings(), dns_, period_, kDay + k24h);
  ASSERT_TRUE(prepared) << prepared.error().message;
  ASSERT_EQ(prepared->size(), 2u);  // example.info asked for no reports
  const auto& net = (*prepared)[0];
  EXPECT_EQ(net.domain, "example.net");
  EXPECT_EQ(net.recipients, std::vector<std::string>{"collector@reports.example"});
  ASSERT_EQ(net.skipped.size(), 3u);
  EXPECT_NE(net.skipped[0].find("size limit"), std::string::npos);
  EXPECT_NE(net.skipped[1].find("https"), std::string::npos);
  EXPECT_NE(net.skipped[2].find("not verified"), std::string::npos);

  const auto& org = (*prepared)[1];
  EXPECT_EQ(org.recipients, std::vector<std::string>{"dmarc@example.org"});
  EXPECT_EQ(org.filename, "example.com!example.org!1704067200!1704153600.xml.gz");
  const auto& raw = org.message;
  EXPECT_NE(raw.find("Subject: Report Domain: example.org Submitter: example.com Report-ID:\r\n "
                     "<1704067200.example.org@example.com>"),
            std::string::npos)
      << raw.substr(0, 600);
  EXPECT_NE(raw.find("Content-Type: multipart/mixed"), std::string::npos);
  std::string type;
  auto xml = gunzip(attachment_of(raw, &type));
  ASSERT_TRUE(xml) << xml.error().message;
  EXPECT_EQ(type, "application/gzip");
  EXPECT_EQ(*xml, org.document);
  auto back = parse_report_message(raw);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ((*back)[0].messages, 3u);
  EXPECT_EQ((*back)[0].policy_domain, "example.org");

  auto queued =
      queue_reports(storage_.queue(), storage_.reports(), settings(), *prepared, kDay + k24h);
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->messages, 2u);
  EXPECT_EQ(queued->posts, 0u);  // https: is not a DMARC destination (RFC 9990 §3.5)
  auto entries = storage_.queue().queued().get();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].sender, "reports@example.com");
}

TEST_F(Generation, ReportMailIsSignedWithTheReportersKey) {
  ASSERT_TRUE(storage_.reports().record_dmarc(evaluation("example.org", "192.0.2.1", kDay)).get());
  auto key = mailauth::DkimPrivateKey::from_pkey(
      mailauth::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
  ASSERT_TRUE(key) << key.error().message;
  auto ring = std::make_shared<mailauth::DkimKeyring>();
  ring->add({"example.com", "rep", true,
             std::make_shared<const mailauth::DkimPrivateKey>(std::move(*key))});
  auto s = settings();
  s.dkim = ring;
  auto prepared = prepare_reports(storage_.reports(), s, dns_, period_, kDay + k24h);
  ASSERT_TRUE(prepared);
  ASSERT_TRUE(queue_reports(storage_.queue(), storage_.reports(), s, *prepared, kDay + k24h));
  auto entries = storage_.queue().queued().get();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  auto raw = storage_.queue().read_queued((*entries)[0].id).get();
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->rfind("DKIM-Signature:", 0), 0u) << raw->substr(0, 200);
  EXPECT_NE(raw->find("d=example.com"), std::string::npos);
  EXPECT_NE(raw->find("s=rep"), std::string::npos);
}

TEST_F(Generation, TlsReportGoesToTheTlsrptRua) {
  TlsSessionResult ok;
  ok.time = kDay;
  ok.policy_domain = "example.net";
  ok.policy_type = TlsPolicyType::kSts;
  ok.policy_strings = {"version: STSv1", "mode: testing"};
  ok.sessions = 4;
  ASSERT_TRUE(storage_.reports().record_tls(ok).get());
  auto bad = ok;
  bad.result = TlsResultType::kStarttlsNotSupported;
  bad.receiving_mx_hostname = "mx.example.net";
  bad.sessions = 1;
  ASSERT_TRUE(storage_.reports().record_tls(bad).get());
  auto silent = ok;
  silent.policy_domain = "quiet.example";
  ASSERT_TRUE(storage_.reports().record_tls(silent).get());
  dns_.records["_smtp._tls.example.net"] = {
      "v=spf1 -all",
      "v=TLSRPTv1; rua=mailto:tls@example.net,https://x.example/y,https://small.example/!10,"
      "https://192.0.2.1/r,ftp://x.example/"};

  auto s = settings();
  s.dmarc = false;
  auto prepared = prepare_reports(storage_.reports(), s, dns_, period_, kDay + k24h);
  ASSERT_TRUE(prepared) << prepared.error().message;
  ASSERT_EQ(prepared->size(), 1u);
  const auto& report = (*prepared)[0];
  EXPECT_EQ(report.recipients, std::vector<std::string>{"tls@example.net"});
  EXPECT_EQ(report.post_uris, std::vector<std::string>{"https://x.example/y"});
  ASSERT_EQ(report.skipped.size(), 3u);
  EXPECT_NE(report.skipped[0].find("size limit"), std::string::npos);
  EXPECT_NE(report.skipped[1].find("https://192.0.2.1/r: not a usable"), std::string::npos);
  EXPECT_NE(report.skipped[2].find("ftp://"), std::string::npos);
  EXPECT_EQ(report.filename, "example.com!example.net!1704067200!1704153600.json.gz");
  EXPECT_NE(report.message.find("TLS-Report-Domain: example.net\r\n"), std::string::npos);
  EXPECT_NE(report.message.find("TLS-Report-Submitter: example.com\r\n"), std::string::npos);
  EXPECT_NE(report.message.find("multipart/report; report-type=\"tlsrpt\""), std::string::npos);
  std::string type;
  auto json = gunzip(attachment_of(report.message, &type));
  ASSERT_TRUE(json);
  EXPECT_EQ(type, "application/tlsrpt+gzip");
  auto back = parse_tls_json(*json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->passed, 4u);
  EXPECT_EQ(back->messages, 5u);
  EXPECT_NE(std::find(dns_.asked.begin(), dns_.asked.end(), "_smtp._tls.quiet.example"),
            dns_.asked.end());

  // Queued: the mail, and the POST as a pending ReportPost due at once.
  const auto now = kDay + k24h;
  auto queued = queue_reports(storage_.queue(), storage_.reports(), s, *prepared, now);
  ASSERT_TRUE(queued) << queued.error().message;
  EXPECT_EQ(queued->messages, 1u);
  EXPECT_EQ(queued->posts, 1u);
  auto posts = storage_.reports().due_report_posts(now, 10).get();
  ASSERT_TRUE(posts);
  ASSERT_EQ(posts->size(), 1u);
  EXPECT_EQ((*posts)[0].uri, "https://x.example/y");
  EXPECT_EQ((*posts)[0].report_id, report.report_id);
  EXPECT_EQ((*posts)[0].document, report.document);
  EXPECT_EQ((*posts)[0].attempts, 0u);
}

TEST(HttpsUri, ParsesNamesPortsTargetsAndSizes) {
  auto plain = parse_https_uri("https://Reporting.Example.com/v1/tlsrpt");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->uri, "https://Reporting.Example.com/v1/tlsrpt");
  EXPECT_EQ(plain->host, "reporting.example.com");
  EXPECT_EQ(plain->port, 443);
  EXPECT_EQ(plain->target, "/v1/tlsrpt");
  EXPECT_FALSE(plain->max_bytes);
  auto bare = parse_https_uri("HTTPS://r.example:8443?a=b!2k");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->uri, "HTTPS://r.example:8443?a=b");
  EXPECT_EQ(bare->port, 8443);
  EXPECT_EQ(bare->target, "/?a=b");
  EXPECT_EQ(bare->max_bytes, std::optional<std::uint64_t>(2048));
  EXPECT_EQ(parse_https_uri("https://r.example")->target, "/");
  for (const char* bad : {"http://r.example/", "https://", "https:///x", "https://u@r.example/",
                          "https://[::1]/", "https://127.0.0.1/", "https://r.example:0/",
                          "https://r.example:65536/", "https://r.example:x/", "https://r..example/",
                          "https://r.example/a b", "https://r.example/#f", "https://r.example/!",
                          "https://r.example/!12q", " https://r.example/", "mailto:a@r.example"}) {
    EXPECT_FALSE(parse_https_uri(bad)) << bad;
  }
}

TEST(HttpsUri, RetriesBackOffWithinTheWindow) {
  const SystemTime queued = kDay;
  EXPECT_EQ(next_post_attempt(queued, 1, queued), queued + std::chrono::seconds(30));
  EXPECT_EQ(next_post_attempt(queued, 2, queued + std::chrono::seconds(30)),
            queued + std::chrono::seconds(90));
  EXPECT_EQ(next_post_attempt(queued, 3, queued), queued + std::chrono::seconds(120));
  EXPECT_EQ(next_post_attempt(queued, 40, queued), queued + kMaxPostRetry);
  const auto late = queued + std::chrono::hours(23);
  EXPECT_EQ(next_post_attempt(queued, 20, late), queued + kPostWindow);  // the last try
  EXPECT_FALSE(next_post_attempt(queued, 21, queued + kPostWindow));
  // Bounded: from the first failure to the window's end, attempts are few.
  int attempts = 1;
  for (auto at = next_post_attempt(queued, 1, queued); at;
       at = next_post_attempt(queued, static_cast<std::uint32_t>(attempts), *at)) {
    ++attempts;
  }
  EXPECT_LE(attempts, 20);
  EXPECT_GE(attempts, 10);
}

// A ReportPoster that answers from a script and records what it was given.
class ScriptedPoster final : public ReportPoster {
 public:
  Result<void> post(const HttpsUri& uri, std::string_view body) override {
    posted.emplace_back(uri.uri, std::string(body));
    if (answers.empty()) {
      return ok();
    }
    auto answer = answers.front();
    answers.erase(answers.begin());
    return answer;
  }

  std::vector<Result<void>> answers;
  std::vector<std::pair<std::string, std::string>> posted;
};

// A post of report `id` queued at kDay, due at `next`.
ReportPost pending_post(const std::string& id, SystemTime next) {
  ReportPost post;
  post.uri = "https://r.example/tlsrpt";
  post.report_id = id;
  post.policy_domain = "example.net";
  post.document = R"({"report-id": ")" + id + R"("})";
  post.queued = kDay;
  post.next_attempt = next;
  return post;
}

TEST(ReportPosts, RetriedUntilDeliveredThenRemoved) {
  store::memory::MemoryStorage storage;
  auto post = pending_post("id-1", kDay);
  ASSERT_TRUE(storage.reports().put_report_post(post).get());
  ScriptedPoster poster;
  poster.answers.push_back(fail(ErrorCode::kTemporary, "HTTP 500"));

  auto first = deliver_report_posts(storage.reports(), poster, kDay);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->retrying, 1u);
  ASSERT_EQ(poster.posted.size(), 1u);
  auto body = gunzip(poster.posted[0].second);
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, post.document);
  auto pending = storage.reports().due_report_posts(kDay + kPostWindow, 10).get();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].attempts, 1u);
  EXPECT_EQ((*pending)[0].last_error, "HTTP 500");
  EXPECT_EQ((*pending)[0].next_attempt, kDay + kFirstPostRetry);

  // Not due yet: nothing is sent.
  auto early = deliver_report_posts(storage.reports(), poster, kDay + std::chrono::seconds(10));
  ASSERT_TRUE(early);
  EXPECT_EQ(poster.posted.size(), 1u);
  auto second = deliver_report_posts(storage.reports(), poster, kDay + kFirstPostRetry);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->delivered, 1u);
  EXPECT_EQ(poster.posted.size(), 2u);
  EXPECT_TRUE(storage.reports().due_report_posts(kDay + kPostWindow, 10).get()->empty());
}

TEST(ReportPosts, DroppedWhenTheWindowCloses) {
  store::memory::MemoryStorage storage;
  auto post = pending_post("id-2", kDay + kPostWindow);
  post.attempts = 12;
  ASSERT_TRUE(storage.reports().put_report_post(post).get());
  ScriptedPoster poster;
  poster.answers.push_back(fail(ErrorCode::kPermanent, "certificate of r.example: expired"));
  auto run = deliver_report_posts(storage.reports(), poster, kDay + kPostWindow);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->abandoned, 1u);
  ASSERT_EQ(run->notes.size(), 1u);
  EXPECT_NE(run->notes[0].find("certificate of r.example"), std::string::npos);
  EXPECT_TRUE(storage.reports().due_report_posts(kDay + 2 * kPostWindow, 10).get()->empty());

  // An unusable URI in the store (an older version's, say) is dropped, not sent.
  post.uri = "https://127.0.0.1/";
  post.next_attempt = kDay;
  ASSERT_TRUE(storage.reports().put_report_post(post).get());
  auto dropped = deliver_report_posts(storage.reports(), poster, kDay);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->abandoned, 1u);
  EXPECT_EQ(poster.posted.size(), 1u);
}

// Counts POSTs from any thread; each takes a little while, as a real one does,
// so two deliverers running at once overlap.
class SlowCountingPoster final : public ReportPoster {
 public:
  Result<void> post(const HttpsUri&, std::string_view) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ++posts;
    return ok();
  }

  std::atomic<int> posts{0};
};

TEST(ReportPosts, TwoDeliverersAtOncePostEachReportOnce) {
  store::memory::MemoryStorage storage;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        storage.reports().put_report_post(pending_post("id-" + std::to_string(i), kDay)).get());
  }
  SlowCountingPoster poster;
  std::size_t delivered[2] = {0, 0};
  auto deliver = [&](std::size_t& out) {
    auto run = deliver_report_posts(storage.reports(), poster, kDay);
    ASSERT_TRUE(run) << run.error().message;
    out = run->delivered;
  };
  std::thread a([&] { deliver(delivered[0]); });
  std::thread b([&] { deliver(delivered[1]); });
  a.join();
  b.join();
  EXPECT_EQ(poster.posts.load(), 5);
  EXPECT_EQ(delivered[0] + delivered[1], 5u);
  EXPECT_TRUE(storage.reports().due_report_posts(kDay + kPostWindow, 10).get()->empty());
}

TEST(ReportPosts, APostClaimedElsewhereWaitsForItsLease) {
  store::memory::MemoryStorage storage;
  ASSERT_TRUE(storage.reports().put_report_post(pending_post("id-1", kDay)).get());
  // Another node claimed it and died mid-POST.
  ASSERT_EQ(storage.reports().claim_report_posts(kDay, 10, kPostLease).get()->size(), 1u);
  SlowCountingPoster poster;
  auto during = deliver_report_posts(storage.reports(), poster, kDay + kPostLease / 2);
  ASSERT_TRUE(during);
  EXPECT_EQ(poster.posts.load(), 0);
  auto after = deliver_report_posts(storage.reports(), poster, kDay + kPostLease);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->delivered, 1u);
  EXPECT_EQ(poster.posts.load(), 1);
}

TEST_F(Generation, DuePeriodsFollowTheCursor) {
  auto s = settings();
  const auto now = kDay + 3 * k24h + std::chrono::hours(5);
  auto first = due_periods(std::nullopt, s, now);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].begin, kDay + 2 * k24h);
  EXPECT_EQ(first[0].end, kDay + 3 * k24h);
  EXPECT_EQ(due_periods(kDay + k24h, s, now).size(), 2u);
  EXPECT_TRUE(due_periods(kDay + 3 * k24h, s, now).empty());
  s.max_catch_up = 1;
  EXPECT_EQ(due_periods(kDay - 100 * k24h, s, now).size(), 1u);
  s.max_catch_up = 7;
  s.interval = std::chrono::hours(6);
  EXPECT_EQ(due_periods(kDay + 3 * k24h, s, now).size(), 0u);
  EXPECT_EQ(due_periods(kDay + 2 * k24h, s, now).size(), 4u);
}

TEST_F(Generation, RunQueuesOncePerPeriodAndPrunes) {
  ASSERT_TRUE(storage_.reports().record_dmarc(evaluation("example.org", "192.0.2.1", kDay)).get());
  ASSERT_TRUE(storage_.reports()
                  .record_dmarc(evaluation("example.org", "192.0.2.1", kDay - 60 * k24h))
                  .get());
  const auto now = kDay + k24h + std::chrono::minutes(5);
  auto first = run_due_reports(storage_, settings(), dns_, now);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->periods, 1u);
  EXPECT_EQ(first->queued, 1u);
  EXPECT_GE(first->pruned, 1u);
  auto again = run_due_reports(storage_, settings(), dns_, now + std::chrono::hours(1));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->periods, 0u);
  EXPECT_EQ(storage_.queue().queued().get()->size(), 1u);
}

TEST_F(Generation, TwoNodesRunningAtOnceQueueAPeriodOnce) {
  ASSERT_TRUE(storage_.reports().record_dmarc(evaluation("example.org", "192.0.2.1", kDay)).get());
  const auto now = kDay + k24h + std::chrono::minutes(5);
  // Both "nodes" share the store; every interleaving must queue one report.
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(storage_.reports().set_report_cursor("reports", kDay).get());
    Result<RunSummary> runs[2] = {RunSummary{}, RunSummary{}};
    std::thread a([&] { runs[0] = run_due_reports(storage_, settings(), dns_, now); });
    std::thread b([&] { runs[1] = run_due_reports(storage_, settings(), dns_, now); });
    a.join();
    b.join();
    ASSERT_TRUE(runs[0] && runs[1]);
    EXPECT_EQ(runs[0]->periods + runs[1]->periods, 1u) << "round " << round;
  }
  EXPECT_EQ(storage_.queue().queued().get()->size(), 20u);
}

TEST_F(Generation, ARunWaitsForAnotherNodesLease) {
  ASSERT_TRUE(storage_.reports().record_dmarc(evaluation("example.org", "192.0.2.1", kDay)).get());
  const auto now = kDay + k24h + std::chrono::minutes(5);
  // Another node's run holds the turn (and then dies without handing it back).
  ASSERT_TRUE(
      storage_.reports().set_report_cursor("reports.lease", now + std::chrono::minutes(10)).get());
  auto busy = run_due_reports(storage_, settings(), dns_, now);
  ASSERT_TRUE(busy);
  EXPECT_TRUE(busy->busy);
  EXPECT_EQ(busy->periods, 0u);
  EXPECT_TRUE(storage_.queue().queued().get()->empty());
  auto later = run_due_reports(storage_, settings(), dns_, now + std::chrono::minutes(10));
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->busy);
  EXPECT_EQ(later->periods, 1u);
  // The turn was handed back: a run right after is not kept waiting.
  auto next = run_due_reports(storage_, settings(), dns_, now + std::chrono::minutes(11));
  ASSERT_TRUE(next);
  EXPECT_FALSE(next->busy);
}

TEST_F(Generation, TemporaryDnsFailureSkipsOnlyThatDestination) {
  auto e = evaluation("example.net", "192.0.2.2", kDay);
  e.policy.rua = {"mailto:r@reports.example"};
  ASSERT_TRUE(storage_.reports().record_dmarc(e).get());
  dns_.failing.insert("example.net._report._dmarc.reports.example");
  auto prepared = prepare_reports(storage_.reports(), settings(), dns_, period_, kDay + k24h);
  ASSERT_TRUE(prepared);
  ASSERT_EQ(prepared->size(), 1u);
  EXPECT_TRUE((*prepared)[0].recipients.empty());
  EXPECT_TRUE((*prepared)[0].message.empty());
  EXPECT_NE((*prepared)[0].skipped[0].find("SERVFAIL"), std::string::npos);
}

// ----- ingestion

TEST_F(Generation, InboxReportsAreStoredOnce) {
  ASSERT_TRUE(storage_.directory().add_domain("example.com").get());
  auto account = storage_.directory().add_account({"dmarc@example.com", "x", 0}).get();
  ASSERT_TRUE(account) << account.error().message;
  auto boxes = storage_.mail().mailboxes(account->id).get();
  ASSERT_TRUE(boxes);
  const auto inbox = (*boxes)[0].id;

  ASSERT_TRUE(storage_.reports().record_dmarc(evaluation("example.org", "192.0.2.1", kDay)).get());
  auto prepared = prepare_reports(storage_.reports(), settings(), dns_, period_, kDay + k24h);
  ASSERT_TRUE(prepared);
  auto append = [&](const std::string& raw) {
    NewMessage m{raw, kDay, ""};
    ASSERT_TRUE(storage_.mail().append(m, {{account->id, inbox, 0, {}}}).get());
  };
  append((*prepared)[0].message);
  append("From: a@b\r\nSubject: hello\r\n\r\nnot a report\r\n");
  append((*prepared)[0].message);  // the same report again

  auto first = ingest_inbox(storage_, "dmarc@example.com", kDay + k24h);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->messages, 3u);
  EXPECT_EQ(first->stored, 1u);
  EXPECT_EQ(first->duplicates, 1u);
  EXPECT_EQ(first->unreadable, 1u);
  auto second = ingest_inbox(storage_, "dmarc@example.com", kDay + k24h);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->messages, 0u);
  auto stored = storage_.reports().received_reports({}).get();
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].org_name, "mx.example.com");
  EXPECT_EQ((*stored)[0].received, kDay + k24h);
  EXPECT_FALSE(ingest_inbox(storage_, "nobody@example.com", kDay));
}

}  // namespace
}  // namespace tern::domain::reports
