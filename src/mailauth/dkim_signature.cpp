// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dkim_signature.hpp"

#include "base/ascii.hpp"
#include "mailauth/tag_list.hpp"

namespace tern::mailauth {
namespace {

Error invalid(std::string message) {
  return fail(ErrorCode::kInvalidInput, std::move(message));
}

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

std::string_view dkim_algorithm_name(DkimAlgorithm algorithm) {
  switch (algorithm) {
    case DkimAlgorithm::kRsaSha256:
      return "rsa-sha256";
    case DkimAlgorithm::kRsaSha1:
      return "rsa-sha1";
    case DkimAlgorithm::kEd25519Sha256:
      return "ed25519-sha256";
  }
  return "unknown";
}

Result<Canonicalization> parse_canonicalization(std::string_view text) {
  if (ascii::iequals(text, "simple")) {
    return Canonicalization::kSimple;
  }
  if (ascii::iequals(text, "relaxed")) {
    return Canonicalization::kRelaxed;
  }
  return invalid("c= names an unknown canonicalization \"" + std::string(text) + "\"");
}

std::string_view canonicalization_name(Canonicalization c) {
  return c == Canonicalization::kSimple ? "simple" : "relaxed";
}

bool is_dkim_domain_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t end = name.find('.', pos);
    std::string_view label = name.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!is_ldh(c)) {
        return false;
      }
    }
    if (end == std::string_view::npos) {
      return true;
    }
    pos = end + 1;
  }
}

Result<DkimSignature> parse_dkim_signature(std::string_view value) {
  TERN_TRY(std::vector<Tag> tags, parse_tag_list(value));
  DkimSignature sig;
  auto required = [&](std::string_view name) -> Result<std::string_view> {
    auto tag = find_tag(tags, name);
    if (!tag) {
      return invalid("missing required tag " + std::string(name) + "=");
    }
    return tag->value;
  };

  TERN_TRY(std::string_view version, required("v"));
  if (version != "1") {
    return invalid("v= is not \"1\"");
  }
  TERN_TRY(std::string_view algorithm, required("a"));
  if (ascii::iequals(algorithm, "rsa-sha256")) {
    sig.algorithm = DkimAlgorithm::kRsaSha256;
  } else if (ascii::iequals(algorithm, "rsa-sha1")) {
    sig.algorithm = DkimAlgorithm::kRsaSha1;
  } else if (ascii::iequals(algorithm, "ed25519-sha256")) {
    sig.algorithm = DkimAlgorithm::kEd25519Sha256;
  } else {
    return invalid("a= names an unknown algorithm");
  }

  TERN_TRY(sig.signature, required_base64_tag(tags, "b"));
  sig.b_text = strip_fws(find_tag(tags, "b")->value);
  TERN_TRY(sig.body_hash, required_base64_tag(tags, "bh"));

  TERN_TRY(std::string_view domain, required("d"));
  sig.domain = ascii::lower(domain);
  if (!is_dkim_domain_name(sig.domain)) {
    return invalid("d= is not a domain name");
  }
  TERN_TRY(std::string_view selector, required("s"));
  sig.selector = ascii::lower(strip_fws(selector));
  if (!is_dkim_domain_name(sig.selector)) {
    return invalid("s= is not a valid selector");
  }

  TERN_TRY(std::string_view headers, required("h"));
  bool has_from = false;
  for (std::string& name : split_colon_list(headers)) {
    if (name.empty()) {
      return invalid("h= has an empty field name");
    }
    name = ascii::lower(name);
    has_from = has_from || name == "from";
    sig.signed_headers.push_back(std::move(name));
  }
  if (!has_from) {
    // RFC 6376 §5.4: the From header field MUST be signed.
    return invalid("h= does not include from");
  }

  if (auto c = find_tag(tags, "c")) {
    std::string_view text = c->value;
    std::size_t slash = text.find('/');
    TERN_TRY(sig.header_canon, parse_canonicalization(text.substr(0, slash)));
    if (slash != std::string_view::npos) {
      TERN_TRY(sig.body_canon, parse_canonicalization(text.substr(slash + 1)));
    }
  }
  if (auto q = find_tag(tags, "q")) {
    bool dns_txt = false;
    for (const std::string& method : split_colon_list(q->value)) {
      dns_txt = dns_txt || ascii::iequals(method, "dns/txt");
    }
    if (!dns_txt) {
      return invalid("q= does not offer dns/txt");
    }
  }

  if (auto i = find_tag(tags, "i")) {
    sig.identity = std::string(i->value);
    std::size_t at = sig.identity.rfind('@');
    if (at == std::string::npos) {
      return invalid("i= has no \"@\"");
    }
    // RFC 6376 §3.5: the i= domain is d= or a subdomain of it.
    std::string idomain = ascii::lower(std::string_view(sig.identity).substr(at + 1));
    bool same = idomain == sig.domain;
    bool sub = idomain.size() > sig.domain.size() && idomain.ends_with(sig.domain) &&
               idomain[idomain.size() - sig.domain.size() - 1] == '.';
    if (!same && !sub) {
      return invalid("i= is not in the d= domain");
    }
  } else {
    sig.identity = "@" + sig.domain;
  }

  if (auto l = find_tag(tags, "l")) {
    TERN_TRY(sig.body_length, parse_tag_number("l", l->value));
  }
  if (auto t = find_tag(tags, "t")) {
    TERN_TRY(sig.timestamp, parse_tag_number("t", t->value));
  }
  if (auto x = find_tag(tags, "x")) {
    TERN_TRY(sig.expiration, parse_tag_number("x", x->value));
    if (sig.timestamp && *sig.expiration < *sig.timestamp) {
      return invalid("x= is earlier than t=");
    }
  }
  return sig;
}

Result<DkimKeyRecord> parse_dkim_key_record(std::string_view text) {
  TERN_TRY(std::vector<Tag> tags, parse_tag_list(text));
  DkimKeyRecord key;
  // RFC 6376 §3.6.1: v= is optional, but if present it MUST be first and "DKIM1".
  if (auto v = find_tag(tags, "v")) {
    if (tags.front().name != "v" || v->value != "DKIM1") {
      return invalid("key record v= is not \"DKIM1\" first");
    }
  }
  if (auto k = find_tag(tags, "k")) {
    if (ascii::iequals(k->value, "rsa")) {
      key.key_type = DkimKeyType::kRsa;
    } else if (ascii::iequals(k->value, "ed25519")) {
      key.key_type = DkimKeyType::kEd25519;
    } else {
      return invalid("key record k= names an unknown key type");
    }
  }
  auto p = find_tag(tags, "p");
  if (!p) {
    return invalid("key record has no p=");
  }
  auto public_key = decode_base64_tag(p->value);
  if (!public_key) {
    return invalid("key record p= is not base64");
  }
  key.public_key = std::move(*public_key);
  if (auto h = find_tag(tags, "h")) {
    for (const std::string& hash : split_colon_list(h->value)) {
      key.hash_algorithms.push_back(ascii::lower(hash));
    }
  }
  if (auto s = find_tag(tags, "s")) {
    bool email = false;
    for (const std::string& service : split_colon_list(s->value)) {
      email = email || service == "*" || ascii::iequals(service, "email");
    }
    if (!email) {
      return invalid("key record s= excludes email");
    }
  }
  if (auto t = find_tag(tags, "t")) {
    for (const std::string& flag : split_colon_list(t->value)) {
      key.testing = key.testing || flag == "y";
      key.strict_identity = key.strict_identity || flag == "s";
    }
  }
  return key;
}

}  // namespace tern::mailauth
