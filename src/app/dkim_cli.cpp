// SPDX-License-Identifier: Apache-2.0
#include "app/dkim_cli.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "app/file_text.hpp"
#include "mailauth/dkim_crypto.hpp"
#include "mailauth/dkim_signer.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "runtime/dns_resolver.hpp"

namespace tern::app {

const char* const kDkimUsage =
    R"(  dkim keygen --selector S --domain D --out FILE [--type rsa|ed25519] [--bits N]
        writes a new private key (PEM, mode 0600; RSA 2048 bits by default) and
        prints the DNS TXT record to publish at S._domainkey.D
  dkim sign --key FILE --domain D --selector S [--canon relaxed/relaxed]
        [--headers from:to:...] [--timestamp SECONDS] [--expire SECONDS]
        signs the message on standard input, writes it signed to standard output
  dkim verify [--dns-server IP[:PORT]]...
        verifies every DKIM-Signature of the message on standard input and prints
        one RFC 8601 result per signature; exit 0 if one passed
)";

namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

using Options = std::map<std::string, std::vector<std::string>>;

int usage(std::string_view why) {
  fmt::print(stderr, "tern dkim: {}\nusage:\n{}", why, kDkimUsage);
  return kUsage;
}

// "--name value" pairs; a name may repeat.
std::optional<Options> parse_options(const std::vector<std::string>& words, std::string& error) {
  Options options;
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (!words[i].starts_with("--") || i + 1 >= words.size()) {
      error = "expected --OPTION VALUE at \"" + words[i] + "\"";
      return std::nullopt;
    }
    options[words[i].substr(2)].push_back(words[i + 1]);
    ++i;
  }
  return options;
}

std::optional<std::string> option(const Options& options, const std::string& name) {
  auto it = options.find(name);
  if (it == options.end()) {
    return std::nullopt;
  }
  return it->second.back();
}

std::string read_stdin() {
  std::ostringstream out;
  out << std::cin.rdbuf();
  return out.str();
}

std::optional<std::uint64_t> number(const std::string& text) {
  try {
    std::size_t used = 0;
    unsigned long long n = std::stoull(text, &used);
    if (used == text.size()) {
      return n;
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// The record as a zone-file line; TXT character-strings hold at most 255
// octets (RFC 1035 §3.3.14), so a long RSA record is split.
std::string zone_line(const std::string& selector, const std::string& domain,
                      const std::string& record) {
  std::string line = selector + "._domainkey." + domain + ". IN TXT (";
  for (std::size_t pos = 0; pos < record.size(); pos += 255) {
    line += " \"" + record.substr(pos, 255) + "\"";
  }
  return line + " )\n";
}

int keygen(const Options& options) {
  auto selector = option(options, "selector");
  auto domain = option(options, "domain");
  auto out = option(options, "out");
  std::string type = option(options, "type").value_or("rsa");
  if (!selector || !domain || !out) {
    return usage("keygen needs --selector, --domain and --out");
  }
  EVP_PKEY* raw = nullptr;
  if (type == "rsa") {
    auto bits = number(option(options, "bits").value_or("2048"));
    if (!bits || *bits < 1024 || *bits > 8192) {
      return usage("--bits must be 1024..8192 (RFC 8301 §3.2)");
    }
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(*bits));
  } else if (type == "ed25519") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    return usage("--type is rsa or ed25519");
  }
  auto key = mailauth::DkimPrivateKey::from_pkey(mailauth::PkeyPtr(raw));
  if (!key) {
    fmt::print(stderr, "tern dkim: key generation failed: {}\n", key.error().message);
    return kFailed;
  }
  // O_EXCL: never overwrite a key that may be published already.
  int fd = ::open(out->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    fmt::print(stderr, "tern dkim: {}: {}\n", *out, std::strerror(errno));
    return kFailed;
  }
  std::string pem = key->pem();
  bool written =
      ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    fmt::print(stderr, "tern dkim: cannot write {}\n", *out);
    return kFailed;
  }
  fmt::print("{}", zone_line(*selector, *domain, key->dns_record()));
  return kOk;
}

std::optional<mailauth::Canonicalization> canon(std::string_view text) {
  auto c = mailauth::parse_canonicalization(text);
  return c ? std::optional(*c) : std::nullopt;
}

int sign(const Options& options) {
  auto key_path = option(options, "key");
  auto domain = option(options, "domain");
  auto selector = option(options, "selector");
  if (!key_path || !domain || !selector) {
    return usage("sign needs --key, --domain and --selector");
  }
  auto pem = read_file_text(*key_path);
  if (!pem) {
    fmt::print(stderr, "tern dkim: {}\n", pem.error().message);
    return kFailed;
  }
  auto key = mailauth::DkimPrivateKey::load(*pem);
  if (!key) {
    fmt::print(stderr, "tern dkim: {}: {}\n", *key_path, key.error().message);
    return kFailed;
  }
  mailauth::DkimSignOptions sign_options;
  sign_options.domain = *domain;
  sign_options.selector = *selector;
  std::string c = option(options, "canon").value_or("relaxed/relaxed");
  std::size_t slash = c.find('/');
  auto hc = canon(c.substr(0, slash));
  auto bc = slash == std::string::npos ? std::optional(mailauth::Canonicalization::kSimple)
                                       : canon(c.substr(slash + 1));
  if (!hc || !bc) {
    return usage("--canon is simple|relaxed[/simple|relaxed]");
  }
  sign_options.header_canon = *hc;
  sign_options.body_canon = *bc;
  if (auto headers = option(options, "headers")) {
    std::string list = *headers;
    for (std::size_t pos = 0; pos <= list.size();) {
      std::size_t end = list.find(':', pos);
      end = end == std::string::npos ? list.size() : end;
      if (end > pos) {
        sign_options.headers.push_back(list.substr(pos, end - pos));
      }
      pos = end + 1;
    }
  }
  auto timestamp =
      number(option(options, "timestamp")
                 .value_or(std::to_string(static_cast<long long>(std::time(nullptr)))));
  if (!timestamp) {
    return usage("--timestamp is seconds since the epoch");
  }
  sign_options.timestamp = *timestamp;
  if (auto expire = option(options, "expire")) {
    auto seconds = number(*expire);
    if (!seconds || *seconds == 0) {
      return usage("--expire is a number of seconds");
    }
    sign_options.expiration = *timestamp + *seconds;
  }
  std::string message = read_stdin();
  auto field = mailauth::dkim_sign(message, *key, sign_options);
  if (!field) {
    fmt::print(stderr, "tern dkim: {}\n", field.error().message);
    return kFailed;
  }
  // Keep the message's own line ends: a file stored with LF gets an LF field.
  std::string out = *field;
  std::size_t eol = message.find('\n');
  if (eol != std::string::npos && (eol == 0 || message[eol - 1] != '\r')) {
    for (std::size_t p = out.find("\r\n"); p != std::string::npos; p = out.find("\r\n", p)) {
      out.erase(p, 1);
    }
  }
  std::cout << out << message;
  std::cout.flush();
  return std::cout ? kOk : kFailed;
}

int verify(const Options& options) {
  runtime::DnsResolverOptions resolver_options;
  if (auto it = options.find("dns-server"); it != options.end()) {
    resolver_options.servers = it->second;
  }
  auto resolver = runtime::UnboundResolver::create(resolver_options);
  if (!resolver) {
    fmt::print(stderr, "tern dkim: {}\n", resolver.error().message);
    return kFailed;
  }
  std::string message = read_stdin();
  mailauth::DkimVerifyOptions verify_options;
  verify_options.now = static_cast<std::uint64_t>(std::time(nullptr));
  mailauth::DkimVerifier verifier(message, verify_options);
  while (auto query = verifier.pending_query()) {
    verifier.provide((*resolver)->lookup(query->name, query->type).get());
  }
  auto results = verifier.results();
  if (results.empty()) {
    fmt::print("dkim=none\n");
    return kFailed;
  }
  bool passed = false;
  for (const auto& r : results) {
    passed = passed || r.result == mailauth::AuthResult::kPass;
    // RFC 8601 §2.7.1 with the RFC 6008 header.b prefix.
    std::string line = "dkim=" + std::string(mailauth::auth_result_name(r.result));
    if (!r.reason.empty()) {
      line += " (" + r.reason + ")";
    }
    if (!r.domain.empty()) {
      line += " header.d=" + r.domain + " header.s=" + r.selector + " header.a=" + r.algorithm +
              " header.b=" + r.b.substr(0, 8);
    }
    fmt::print("{}\n", line);
  }
  return passed ? kOk : kFailed;
}

}  // namespace

int dkim_command(const std::vector<std::string>& words) {
  if (words.empty()) {
    return usage("missing subcommand");
  }
  std::string error;
  auto options = parse_options(words, error);
  if (!options) {
    return usage(error);
  }
  if (words[0] == "keygen") {
    return keygen(*options);
  }
  if (words[0] == "sign") {
    return sign(*options);
  }
  if (words[0] == "verify") {
    return verify(*options);
  }
  return usage("unknown subcommand " + words[0]);
}

}  // namespace tern::app
