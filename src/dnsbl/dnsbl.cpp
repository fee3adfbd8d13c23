// SPDX-License-Identifier: Apache-2.0
#include "dnsbl/dnsbl.hpp"

#include <charconv>

namespace tern::dnsbl {

namespace {

Error invalid(std::string_view text, std::string why) {
  return Error{ErrorCode::kInvalidInput,
               "invalid DNSBL site \"" + std::string(text) + "\": " + why};
}

std::optional<int> parse_int(std::string_view text, int min, int max) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return std::nullopt;
  }
  return value;
}

// "7", "[2..11]" or "[2;4;8]" (postconf(5), postscreen_dnsbl_sites).
std::optional<OctetSet> parse_octet(std::string_view text) {
  OctetSet set;
  if (!text.starts_with('[')) {
    auto v = parse_int(text, 0, 255);
    if (!v) {
      return std::nullopt;
    }
    set.allowed[static_cast<std::size_t>(*v)] = true;
    return set;
  }
  if (!text.ends_with(']')) {
    return std::nullopt;
  }
  std::string_view inner = text.substr(1, text.size() - 2);
  if (auto dots = inner.find(".."); dots != std::string_view::npos) {
    auto low = parse_int(inner.substr(0, dots), 0, 255);
    auto high = parse_int(inner.substr(dots + 2), 0, 255);
    if (!low || !high || *low > *high) {
      return std::nullopt;
    }
    for (int v = *low; v <= *high; ++v) {
      set.allowed[static_cast<std::size_t>(v)] = true;
    }
    return set;
  }
  while (true) {
    std::size_t semi = inner.find(';');
    auto v = parse_int(inner.substr(0, semi), 0, 255);
    if (!v) {
      return std::nullopt;
    }
    set.allowed[static_cast<std::size_t>(*v)] = true;
    if (semi == std::string_view::npos) {
      return set;
    }
    inner.remove_prefix(semi + 1);
  }
}

}  // namespace

Result<Site> parse_site(std::string_view text) {
  Site site;
  site.text = std::string(text);
  std::string_view rest = text;
  if (auto star = rest.rfind('*'); star != std::string_view::npos) {
    auto weight = parse_int(rest.substr(star + 1), -1000, 1000);
    if (!weight) {
      return invalid(text, "the weight after '*' must be an integer from -1000 to 1000");
    }
    site.weight = *weight;
    rest = rest.substr(0, star);
  }
  if (auto eq = rest.find('='); eq != std::string_view::npos) {
    std::string_view pattern = rest.substr(eq + 1);
    rest = rest.substr(0, eq);
    std::array<OctetSet, 4> octets;
    std::size_t i = 0;
    while (true) {
      std::size_t dot = pattern.find('.');
      // A range's ".." is inside brackets, not an octet separator.
      if (pattern.starts_with('[')) {
        dot = pattern.find(']');
        dot = dot == std::string_view::npos ? dot : pattern.find('.', dot);
      }
      if (i == 4) {
        return invalid(text, "the pattern after '=' must have four octets");
      }
      auto octet = parse_octet(pattern.substr(0, dot));
      if (!octet) {
        return invalid(text, "bad octet \"" + std::string(pattern.substr(0, dot)) +
                                 "\" (a number 0..255, [a..b] or [a;b;c])");
      }
      octets[i++] = *octet;
      if (dot == std::string_view::npos) {
        break;
      }
      pattern.remove_prefix(dot + 1);
    }
    if (i != 4) {
      return invalid(text, "the pattern after '=' must have four octets");
    }
    site.pattern = octets;
  }
  auto zone = dns::normalize_name(rest);
  if (!zone || zone->empty() || zone->find('.') == std::string::npos) {
    return invalid(text, "the zone must be a domain name (\"zen.spamhaus.org\")");
  }
  site.zone = *zone;
  return site;
}

std::string query_name(const dns::IpAddress& client, std::string_view zone) {
  const dns::IpAddress address = client.mapped_v4().value_or(client);
  std::string name = address.reverse_name();
  // Both suffixes begin with a dot; what precedes is the reversed address.
  std::string_view suffix = address.is_v4() ? ".in-addr.arpa" : ".ip6.arpa";
  if (name.ends_with(suffix)) {
    name.resize(name.size() - suffix.size());
  }
  name += '.';
  name += zone;
  return name;
}

bool lists(const Site& site, const dns::Answer& answer) {
  if (!answer.ok()) {
    return false;
  }
  for (const auto& address : answer.addresses) {
    if (!address.is_v4()) {
      continue;
    }
    auto b = address.bytes();
    if (site.pattern) {
      bool match = true;
      for (std::size_t i = 0; i < 4; ++i) {
        match = match && (*site.pattern)[i].allowed[b[i]];
      }
      if (match) {
        return true;
      }
      continue;
    }
    // RFC 5782 §2.1: listings are in 127.0.0.0/8. 127.255.255.x are not in the
    // RFC: Spamhaus and others answer them for a refused or rate-limited query,
    // so they are never a listing.
    if (b[0] == 127 && !(b[1] == 255 && b[2] == 255)) {
      return true;
    }
  }
  return false;
}

Verdict evaluate(std::span<const Site> sites, std::span<const dns::Answer> answers) {
  Verdict verdict;
  for (std::size_t i = 0; i < sites.size() && i < answers.size(); ++i) {
    if (lists(sites[i], answers[i])) {
      verdict.score += sites[i].weight;
      if (sites[i].weight > 0) {
        verdict.listed_by.push_back(sites[i].zone);
      }
    }
  }
  return verdict;
}

std::string reason(const dns::Answer& txt) {
  if (!txt.ok() || txt.txt.empty()) {
    return {};
  }
  std::string out = txt.txt.front().joined().substr(0, kMaxReasonBytes);
  for (char& c : out) {
    if (c < ' ' || c > '~') {
      c = ' ';
    }
  }
  return out;
}

}  // namespace tern::dnsbl
