// SPDX-License-Identifier: Apache-2.0
#include "mailauth/auth_result.hpp"

namespace tern::mailauth {

std::string_view auth_result_name(AuthResult result) {
  switch (result) {
    case AuthResult::kNone:
      return "none";
    case AuthResult::kPass:
      return "pass";
    case AuthResult::kFail:
      return "fail";
    case AuthResult::kSoftFail:
      return "softfail";
    case AuthResult::kNeutral:
      return "neutral";
    case AuthResult::kPolicy:
      return "policy";
    case AuthResult::kTempError:
      return "temperror";
    case AuthResult::kPermError:
      return "permerror";
  }
  return "permerror";
}

}  // namespace tern::mailauth
