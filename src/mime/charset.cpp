// SPDX-License-Identifier: Apache-2.0
// ICU conversion with a per-thread converter cache. MIME labels are normalised first
// because mail uses many names ICU does not know or maps to a narrower table than
// the sender meant (RFC 2978 registers the names; clients ignore half of them).
#include "mime/charset.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include <unicode/ucnv.h>
#include <unicode/ucnv_cb.h>

#include "base/utf8.hpp"

namespace tern::mime {

namespace {

constexpr std::size_t kMaxCharsetName = 64;
constexpr std::size_t kMaxCachedConverters = 64;

// Labels seen in mail whose ICU meaning is missing or narrower than the sender's.
// gb2312 and ks_c_5601-1987 are sent by clients that actually write GBK and
// windows-949; Outlook's iso-8859-8-i is ISO-8859-8 with logical order.
struct Alias {
  std::string_view from;
  std::string_view to;
};

constexpr std::array kAliases = {
    Alias{"gb2312", "GBK"},
    Alias{"x-gbk", "GBK"},
    Alias{"cn-gb", "GBK"},
    Alias{"euc-cn", "GBK"},
    Alias{"ks_c_5601-1987", "windows-949"},
    Alias{"ks_c_5601", "windows-949"},
    Alias{"ksc5601", "windows-949"},
    Alias{"x-sjis", "windows-31j"},
    Alias{"sjis", "windows-31j"},
    Alias{"shift-jis", "windows-31j"},
    Alias{"shift_jis", "windows-31j"},
    Alias{"ms932", "windows-31j"},
    Alias{"cp932", "windows-31j"},
    Alias{"x-euc-jp", "EUC-JP"},
    Alias{"iso-8859-8-i", "ISO-8859-8"},
    Alias{"iso-8859-6-i", "ISO-8859-6"},
    Alias{"x-mac-roman", "macintosh"},
    Alias{"unicode-1-1-utf-7", "UTF-7"},
    Alias{"x-unicode-2-0-utf-7", "UTF-7"},
    Alias{"utf8", "UTF-8"},
    Alias{"unicode", "UTF-16"},
    Alias{"big5-hkscs", "Big5-HKSCS"},
    Alias{"tis-620", "TIS-620"},
    Alias{"windows-874", "windows-874-2000"},
};

// Lower case, quotes and blanks removed, and only characters ICU names use: ICU
// treats "name,option" as converter options, which mail must never reach.
std::string normalise(std::string_view charset) {
  std::string out;
  for (char c : charset) {
    if (out.size() >= kMaxCharsetName) {
      return {};
    }
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == ':') {
      out.push_back(c);
    } else if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if (c == '"' || c == '\'' || c == ' ' || c == '\t') {
      continue;
    } else {
      return {};
    }
  }
  for (const Alias& a : kAliases) {
    if (out == a.from) {
      return std::string(a.to);
    }
  }
  return out;
}

bool is_utf8_label(std::string_view n) {
  return n == "utf-8" || n == "UTF-8";
}

bool is_ascii_label(std::string_view n) {
  return n == "us-ascii" || n == "ascii" || n == "ansi_x3.4-1968" || n == "iso646-us" ||
         n == "us" || n == "646" || n == "iso-ir-6";
}

struct Converter {
  UConverter* cnv = nullptr;
  bool ascii_compatible = false;  // ASCII bytes convert to themselves, statelessly

  Converter() = default;
  Converter(const Converter&) = delete;
  Converter& operator=(const Converter&) = delete;

  ~Converter() {
    if (cnv != nullptr) {
      ucnv_close(cnv);
    }
  }
};

// ICU's own substitution writes the codepage's SUB character (U+001A) for some
// table converters; readers expect U+FFFD for every unconvertible sequence.
void substitute_fffd(const void* /*context*/, UConverterToUnicodeArgs* args, const char* /*units*/,
                     int32_t /*length*/, UConverterCallbackReason reason, UErrorCode* err) {
  if (reason > UCNV_IRREGULAR) {
    return;  // reset, close, clone: nothing to write
  }
  *err = U_ZERO_ERROR;
  const UChar replacement = 0xFFFD;
  ucnv_cbToUWriteUChars(args, &replacement, 1, 0, err);
}

// Converts with `cnv` (reset first) to UTF-8; ICU's default callback substitutes
// U+FFFD for invalid input, which is what we want.
std::string convert(UConverter* cnv, std::string_view bytes) {
  ucnv_reset(cnv);
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  std::array<UChar, 1024> buf{};
  const char* src = bytes.data();
  const char* src_end = bytes.data() + bytes.size();
  UChar pending_high = 0;
  while (true) {
    UChar* target = buf.data();
    UErrorCode status = U_ZERO_ERROR;
    ucnv_toUnicode(cnv, &target, buf.data() + buf.size(), &src, src_end, nullptr, true, &status);
    for (UChar* p = buf.data(); p < target; ++p) {
      UChar u = *p;
      if (pending_high != 0) {
        if (u >= 0xDC00 && u <= 0xDFFF) {
          utf8::append(
              out, static_cast<char32_t>(0x10000 + ((pending_high - 0xD800) << 10) + (u - 0xDC00)));
          pending_high = 0;
          continue;
        }
        utf8::append(out, 0xFFFD);
        pending_high = 0;
      }
      if (u >= 0xD800 && u <= 0xDBFF) {
        pending_high = u;
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        utf8::append(out, 0xFFFD);
      } else {
        utf8::append(out, u);
      }
    }
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      continue;
    }
    break;  // done, or a converter error: what was converted is kept
  }
  if (pending_high != 0) {
    utf8::append(out, 0xFFFD);
  }
  return out;
}

// One cache per thread: UConverter objects are not thread-safe, opening one costs a
// table lookup, and mail uses a handful of charsets.
class ConverterCache {
 public:
  Converter* get(const std::string& name) {
    auto it = cache_.find(name);
    if (it != cache_.end()) {
      return it->second.get();
    }
    if (cache_.size() >= kMaxCachedConverters) {
      cache_.clear();
    }
    auto c = std::make_unique<Converter>();
    UErrorCode status = U_ZERO_ERROR;
    c->cnv = ucnv_open(name.c_str(), &status);
    if (U_FAILURE(status) || c->cnv == nullptr) {
      c.reset();
    } else {
      ucnv_setToUCallBack(c->cnv, substitute_fffd, nullptr, nullptr, nullptr, &status);
      std::string ascii;
      for (int b = 1; b < 128; ++b) {
        ascii.push_back(static_cast<char>(b));
      }
      c->ascii_compatible = convert(c->cnv, ascii) == ascii;
    }
    Converter* raw = c.get();
    cache_.emplace(name, std::move(c));
    return raw;
  }

 private:
  std::unordered_map<std::string, std::unique_ptr<Converter>> cache_;
};

ConverterCache& cache() {
  thread_local ConverterCache c;
  return c;
}

bool all_ascii(std::string_view bytes) {
  for (char c : bytes) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
  }
  return true;
}

// What readers show for unlabelled or mislabelled 8-bit text.
std::string fallback(std::string_view bytes) {
  if (is_utf8(bytes)) {
    return std::string(bytes);
  }
  Converter* c = cache().get("windows-1252");
  return c != nullptr ? convert(c->cnv, bytes) : sanitize_utf8(bytes);
}

}  // namespace

bool is_utf8(std::string_view bytes) {
  std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = utf8::sequence_length(bytes, i);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    std::size_t len = utf8::sequence_length(bytes, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(bytes.substr(i, len));
      i += len;
    }
  }
  return out;
}

bool charset_known(std::string_view charset) {
  std::string name = normalise(charset);
  if (name.empty()) {
    return false;
  }
  if (is_utf8_label(name) || is_ascii_label(name)) {
    return true;
  }
  return cache().get(name) != nullptr;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  std::string name = normalise(charset);
  if (name.empty() || is_ascii_label(name)) {
    return fallback(bytes);  // RFC 6532: 8-bit in "us-ascii" text is almost always UTF-8
  }
  if (is_utf8_label(name)) {
    return is_utf8(bytes) ? std::string(bytes) : sanitize_utf8(bytes);
  }
  Converter* c = cache().get(name);
  if (c == nullptr) {
    return fallback(bytes);
  }
  if (c->ascii_compatible && all_ascii(bytes)) {
    return std::string(bytes);
  }
  return convert(c->cnv, bytes);
}

}  // namespace tern::mime
