// SPDX-License-Identifier: Apache-2.0
// Server TLS contexts built from PEM files, shared by implicit-TLS listeners and
// STARTTLS upgrades, and reloadable at runtime (SIGHUP) without dropping
// connections.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <asio/ssl.hpp>

#include "base/result.hpp"

namespace tern::runtime {

enum class TlsVersion { kTls12, kTls13 };

struct TlsSettings {
  std::string cert_file;  // PEM: the leaf certificate followed by its chain
  std::string key_file;   // PEM: the private key (not encrypted)
  TlsVersion min_version = TlsVersion::kTls12;
};

// Owns the current server asio::ssl::context.
//
// Each connection takes a reference to the context current when it starts TLS
// (current()) and keeps it for its lifetime, so reload() never disturbs
// established sessions; new connections use the new certificate.
//
// Thread-safety: current() and reload() may be called from any thread.
class TlsContexts {
 public:
  // Builds the context from `settings`. Errors (code kInvalidInput, or kNotFound /
  // kPermissionDenied when a file cannot be opened) name the file and the reason:
  //   "tls certificate /etc/tern/cert.pem: No such file or directory"
  //   "tls key /etc/tern/key.pem does not match certificate /etc/tern/cert.pem"
  static Result<std::shared_ptr<TlsContexts>> load(TlsSettings settings);

  // The server context to hand to a connection. Never null.
  std::shared_ptr<asio::ssl::context> current() const;

  // Re-reads the files named in the settings and, if they load, makes the new
  // context current. On error the previous context stays current and the error is
  // returned (the same messages as load()).
  Result<void> reload();

  const TlsSettings& settings() const { return settings_; }

  // Builds one server context from `settings` without installing it; what load()
  // and reload() use, public so `tern check-config` can validate files.
  static Result<std::shared_ptr<asio::ssl::context>> build_server_context(
      const TlsSettings& settings);

 private:
  TlsContexts(TlsSettings settings, std::shared_ptr<asio::ssl::context> context);

  TlsSettings settings_;
  mutable std::mutex mutex_;
  std::shared_ptr<asio::ssl::context> current_;  // guarded by mutex_
};

}  // namespace tern::runtime
