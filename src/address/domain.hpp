// SPDX-License-Identifier: Apache-2.0
// address::Domain: a validated mail domain (RFC 5321 §4.1.2, RFC 1035 labels,
// IDNA 2008 via libidn2) or an address literal (RFC 5321 §4.1.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace tern::address {

// RFC 5321 §4.5.3.1.2: a domain is at most 255 octets.
constexpr std::size_t kMaxDomainBytes = 255;
// RFC 1035 §2.3.4: a label is at most 63 octets (checked on the A-label form).
constexpr std::size_t kMaxLabelBytes = 63;

enum class DomainKind : std::uint8_t {
  kName,            // example.org, xn--bcher-kva.example, bücher.example
  kIpv4Literal,     // [192.0.2.1]
  kIpv6Literal,     // [IPv6:2001:db8::1]
  kGeneralLiteral,  // [tag:content] (RFC 5321 §4.1.3 General-address-literal)
};

// What parse_domain() accepts beyond a plain ASCII LDH name.
struct DomainOptions {
  // U-labels (UTF-8) are accepted and converted to A-labels. When false, a
  // non-ASCII byte is kPermissionDenied (RFC 6531: only with SMTPUTF8).
  bool allow_utf8 = true;
  // Address literals in square brackets are accepted.
  bool allow_literal = true;
  // Longest accepted domain in octets, for both the text as given and its
  // A-label form.
  std::size_t max_bytes = kMaxDomainBytes;
};

// A syntactically valid domain or address literal. Immutable once parsed; the
// default-constructed value is the empty domain (used for "<Postmaster>").
//
// Two forms are kept:
//   ascii()   — what goes into storage, DNS and non-SMTPUTF8 SMTP: every label
//               lower-cased, internationalized labels as A-labels ("xn--...").
//   unicode() — what a person is shown: the same name with U-labels.
// For a name of plain ASCII labels both are the same lower-cased string. For an
// address literal both are the literal with its brackets, with the IPv6 tag
// spelled "IPv6" and hex digits lower-cased; general literals are kept as given.
class Domain {
 public:
  Domain() = default;

  DomainKind kind() const { return kind_; }

  bool empty() const { return ascii_.empty(); }

  bool is_literal() const { return kind_ != DomainKind::kName; }

  // True when at least one label is internationalized (ascii() != unicode()).
  bool is_internationalized() const { return ascii_ != unicode_; }

  std::string_view ascii() const { return ascii_; }

  std::string_view unicode() const { return unicode_; }

  // For a literal: the part inside the brackets after the tag ("192.0.2.1",
  // "2001:db8::1", "content"); for a name: empty.
  std::string_view literal_value() const;

  // Domains compare by their ascii() form, so "Bücher.Example" equals
  // "xn--bcher-kva.example".
  friend bool operator==(const Domain& a, const Domain& b) { return a.ascii_ == b.ascii_; }

 private:
  friend Result<Domain> parse_domain(std::string_view text, const DomainOptions& options);

  DomainKind kind_ = DomainKind::kName;
  std::string ascii_;
  std::string unicode_;
};

// Parses and validates `text` as a domain name or an address literal.
//
// Names (RFC 5321 §4.1.2 sub-domain, RFC 1035 §2.3.1): labels of letters,
// digits and hyphens, not starting or ending with a hyphen, separated by single
// dots; no leading or trailing dot. A label that is not pure ASCII is converted
// with IDNA 2008 / UTS #46 non-transitional mapping (libidn2); a label
// starting "xn--" must be a valid A-label (it is decoded and re-encoded).
// Literals: "[d.d.d.d]", "[IPv6:...]" (RFC 5321 §4.1.3 grammar, including the
// IPv4-embedded forms), "[tag:dcontent]".
//
// Errors:
//   kInvalidInput      bad syntax: empty, empty label, bad character, hyphen at a
//                      label edge, malformed literal, IDNA conversion refused;
//   kLimitExceeded     longer than options.max_bytes, or a label over 63 octets;
//   kPermissionDenied  a non-ASCII byte while options.allow_utf8 is false, or a
//                      literal while options.allow_literal is false.
// Messages name the problem ("domain label longer than 63 octets").
Result<Domain> parse_domain(std::string_view text, const DomainOptions& options = {});

// IDNA 2008 ToASCII of a whole domain name: the lower-cased A-label form. Same
// rules and errors as parse_domain(), literals refused (kInvalidInput).
Result<std::string> domain_to_ascii(std::string_view name);

// IDNA 2008 ToUnicode of a whole domain name: A-labels become U-labels, ASCII
// labels are lower-cased. Same rules and errors as domain_to_ascii().
Result<std::string> domain_to_unicode(std::string_view name);

// Returns `text` with ASCII letters lower-cased and every other byte unchanged.
std::string ascii_lower(std::string_view text);

}  // namespace tern::address
