// SPDX-License-Identifier: Apache-2.0
#include "sasl/saslprep.hpp"

#include <vector>

#include <unicode/usprep.h>
#include <unicode/ustring.h>
#include <unicode/utypes.h>

namespace tern::sasl {
namespace {

// The profile, opened once. ICU caches and reference-counts profiles itself;
// holding one for the process keeps each call free of the cache lock, and
// usprep_prepare() only reads it, so threads share it safely.
const UStringPrepProfile* rfc4013_profile(UErrorCode& status) {
  static UErrorCode open_status = U_ZERO_ERROR;
  static const UStringPrepProfile* profile =
      usprep_openByType(USPREP_RFC4013_SASLPREP, &open_status);
  status = open_status;
  return profile;
}

// Printable ASCII (U+0020..U+007E) is left alone by every step of RFC 4013 §2:
// no mapping (B.1 and C.1.2 are non-ASCII), NFKC is the identity, nothing is
// prohibited (C.2.1 is the controls) and none of it is right-to-left. Most
// passwords and every ASCII user name take this path.
bool printable_ascii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

Error refused(UErrorCode code) {
  switch (code) {
    case U_STRINGPREP_PROHIBITED_ERROR:
      // RFC 4013 §2.3
      return fail(ErrorCode::kInvalidInput, "saslprep: prohibited character");
    case U_STRINGPREP_CHECK_BIDI_ERROR:
      // RFC 4013 §2.4, RFC 3454 §6
      return fail(ErrorCode::kInvalidInput,
                  "saslprep: right-to-left text must start and end with a right-to-left "
                  "character and hold no left-to-right one");
    case U_STRINGPREP_UNASSIGNED_ERROR:
      // RFC 4013 §2.5, RFC 3454 §7
      return fail(ErrorCode::kInvalidInput, "saslprep: unassigned code point");
    default:
      return fail(ErrorCode::kInvalidInput, std::string("saslprep: ") + u_errorName(code));
  }
}

// Runs an ICU "fill this buffer" call, growing the buffer once when ICU says it
// needs more (the preflight length it returns is exact).
template <typename Char, typename Call>
Result<std::vector<Char>> with_buffer(std::size_t initial, Call call) {
  std::vector<Char> out(initial == 0 ? 1 : initial);
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t length = call(out.data(), static_cast<int32_t>(out.size()), status);
    if (status == U_BUFFER_OVERFLOW_ERROR && attempt == 0 && length > 0) {
      out.assign(static_cast<std::size_t>(length) + 1, Char{});
      continue;
    }
    if (U_FAILURE(status)) {
      return refused(status);
    }
    out.resize(static_cast<std::size_t>(length));
    return out;
  }
  return fail(ErrorCode::kInternal, "saslprep: buffer size not stable");
}

}  // namespace

Result<std::string> saslprep(std::string_view text, SaslprepProfile profile) {
  if (text.size() > kMaxSaslprepBytes) {
    return fail(ErrorCode::kInvalidInput, "saslprep: string too long");
  }
  if (printable_ascii(text)) {
    return std::string(text);
  }
  UErrorCode status = U_ZERO_ERROR;
  const UStringPrepProfile* prep = rfc4013_profile(status);
  if (U_FAILURE(status) || prep == nullptr) {
    return fail(
        ErrorCode::kInternal,
        std::string("saslprep: cannot load ICU's RFC 4013 profile: ") + u_errorName(status));
  }

  // UTF-8 → UTF-16. u_strFromUTF8 refuses ill-formed UTF-8 (overlong forms,
  // encoded surrogates, truncated sequences) with U_INVALID_CHAR_FOUND. At most
  // one UTF-16 unit per input byte, so the first buffer always fits.
  auto utf16 = with_buffer<UChar>(text.size(), [&](UChar* out, int32_t cap, UErrorCode& st) {
    int32_t length = 0;
    u_strFromUTF8(out, cap, &length, text.data(), static_cast<int32_t>(text.size()), &st);
    return length;
  });
  if (!utf16) {
    return fail(ErrorCode::kInvalidInput, "saslprep: not valid UTF-8");
  }

  // RFC 3454 §7: only a query may contain unassigned code points.
  int32_t options = profile == SaslprepProfile::kQuery ? USPREP_ALLOW_UNASSIGNED : USPREP_DEFAULT;
  // NFKC can expand a character many times over (U+FDFA is 18 characters), so
  // the first guess may be short; with_buffer retries with ICU's exact length.
  auto prepared =
      with_buffer<UChar>(utf16->size() * 2, [&](UChar* out, int32_t cap, UErrorCode& st) {
        UParseError where{};
        return usprep_prepare(prep, utf16->data(), static_cast<int32_t>(utf16->size()), out, cap,
                              options, &where, &st);
      });
  if (!prepared) {
    return prepared.error();
  }

  auto utf8 = with_buffer<char>(prepared->size() * 3, [&](char* out, int32_t cap, UErrorCode& st) {
    int32_t length = 0;
    u_strToUTF8(out, cap, &length, prepared->data(), static_cast<int32_t>(prepared->size()), &st);
    return length;
  });
  if (!utf8) {
    return utf8.error();
  }
  return std::string(utf8->begin(), utf8->end());
}

std::string saslprep_or_as_is(std::string text) {
  auto prepared = saslprep(text, SaslprepProfile::kQuery);
  return prepared && !prepared->empty() ? std::move(*prepared) : std::move(text);
}

}  // namespace tern::sasl
