// SPDX-License-Identifier: Apache-2.0
#include "app/settings_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "config/config_file.hpp"
#include "mailauth/dkim_crypto.hpp"

namespace tern::app {

Result<config::Settings> load_settings(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot read config file " + path + ": " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  std::string base_dir = ec ? std::string() : absolute.parent_path().lexically_normal().string();
  return config::parse_config(text.str(), path, base_dir);
}

Result<std::shared_ptr<const mailauth::DkimKeyring>> load_dkim_keys(
    const std::string& config_path, const std::vector<config::DkimKeySettings>& entries) {
  auto ring = std::make_shared<mailauth::DkimKeyring>();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    std::string where = fmt::format("{}:{}: dkim[{}].key", config_path, entry.line, i);
    std::ifstream in(entry.key, std::ios::binary);
    if (!in) {
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: cannot read {}: {}", where, entry.key, std::strerror(errno)));
    }
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto key = mailauth::DkimPrivateKey::load(pem);
    if (!key) {
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: {}: {}", where, entry.key, key.error().message));
    }
    ring->add({entry.domain, entry.selector, entry.sign,
               std::make_shared<const mailauth::DkimPrivateKey>(std::move(*key))});
  }
  return std::shared_ptr<const mailauth::DkimKeyring>(std::move(ring));
}

domain::SpamPolicy spam_policy(const config::SpamSettings& settings) {
  domain::SpamPolicy policy;
  policy.classify = settings.classify;
  policy.learn_from_moves = settings.learn_from_moves;
  policy.max_learn_per_command = settings.max_learn_per_command;
  policy.options.spam_cutoff = settings.spam_percent / 100.0;
  policy.options.ham_cutoff = settings.ham_percent / 100.0;
  policy.options.min_messages = settings.min_messages;
  return policy;
}

}  // namespace tern::app
