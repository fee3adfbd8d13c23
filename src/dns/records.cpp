// SPDX-License-Identifier: Apache-2.0
#include "dns/records.hpp"

#include <algorithm>
#include <utility>

#include "base/ascii.hpp"

namespace tern::dns {

namespace {

struct TypeName {
  RecordType type;
  std::string_view name;
};

constexpr std::array<TypeName, 9> kTypeNames{{
    {RecordType::kA, "A"},
    {RecordType::kNs, "NS"},
    {RecordType::kCname, "CNAME"},
    {RecordType::kPtr, "PTR"},
    {RecordType::kMx, "MX"},
    {RecordType::kTxt, "TXT"},
    {RecordType::kAaaa, "AAAA"},
    {RecordType::kSrv, "SRV"},
    {RecordType::kTlsa, "TLSA"},
}};

// RFC 1035 §2.3.4
constexpr std::size_t kMaxLabelBytes = 63;
constexpr std::size_t kMaxNameBytes = 253;

constexpr char kHex[] = "0123456789abcdef";

std::optional<int> hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  const char lower = ascii::to_lower(c);
  if (lower >= 'a' && lower <= 'f') {
    return lower - 'a' + 10;
  }
  return std::nullopt;
}

std::optional<std::array<std::uint8_t, 4>> parse_v4(std::string_view text) {
  std::array<std::uint8_t, 4> out{};
  std::size_t part = 0;
  std::size_t i = 0;
  while (part < 4) {
    const std::size_t start = i;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    const std::size_t digits = i - start;
    // RFC 6943 §3.1.1: no leading zeros (they would read as octal elsewhere).
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) {
      return std::nullopt;
    }
    out[part++] = static_cast<std::uint8_t>(value);
    if (part < 4) {
      if (i >= text.size() || text[i] != '.') {
        return std::nullopt;
      }
      ++i;
    }
  }
  if (i != text.size()) {
    return std::nullopt;
  }
  return out;
}

// RFC 4291 §2.2: up to eight groups of 1..4 hex digits, one "::" for a run of
// zero groups, and optionally a dotted quad in place of the last two groups.
std::optional<std::array<std::uint8_t, 16>> parse_v6(std::string_view text) {
  std::array<std::uint16_t, 8> groups{};
  std::size_t count = 0;
  std::optional<std::size_t> gap;  // index in groups where "::" stands
  std::size_t i = 0;
  if (text.starts_with("::")) {
    gap = 0;
    i = 2;
  } else if (text.starts_with(":")) {
    return std::nullopt;
  }
  while (i < text.size()) {
    if (count >= 8) {
      return std::nullopt;
    }
    // A trailing dotted quad takes two groups.
    const std::size_t next_colon = text.find(':', i);
    const std::string_view piece = text.substr(
        i, next_colon == std::string_view::npos ? std::string_view::npos : next_colon - i);
    if (piece.find('.') != std::string_view::npos) {
      if (next_colon != std::string_view::npos || count > 6) {
        return std::nullopt;
      }
      auto quad = parse_v4(piece);
      if (!quad) {
        return std::nullopt;
      }
      groups[count++] = static_cast<std::uint16_t>(((*quad)[0] << 8) | (*quad)[1]);
      groups[count++] = static_cast<std::uint16_t>(((*quad)[2] << 8) | (*quad)[3]);
      i = text.size();
      break;
    }
    if (piece.empty() || piece.size() > 4) {
      return std::nullopt;
    }
    unsigned value = 0;
    for (char c : piece) {
      auto v = hex_value(c);
      if (!v) {
        return std::nullopt;
      }
      value = value * 16 + static_cast<unsigned>(*v);
    }
    groups[count++] = static_cast<std::uint16_t>(value);
    i += piece.size();
    if (i == text.size()) {
      break;
    }
    // At a ':'; "::" marks the gap (only once), a single ':' must be followed by
    // a group.
    if (i + 1 < text.size() && text[i + 1] == ':') {
      if (gap) {
        return std::nullopt;
      }
      gap = count;
      i += 2;
    } else {
      ++i;
      if (i == text.size()) {
        return std::nullopt;
      }
    }
  }
  if (gap) {
    if (count >= 8) {
      return std::nullopt;  // "::" must stand for at least one group
    }
    std::array<std::uint16_t, 8> expanded{};
    const std::size_t tail = count - *gap;
    std::copy_n(groups.begin(), *gap, expanded.begin());
    std::copy_n(groups.begin() + static_cast<std::ptrdiff_t>(*gap), tail,
                expanded.end() - static_cast<std::ptrdiff_t>(tail));
    groups = expanded;
  } else if (count != 8) {
    return std::nullopt;
  }
  std::array<std::uint8_t, 16> out{};
  for (std::size_t g = 0; g < 8; ++g) {
    out[2 * g] = static_cast<std::uint8_t>(groups[g] >> 8);
    out[2 * g + 1] = static_cast<std::uint8_t>(groups[g] & 0xff);
  }
  return out;
}

// Reads the uncompressed wire name at `pos` (RFC 1035 §3.1) and normalises it.
Result<std::string> read_name(std::span<const std::uint8_t> rdata, std::size_t& pos) {
  std::string text;
  while (true) {
    if (pos >= rdata.size()) {
      return fail(ErrorCode::kInvalidInput, "truncated name");
    }
    const std::uint8_t length = rdata[pos++];
    if (length == 0) {
      break;
    }
    if (length > kMaxLabelBytes) {
      return fail(ErrorCode::kInvalidInput, "compressed or oversized label");
    }
    if (pos + length > rdata.size()) {
      return fail(ErrorCode::kInvalidInput, "truncated label");
    }
    if (!text.empty()) {
      text.push_back('.');
    }
    for (std::size_t k = 0; k < length; ++k) {
      const auto c = static_cast<char>(rdata[pos + k]);
      // A '.' inside a label cannot be represented in tern's text form.
      if (c == '.') {
        return fail(ErrorCode::kInvalidInput, "dot inside a label");
      }
      text.push_back(c);
    }
    pos += length;
  }
  return normalize_name(text);
}

std::uint16_t read_u16(std::span<const std::uint8_t> rdata, std::size_t pos) {
  return static_cast<std::uint16_t>((rdata[pos] << 8) | rdata[pos + 1]);
}

}  // namespace

std::string_view record_type_name(RecordType type) {
  for (const auto& entry : kTypeNames) {
    if (entry.type == type) {
      return entry.name;
    }
  }
  return "?";
}

std::optional<RecordType> parse_record_type(std::string_view name) {
  for (const auto& entry : kTypeNames) {
    if (ascii::iequals(entry.name, name)) {
      return entry.type;
    }
  }
  return std::nullopt;
}

bool is_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      const bool ldh =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ldh) {
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

Result<std::string> normalize_name(std::string_view name) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  if (name.empty()) {
    return std::string();
  }
  if (name.size() > kMaxNameBytes) {
    return fail(ErrorCode::kInvalidInput, "domain name longer than 253 octets");
  }
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '.') {
      if (label == 0) {
        return fail(ErrorCode::kInvalidInput, "empty label in domain name");
      }
      label = 0;
    } else {
      if (byte < 0x20 || byte >= 0x7f) {
        return fail(ErrorCode::kInvalidInput,
                    "domain name has a byte outside printable ASCII and SP");
      }
      if (++label > kMaxLabelBytes) {
        return fail(ErrorCode::kInvalidInput, "label longer than 63 octets");
      }
    }
    out.push_back(ascii::to_lower(c));
  }
  if (label == 0) {
    return fail(ErrorCode::kInvalidInput, "empty label in domain name");
  }
  return out;
}

std::string absolute_name(std::string_view normalized) {
  std::string out(normalized);
  out.push_back('.');
  return out;
}

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress address;
  address.family_ = Family::kV4;
  std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
  return address;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> bytes) {
  IpAddress address;
  address.family_ = Family::kV6;
  address.bytes_ = bytes;
  return address;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    auto bytes = parse_v6(text);
    return bytes ? std::optional(v6(*bytes)) : std::nullopt;
  }
  auto bytes = parse_v4(text);
  return bytes ? std::optional(v4(*bytes)) : std::nullopt;
}

std::optional<IpAddress> IpAddress::from_bytes(std::span<const std::uint8_t> bytes) {
  if (bytes.size() == 4) {
    std::array<std::uint8_t, 4> raw{};
    std::copy(bytes.begin(), bytes.end(), raw.begin());
    return v4(raw);
  }
  if (bytes.size() == 16) {
    std::array<std::uint8_t, 16> raw{};
    std::copy(bytes.begin(), bytes.end(), raw.begin());
    return v6(raw);
  }
  return std::nullopt;
}

std::span<const std::uint8_t> IpAddress::bytes() const {
  return std::span<const std::uint8_t>(bytes_.data(), is_v4() ? 4 : 16);
}

std::string IpAddress::format() const {
  std::string out;
  if (is_v4()) {
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) {
        out.push_back('.');
      }
      out += std::to_string(bytes_[i]);
    }
    return out;
  }
  std::array<unsigned, 8> groups{};
  for (std::size_t g = 0; g < 8; ++g) {
    groups[g] = (static_cast<unsigned>(bytes_[2 * g]) << 8) | bytes_[2 * g + 1];
  }
  // RFC 5952 §4.2: compress the longest run of at least two zero groups.
  std::size_t best_start = 8;
  std::size_t best_length = 1;
  for (std::size_t g = 0; g < 8;) {
    if (groups[g] != 0) {
      ++g;
      continue;
    }
    std::size_t end = g;
    while (end < 8 && groups[end] == 0) {
      ++end;
    }
    if (end - g > best_length) {
      best_start = g;
      best_length = end - g;
    }
    g = end;
  }
  for (std::size_t g = 0; g < 8; ++g) {
    if (g == best_start) {
      out += "::";
      g += best_length - 1;
      continue;
    }
    if (g > 0 && !out.ends_with(':')) {
      out.push_back(':');
    }
    // RFC 5952 §4.1, §4.3: no leading zeros, lower-case hex.
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = (groups[g] >> shift) & 0xf;
      if (nibble != 0 || started || shift == 0) {
        out.push_back(kHex[nibble]);
        started = true;
      }
    }
  }
  return out;
}

std::string IpAddress::reverse_name() const {
  std::string out;
  if (is_v4()) {
    for (std::size_t i = 4; i-- > 0;) {
      out += std::to_string(bytes_[i]);
      out.push_back('.');
    }
    return out + "in-addr.arpa";
  }
  for (std::size_t i = 16; i-- > 0;) {
    out.push_back(kHex[bytes_[i] & 0xf]);
    out.push_back('.');
    out.push_back(kHex[bytes_[i] >> 4]);
    out.push_back('.');
  }
  return out + "ip6.arpa";
}

bool in_network(const IpAddress& a, const IpAddress& network, int prefix_len) {
  if (a.family() != network.family()) {
    return false;
  }
  auto x = a.bytes();
  auto y = network.bytes();
  int bits = prefix_len;
  for (std::size_t i = 0; i < x.size() && bits > 0; ++i, bits -= 8) {
    auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xFF : (0xFF << (8 - bits)) & 0xFF);
    if ((x[i] & mask) != (y[i] & mask)) {
      return false;
    }
  }
  return true;
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) {
    return std::nullopt;
  }
  const int max = address->is_v4() ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto bits = ascii::to_number<int>(text.substr(slash + 1));
    if (!bits || *bits < 0 || *bits > max) {
      return std::nullopt;
    }
    prefix = *bits;
  }
  return IpNetwork{*address, prefix};
}

bool IpNetwork::contains(const IpAddress& ip) const {
  return in_network(ip.mapped_v4().value_or(ip), address, prefix);
}

std::optional<IpAddress> IpAddress::mapped_v4() const {
  if (is_v4()) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < 10; ++i) {
    if (bytes_[i] != 0) {
      return std::nullopt;
    }
  }
  if (bytes_[10] != 0xff || bytes_[11] != 0xff) {
    return std::nullopt;
  }
  return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
}

std::string TxtRecord::joined() const {
  std::string out;
  for (const auto& s : strings) {
    out += s;
  }
  return out;
}

std::string_view lookup_status_name(LookupStatus status) {
  switch (status) {
    case LookupStatus::kOk:
      return "ok";
    case LookupStatus::kNxDomain:
      return "nxdomain";
    case LookupStatus::kNoData:
      return "nodata";
    case LookupStatus::kTemporary:
      return "temporary";
    case LookupStatus::kMalformed:
      return "malformed";
  }
  return "?";
}

std::string_view dnssec_state_name(DnssecState state) {
  switch (state) {
    case DnssecState::kInsecure:
      return "insecure";
    case DnssecState::kSecure:
      return "secure";
    case DnssecState::kBogus:
      return "bogus";
  }
  return "?";
}

Answer Answer::failure(LookupStatus status, std::string error) {
  Answer answer;
  answer.status = status;
  answer.error = std::move(error);
  return answer;
}

Result<void> parse_rdata(RecordType type, std::span<const std::uint8_t> rdata, Answer& answer) {
  std::size_t pos = 0;
  auto require_end = [&]() -> Result<void> {
    if (pos != rdata.size()) {
      return fail(ErrorCode::kInvalidInput, "trailing bytes in rdata");
    }
    return ok();
  };
  switch (type) {
    case RecordType::kA:
    case RecordType::kAaaa: {
      if (rdata.size() != (type == RecordType::kA ? 4U : 16U)) {
        return fail(ErrorCode::kInvalidInput, "address rdata of the wrong length");
      }
      answer.addresses.push_back(*IpAddress::from_bytes(rdata));
      return ok();
    }
    case RecordType::kNs:
    case RecordType::kCname:
    case RecordType::kPtr: {
      TERN_TRY(auto name, read_name(rdata, pos));
      TERN_TRY_VOID(require_end());
      answer.names.push_back(std::move(name));
      return ok();
    }
    case RecordType::kMx: {
      // RFC 1035 §3.3.9: PREFERENCE (16 bits), EXCHANGE (a name).
      if (rdata.size() < 3) {
        return fail(ErrorCode::kInvalidInput, "truncated MX rdata");
      }
      MxRecord mx;
      mx.preference = read_u16(rdata, 0);
      pos = 2;
      TERN_TRY(mx.exchange, read_name(rdata, pos));
      TERN_TRY_VOID(require_end());
      answer.mx.push_back(std::move(mx));
      return ok();
    }
    case RecordType::kTxt: {
      // RFC 1035 §3.3.14: one or more <character-string>s (length octet + bytes).
      TxtRecord txt;
      if (rdata.empty()) {
        return fail(ErrorCode::kInvalidInput, "empty TXT rdata");
      }
      while (pos < rdata.size()) {
        const std::size_t length = rdata[pos++];
        if (pos + length > rdata.size()) {
          return fail(ErrorCode::kInvalidInput, "truncated TXT character-string");
        }
        txt.strings.emplace_back(reinterpret_cast<const char*>(rdata.data() + pos), length);
        pos += length;
      }
      answer.txt.push_back(std::move(txt));
      return ok();
    }
    case RecordType::kSrv: {
      // RFC 2782: priority, weight, port (16 bits each), target.
      if (rdata.size() < 7) {
        return fail(ErrorCode::kInvalidInput, "truncated SRV rdata");
      }
      SrvRecord srv;
      srv.priority = read_u16(rdata, 0);
      srv.weight = read_u16(rdata, 2);
      srv.port = read_u16(rdata, 4);
      pos = 6;
      TERN_TRY(srv.target, read_name(rdata, pos));
      TERN_TRY_VOID(require_end());
      answer.srv.push_back(std::move(srv));
      return ok();
    }
    case RecordType::kTlsa: {
      // RFC 6698 §2.1: usage, selector, matching type (8 bits each), data.
      if (rdata.size() < 4) {
        return fail(ErrorCode::kInvalidInput, "truncated TLSA rdata");
      }
      TlsaRecord tlsa;
      tlsa.usage = rdata[0];
      tlsa.selector = rdata[1];
      tlsa.matching_type = rdata[2];
      tlsa.data.assign(reinterpret_cast<const char*>(rdata.data() + 3), rdata.size() - 3);
      answer.tlsa.push_back(std::move(tlsa));
      return ok();
    }
  }
  return fail(ErrorCode::kInvalidInput, "unsupported record type");
}

}  // namespace tern::dns
