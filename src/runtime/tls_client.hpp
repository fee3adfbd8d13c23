// SPDX-License-Identifier: Apache-2.0
// Client TLS contexts for outbound SMTP/LMTP: opportunistic (RFC 7435: encrypt,
// do not authenticate) or verified (chain against the system store or a CA file,
// and the server's name, RFC 6125).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ssl.hpp>

#include "base/result.hpp"
#include "dns/records.hpp"

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

// ----- policy-driven verification (MTA-STS, DANE)
//
// For MTA-STS (RFC 8461 §4.2) and DANE (RFC 7672 §3) the transport must know
// *why* a certificate failed (TLS-RPT result types, RFC 8460 §4.3) and DANE
// judges the chain by TLSA records rather than by a CA store. So these contexts
// never fail the handshake over the certificate: they record what the peer sent
// and what PKIX verification found, and the caller decides after the handshake,
// before any SMTP command is sent over the channel.

// What one handshake's certificate check saw. Filled by the context's verify
// callback (on the connection's strand), read after the handshake.
struct TlsPeerCheck {
  // The certificates the peer sent, DER, leaf first.
  std::vector<std::string> chain;
  // The first PKIX error (X509_V_ERR_*, X509_V_OK = 0 when none) against the CA
  // store and the reference name, and its depth in the chain.
  long pkix_error = 0;
  int pkix_error_depth = -1;
  bool called = false;  // the callback ran (false: the peer sent no certificate)

  // The PKIX error as text ("certificate has expired"), "" when none.
  std::string pkix_error_text() const;
};

// Builds a client context that verifies the chain against the system store
// (or `settings.ca_file`) and the leaf against `reference_name` (RFC 6125 DNS-ID,
// a "*" only as the whole left-most label; "" skips the name check), records the
// outcome in `check`, and lets the handshake complete whatever it finds.
// `settings.verify` is ignored. Errors: those of build_client_context().
Result<std::shared_ptr<asio::ssl::context>> build_checking_client_context(
    const TlsClientSettings& settings, std::string_view reference_name,
    std::shared_ptr<TlsPeerCheck> check);

// RFC 7672 §3.1.3: only DANE-TA(2) and DANE-EE(3) records are usable for SMTP,
// with selector 0 or 1 and matching type 0, 1 or 2 (RFC 6698 §2.1). Records
// that are not usable are ignored; a TLSA RRset with none usable is "unusable"
// (§2.2: TLS is still mandatory, but any certificate is accepted).
bool tlsa_usable(const dns::TlsaRecord& record);

// Why a DANE check failed, or kMatched.
enum class DaneOutcome {
  kMatched,        // a usable record authenticated the peer
  kNoCertificate,  // the peer sent none
  kNoMatch,        // no usable record matched (TLS-RPT "validation-failure")
  kNameMismatch,   // DANE-TA matched a chain, but the leaf names none of `names`
  kExpired,        // DANE-TA matched a chain with an expired certificate
};

struct DaneResult {
  DaneOutcome outcome = DaneOutcome::kNoMatch;
  std::string detail;  // for logs and DSN text
};

// Authenticates a peer chain (DER, leaf first, as TlsPeerCheck::chain) with
// TLSA records (RFC 7672 §3.1, RFC 7671 §5):
//   DANE-EE (3 s m): the leaf's certificate or public key matches; names and
//     validity dates are not checked (§3.1.1).
//   DANE-TA (2 s m): a certificate the peer sent (the trust anchor must be in
//     the chain, §3.1.2) matches; the leaf must chain to it (signatures and
//     dates) and carry one of `names` (the MX host name first, §3.2.2).
// Unusable records (tlsa_usable() false) are skipped.
DaneResult dane_verify(const std::vector<std::string>& chain,
                       const std::vector<dns::TlsaRecord>& records,
                       const std::vector<std::string>& names);

}  // namespace tern::runtime
