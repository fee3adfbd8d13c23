// SPDX-License-Identifier: Apache-2.0
#include "runtime/tls.hpp"

#include <filesystem>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "runtime/testing.hpp"

namespace tern::runtime {
namespace {

using testing::TempDir;
using testing::write_test_certificate;

TEST(TlsContexts, LoadsAMatchingCertificateAndKey) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto contexts = TlsContexts::load({cert.cert_file, cert.key_file, TlsVersion::kTls12});
  ASSERT_TRUE(contexts) << contexts.error().message;
  EXPECT_NE((*contexts)->current(), nullptr);
}

TEST(TlsContexts, MissingCertificateNamesTheFile) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  std::string missing = dir.path() + "/missing.crt";
  auto contexts = TlsContexts::load({missing, cert.key_file});
  ASSERT_FALSE(contexts);
  EXPECT_EQ(contexts.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(contexts.error().message, "tls certificate " + missing + ": No such file or directory");
}

TEST(TlsContexts, GarbageCertificateIsInvalidInput) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  std::string garbage = dir.path() + "/garbage.crt";
  std::FILE* f = std::fopen(garbage.c_str(), "w");
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  auto contexts = TlsContexts::load({garbage, cert.key_file});
  ASSERT_FALSE(contexts);
  EXPECT_EQ(contexts.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(contexts.error().message.rfind("tls certificate " + garbage + ": ", 0), 0u)
      << contexts.error().message;
}

TEST(TlsContexts, MismatchedKeyNamesBothFiles) {
  TempDir dir;
  auto a = write_test_certificate(dir.path(), "a");
  auto b = write_test_certificate(dir.path(), "b");
  auto contexts = TlsContexts::load({a.cert_file, b.key_file});
  ASSERT_FALSE(contexts);
  EXPECT_EQ(contexts.error().message,
            "tls key " + b.key_file + " does not match certificate " + a.cert_file);
}

TEST(TlsContexts, FailedReloadKeepsThePreviousContext) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto contexts = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(contexts);
  auto before = (*contexts)->current();
  std::filesystem::remove(cert.key_file);
  auto reloaded = (*contexts)->reload();
  ASSERT_FALSE(reloaded);
  EXPECT_EQ(reloaded.error().message, "tls key " + cert.key_file + ": No such file or directory");
  EXPECT_EQ((*contexts)->current(), before);
}

TEST(TlsContexts, SuccessfulReloadInstallsANewContext) {
  TempDir dir;
  auto cert = write_test_certificate(dir.path(), "server");
  auto contexts = TlsContexts::load({cert.cert_file, cert.key_file});
  ASSERT_TRUE(contexts);
  auto before = (*contexts)->current();
  write_test_certificate(dir.path(), "server", "renewed.example");
  ASSERT_TRUE((*contexts)->reload());
  EXPECT_NE((*contexts)->current(), before);
}

}  // namespace
}  // namespace tern::runtime
