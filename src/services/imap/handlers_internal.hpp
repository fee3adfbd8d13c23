// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the handler files (not part of the service's API).
#pragma once

#include <string>
#include <string_view>

#include "base/ascii.hpp"
#include "base/result.hpp"
#include "imap/server_engine.hpp"

namespace tern::services::imap::detail {

// The response code and text for a store error (model-codebases.md B7: one mapping
// per protocol): kNotFound → NONEXISTENT, kAlreadyExists → ALREADYEXISTS,
// kLimitExceeded → OVERQUOTA, kTemporary → UNAVAILABLE, others → SERVERBUG.
struct Failure {
  std::string code;
  std::string text;
};

Failure failure_for(const Error& error);

// Completes the current command with NO and failure_for(error).
void complete_no(tern::imap::ServerEngine& engine, const Error& error);

}  // namespace tern::services::imap::detail
