// SPDX-License-Identifier: Apache-2.0
#include "base/result.hpp"

namespace tern {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput:
      return "invalid_input";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kTemporary:
      return "temporary";
    case ErrorCode::kPermanent:
      return "permanent";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kLimitExceeded:
      return "limit_exceeded";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

}  // namespace tern
