// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dkim_crypto.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sasl/base64.hpp"

namespace tern::mailauth {
namespace {

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// RFC 8301 §3.2: signers MUST use keys of at least 1024 bits, verifiers MUST
// NOT treat signatures by smaller RSA keys as valid.
constexpr int kMinRsaBits = 1024;

}  // namespace

void PkeyDeleter::operator()(evp_pkey_st* key) const {
  EVP_PKEY_free(key);
}

struct Sha256::Impl {
  MdCtxPtr ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr);
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
  EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size());
}

std::string Sha256::finish() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), digest, &size);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string sha256(std::string_view bytes) {
  Sha256 hash;
  hash.update(bytes);
  return hash.finish();
}

Result<DkimPublicKey> DkimPublicKey::load(DkimKeyType type, std::string_view bytes) {
  if (type == DkimKeyType::kEd25519) {
    if (bytes.size() != 32) {
      return fail(ErrorCode::kInvalidInput, "ed25519 key is not 32 bytes");
    }
    PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes_of(bytes), 32));
    if (!key) {
      return fail(ErrorCode::kInvalidInput, "ed25519 key is invalid");
    }
    return DkimPublicKey(type, std::move(key));
  }
  const unsigned char* p = bytes_of(bytes);
  auto size = static_cast<long>(bytes.size());
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, size));
  if (!key || p != bytes_of(bytes) + bytes.size()) {
    p = bytes_of(bytes);
    key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, size));
    if (!key || p != bytes_of(bytes) + bytes.size()) {
      return fail(ErrorCode::kInvalidInput, "p= is not an RSA public key");
    }
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return fail(ErrorCode::kInvalidInput, "p= is not an RSA key");
  }
  return DkimPublicKey(type, std::move(key));
}

int DkimPublicKey::bits() const {
  return EVP_PKEY_get_bits(key_.get());
}

bool DkimPublicKey::verify(DkimAlgorithm algorithm, std::string_view data,
                           std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) {
    return false;
  }
  if (algorithm == DkimAlgorithm::kRsaSha256 && type_ == DkimKeyType::kRsa) {
    if (bits() < kMinRsaBits) {
      return false;
    }
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1) {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(data),
                            data.size()) == 1;
  }
  if (algorithm == DkimAlgorithm::kEd25519Sha256 && type_ == DkimKeyType::kEd25519) {
    // RFC 8463 §3: PureEdDSA over the SHA-256 hash of the canonical headers.
    std::string digest = sha256(data);
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(digest),
                            digest.size()) == 1;
  }
  // rsa-sha1 (RFC 8301 §3.1) and algorithm/key mismatches never verify.
  return false;
}

Result<DkimPrivateKey> DkimPrivateKey::from_pkey(PkeyPtr key) {
  if (!key) {
    return fail(ErrorCode::kInvalidInput, "no key");
  }
  int id = EVP_PKEY_get_base_id(key.get());
  if (id == EVP_PKEY_ED25519) {
    return DkimPrivateKey(DkimKeyType::kEd25519, std::move(key));
  }
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
      return fail(ErrorCode::kInvalidInput, "RSA key is shorter than 1024 bits");
    }
    return DkimPrivateKey(DkimKeyType::kRsa, std::move(key));
  }
  return fail(ErrorCode::kInvalidInput, "key is neither RSA nor Ed25519");
}

Result<DkimPrivateKey> DkimPrivateKey::load(std::string_view text) {
  if (text.find("-----BEGIN") != std::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
      return fail(ErrorCode::kInvalidInput, "not a PEM private key");
    }
    return from_pkey(std::move(key));
  }
  std::string compact;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') {
      compact.push_back(c);
    }
  }
  auto seed = sasl::base64_decode(compact);
  if (!seed || seed->size() != 32) {
    return fail(ErrorCode::kInvalidInput, "neither PEM nor a base64 Ed25519 seed");
  }
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes_of(*seed), 32));
  return from_pkey(std::move(key));
}

DkimAlgorithm DkimPrivateKey::algorithm() const {
  return type_ == DkimKeyType::kRsa ? DkimAlgorithm::kRsaSha256 : DkimAlgorithm::kEd25519Sha256;
}

Result<std::string> DkimPrivateKey::sign(std::string_view data) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string digest;
  const EVP_MD* md = EVP_sha256();
  if (type_ == DkimKeyType::kEd25519) {
    digest = sha256(data);
    data = digest;
    md = nullptr;
  }
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, bytes_of(data), data.size()) != 1) {
    return fail(ErrorCode::kInternal, "signing failed");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     bytes_of(data), data.size()) != 1) {
    return fail(ErrorCode::kInternal, "signing failed");
  }
  signature.resize(size);
  return signature;
}

std::string DkimPrivateKey::public_key_bytes() const {
  if (type_ == DkimKeyType::kEd25519) {
    std::string raw(32, '\0');
    std::size_t size = raw.size();
    EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(raw.data()), &size);
    raw.resize(size);
    return raw;
  }
  int size = i2d_PUBKEY(key_.get(), nullptr);
  if (size <= 0) {
    return {};
  }
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PUBKEY(key_.get(), &p);
  return der;
}

std::string DkimPrivateKey::dns_record() const {
  return std::string("v=DKIM1; k=") + (type_ == DkimKeyType::kRsa ? "rsa" : "ed25519") +
         "; p=" + sasl::base64_encode(public_key_bytes());
}

std::string DkimPrivateKey::pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace tern::mailauth
