// SPDX-License-Identifier: Apache-2.0
// Result<T>: the return type of every fallible tern function (ARCHITECTURE.md §6,
// docs/adr/0002-error-handling.md).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace tern {

// Error kinds, chosen for what the caller does next, not for where the error came
// from. Protocols map them to replies in one function each (smtp::reply_for, ...).
enum class ErrorCode {
  kInvalidInput,      // the request is malformed; retrying the same input fails again
  kNotFound,          // the named thing does not exist
  kAlreadyExists,     // a create collided with an existing thing
  kConflict,          // a concurrent change or a precondition (e.g. UNCHANGEDSINCE) failed
  kTemporary,         // try again later (locked database, transient resource shortage)
  kPermanent,         // will not succeed; do not retry
  kPermissionDenied,  // the caller may not do this
  kLimitExceeded,     // a configured limit or quota would be exceeded
  kTimeout,           // a deadline passed
  kCancelled,         // the operation was cancelled (shutdown, client gone)
  kIo,                // the disk or the network failed
  kCorrupt,           // stored data failed a consistency check
  kInternal,          // a bug; logged and counted
};

// Returns the stable lower-case name of `code` ("not_found"), for logs and metrics.
std::string_view error_code_name(ErrorCode code);

// A failure: a code for decisions and a message for people. Messages are lower
// case without a trailing period; context is prefixed as the error propagates
// ("open mailbox \"Sent\": database is locked").
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // Returns a copy with `context + ": "` prepended to the message.
  [[nodiscard]] Error with_context(std::string_view context) const {
    return Error{code, std::string(context) + ": " + message};
  }
};

// A [[nodiscard]] tl::expected. Use only the subset std::expected shares
// (has_value, operator bool, *, ->, value, error, and_then, or_else, transform),
// so moving to C++23 is a change of base class.
template <class T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using Base = tl::expected<T, Error>;
  using Base::Base;

  Result(const Base& base) : Base(base) {}  // NOLINT(google-explicit-constructor)

  Result(Base&& base) : Base(std::move(base)) {}  // NOLINT(google-explicit-constructor)

  Result(Error error) : Base(tl::unexpected(std::move(error))) {}  // NOLINT
};

// Builds an Error value for `return fail(...)` in functions returning Result<T>.
inline Error fail(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

// A Result<void> that succeeded.
inline Result<void> ok() {
  return Result<void>();
}

}  // namespace tern

// TERN_TRY(decl, expr): evaluates `expr` (a Result); on error returns the error from
// the enclosing function, otherwise declares `decl` (unparenthesized) from the value.
//   TERN_TRY(auto mailbox, store.find_mailbox(id));
#define TERN_TRY_CONCAT_INNER(a, b) a##b
#define TERN_TRY_CONCAT(a, b) TERN_TRY_CONCAT_INNER(a, b)
#define TERN_TRY(decl, expr)                             \
  auto TERN_TRY_CONCAT(tern_try_, __LINE__) = (expr);    \
  if (!TERN_TRY_CONCAT(tern_try_, __LINE__)) {           \
    return TERN_TRY_CONCAT(tern_try_, __LINE__).error(); \
  }                                                      \
  decl = std::move(*TERN_TRY_CONCAT(tern_try_, __LINE__))  // NOLINT(bugprone-macro-parentheses)

// TERN_TRY_VOID(expr): the same for a Result<void>.
#define TERN_TRY_VOID(expr)          \
  do {                               \
    auto tern_try_void_ = (expr);    \
    if (!tern_try_void_) {           \
      return tern_try_void_.error(); \
    }                                \
  } while (false)
