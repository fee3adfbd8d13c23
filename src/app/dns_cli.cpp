// SPDX-License-Identifier: Apache-2.0
#include "app/dns_cli.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "app/file_text.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "runtime/dns_resolver.hpp"

namespace tern::app {

const char* const kDnsUsage =
    R"(  dns records DOMAIN   prints every DNS record DOMAIN needs, in zone-file form
  dns check DOMAIN     looks each of them up through the [dns] resolver and prints
        ok, missing or different per record; exit 0 only if all match
)";

namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

std::string hex(const unsigned char* data, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += fmt::format("{:02x}", data[i]);
  }
  return out;
}

// RFC 6698 §2.1 with selector 1 (SubjectPublicKeyInfo) and matching type 1
// (SHA-256): the "3 1 1" form RFC 7671 §5.1 recommends, which survives
// certificate renewal with the same key.
Result<std::string> spki_sha256(const std::string& cert_path) {
  TERN_TRY(auto pem, read_file_text(cert_path));
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                          &BIO_free);
  std::unique_ptr<X509, void (*)(X509*)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (!cert) {
    return fail(ErrorCode::kInvalidInput, cert_path + ": no PEM certificate");
  }
  unsigned char* der = nullptr;
  int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (size <= 0) {
    return fail(ErrorCode::kInternal, cert_path + ": cannot encode the public key");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  bool ok = EVP_Digest(der, static_cast<std::size_t>(size), digest, &digest_size, EVP_sha256(),
                       nullptr) == 1;
  OPENSSL_free(der);
  if (!ok) {
    return fail(ErrorCode::kInternal, "SHA-256 failed");
  }
  return hex(digest, digest_size);
}

// Listener addresses worth publishing as A/AAAA hints: literal, not wildcard,
// not loopback.
std::vector<dns::IpAddress> public_addresses(const config::Settings& settings) {
  std::vector<dns::IpAddress> out;
  for (const auto& listener : settings.listeners) {
    auto ip = dns::IpAddress::parse(listener.host);
    if (!ip) {
      continue;
    }
    auto bytes = ip->bytes();
    bool unspecified = std::all_of(bytes.begin(), bytes.end(), [](auto b) { return b == 0; });
    bool loopback = ip->is_v4() ? bytes[0] == 127 : (*ip == *dns::IpAddress::parse("::1"));
    if (!unspecified && !loopback && std::find(out.begin(), out.end(), *ip) == out.end()) {
      out.push_back(*ip);
    }
  }
  return out;
}

// RFC 6186 §3 service labels and RFC 8314 §5.1: implicit TLS is preferred, so its
// records get the lower (preferred) priority value.
struct SrvService {
  config::ListenerRole role;
  config::TlsMode tls;
  std::string_view label;
  std::uint16_t priority;
};

constexpr SrvService kSrvServices[] = {
    {config::ListenerRole::kSubmission, config::TlsMode::kImplicit, "_submissions._tcp", 0},
    {config::ListenerRole::kSubmission, config::TlsMode::kStartTls, "_submission._tcp", 10},
    {config::ListenerRole::kImap, config::TlsMode::kImplicit, "_imaps._tcp", 0},
    {config::ListenerRole::kImap, config::TlsMode::kStartTls, "_imap._tcp", 10},
    {config::ListenerRole::kPop3, config::TlsMode::kImplicit, "_pop3s._tcp", 0},
    // RFC 5804 §1.8: ManageSieve clients look up _sieve._tcp.
    {config::ListenerRole::kManageSieve, config::TlsMode::kStartTls, "_sieve._tcp", 0},
};

// The first TCP listener with this role and TLS mode and a fixed port.
const config::ListenerSettings* find_listener(const config::Settings& settings,
                                              config::ListenerRole role, config::TlsMode tls) {
  for (const auto& listener : settings.listeners) {
    if (listener.role == role && listener.tls == tls && listener.unix_path.empty() &&
        listener.port != 0) {
      return &listener;
    }
  }
  return nullptr;
}

// A TXT value as zone-file character-strings of at most 255 octets.
std::string quoted_strings(const std::string& text) {
  std::string out;
  for (std::size_t pos = 0; pos < text.size() || pos == 0; pos += 255) {
    if (!out.empty()) {
      out += ' ';
    }
    std::string part = text.substr(pos, 255);
    std::string escaped;
    for (char c : part) {
      if (c == '"' || c == '\\') {
        escaped += '\\';
      }
      escaped += c;
    }
    out += '"' + escaped + '"';
  }
  return out;
}

// The answer's records of `type` in the presentation form DnsRecord::value uses.
std::vector<std::string> presented(const dns::Answer& answer, dns::RecordType type) {
  std::vector<std::string> out;
  switch (type) {
    case dns::RecordType::kA:
    case dns::RecordType::kAaaa:
      for (const auto& ip : answer.addresses) {
        out.push_back(ip.format());
      }
      break;
    case dns::RecordType::kMx:
      for (const auto& mx : answer.mx) {
        out.push_back(fmt::format("{} {}", mx.preference, dns::absolute_name(mx.exchange)));
      }
      break;
    case dns::RecordType::kTxt:
      for (const auto& txt : answer.txt) {
        out.push_back(txt.joined());
      }
      break;
    case dns::RecordType::kSrv:
      for (const auto& srv : answer.srv) {
        out.push_back(fmt::format("{} {} {} {}", srv.priority, srv.weight, srv.port,
                                  dns::absolute_name(srv.target)));
      }
      break;
    case dns::RecordType::kTlsa:
      for (const auto& tlsa : answer.tlsa) {
        out.push_back(fmt::format(
            "{} {} {} {}", tlsa.usage, tlsa.selector, tlsa.matching_type,
            hex(reinterpret_cast<const unsigned char*>(tlsa.data.data()), tlsa.data.size())));
      }
      break;
    case dns::RecordType::kCname:
    case dns::RecordType::kNs:
    case dns::RecordType::kPtr:
      for (const auto& name : answer.names) {
        out.push_back(dns::absolute_name(name));
      }
      break;
  }
  return out;
}

// For TXT: only records of the same kind ("v=spf1", "v=DKIM1", ...) compete; a
// name may carry unrelated TXT records (site verification and such).
std::string txt_kind(std::string_view value) {
  std::string_view kind = value.substr(0, value.find(';'));
  kind = kind.substr(0, kind.find(' '));
  std::string out(kind);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

int print_records(const std::vector<DnsRecord>& records, const std::string& domain) {
  fmt::print("; DNS records for {} (tern dns records)\n", domain);
  for (const auto& record : records) {
    fmt::print("\n; {}\n", record.comment);
    std::string value =
        record.type == dns::RecordType::kTxt ? quoted_strings(record.value) : record.value;
    fmt::print("{} 3600 IN {} {}\n", record.name, dns::record_type_name(record.type), value);
  }
  return kOk;
}

int check_records(const std::vector<DnsRecord>& records, const config::Settings& settings) {
  auto resolver = cli_resolver(settings);
  if (!resolver) {
    fmt::print(stderr, "tern dns: {}\n", resolver.error().message);
    return kFailed;
  }
  bool all_ok = true;
  for (const auto& record : records) {
    dns::Answer answer = (*resolver)->lookup(record.name, record.type).get();
    std::string what = fmt::format("{} {}", record.name, dns::record_type_name(record.type));
    if (answer.status == dns::LookupStatus::kTemporary ||
        answer.status == dns::LookupStatus::kMalformed) {
      fmt::print("error      {}: lookup failed ({})\n", what, answer.error);
      all_ok = false;
      continue;
    }
    std::vector<std::string> found = presented(answer, record.type);
    if (record.type == dns::RecordType::kTxt) {
      std::string kind = txt_kind(record.value);
      std::erase_if(found, [&](const std::string& v) { return txt_kind(v) != kind; });
    }
    if (std::find(found.begin(), found.end(), record.value) != found.end()) {
      fmt::print("ok         {}\n", what);
      continue;
    }
    all_ok = false;
    if (found.empty()) {
      fmt::print("missing    {}\n           expected: {}\n", what, record.value);
      continue;
    }
    fmt::print("different  {}\n           expected: {}\n", what, record.value);
    for (const auto& value : found) {
      fmt::print("           found:    {}\n", value);
    }
  }
  return all_ok ? kOk : kFailed;
}

}  // namespace

services::http::MtaStsPolicy mta_sts_policy(const config::Settings& settings) {
  services::http::MtaStsPolicy policy;
  policy.mode = std::string(config::mta_sts_mode_name(settings.mta_sts.mode));
  policy.mx.push_back(settings.server.hostname);
  policy.mx.insert(policy.mx.end(), settings.mta_sts.mx.begin(), settings.mta_sts.mx.end());
  policy.max_age = static_cast<std::uint32_t>(settings.mta_sts.max_age.count());
  return policy;
}

std::string mta_sts_policy_id(const services::http::MtaStsPolicy& policy) {
  std::string text = services::http::render_mta_sts_policy(policy);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  return hex(digest, size).substr(0, 32);
}

Result<std::vector<DnsRecord>> required_records(const config::Settings& settings,
                                                const std::string& domain) {
  using dns::RecordType;
  const std::string zone = dns::absolute_name(domain);
  const std::string host = dns::absolute_name(settings.server.hostname);
  std::vector<DnsRecord> out;
  // RFC 5321 §5.1: mail for the domain goes to its MX hosts.
  out.push_back({zone, RecordType::kMx, "10 " + host, "mail for the domain goes to this server"});
  for (const auto& ip : public_addresses(settings)) {
    out.push_back({host, ip.is_v4() ? RecordType::kA : RecordType::kAaaa, ip.format(),
                   "the server's address, from the [[listener]] hosts"});
  }
  // RFC 7208 §3: only the domain's MX hosts send its mail; anything else fails.
  out.push_back(
      {zone, RecordType::kTxt, "v=spf1 mx -all", "SPF (RFC 7208): only the MX hosts send"});
  for (const auto& key : settings.dkim) {
    if (key.domain != domain) {
      continue;
    }
    TERN_TRY(auto pem, read_file_text(key.key));
    auto loaded = mailauth::DkimPrivateKey::load(pem);
    if (!loaded) {
      return fail(ErrorCode::kInvalidInput, key.key + ": " + loaded.error().message);
    }
    out.push_back({dns::absolute_name(key.selector + "._domainkey." + domain), RecordType::kTxt,
                   loaded->dns_record(),
                   fmt::format("DKIM (RFC 6376 §3.6.1) public key of selector {}{}", key.selector,
                               key.sign ? "" : " (not signing yet)")});
  }
  // RFC 7489 §6.3: quarantine is a sane start; aggregate reports show what to fix
  // before p=reject.
  out.push_back({"_dmarc." + zone, RecordType::kTxt,
                 "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@" + domain,
                 "DMARC (RFC 9989): quarantine what fails, send aggregate reports"});
  const auto policy = mta_sts_policy(settings);
  out.push_back({"_mta-sts." + zone, RecordType::kTxt, "v=STSv1; id=" + mta_sts_policy_id(policy),
                 fmt::format("MTA-STS (RFC 8461 §3.1): the id changes with the policy (mode {})",
                             policy.mode)});
  out.push_back({"mta-sts." + zone, RecordType::kCname, host,
                 "MTA-STS policy host: ternd's [[listener]] role \"http\" must serve HTTPS on "
                 "port 443 with a certificate for this name (RFC 8461 §3.3)"});
  out.push_back({"_smtp._tls." + zone, RecordType::kTxt,
                 "v=TLSRPTv1; rua=mailto:tls-reports@" + domain,
                 "TLS-RPT (RFC 8460 §3): where senders report TLS failures"});
  for (const auto& service : kSrvServices) {
    const auto* listener = find_listener(settings, service.role, service.tls);
    std::string name = std::string(service.label) + "." + zone;
    if (listener == nullptr) {
      // RFC 6186 §3.4: target "." says the service is not offered.
      out.push_back(
          {name, RecordType::kSrv, "0 0 0 .",
           fmt::format("RFC 6186: no {} listener with TLS {}: not offered",
                       config::role_name(service.role), config::tls_mode_name(service.tls))});
      continue;
    }
    out.push_back({name, RecordType::kSrv,
                   fmt::format("{} 1 {} {}", service.priority, listener->port, host),
                   fmt::format("RFC 6186 autodiscovery, listener {} (RFC 8314 §5.1 priority)",
                               listener->name)});
  }
  const bool smtp_starttls =
      find_listener(settings, config::ListenerRole::kSmtp, config::TlsMode::kStartTls) != nullptr;
  if (smtp_starttls && !settings.tls.cert.empty()) {
    TERN_TRY(auto digest, spki_sha256(settings.tls.cert));
    // RFC 7672 §3.1: DANE-EE(3) SPKI(1) SHA-256(1) at the MX host's port 25.
    out.push_back({"_25._tcp." + host, RecordType::kTlsa, "3 1 1 " + digest,
                   "DANE (RFC 7672): the key of [tls] cert; publish only in a DNSSEC-signed zone"});
  }
  return out;
}

int dns_command(const std::vector<std::string>& words, const config::Settings& settings,
                domain::Storage& storage) {
  if (words.size() != 2 || (words[0] != "records" && words[0] != "check")) {
    fmt::print(stderr, "tern dns: expected records|check DOMAIN\nusage:\n{}", kDnsUsage);
    return kUsage;
  }
  auto name = dns::normalize_name(words[1]);
  if (!name) {
    fmt::print(stderr, "tern dns: {}: {}\n", words[1], name.error().message);
    return kUsage;
  }
  auto found = storage.directory().find_domain(*name).get();
  if (!found) {
    fmt::print(stderr, "tern dns: {}\n", found.error().message);
    return kFailed;
  }
  if (!*found) {
    fmt::print(stderr, "tern dns: {} is not a local domain (tern domain add {})\n", *name, *name);
    return kFailed;
  }
  auto records = required_records(settings, *name);
  if (!records) {
    fmt::print(stderr, "tern dns: {}\n", records.error().message);
    return kFailed;
  }
  return words[0] == "records" ? print_records(*records, *name) : check_records(*records, settings);
}

Result<std::unique_ptr<runtime::UnboundResolver>> cli_resolver(const config::Settings& settings) {
  runtime::DnsResolverOptions options;
  options.servers = settings.dns.servers;
  options.trust_anchor_file = settings.dns.trust_anchor_file;
  options.query_timeout = settings.dns.timeout;
  return runtime::UnboundResolver::create(options);
}

}  // namespace tern::app
