// SPDX-License-Identifier: Apache-2.0
// The cryptography DKIM needs, over OpenSSL 3 EVP: SHA-256, RSA PKCS#1 v1.5 and
// Ed25519 signatures (RFC 6376 §3.3, RFC 8463 §3), public keys from key records
// and private keys from PEM. No I/O: keys come in as bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "mailauth/dkim_signature.hpp"

// OpenSSL's key type, kept opaque so including this header does not pull in
// OpenSSL's headers.
struct evp_pkey_st;

namespace tern::mailauth {

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view bytes);

  // The 32-byte digest. Call once.
  std::string finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of `bytes` in one call.
std::string sha256(std::string_view bytes);

struct PkeyDeleter {
  void operator()(evp_pkey_st* key) const;
};

using PkeyPtr = std::unique_ptr<evp_pkey_st, PkeyDeleter>;

// A verification key from a key record's p= bytes.
class DkimPublicKey {
 public:
  // RSA: p= as SubjectPublicKeyInfo (RFC 6376 §3.6.1) or, as dkimpy and others
  // accept, a bare PKCS#1 RSAPublicKey. Ed25519: the 32 raw key bytes (RFC 8463
  // §4). Errors: kInvalidInput when the bytes are not such a key or are a key of
  // the other type.
  static Result<DkimPublicKey> load(DkimKeyType type, std::string_view bytes);

  DkimKeyType type() const { return type_; }

  // The RSA modulus size in bits (256 for Ed25519).
  int bits() const;

  // Checks `signature` over `data` with this key (RFC 6376 §3.7 for RSA,
  // RFC 8463 §3 for Ed25519, which signs the SHA-256 hash of `data`). Returns
  // false for a bad signature or an algorithm that does not fit the key type;
  // rsa-sha1 is always false (RFC 8301 §3.1).
  bool verify(DkimAlgorithm algorithm, std::string_view data, std::string_view signature) const;

 private:
  DkimPublicKey(DkimKeyType type, PkeyPtr key) : type_(type), key_(std::move(key)) {}

  DkimKeyType type_;
  PkeyPtr key_;
};

// A signing key.
class DkimPrivateKey {
 public:
  // Loads a PEM private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY",
  // RSA or Ed25519) or, as dkimpy stores Ed25519 keys, the base64 of a 32-byte
  // Ed25519 seed. Errors: kInvalidInput for anything else, an unsupported key
  // type, or an RSA key under 1024 bits (RFC 8301 §3.2).
  static Result<DkimPrivateKey> load(std::string_view text);

  DkimKeyType type() const { return type_; }

  // The algorithm this key signs with: rsa-sha256 or ed25519-sha256.
  DkimAlgorithm algorithm() const;

  // Signs `data`: RSA PKCS#1 v1.5 over SHA-256(data), or Ed25519 over
  // SHA-256(data) (RFC 8463 §3). Errors: kInternal if OpenSSL fails.
  Result<std::string> sign(std::string_view data) const;

  // The public half in key-record p= form: SubjectPublicKeyInfo DER for RSA,
  // the 32 raw bytes for Ed25519 (not base64-encoded).
  std::string public_key_bytes() const;

  // The TXT record text to publish: "v=DKIM1; k=rsa; p=<base64>".
  std::string dns_record() const;

  // The key as PKCS#8 PEM.
  std::string pem() const;

  // Takes ownership of an OpenSSL key (from key generation in the CLI).
  static Result<DkimPrivateKey> from_pkey(PkeyPtr key);

 private:
  DkimPrivateKey(DkimKeyType type, PkeyPtr key) : type_(type), key_(std::move(key)) {}

  DkimKeyType type_;
  PkeyPtr key_;
};

}  // namespace tern::mailauth
