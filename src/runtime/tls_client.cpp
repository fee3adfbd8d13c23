// SPDX-License-Identifier: Apache-2.0
#include "runtime/tls_client.hpp"

#include <asio/ssl/host_name_verification.hpp>
#include <fmt/format.h>

namespace tern::runtime {

Result<std::shared_ptr<asio::ssl::context>> build_client_context(const TlsClientSettings& settings,
                                                                 std::string_view verify_host) {
  // Asio reports OpenSSL failures by throwing; nothing escapes this function.
  try {
    auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    if (!settings.verify) {
      // RFC 7435 §4 (opportunistic security): any certificate is better than
      // plaintext, so none is rejected; RFC 3207 §4.1 leaves the check to policy.
      context->set_verify_mode(asio::ssl::verify_none);
      return context;
    }
    asio::error_code ec;
    if (settings.ca_file.empty()) {
      context->set_default_verify_paths(ec);
    } else {
      context->load_verify_file(settings.ca_file, ec);
    }
    if (ec) {
      return fail(settings.ca_file.empty() ? ErrorCode::kInternal : ErrorCode::kInvalidInput,
                  fmt::format("tls ca file {}: {}",
                              settings.ca_file.empty() ? "(system store)" : settings.ca_file,
                              ec.message()));
    }
    context->set_verify_mode(asio::ssl::verify_peer);
    // RFC 6125 §6: the reference identity is the host we meant to reach.
    context->set_verify_callback(asio::ssl::host_name_verification(std::string(verify_host)));
    return context;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, fmt::format("tls client context: {}", e.what()));
  }
}

}  // namespace tern::runtime
