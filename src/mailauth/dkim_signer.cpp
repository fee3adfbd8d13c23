// SPDX-License-Identifier: Apache-2.0
#include "mailauth/dkim_signer.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "mailauth/canonicalization.hpp"
#include "sasl/base64.hpp"

namespace tern::mailauth {
namespace {

constexpr std::size_t kFoldColumn = 78;

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return ascii::iequals(n, name); });
}

// Builds a folded field from tag=value items: items are separated by "; " and a
// line break ("\r\n\t") is put before an item that would pass the fold column.
// Long values (h=, b=) are broken at `:` or anywhere in base64 (FWS inside them
// is allowed: RFC 6376 §3.5).
class FieldWriter {
 public:
  explicit FieldWriter(std::string_view name) : text_(name), column_(name.size() + 1) {
    text_ += ":";
  }

  void add(std::string_view tag, std::string_view value, bool breakable) {
    start(tag, value.size());
    write_value(tag, value, breakable);
    text_ += ";";
    ++column_;
  }

  // Writes the separator and "tag=", folding first if the tag and the start of
  // its value would not fit.
  void start(std::string_view tag, std::size_t value_size) {
    std::size_t item = tag.size() + 1;
    if (column_ + 1 + item + std::min<std::size_t>(value_size, 20) > kFoldColumn) {
      text_ += "\r\n\t";
      column_ = 1;
    } else {
      text_ += " ";
      ++column_;
    }
    text_ += tag;
    text_ += "=";
    column_ += item;
  }

  // Writes a value; a breakable one is folded before the fold column: h= after
  // a ':' when the next name would not fit, base64 anywhere.
  void write_value(std::string_view tag, std::string_view value, bool breakable) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      char c = value[i];
      text_ += c;
      ++column_;
      if (!breakable || i + 1 == value.size()) {
        continue;
      }
      bool fold = false;
      if (tag == "h") {
        if (c != ':') {
          continue;
        }
        std::size_t next = value.find(':', i + 1);
        std::size_t name = (next == std::string_view::npos ? value.size() : next) - (i + 1);
        fold = column_ + name + 1 > kFoldColumn;
      } else {
        fold = column_ + 1 >= kFoldColumn;  // room for the ';'
      }
      if (fold) {
        text_ += "\r\n\t";
        column_ = 1;
      }
    }
  }

  std::string& text() { return text_; }

 private:
  std::string text_;
  std::size_t column_;
};

}  // namespace

const std::vector<std::string>& default_signed_headers() {
  static const std::vector<std::string> kHeaders = {"From",
                                                    "Reply-To",
                                                    "Subject",
                                                    "Date",
                                                    "To",
                                                    "Cc",
                                                    "Message-ID",
                                                    "In-Reply-To",
                                                    "References",
                                                    "MIME-Version",
                                                    "Content-Type",
                                                    "Content-Transfer-Encoding",
                                                    "Content-Disposition",
                                                    "Resent-Date",
                                                    "Resent-From",
                                                    "Resent-To",
                                                    "Resent-Cc",
                                                    "Resent-Message-ID",
                                                    "List-Id",
                                                    "List-Help",
                                                    "List-Unsubscribe",
                                                    "List-Unsubscribe-Post",
                                                    "List-Subscribe",
                                                    "List-Post",
                                                    "List-Owner",
                                                    "List-Archive"};
  return kHeaders;
}

const std::vector<std::string>& default_oversigned_headers() {
  static const std::vector<std::string> kHeaders = {"From",       "To",           "Cc",
                                                    "Subject",    "Date",         "Reply-To",
                                                    "Message-ID", "MIME-Version", "Content-Type"};
  return kHeaders;
}

Result<std::string> dkim_sign(std::string_view message, const DkimPrivateKey& key,
                              const DkimSignOptions& options) {
  std::string domain = ascii::lower(options.domain);
  std::string selector = ascii::lower(options.selector);
  if (!is_dkim_domain_name(domain) || !is_dkim_domain_name(selector)) {
    return fail(ErrorCode::kInvalidInput, "signing domain or selector is not a valid name");
  }
  SplitMessage split = split_message(message);
  const auto& wanted = options.headers.empty() ? default_signed_headers() : options.headers;
  const auto& oversign = options.oversign.empty() ? default_oversigned_headers() : options.oversign;

  // h= lists every signed field present, in message order, then each
  // over-signed name once more (present or not), so that any later field of
  // that name is not covered (RFC 6376 §8.15). Verifiers take the last unused
  // instance per listed name (§5.4.2); the signer selects the same way below.
  std::vector<std::string> h;
  bool has_from = false;
  for (const RawHeaderField& field : split.fields) {
    if (contains(wanted, field.name) || contains(oversign, field.name)) {
      h.push_back(ascii::lower(field.name));
      has_from = has_from || ascii::iequals(field.name, "From");
    }
  }
  if (!has_from) {
    return fail(ErrorCode::kInvalidInput, "message has no From field (RFC 6376 §5.4)");
  }
  for (const std::string& name : oversign) {
    h.push_back(ascii::lower(name));
  }
  std::string signed_headers = select_signed_headers(split, h, options.header_canon);

  std::string canonical_body = canonicalize_body(options.body_canon, split.body);
  std::string body_hash = sasl::base64_encode(sha256(canonical_body));

  FieldWriter field("DKIM-Signature");
  field.add("v", "1", false);
  field.add("a", dkim_algorithm_name(key.algorithm()), false);
  field.add("c",
            std::string(canonicalization_name(options.header_canon)) + "/" +
                std::string(canonicalization_name(options.body_canon)),
            false);
  field.add("d", domain, false);
  field.add("s", selector, false);
  if (options.identity) {
    field.add("i", *options.identity, false);
  }
  if (options.timestamp) {
    field.add("t", std::to_string(*options.timestamp), false);
  }
  if (options.expiration) {
    field.add("x", std::to_string(*options.expiration), false);
  }
  if (options.include_body_length) {
    field.add("l", std::to_string(canonical_body.size()), false);
  }
  std::string h_value;
  for (const std::string& name : h) {
    h_value += (h_value.empty() ? "" : ":") + name;
  }
  field.add("h", h_value, true);
  field.add("bh", body_hash, true);
  field.start("b", kFoldColumn);
  const std::string unsigned_field = field.text();
  // RFC 6376 §3.7: the signature covers the selected fields and this field with
  // an empty b=, canonicalised, without its trailing CRLF.
  signed_headers += canonicalize_header(options.header_canon, unsigned_field, false);
  TERN_TRY(std::string signature, key.sign(signed_headers));
  field.write_value("b", sasl::base64_encode(signature), true);
  // The value written after "b=" may be folded: verifiers delete the whole b=
  // value, folding included, before checking (§3.5).
  return field.text() + "\r\n";
}

}  // namespace tern::mailauth
