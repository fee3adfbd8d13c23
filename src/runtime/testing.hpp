// SPDX-License-Identifier: Apache-2.0
// For tests only (runtime's and the services'): run a coroutine with a bounded
// wait, and write a self-signed certificate with the OpenSSL API.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <string>

#include <asio.hpp>
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

}  // namespace tern::runtime::testing
