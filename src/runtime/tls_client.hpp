// SPDX-License-Identifier: Apache-2.0
// Client TLS contexts for outbound SMTP/LMTP: opportunistic (RFC 7435: encrypt,
// do not authenticate) or verified (chain against the system store or a CA file,
// and the server's name, RFC 6125).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <asio/ssl.hpp>

#include "base/result.hpp"

namespace tern::runtime {

struct TlsClientSettings {
  // Check the certificate chain and that it names `verify_host`.
  bool verify = false;
  // PEM file of trusted CAs for `verify`; "" = the system store
  // (OpenSSL's default paths, /etc/ssl/certs on Debian).
  std::string ca_file;
};

// Builds a client context (TLS 1.2 or newer). With `verify`, the handshake fails
// unless the chain verifies and the leaf certificate matches `verify_host` (a DNS
// name, or an IP literal matched against IP SANs); `verify_host` is ignored
// otherwise. Errors: kNotFound/kInvalidInput naming `ca_file` when it cannot be
// loaded, kInternal when OpenSSL cannot set up a context.
Result<std::shared_ptr<asio::ssl::context>> build_client_context(const TlsClientSettings& settings,
                                                                 std::string_view verify_host);

}  // namespace tern::runtime
