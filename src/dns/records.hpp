// SPDX-License-Identifier: Apache-2.0
// The DNS vocabulary shared by the resolver (runtime/dns_resolver), the outbound
// transport (services/delivery) and the SPF/DKIM/DMARC/DANE evaluators: record
// types, typed records, IP addresses, the lookup answer with its status and
// DNSSEC state, and the one place names are normalised.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::dns {

// The record types tern asks for (IANA "Resource Record (RR) TYPEs"); the value
// is the wire TYPE code.
enum class RecordType : std::uint16_t {
  kA = 1,
  kNs = 2,
  kCname = 5,
  kPtr = 12,
  kMx = 15,
  kTxt = 16,
  kAaaa = 28,
  kSrv = 33,
  kTlsa = 52,
};

// "A", "MX", "TLSA" ... for logs and test zones.
std::string_view record_type_name(RecordType type);

// The type for a mnemonic (ASCII case-insensitive), nullopt when unknown.
std::optional<RecordType> parse_record_type(std::string_view name);

// ----- names

// Normalises a domain name to tern's one comparison form: ASCII lower case,
// without the trailing dot of the absolute form ("Mx.Example.ORG." →
// "mx.example.org"). The root is "". Names are taken as A-labels; IDNA conversion
// happens before (address/domain.hpp).
// Errors: kInvalidInput for an empty label ("a..b", ".a"), a label over 63
// octets, a name over 253 octets, or bytes outside printable ASCII and SP (RFC
// 1035 §2.3.4; underscores and other printable bytes are allowed, as SRV, DKIM
// and TLSA owner names need them, and so is SP: RFC 2181 §11 allows any octet,
// and SPF macros build names with spaces, RFC 7208 §7.3 "%_").
Result<std::string> normalize_name(std::string_view name);

// True when `name` is a host name in the RFC 1123 §2.1 / RFC 5321 §4.1.2 "Domain"
// sense: dot-separated labels of 1..63 letters, digits and hyphens, not starting
// or ending with a hyphen, at most 253 octets, no trailing dot. Any case.
bool is_host_name(std::string_view name);

// The absolute form with the trailing dot ("mx.example.org."), what a resolver
// library takes. Requires: `normalized` came from normalize_name().
std::string absolute_name(std::string_view normalized);

// ----- addresses

// An IPv4 or IPv6 address as a value. Ordered and comparable byte-wise (IPv4
// before IPv6), so it can be a map key.
class IpAddress {
 public:
  enum class Family : std::uint8_t { kV4, kV6 };

  // 0.0.0.0
  IpAddress() = default;

  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);

  // Parses dotted-quad IPv4 ("192.0.2.1": four decimal parts 0..255, no leading
  // zeros, as RFC 6943 §3.1.1 recommends to avoid octal ambiguity) or IPv6 text
  // (RFC 4291 §2.2, including "::" and a trailing dotted quad; no zone index).
  // nullopt for anything else.
  static std::optional<IpAddress> parse(std::string_view text);

  // The address from raw network-order bytes: 4 → IPv4, 16 → IPv6, else nullopt.
  static std::optional<IpAddress> from_bytes(std::span<const std::uint8_t> bytes);

  Family family() const { return family_; }

  bool is_v4() const { return family_ == Family::kV4; }

  bool is_v6() const { return family_ == Family::kV6; }

  // The network-order bytes: 4 for IPv4, 16 for IPv6.
  std::span<const std::uint8_t> bytes() const;

  // Text: dotted quad, or the RFC 5952 §4 canonical IPv6 form (lower case, the
  // longest run of two or more zero groups as "::", leftmost on a tie).
  std::string format() const;

  // The reverse-lookup name (RFC 1035 §3.5, RFC 3596 §2.5):
  // "1.2.0.192.in-addr.arpa" or the 32 nibbles under "ip6.arpa".
  std::string reverse_name() const;

  // The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), for
  // SPF's ip4 checks of connections accepted on a dual-stack socket.
  std::optional<IpAddress> mapped_v4() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first four
};

// An address block in CIDR notation: "192.0.2.0/24", "2001:db8::/32"; a bare
// address is a /32 or a /128.
struct IpNetwork {
  IpAddress address;
  int prefix = 32;

  // nullopt for anything else (a bad address, a prefix out of range).
  static std::optional<IpNetwork> parse(std::string_view text);

  // Whether `ip` is inside; an IPv4-mapped IPv6 address counts as its IPv4 one.
  bool contains(const IpAddress& ip) const;

  friend bool operator==(const IpNetwork&, const IpNetwork&) = default;
};

// Whether the first `prefix_len` bits of `a` and `network` agree; addresses of
// different families never match (SPF's ip4/ip6, IpNetwork).
bool in_network(const IpAddress& a, const IpAddress& network, int prefix_len);

// ----- typed records

// RFC 1035 §3.3.9. `exchange` is normalised; "" (the root) with preference 0 is
// the null MX of RFC 7505.
struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// RFC 1035 §3.3.14: one TXT record is a list of character-strings. SPF (RFC 7208
// §3.3) and DKIM (RFC 6376 §3.6.2.2) join them without separator: joined().
struct TxtRecord {
  std::vector<std::string> strings;

  std::string joined() const;
  friend bool operator==(const TxtRecord&, const TxtRecord&) = default;
};

// RFC 2782. `target` is normalised; "" means "service not available here".
struct SrvRecord {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;
  friend bool operator==(const SrvRecord&, const SrvRecord&) = default;
};

// RFC 6698 §2.1 (DANE): certificate usage, selector, matching type and the raw
// association data (not hex).
struct TlsaRecord {
  std::uint8_t usage = 0;          // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  std::uint8_t selector = 0;       // 0 full certificate, 1 SubjectPublicKeyInfo
  std::uint8_t matching_type = 0;  // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;
  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

// ----- answers

// What happened to one lookup. The evaluators must keep these apart: SPF maps
// kNxDomain/kNoData to "none" or a void lookup (RFC 7208 §4.6.4), kTemporary to
// "temperror"; the transport defers on kTemporary and bounces on kNxDomain.
enum class LookupStatus : std::uint8_t {
  kOk,         // at least one record of the type (records are in the Answer)
  kNxDomain,   // RCODE 3: the name does not exist
  kNoData,     // the name exists but has no record of this type (RCODE 0, empty)
  kTemporary,  // SERVFAIL, REFUSED, timeout, no server reachable: try later
  kMalformed,  // the answer could not be parsed (bad rdata); treat like kTemporary
               // for retries, but log it as the remote's fault
};

std::string_view lookup_status_name(LookupStatus status);

// The DNSSEC validation outcome (RFC 4033 §5). DANE (RFC 7672 §2.2) uses TLSA
// records only from kSecure answers and defers on kBogus.
enum class DnssecState : std::uint8_t {
  kInsecure,  // not signed, or validation is off
  kSecure,    // validated from the trust anchor
  kBogus,     // signed but failed validation; the resolver reports kTemporary too
};

std::string_view dnssec_state_name(DnssecState state);

// The answer to one (name, type) question. Only the vector of the asked type is
// filled (addresses for A and AAAA; names for CNAME, PTR and NS targets).
struct Answer {
  LookupStatus status = LookupStatus::kTemporary;
  DnssecState dnssec = DnssecState::kInsecure;
  // Seconds the answer may be cached: the smallest record TTL, or for
  // kNxDomain/kNoData the negative TTL (RFC 2308 §5) when known, else 0.
  std::uint32_t ttl = 0;
  // The owner name after following CNAMEs (normalised); "" if unknown.
  std::string canonical_name;
  // For kTemporary/kMalformed: why, for logs and DSN text ("servfail", "timed out").
  std::string error;

  std::vector<IpAddress> addresses;
  std::vector<MxRecord> mx;
  std::vector<TxtRecord> txt;
  std::vector<std::string> names;
  std::vector<SrvRecord> srv;
  std::vector<TlsaRecord> tlsa;

  bool ok() const { return status == LookupStatus::kOk; }

  // Convenience constructors for resolvers and tests.
  static Answer failure(LookupStatus status, std::string error = {});
};

// Parses one record's rdata in wire form (RFC 1035 §3.3, RFC 3596 §2.2, RFC 2782,
// RFC 6698 §2.1) into `answer`'s vector for `type`. Domain names inside the rdata
// must be uncompressed (what libunbound hands out; RFC 3597 §4 forbids compression
// in the rdata of types newer than RFC 1035 anyway).
// Errors: kInvalidInput for truncated or trailing bytes, a bad name, or an A/AAAA
// of the wrong length. The answer is unchanged on error.
Result<void> parse_rdata(RecordType type, std::span<const std::uint8_t> rdata, Answer& answer);

}  // namespace tern::dns
