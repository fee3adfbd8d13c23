// SPDX-License-Identifier: Apache-2.0
#include "runtime/tls_client.hpp"

#include <asio/ssl/host_name_verification.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace tern::runtime {

namespace {

// Loads the trusted CAs: `ca_file`, or the system store when it is "".
Result<void> load_trust(asio::ssl::context& context, const std::string& ca_file) {
  asio::error_code ec;
  if (ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(ca_file, ec);
  }
  if (ec) {
    return fail(ca_file.empty() ? ErrorCode::kInternal : ErrorCode::kInvalidInput,
                fmt::format("tls ca file {}: {}", ca_file.empty() ? "(system store)" : ca_file,
                            ec.message()));
  }
  return {};
}

}  // namespace

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
    TERN_TRY_VOID(load_trust(*context, settings.ca_file));
    context->set_verify_mode(asio::ssl::verify_peer);
    // RFC 6125 §6: the reference identity is the host we meant to reach.
    context->set_verify_callback(asio::ssl::host_name_verification(std::string(verify_host)));
    return context;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, fmt::format("tls client context: {}", e.what()));
  }
}

std::string TlsPeerCheck::pkix_error_text() const {
  return pkix_error == X509_V_OK ? std::string() : X509_verify_cert_error_string(pkix_error);
}

Result<std::shared_ptr<asio::ssl::context>> build_checking_client_context(
    const TlsClientSettings& settings, std::string_view reference_name,
    std::shared_ptr<TlsPeerCheck> check) {
  try {
    auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    TERN_TRY_VOID(load_trust(*context, settings.ca_file));
    // The reference identity goes into the context's verify parameters, which
    // every SSL made from it inherits: OpenSSL then reports a wrong name as
    // X509_V_ERR_HOSTNAME_MISMATCH like any other chain error. RFC 8461 §3.3
    // and RFC 6125 §6.4.3: "*" only as the complete left-most label.
    if (!reference_name.empty()) {
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(context->native_handle());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (X509_VERIFY_PARAM_set1_host(param, reference_name.data(), reference_name.size()) != 1) {
        return fail(ErrorCode::kInvalidInput,
                    fmt::format("tls reference name {}: not usable", reference_name));
      }
    }
    context->set_verify_mode(asio::ssl::verify_peer);
    context->set_verify_callback([check](bool preverified, asio::ssl::verify_context& verify) {
      X509_STORE_CTX* store = verify.native_handle();
      check->called = true;
      if (check->chain.empty()) {
        // The untrusted stack of a client-side verification is the peer's chain,
        // leaf first (what it sent, not what chain building found).
        STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(store);
        for (int i = 0; sent != nullptr && i < sk_X509_num(sent); ++i) {
          X509* cert = sk_X509_value(sent, i);
          const int length = i2d_X509(cert, nullptr);
          if (length <= 0) {
            continue;
          }
          std::string der(static_cast<std::size_t>(length), '\0');
          auto* out = reinterpret_cast<unsigned char*>(der.data());
          i2d_X509(cert, &out);
          check->chain.push_back(std::move(der));
        }
      }
      if (!preverified && check->pkix_error == X509_V_OK) {
        check->pkix_error = X509_STORE_CTX_get_error(store);
        check->pkix_error_depth = X509_STORE_CTX_get_error_depth(store);
      }
      return true;  // the caller judges after the handshake
    });
    return context;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, fmt::format("tls client context: {}", e.what()));
  }
}

bool tlsa_usable(const dns::TlsaRecord& record) {
  // RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not usable for SMTP.
  return (record.usage == 2 || record.usage == 3) && record.selector <= 1 &&
         record.matching_type <= 2;
}

namespace {

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};

using X509Ptr = std::unique_ptr<X509, X509Free>;

// The bytes a TLSA selector picks (RFC 6698 §2.1.2), DER.
std::string selected_bytes(X509* cert, std::uint8_t selector) {
  unsigned char* buffer = nullptr;
  const int length = selector == 0 ? i2d_X509(cert, &buffer)
                                   : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &buffer);
  if (length <= 0 || buffer == nullptr) {
    return {};
  }
  std::string out(reinterpret_cast<char*>(buffer), static_cast<std::size_t>(length));
  OPENSSL_free(buffer);
  return out;
}

// RFC 6698 §2.1.3: 0 exact, 1 SHA2-256, 2 SHA2-512 of the selected bytes.
bool tlsa_matches(const dns::TlsaRecord& record, X509* cert) {
  const std::string bytes = selected_bytes(cert, record.selector);
  if (bytes.empty()) {
    return false;
  }
  if (record.matching_type == 0) {
    return bytes == record.data;
  }
  const EVP_MD* md = record.matching_type == 1 ? EVP_sha256() : EVP_sha512();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, md, nullptr) != 1) {
    return false;
  }
  return record.data == std::string_view(reinterpret_cast<char*>(digest), length);
}

}  // namespace

DaneResult dane_verify(const std::vector<std::string>& chain,
                       const std::vector<dns::TlsaRecord>& records,
                       const std::vector<std::string>& names) {
  std::vector<X509Ptr> certs;
  for (const auto& der : chain) {
    const auto* in = reinterpret_cast<const unsigned char*>(der.data());
    X509* cert = d2i_X509(nullptr, &in, static_cast<long>(der.size()));
    if (cert == nullptr) {
      break;  // keep what parsed; a broken tail cannot anchor anything
    }
    certs.emplace_back(cert);
  }
  if (certs.empty()) {
    return {DaneOutcome::kNoCertificate, "the server sent no certificate"};
  }
  // RFC 7672 §3.1.1: DANE-EE authenticates the leaf key alone.
  for (const auto& record : records) {
    if (tlsa_usable(record) && record.usage == 3 && tlsa_matches(record, certs.front().get())) {
      return {DaneOutcome::kMatched, "DANE-EE"};
    }
  }
  DaneResult result{DaneOutcome::kNoMatch, "no TLSA record matches the server's certificate"};
  for (const auto& record : records) {
    if (!tlsa_usable(record) || record.usage != 2) {
      continue;
    }
    for (std::size_t anchor = 1; anchor < certs.size(); ++anchor) {
      if (!tlsa_matches(record, certs[anchor].get())) {
        continue;
      }
      // RFC 7672 §3.1.2: the matched certificate is the trust anchor; the leaf
      // must chain to it through what the peer sent, and §3.2.2 name the host.
      std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(),
                                                                    X509_STORE_free);
      std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                              X509_STORE_CTX_free);

      struct StackFree {
        void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
      };

      std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
      if (!store || !context || !untrusted) {
        return {DaneOutcome::kNoMatch, "out of memory"};
      }
      X509_STORE_add_cert(store.get(), certs[anchor].get());
      for (std::size_t i = 1; i < anchor; ++i) {
        sk_X509_push(untrusted.get(), certs[i].get());
      }
      if (X509_STORE_CTX_init(context.get(), store.get(), certs.front().get(), untrusted.get()) !=
          1) {
        continue;
      }
      X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
      // The anchor need not be self-signed (RFC 7671 §5.2.2).
      X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (i == 0) {
          X509_VERIFY_PARAM_set1_host(param, names[i].data(), names[i].size());
        } else {
          X509_VERIFY_PARAM_add1_host(param, names[i].data(), names[i].size());
        }
      }
      if (X509_verify_cert(context.get()) == 1) {
        return {DaneOutcome::kMatched, "DANE-TA"};
      }
      const int error = X509_STORE_CTX_get_error(context.get());
      const std::string why = X509_verify_cert_error_string(error);
      if (error == X509_V_ERR_HOSTNAME_MISMATCH) {
        result = {DaneOutcome::kNameMismatch, "DANE-TA: " + why};
      } else if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
        result = {DaneOutcome::kExpired, "DANE-TA: " + why};
      } else if (result.outcome == DaneOutcome::kNoMatch) {
        result.detail = "DANE-TA: " + why;
      }
    }
  }
  return result;
}

}  // namespace tern::runtime
