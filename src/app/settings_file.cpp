// SPDX-License-Identifier: Apache-2.0
#include "app/settings_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_file.hpp"

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

}  // namespace tern::app
