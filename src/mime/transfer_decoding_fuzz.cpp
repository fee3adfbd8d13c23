// SPDX-License-Identifier: Apache-2.0
// Base64 and quoted-printable: decoding arbitrary bytes never fails or grows the
// data; encode-then-decode gives the input back (for QP, with bare LF line ends
// turned into CRLF, as text mode encoding does).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mime/transfer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (tern::mime::decode_base64(in).size() > in.size() ||
      tern::mime::decode_quoted_printable(in).size() > in.size() ||
      tern::mime::decode_uuencode(in).size() > in.size()) {
    __builtin_trap();
  }
  if (tern::mime::decode_base64(tern::mime::encode_base64(in)) != in) {
    __builtin_trap();
  }
  std::string crlf;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) {
      crlf += "\r\n";
    } else {
      crlf.push_back(in[i]);
    }
  }
  std::string qp = tern::mime::encode_quoted_printable(in);
  for (std::size_t start = 0; start < qp.size();) {
    std::size_t end = qp.find("\r\n", start);
    std::size_t len = (end == std::string::npos ? qp.size() : end) - start;
    if (len > 76) {
      __builtin_trap();  // RFC 2045 §6.7 rule (5)
    }
    start = end == std::string::npos ? qp.size() : end + 2;
  }
  if (tern::mime::decode_quoted_printable(qp) != crlf) {
    __builtin_trap();
  }
  return 0;
}
