// SPDX-License-Identifier: Apache-2.0
// For tests only (runtime's and the services'): run a coroutine with a bounded
// wait, and write a self-signed certificate with the OpenSSL API.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace tern::runtime::testing {

// Runs `awaitable` on a fresh strand of `io` (whose threads must be running) and
// waits at most `timeout` for it. Returns nullopt on timeout, so a hung test
// fails instead of blocking ctest. Exceptions from the coroutine are rethrown.
template <class T>
std::optional<T> run_for(asio::io_context& io, asio::awaitable<T> awaitable,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto future = asio::co_spawn(asio::make_strand(io), std::move(awaitable), asio::use_future);
  if (future.wait_for(timeout) != std::future_status::ready) {
    return std::nullopt;
  }
  return future.get();
}

// A unique temporary directory, removed (with its files) on destruction.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/tern-test-XXXXXX";
    char* made = ::mkdtemp(pattern);
    path_ = made != nullptr ? made : "/tmp";
  }

  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct TestCertificate {
  std::string cert_file;
  std::string key_file;
};

// Writes <dir>/<stem>.crt and <dir>/<stem>.key: an EC P-256 key and a certificate
// for CN=`common_name` (also a DNS subjectAltName), valid for one day.
// Returns empty paths if OpenSSL fails (tests then fail on the missing files).
inline TestCertificate write_test_certificate(const std::string& dir, const std::string& stem,
                                              const std::string& common_name = "localhost") {
  TestCertificate out{dir + "/" + stem + ".crt", dir + "/" + stem + ".key"};
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  if (key == nullptr || cert == nullptr) {
    EVP_PKEY_free(key);
    X509_free(cert);
    return {};
  }
  X509_set_version(cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  std::string san = "DNS:" + common_name;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (ext != nullptr) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  std::FILE* cf = std::fopen(out.cert_file.c_str(), "wb");
  std::FILE* kf = std::fopen(out.key_file.c_str(), "wb");
  if (cf != nullptr) {
    PEM_write_X509(cf, cert);
    std::fclose(cf);
  }
  if (kf != nullptr) {
    PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(kf);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

// A certificate made in memory for the TLS policy tests (MTA-STS, DANE): PEM
// of the certificate and its key, and the certificate's DER.
struct IssuedCertificate {
  std::string cert_pem;
  std::string key_pem;
  std::string der;
};

// Issues an EC P-256 certificate for CN=`common_name` with `dns_names` as DNS
// subjectAltNames, signed by `issuer` (nullptr: self-signed), valid from
// now+`not_before` to now+`not_after` seconds; `is_ca` adds basicConstraints
// CA:TRUE and keyCertSign. Returns empty strings if OpenSSL fails.
inline IssuedCertificate issue_certificate(const std::string& common_name,
                                           const std::vector<std::string>& dns_names,
                                           const IssuedCertificate* issuer, bool is_ca = false,
                                           long not_before = -60, long not_after = 24 * 3600) {
  IssuedCertificate out;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) {
    return out;
  }
  std::unique_ptr<X509, decltype(&X509_free)> issuer_cert(nullptr, X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> issuer_key(nullptr, EVP_PKEY_free);
  if (issuer != nullptr) {
    std::unique_ptr<BIO, decltype(&BIO_free)> cbio(
        BIO_new_mem_buf(issuer->cert_pem.data(), static_cast<int>(issuer->cert_pem.size())),
        BIO_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> kbio(
        BIO_new_mem_buf(issuer->key_pem.data(), static_cast<int>(issuer->key_pem.size())),
        BIO_free);
    issuer_cert.reset(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert || !issuer_key) {
      return out;
    }
  }
  X509_set_version(cert.get(), 2);
  static long serial = 1000;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer_cert ? X509_get_subject_name(issuer_cert.get()) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert.get() : cert.get(), cert.get(), nullptr, nullptr,
                 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext != nullptr) {
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
  };
  if (is_ca) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  add(NID_subject_key_identifier, "hash");
  if (!dns_names.empty()) {
    std::string san;
    for (const auto& dns : dns_names) {
      san += (san.empty() ? "DNS:" : ",DNS:") + dns;
    }
    add(NID_subject_alt_name, san);
  }
  X509_sign(cert.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256());
  auto pem = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
  };
  out.cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, cert.get()); });
  out.key_pem = pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert.get(), &der);
  if (length > 0) {
    out.der.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
  }
  return out;
}

// Writes `text` to `path` (a PEM file for a test server or a CA file).
inline void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace tern::runtime::testing
