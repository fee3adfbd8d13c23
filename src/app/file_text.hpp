// SPDX-License-Identifier: Apache-2.0
// Reading a whole file named on the command line or in the config (a PEM key or
// certificate, a report, a Sieve script, a message), for the CLI commands. One reader, so every
// command words an unreadable file the same way.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "base/result.hpp"

namespace tern::app {

// The bytes of `path`, read whole (binary: nothing is translated).
// Errors, with the message "<path>: <reason>" (strerror):
//   kNotFound          no such file;
//   kPermissionDenied  not readable by this user;
//   kIo                any other open or read failure.
inline Result<std::string> read_file_text(const std::string& path) {
  auto error = [&path](int err) {
    const ErrorCode code = err == ENOENT   ? ErrorCode::kNotFound
                           : err == EACCES ? ErrorCode::kPermissionDenied
                                           : ErrorCode::kIo;
    return fail(code, path + ": " + std::strerror(err));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    return error(errno);
  }
  std::string text;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get()) != 0) {
    return error(errno);  // e.g. EISDIR for a directory
  }
  return text;
}

// The bytes of the file `path`, or of standard input when `path` is "-" (a
// script or a message piped to the command).
inline Result<std::string> read_file_or_stdin(const std::string& path) {
  if (path != "-") {
    return read_file_text(path);
  }
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (std::cin.bad()) {
    return fail(ErrorCode::kIo, "cannot read standard input");
  }
  return text;
}

}  // namespace tern::app
