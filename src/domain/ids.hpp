// SPDX-License-Identifier: Apache-2.0
// Strong identifiers: distinct types so a MailboxId is never passed as an AccountId.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace tern::domain {

enum class DomainId : std::int64_t {};
enum class AccountId : std::int64_t {};
enum class MailboxId : std::int64_t {};  // stable; also the IMAP OBJECTID (RFC 8474) MAILBOXID
enum class MessageId : std::int64_t {};  // stable; also the EMAILID
enum class QueueId : std::int64_t {};
enum class Uid : std::uint32_t {};          // RFC 9051 §2.3.1.1; 0 is never a valid UID
enum class UidValidity : std::uint32_t {};  // RFC 9051 §2.3.1.1
enum class ModSeq : std::uint64_t {};       // RFC 7162 §3.1.1; per account, strictly increasing

// The underlying integer of a strong id.
template <class Id>
constexpr std::underlying_type_t<Id> value_of(Id id) {
  return static_cast<std::underlying_type_t<Id>>(id);
}

// A blob's identity: the lower-case hex SHA-256 of its bytes (64 characters).
struct BlobId {
  std::string hex;
  friend bool operator==(const BlobId&, const BlobId&) = default;
  friend auto operator<=>(const BlobId&, const BlobId&) = default;
};

// The lower-case hex SHA-256 of `bytes` (64 characters): BlobId::hex of a blob
// with these bytes, and the checksum `tern migrate` compares stores by.
std::string sha256_hex(std::string_view bytes);

// True when `text` could be a BlobId::hex: exactly 64 characters of 0-9a-f.
// Backends check ids that come from outside (a caller, a file name) with it
// before using them as a key or a path.
bool is_sha256_hex(std::string_view text);

}  // namespace tern::domain
