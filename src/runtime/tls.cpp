// SPDX-License-Identifier: Apache-2.0
#include "runtime/tls.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

namespace tern::runtime {
namespace {

// Mozilla "intermediate" TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3
// suites are OpenSSL's defaults, which are all acceptable.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown error";
  }
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  // Keep only the reason part ("error:0A00...:SSL routines::reason").
  std::string_view text(buffer);
  auto colon = text.rfind(':');
  return std::string(colon == std::string_view::npos ? text : text.substr(colon + 1));
}

// Opening the file ourselves first gives errno-level reasons ("No such file or
// directory", "Permission denied") that OpenSSL's errors blur.
Result<void> check_readable(const char* what, const std::string& path) {
  if (path.empty()) {
    return fail(ErrorCode::kInvalidInput, fmt::format("tls {}: no file configured", what));
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    int err = errno;
    ErrorCode code = err == ENOENT   ? ErrorCode::kNotFound
                     : err == EACCES ? ErrorCode::kPermissionDenied
                                     : ErrorCode::kIo;
    return fail(code, fmt::format("tls {} {}: {}", what, path, std::strerror(err)));
  }
  std::fclose(file);
  return ok();
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> TlsContexts::build_server_context(
    const TlsSettings& settings) {
  TERN_TRY_VOID(check_readable("certificate", settings.cert_file));
  TERN_TRY_VOID(check_readable("key", settings.key_file));
  ERR_clear_error();

  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  int min_version = settings.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) {
    return fail(ErrorCode::kInternal, "tls: cannot set the minimum protocol version");
  }
  // Renegotiation is a DoS vector and no mail client needs it; compression invites
  // CRIME-style attacks.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return fail(ErrorCode::kInternal, "tls: cannot set the cipher list: " + openssl_reason());
  }

  asio::error_code ec;
  context->use_certificate_chain_file(settings.cert_file, ec);
  if (ec) {
    ERR_clear_error();
    return fail(ErrorCode::kInvalidInput,
                fmt::format("tls certificate {}: {}", settings.cert_file, ec.message()));
  }
  context->use_private_key_file(settings.key_file, asio::ssl::context::pem, ec);
  // OpenSSL checks the key against the certificate while loading it.
  if ((ec && ec.category() == asio::error::get_ssl_category() &&
       ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) ||
      (!ec && SSL_CTX_check_private_key(ctx) != 1)) {
    ERR_clear_error();
    return fail(ErrorCode::kInvalidInput, fmt::format("tls key {} does not match certificate {}",
                                                      settings.key_file, settings.cert_file));
  }
  if (ec) {
    ERR_clear_error();
    return fail(ErrorCode::kInvalidInput,
                fmt::format("tls key {}: {}", settings.key_file, ec.message()));
  }
  return context;
}

TlsContexts::TlsContexts(TlsSettings settings, std::shared_ptr<asio::ssl::context> context)
    : settings_(std::move(settings)), current_(std::move(context)) {}

Result<std::shared_ptr<TlsContexts>> TlsContexts::load(TlsSettings settings) {
  TERN_TRY(auto context, build_server_context(settings));
  return std::shared_ptr<TlsContexts>(new TlsContexts(std::move(settings), std::move(context)));
}

std::shared_ptr<asio::ssl::context> TlsContexts::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

Result<void> TlsContexts::reload() {
  TERN_TRY(auto context, build_server_context(settings_));
  std::lock_guard lock(mutex_);
  current_ = std::move(context);
  return ok();
}

}  // namespace tern::runtime
