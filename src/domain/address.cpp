// SPDX-License-Identifier: Apache-2.0
#include "domain/address.hpp"

namespace tern::domain {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool is_control(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

Result<AddressParts> split_address(std::string_view address) {
  std::size_t at = address.find('@');
  if (at == std::string_view::npos) {
    return fail(ErrorCode::kInvalidInput, "address has no '@'");
  }
  if (address.find('@', at + 1) != std::string_view::npos) {
    return fail(ErrorCode::kInvalidInput, "address has more than one '@'");
  }
  AddressParts parts{address.substr(0, at), address.substr(at + 1)};
  if (parts.local.empty()) {
    return fail(ErrorCode::kInvalidInput, "address has an empty local part");
  }
  if (parts.domain.empty()) {
    return fail(ErrorCode::kInvalidInput, "address has an empty domain");
  }
  return parts;
}

Result<std::string> normalize_address(std::string_view address) {
  while (!address.empty() && is_space(address.front())) {
    address.remove_prefix(1);
  }
  while (!address.empty() && is_space(address.back())) {
    address.remove_suffix(1);
  }
  if (address.empty()) {
    return fail(ErrorCode::kInvalidInput, "empty address");
  }
  if (address.size() > kMaxAddressBytes) {
    return fail(ErrorCode::kInvalidInput,
                "address is longer than " + std::to_string(kMaxAddressBytes) + " bytes");
  }
  for (char c : address) {
    if (is_space(c)) {
      return fail(ErrorCode::kInvalidInput, "address contains whitespace");
    }
    if (is_control(c)) {
      return fail(ErrorCode::kInvalidInput, "address contains a control character");
    }
  }
  auto parts = split_address(address);
  if (!parts) {
    return parts.error();
  }
  std::string_view domain = parts->domain;
  if (domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return fail(ErrorCode::kInvalidInput, "address has an empty domain label");
  }
  std::string out;
  out.reserve(address.size());
  for (char c : address) {
    out += ascii_lower(c);
  }
  return out;
}

std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace tern::domain
